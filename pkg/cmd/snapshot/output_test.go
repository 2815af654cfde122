package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	fakeetcd "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/usage/usagetest"
)

var update = flag.Bool("update", false, "rewrite the files in testdata")

// TestMain lets this test binary stand in for kubectl-etcd as the child process that "snapshot
// status" starts (os.Executable is the test binary).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == CheckDBCommand {
		cmd := NewCmdCheckDB(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
		cmd.SetArgs(os.Args[2:])
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// env is a fake API server (the pods' list calls are counted) and a fake etcd cluster.
type env struct {
	objs   []runtime.Object
	cl     *fakeetcd.Cluster
	wrap   func(transport.Connector) transport.Connector
	lists  int
	stdout string
	stderr string
	code   int
}

func newEnv(t *testing.T) *env {
	objs, cl := cmdtest.KubeadmCluster(t)
	for _, m := range cl.Members {
		m.DBSize, m.InUse, m.Revision, m.RaftIndex = 1<<20, 1<<19, 4711, 4711
		m.PeerURLs = []string{"https://10.0.0.1" + m.Name[3:] + ":2380"}
		m.ClientURLs = []string{"https://10.0.0.1" + m.Name[3:] + ":2379"}
	}
	return &env{objs: objs, cl: cl}
}

// run executes "kubectl etcd ARGS" with the snapshot commands under a root that holds the
// global flags.
func (e *env) run(t *testing.T, args ...string) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cmdutil.NewGlobalOptions()
	client := fake.NewSimpleClientset(e.objs...)
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		e.lists++
		return false, nil, nil
	})
	g.Client = client
	g.NewConnector = func(transport.Mode) (transport.Connector, error) {
		c := e.cl.Connector()
		if e.wrap != nil {
			c = e.wrap(c)
		}
		return c, nil
	}
	root := &cobra.Command{Use: "kubectl-etcd", SilenceErrors: true, SilenceUsage: true}
	g.AddFlags(root)
	root.AddCommand(NewCmdSnapshot(g, streams))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		if msg := cmdutil.Message(err); msg != "" {
			errOut.WriteString(msg + "\n")
		}
	}
	e.stdout, e.stderr, e.code = out.String(), errOut.String(), cmdutil.ExitCode(err)
}

// check compares stdout, stderr and the exit code with testdata/NAME (with -update: writes it).
func (e *env) check(t *testing.T, name string, replace ...string) {
	t.Helper()
	got := fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", e.code, e.stdout, e.stderr)
	got = strings.NewReplacer(replace...).Replace(got)
	got = regexp.MustCompile(` in [0-9.]+[µnm]?s\n`).ReplaceAllString(got, " in TOOK\n")
	got = regexp.MustCompile(`"(time|took|kubernetesVersion|pluginVersion)": "[^"]*"`).ReplaceAllString(got, `"$1": "X"`)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/cmd/snapshot -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// snapshotFile writes a snapshot (with its sha256 trailer) at DIR/etcd.db whose members bucket
// records the members of e.cl, plus extra.
func (e *env) snapshotFile(t *testing.T, extra ...usagetest.Member) string {
	t.Helper()
	path := usagetest.WriteBackend(t, []usagetest.Op{{Key: "/registry/configmaps/a/b", Value: "v"}}, 0, 0)
	var ms []usagetest.Member
	for _, m := range e.cl.Members {
		ms = append(ms, usagetest.Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.Learner})
	}
	usagetest.AddMembers(t, path, "3.6.0", append(ms, extra...)...)
	usagetest.AddTrailer(t, path)
	file := filepath.Join(filepath.Dir(path), "etcd.db")
	if err := os.Rename(path, file); err != nil {
		t.Fatal(err)
	}
	return file
}

// The bytes each command prints, pinned end to end: the printers must not change them.
func TestRestorePlanOutput(t *testing.T) {
	for _, o := range []string{"table", "wide", "json", "yaml"} {
		e := newEnv(t)
		e.cl.Members = append(e.cl.Members, &fakeetcd.Member{ID: 0xa1b2c3d4e5f60718, Learner: true, PeerURLs: []string{"https://10.0.0.14:2380"}})
		file := e.snapshotFile(t)
		e.run(t, "snapshot", "restore-plan", file, "-o", o)
		e.check(t, "restore-plan."+o, filepath.Dir(file), "/backup")
		if e.lists != 1 {
			t.Errorf("-o %s: the pods were listed %d times", o, e.lists)
		}
	}
}

// With quorum lost the cluster cannot answer, and that is when a restore is needed: the plan
// comes from the member list in the snapshot, paired with the pods the API server still lists,
// or with guessed nodes when it does not answer either. The plan says where each part is from.
func TestRestorePlanQuorumLost(t *testing.T) {
	e := newEnv(t)
	for _, m := range e.cl.Members {
		m.Down = true
	}
	gone := usagetest.Member{ID: 0x1234, Name: "cp-0", PeerURLs: []string{"https://10.0.0.10:2380"}, ClientURLs: []string{"https://10.0.0.10:2379"}}
	file := e.snapshotFile(t, gone)
	e.run(t, "snapshot", "restore-plan", file)
	if e.code != 0 || !strings.Contains(e.stdout, "the member list comes from the snapshot file "+file) ||
		!strings.Contains(e.stdout, "come from the etcd pods listed by the API server") ||
		!strings.Contains(e.stdout, "cp-0=https://10.0.0.10:2380,cp-1=https://10.0.0.11:2380") ||
		!strings.Contains(e.stdout, "node cp-2 (member cp-2, data dir /var/lib/etcd)") {
		t.Errorf("etcd down: code %d\n%s\n%s", e.code, e.stdout, e.stderr)
	}

	// The API server does not answer either.
	e.objs = nil
	e.run(t, "snapshot", "restore-plan", file, "-o", "json")
	var plan etcd.RestorePlan
	if err := json.Unmarshal([]byte(e.stdout), &plan); err != nil {
		t.Fatalf("%v\n%s\n%s", err, e.stdout, e.stderr)
	}
	if e.code != 0 || len(plan.Nodes) != 4 || plan.Nodes[1].Node != "cp-1" || len(plan.Sources) != 2 || !strings.Contains(plan.Sources[1], "guessed") {
		t.Errorf("etcd and the API server down: code %d %+v\n%s", e.code, plan, e.stderr)
	}

	// Neither the cluster nor the file: no plan, exit 3.
	e.run(t, "snapshot", "restore-plan", file+".missing")
	if e.code != cmdutil.ExitQuorumLost || !strings.Contains(e.stderr, "no member list to plan from") {
		t.Errorf("nothing to plan from: code %d\n%s", e.code, e.stderr)
	}
}

// The cluster answers: its member list is the plan's, and members that joined or left since the
// snapshot are named.
func TestRestorePlanComparesMemberLists(t *testing.T) {
	e := newEnv(t)
	file := e.snapshotFile(t, usagetest.Member{ID: 0x1234, Name: "cp-0", PeerURLs: []string{"https://10.0.0.10:2380"}})
	e.run(t, "snapshot", "restore-plan", file)
	if e.code != 0 || !strings.Contains(e.stdout, "the member list comes from the live cluster") || strings.Contains(e.stdout, "cp-0=") ||
		!strings.Contains(e.stderr, "member cp-0 (0000000000001234) is in the snapshot but no longer in the cluster") {
		t.Errorf("code %d\n%s\n%s", e.code, e.stdout, e.stderr)
	}
}

func TestStatusOutput(t *testing.T) {
	db := usagetest.WriteBackend(t, []usagetest.Op{{Key: "/registry/configmaps/a/b", Value: "v"}}, 1, 0)
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	withTrailer := filepath.Join(t.TempDir(), "snap.db")
	if err := os.WriteFile(withTrailer, append(raw, sum[:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := append(append([]byte{}, raw...), sum[:]...)
	bad[len(raw)+3] ^= 0xff
	corrupt := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(corrupt, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, file string }{{"valid", withTrailer}, {"missing", db}, {"corrupt", corrupt}} {
		for _, o := range []string{"table", "wide", "json", "yaml"} {
			e := newEnv(t)
			e.run(t, "snapshot", "status", c.file, "-o", o)
			e.check(t, "status-"+c.name+"."+o, c.file, "FILE")
			if e.lists != 0 {
				t.Errorf("status listed pods")
			}
		}
	}
	e := newEnv(t)
	e.run(t, "snapshot", "status", db, "-o", "jsonpath")
	e.check(t, "status-bad-output", db, "FILE")
}

// portForward makes the fake transport pass for port-forward, which streaming needs.
type portForward struct{ transport.Connector }

func (portForward) Mode() transport.Mode { return transport.ModePortForward }

func TestSaveOutput(t *testing.T) {
	for _, o := range []string{"table", "wide", "json"} {
		e := newEnv(t)
		data := make([]byte, 4096)
		for i := range data {
			data[i] = byte(i)
		}
		sum := sha256.Sum256(data)
		for _, m := range e.cl.Members {
			m.SnapshotData = append(data, sum[:]...)
		}
		e.wrap = func(c transport.Connector) transport.Connector { return portForward{c} }
		dir := t.TempDir()
		args := []string{"snapshot", "save", filepath.Join(dir, "s.db")}
		if o == "wide" || o == "json" {
			args = append(args, "-o", o)
		}
		e.run(t, args...)
		e.check(t, "save."+o, dir, "DIR")
		if e.lists != 1 {
			t.Errorf("%s: the pods were listed %d times", o, e.lists)
		}
	}
	// exec without a helper pod cannot stream
	e := newEnv(t)
	e.run(t, "snapshot", "save", filepath.Join(t.TempDir(), "s.db"), "--helper=never")
	e.check(t, "save.exec-no-helper")
	// exec with the helper pod, which RBAC does not allow here (the fake denies every review)
	e = newEnv(t)
	dir := t.TempDir()
	e.run(t, "snapshot", "save", filepath.Join(dir, "s.db"))
	e.check(t, "save.exec-helper-denied", dir, "DIR")
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused save left %v", entries)
	}
	e = newEnv(t)
	e.run(t, "snapshot", "save", "x.db", "--on-node", "/var/lib/etcd/s.db")
	e.check(t, "save.both")
	if e.lists != 0 {
		t.Errorf("a refused save listed pods")
	}
}

// nodeFiles gives the fake sessions the node-file operations of the exec transport.
type nodeFiles struct {
	transport.Connector
	files map[string]bool
}

func (n *nodeFiles) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	s, err := n.Connector.Connect(ctx, m)
	if err != nil {
		return nil, err
	}
	return &nodeSession{Session: s, files: n.files}, nil
}

type nodeSession struct {
	transport.Session
	files map[string]bool
}

func (s *nodeSession) SnapshotFileStatus(_ context.Context, p string) (*transport.SnapshotFileStatus, error) {
	if !s.files[p] {
		return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	return &transport.SnapshotFileStatus{Hash: 0xabcd, Revision: 4711, TotalKeys: 7, TotalSize: 1 << 20, Version: "3.6.0"}, nil
}

func (s *nodeSession) SaveSnapshotFile(_ context.Context, p string) error {
	s.files[p] = true
	return nil
}

func (s *nodeSession) VerifySnapshotFile(context.Context, string, string) (string, error) {
	return "", nil
}

func TestSaveOnNodeOutput(t *testing.T) {
	for _, c := range []struct{ name, path, o string }{
		{"on-node.table", "/var/lib/etcd/snap.db", "table"},
		{"on-node.json", "/var/lib/etcd/snap.db", "json"},
		{"on-node.yaml", "/var/lib/etcd/snap.db", "yaml"},
		{"on-node.wide", "/var/lib/etcd/snap.db", "wide"},
		{"on-node.exists", "/var/lib/etcd/old.db", "table"},
		{"on-node.bad-path", "/etc/kubernetes/pki/etcd/ca.key", "table"},
	} {
		e := newEnv(t)
		nf := &nodeFiles{files: map[string]bool{"/var/lib/etcd/old.db": true}}
		e.wrap = func(c transport.Connector) transport.Connector { nf.Connector = c; return nf }
		e.run(t, "snapshot", "save", "--on-node", c.path, "--member", "cp-2", "-o", c.o)
		e.check(t, "save-"+c.name)
		if e.lists != 1 {
			t.Errorf("%s: the pods were listed %d times", c.name, e.lists)
		}
	}
}
