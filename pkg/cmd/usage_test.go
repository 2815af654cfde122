package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/snapshot"
	cmdusage "github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/usage"
	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/usage"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/usage/usagetest"
)

// TestMain lets this test binary stand in for kubectl-etcd as the child process that "usage
// --file" and "snapshot status" start (os.Executable is the test binary).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == cmdusage.FileCommand || os.Args[1] == snapshot.CheckDBCommand) {
		streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
		root := NewCmdRoot(streams)
		root.SetArgs(os.Args[1:])
		if err := root.Execute(); err != nil {
			os.Stderr.WriteString(cmdutil.Message(err) + "\n") // Message starts with "error: "
			os.Exit(cmdutil.ExitCode(err))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestUsageLive(t *testing.T) {
	cl := fakeCluster()
	cl.KV = map[string]string{
		"/registry/configmaps/a/big":                           strings.Repeat("x", 5000),
		"/registry/configmaps/b/small":                         "s",
		"/registry/events/a/e1":                                strings.Repeat("e", 700),
		"/registry/example.com/widgets/a/w1":                   "w",
		"/registry/apiregistration.k8s.io/apiservices/v1.apps": "api",
		"/other/key": "o",
	}
	out, errOut, code := run(t, kubeadmPods(t, "cp-1", "cp-2", "cp-3"), cl, "usage", "-o", "json", "--page-size", "2", "--rate", "0")
	if code != 0 {
		t.Fatalf("code %d\n%s", code, errOut)
	}
	var r usage.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Source != "live" || r.Pod == "etcd-cp-1" || r.Totals.Keys != 6 || len(r.Resources) != 4 || len(r.Prefixes) != 1 || r.Resources[0].Resource != "configmaps" {
		t.Errorf("report: %+v", r)
	}
	out, errOut, code = run(t, kubeadmPods(t, "cp-1", "cp-2", "cp-3"), cl, "usage", "--by", "namespace")
	if code != 0 || !strings.Contains(out, "NAMESPACE") || !strings.Contains(errOut, "note: a live walk cannot show") {
		t.Errorf("code %d\n%s\n%s", code, out, errOut)
	}
}

func TestUsageFile(t *testing.T) {
	k := "/registry/configmaps/team-a/cm"
	var ops []usagetest.Op
	for range 20 {
		ops = append(ops, usagetest.Op{Key: k, Value: strings.Repeat("v", 1000)})
	}
	ops = append(ops, usagetest.Op{Key: "/registry/events/team-a/e", Value: "e"}, usagetest.Op{Key: "/registry/events/team-a/e", Del: true})
	path := usagetest.WriteBackend(t, ops, 2, 0)
	out, errOut, code := run(t, nil, fakeCluster(), "usage", "--file", path, "-o", "json")
	if code != 0 {
		t.Fatalf("code %d\n%s", code, errOut)
	}
	var r usage.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// A file name that looks like a flag still reaches the child as a file.
	dash := filepath.Join(filepath.Dir(path), "-db")
	if err := os.Link(path, dash); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Dir(path))
	if out, errOut, code := run(t, nil, fakeCluster(), "usage", "--file=-db", "-o", "json"); code != 0 || !strings.Contains(out, `"source": "file"`) {
		t.Errorf("file named -db: code %d\n%s\n%s", code, out, errOut)
	}
	// snapshot status had the same flaw: the child took "-db" for a flag and the intact file
	// was declared corrupt (a db copy has no trailer: the verdict is corrupt for that reason
	// only, and the bbolt check must pass).
	if out, _, _ := run(t, nil, fakeCluster(), "snapshot", "status", "-o", "json", "--", "-db"); !strings.Contains(out, `"bolt": "ok"`) {
		t.Errorf("snapshot status of a file named -db:\n%s", out)
	}
	wantHistory := int64(19*(len(k)+1000) + 2*len("/registry/events/team-a/e") + 1)
	if r.Source != "file" || r.Totals.Keys != 1 || r.Totals.HistoryBytes != wantHistory || r.Leases != 2 || r.Revision != 23 {
		t.Errorf("report: %+v totals %+v, want history %d", r, r.Totals, wantHistory)
	}

	// A damaged file: the walk fails in the child, and the verdict is snapshot status's.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := path + ".trunc"
	if err := os.WriteFile(bad, data[:16<<10], 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run(t, nil, fakeCluster(), "usage", "--file", bad)
	if code != cmdutil.ExitIntegrity || out != "" || !strings.Contains(errOut, "damaged") {
		t.Errorf("damaged file: code %d\n%s\n%s", code, out, errOut)
	}

	_, errOut, code = run(t, nil, fakeCluster(), "usage", "--file", path+".missing")
	if code != cmdutil.ExitError || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: code %d\n%s", code, errOut)
	}
}

// doctor names what fills a database over 80% of its quota, from a usage walk.
func TestDoctorQuotaNamesTopResource(t *testing.T) {
	cl := fakeCluster()
	for _, m := range cl.Members {
		m.Quota = 1 << 20 // DBSize is 1 MiB: 100% of the quota
	}
	cl.KV = map[string]string{
		"/registry/events/team-a/e1":    strings.Repeat("e", 6000),
		"/registry/events/team-b/e2":    strings.Repeat("e", 500),
		"/registry/configmaps/team-a/c": strings.Repeat("c", 3000),
	}
	pods := kubeadmPods(t, "cp-1", "cp-2", "cp-3")
	out, errOut, code := run(t, pods, cl, "doctor")
	if code != cmdutil.ExitDegraded || !strings.Contains(out, "events hold 68% of the live data") || !strings.Contains(out, "the largest namespace is team-a") {
		t.Errorf("code %d\n%s\n%s", code, out, errOut)
	}
	cl.Calls = nil
	out, _, _ = run(t, pods, cl, "doctor", "--usage=false")
	if strings.Contains(out, "live data") || slices.ContainsFunc(cl.Calls, func(c string) bool { return strings.Contains(c, "range") }) {
		t.Errorf("--usage=false walked the keyspace:\n%s\n%v", out, cl.Calls)
	}
	// Below the quota threshold doctor reads no keys.
	for _, m := range cl.Members {
		m.Quota = 8 << 30
	}
	cl.Calls = nil
	run(t, pods, cl, "doctor")
	if slices.ContainsFunc(cl.Calls, func(c string) bool { return strings.Contains(c, "range") }) {
		t.Errorf("doctor walked the keyspace below the quota threshold: %v", cl.Calls)
	}
}

// Large values (Helm release Secrets): pages over the transport's limit are asked again with
// fewer keys, by usage and by doctor's walk; doctor takes --page-size.
func TestUsageLargeValues(t *testing.T) {
	cl := fakeCluster()
	cl.KV = map[string]string{}
	for i := range 30 {
		cl.KV[fmt.Sprintf("/registry/secrets/team-a/sh.helm.release.v1.app.v%02d", i)] = strings.Repeat("h", 4000)
	}
	cl.KV["/registry/configmaps/team-a/c"] = "c"
	cl.MaxRangeBytes = 20000 // at most 4 of the secrets per page
	pods := kubeadmPods(t, "cp-1", "cp-2", "cp-3")
	out, errOut, code := run(t, pods, cl, "usage", "-o", "json", "--rate", "0")
	if code != 0 {
		t.Fatalf("usage: code %d\n%s", code, errOut)
	}
	var r usage.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Totals.Keys != 31 {
		t.Errorf("usage: %v, %+v", err, r.Totals)
	}
	for _, m := range cl.Members {
		m.Quota = 1 << 20 // DBSize is 1 MiB: 100% of the quota
	}
	out, errOut, code = run(t, pods, cl, "doctor")
	if code != cmdutil.ExitDegraded || !strings.Contains(out, "secrets hold") || strings.Contains(errOut, "could not measure") {
		t.Errorf("doctor: code %d\n%s\n%s", code, out, errOut)
	}
	cl.Calls = nil
	run(t, pods, cl, "doctor", "--page-size", "3")
	if !slices.ContainsFunc(cl.Calls, func(c string) bool { return strings.Contains(c, "range") && strings.HasSuffix(c, " 3") }) {
		t.Errorf("doctor --page-size 3 did not ask for pages of 3 keys: %v", cl.Calls)
	}
}

// A db file that a running etcd holds locked: usage --file and snapshot status refuse it in
// one line (exit 5) instead of waiting for the lock forever, and usage skips the inspection.
func TestFileLocked(t *testing.T) {
	path := usagetest.WriteBackend(t, []usagetest.Op{{Key: "/registry/configmaps/a/b", Value: "v"}}, 0, 0)
	db, err := bolt.Open(path, 0o600, nil) // the exclusive lock etcd holds
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, args := range [][]string{{"usage", "--file", path}, {"snapshot", "status", path}} {
		out, errOut, code := run(t, nil, fakeCluster(), args...)
		if code != cmdutil.ExitRefused || out != "" || !strings.Contains(errOut, path+" is locked by another process") ||
			strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: code %d\n%s\n%s", args, code, out, errOut)
		}
	}
}

// The child processes are started with the command's context: cancelled, they are killed and
// the error says so.
func TestFileChildrenStopWithTheContext(t *testing.T) {
	path := usagetest.WriteBackend(t, []usagetest.Op{{Key: "/a", Value: "b"}}, 0, 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := snapshot.CheckDBInChild(ctx, path); !errors.Is(err, context.Canceled) {
		t.Errorf("CheckDBInChild with a cancelled context: %v", err)
	}
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	o := &cmdusage.Options{GlobalOptions: cmdutil.NewGlobalOptions(), IOStreams: streams, File: path, By: "resource", Top: 10}
	if err := o.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("usage --file with a cancelled context: %v", err)
	}
}

// usage --file reads compressed and encrypted snapshots (a real child process reads the
// decoded copy), leaves no temporary copy behind, and a damaged layer is exit 8.
func TestUsageFileStoredFormats(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ops := []usagetest.Op{{Key: "/registry/secrets/team-a/s", Value: strings.Repeat("s", 3000)}}
	path := usagetest.WriteBackend(t, ops, 0, 0)
	usagetest.AddTrailer(t, path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(filepath.Dir(path), "key.txt")
	_ = os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	for _, l := range []snap.Layers{{Compression: "zstd"}, {Compression: "gzip", Encryption: "age"}} {
		stored := filepath.Join(filepath.Dir(path), "etcd.db"+l.Suffix())
		if _, err := snap.Write(bytes.NewReader(raw), stored, snap.WriteOptions{Layers: l, Recipients: []age.Recipient{id.Recipient()}}); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := run(t, nil, fakeCluster(), "usage", "--file", stored, "--identity", idFile, "-o", "json")
		var r usage.Report
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.File != stored || r.Totals.Keys != 1 || r.Resources[0].Resource != "secrets" {
			t.Errorf("%v: code %d report %+v\n%s", l, code, r, errOut)
		}
		b, _ := os.ReadFile(stored)
		b[len(b)/2] ^= 1
		_ = os.WriteFile(stored, b, 0o600)
		_, errOut, code = run(t, nil, fakeCluster(), "usage", "--file", stored, "--identity", idFile)
		if code != cmdutil.ExitIntegrity || !strings.Contains(errOut, "damaged") || !strings.Contains(errOut, "layer") {
			t.Errorf("%v flipped: code %d\n%s", l, code, errOut)
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "kubectl-etcd-snapshot-*")); len(left) != 0 {
			t.Errorf("%v: temporary copies left: %v", l, left)
		}
	}
}
