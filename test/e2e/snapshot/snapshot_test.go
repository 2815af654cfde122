package snapshot_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

const (
	keyPrefix = "/snapshot-e2e/"
	numKeys   = 50
)

func keyName(i int) string { return fmt.Sprintf("%sk%03d", keyPrefix, i) }

// value is unique per key and easy to find in the bbolt file (values are stored verbatim).
func value(i int) string {
	return fmt.Sprintf("snapshot-e2e-value-%03d-%s", i, strings.Repeat("v", 40))
}

// TestSnapshot saves a snapshot through port-forward and checks it every way: the file, its
// metadata, "snapshot status", corrupted copies, a restore with the real etcdutl served by a real
// etcd, the refusal to overwrite, --on-node through exec, and restore-plan.
func TestSnapshot(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl := c.Client(t)
	var lastRev int64
	for i := 0; i < numKeys; i++ {
		resp, err := cl.Put(ctx, keyName(i), value(i))
		if err != nil {
			t.Fatalf("put: %v", err)
		}
		lastRev = resp.Header.Revision
	}
	// A few MiB more so that the database spans many pages (truncation then cuts real data).
	if err := c.Fill(ctx, 4); err != nil {
		t.Fatal(err)
	}
	gr, err := cl.Get(ctx, "nothing")
	if err != nil {
		t.Fatal(err)
	}
	clusterID, nowRev := hexID(gr.Header.ClusterId), gr.Header.Revision
	st, err := cl.Status(ctx, c.ClientURL(c.MemberNames()[0]))
	if err != nil {
		t.Fatal(err)
	}
	leaderID := hexID(st.Leader)

	dir := t.TempDir()
	F := filepath.Join(dir, "F.db")
	var md snapshotMetadata

	if !t.Run("save", func(t *testing.T) {
		r := run(t, c, dir, args("snapshot", "save", "F.db", plugintest.PFArgs(c))...)
		plugintest.WantCode(t, r, 0)
		if !strings.Contains(r.Stdout, "Snapshot saved to F.db") || !strings.Contains(r.Stdout, "verified") {
			t.Errorf("stdout does not say the snapshot was saved and verified\n%s", r)
		}
		fi, err := os.Stat(F)
		if err != nil {
			t.Fatalf("F: %v\n%s", err, r)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("F has mode %v, want 0600", fi.Mode().Perm())
		}
		wantAbsent(t, r, F+".part", F+".json.part")
		data, err := os.ReadFile(F)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(F + ".json")
		if err != nil {
			t.Fatalf("F.json: %v\n%s", err, r)
		}
		if err := json.Unmarshal(raw, &md); err != nil {
			t.Fatalf("F.json: %v\n%s", err, raw)
		}
		t.Logf("F.json: %s", raw)
		if got := sha256File(t, F); md.SHA256 != got {
			t.Errorf("F.json sha256 %s, but sha256(F) is %s", md.SHA256, got)
		}
		db, trailer := data[:len(data)-32], data[len(data)-32:]
		if got := sha256Hex(db); md.DBSHA256 != got || hex.EncodeToString(trailer) != got {
			t.Errorf("F.json dbSHA256 %s, sha256 of the data %s, trailer %x: want all equal", md.DBSHA256, got, trailer)
		}
		if md.Size != int64(len(data)) || md.DBSize != int64(len(db)) {
			t.Errorf("F.json size %d dbSize %d, file has %d bytes", md.Size, md.DBSize, len(data))
		}
		if md.ClusterID != clusterID {
			t.Errorf("F.json clusterID %q, want %q", md.ClusterID, clusterID)
		}
		var ids []string
		for _, n := range c.MemberNames() {
			ids = append(ids, hexID(c.MemberID(n)))
			if md.MemberName == n && md.MemberID != hexID(c.MemberID(n)) {
				t.Errorf("F.json memberID %s, but %s is %s", md.MemberID, n, hexID(c.MemberID(n)))
			}
			if md.MemberName == n && (md.Pod != "etcd-"+n || md.Node != n) {
				t.Errorf("F.json pod %q node %q for member %s", md.Pod, md.Node, n)
			}
		}
		if !slices.Contains(ids, md.MemberID) {
			t.Errorf("F.json memberID %q is none of %v", md.MemberID, ids)
		}
		// The default is a healthy follower, sparing the leader (the cluster is quiet, the
		// leader does not change).
		if md.MemberID == leaderID {
			t.Errorf("the snapshot was taken from the leader %s; the default should be a healthy follower", leaderID)
		}
		if md.Revision < lastRev || md.Revision > nowRev {
			t.Errorf("F.json revision %d, want between %d (last put) and %d (now)", md.Revision, lastRev, nowRev)
		}
		if md.EtcdVersion != strings.TrimPrefix(c.EtcdVersion, "v") {
			t.Errorf("F.json etcdVersion %q, want %q", md.EtcdVersion, strings.TrimPrefix(c.EtcdVersion, "v"))
		}
		if md.Time == "" || md.Took == "" || md.PluginVersion == "" {
			t.Errorf("F.json lacks time/took/pluginVersion: %s", raw)
		}
	}) {
		return
	}

	t.Run("status", func(t *testing.T) {
		r := run(t, c, dir, "snapshot", "status", "F.db", "-o", "json")
		plugintest.WantCode(t, r, 0)
		var s statusReport
		plugintest.Decode(t, r, &s)
		if s.Verdict != "ok" || s.Trailer != "valid" || s.Bolt != "ok" || len(s.Problems) > 0 {
			t.Errorf("verdict %q trailer %q bolt %q problems %q, want ok/valid/ok/none\n%s", s.Verdict, s.Trailer, s.Bolt, s.Problems, r)
		}
		if s.SHA256 != md.SHA256 || s.Size != md.Size {
			t.Errorf("status sha256 %s size %d, F.json %s %d", s.SHA256, s.Size, md.SHA256, md.Size)
		}
		if s.Revision != md.Revision {
			t.Errorf("status revision %d, F.json %d", s.Revision, md.Revision)
		}
		if s.TotalKeys < numKeys {
			t.Errorf("status totalKeys %d, want >= %d (the keys written)", s.TotalKeys, numKeys)
		}
		if s.TotalSize <= 0 || s.TotalSize > md.DBSize {
			t.Errorf("status totalSize %d, db size %d", s.TotalSize, md.DBSize)
		}
		// The table form says the same.
		r = run(t, c, dir, "snapshot", "status", "F.db")
		plugintest.WantCode(t, r, 0)
		for _, want := range []string{"Trailer:", "valid", "Verdict:", "ok", strconv.FormatInt(md.Revision, 10)} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("status table lacks %q\n%s", want, r)
			}
		}
	})

	t.Run("corrupt copies", func(t *testing.T) { testCorruptCopies(t, dir, F) })

	t.Run("restore with etcdutl and serve with etcd", func(t *testing.T) { testRestore(t, c, F, md) })

	t.Run("restore-plan", func(t *testing.T) { testRestorePlan(t, c, dir, F) })

	t.Run("exists without --force", func(t *testing.T) {
		before := sha256File(t, F)
		beforeJSON, _ := os.ReadFile(F + ".json")
		if _, err := cl.Put(ctx, keyName(numKeys), value(numKeys)); err != nil {
			t.Fatal(err)
		}
		r := run(t, c, dir, args("snapshot", "save", "F.db", plugintest.PFArgs(c))...)
		plugintest.WantCode(t, r, 5)
		if !strings.Contains(r.Stderr, "exists") || !strings.Contains(r.Stderr, "--force") {
			t.Errorf("stderr does not say F exists and name --force\n%s", r)
		}
		if got := sha256File(t, F); got != before {
			t.Errorf("F changed without --force")
		}
		if got, _ := os.ReadFile(F + ".json"); !bytes.Equal(got, beforeJSON) {
			t.Errorf("F.json changed without --force")
		}
		wantAbsent(t, r, F+".part")
		// The short form "snapshot FILE" refuses the same way.
		r = run(t, c, dir, args("snapshot", "F.db", plugintest.PFArgs(c))...)
		plugintest.WantCode(t, r, 5)

		r = run(t, c, dir, args("snapshot", "save", "F.db", "--force", plugintest.PFArgs(c))...)
		plugintest.WantCode(t, r, 0)
		if got := sha256File(t, F); got == before {
			t.Errorf("F unchanged after --force, although a key was written since")
		}
		var md2 snapshotMetadata
		raw, _ := os.ReadFile(F + ".json")
		if err := json.Unmarshal(raw, &md2); err != nil {
			t.Fatalf("F.json: %v", err)
		}
		if md2.SHA256 != sha256File(t, F) || md2.Revision <= md.Revision {
			t.Errorf("F.json after --force: sha256 %s (file %s), revision %d (before %d)", md2.SHA256, sha256File(t, F), md2.Revision, md.Revision)
		}
		wantAbsent(t, r, F+".part")
	})

	// A lone G.json (another snapshot's metadata) is not overwritten either, and a symlink
	// planted at G.db.part (the plugin often runs as root) does not redirect the write.
	t.Run("metadata and planted .part", func(t *testing.T) {
		G := filepath.Join(dir, "G.db")
		if err := os.WriteFile(G+".json", []byte("{\"mine\":true}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := run(t, c, dir, args("snapshot", "save", "G.db", plugintest.PFArgs(c))...)
		plugintest.WantCode(t, r, 5)
		if !strings.Contains(r.Stderr, "G.db.json already exists") {
			t.Errorf("stderr does not name G.db.json\n%s", r)
		}
		if b, _ := os.ReadFile(G + ".json"); string(b) != "{\"mine\":true}\n" {
			t.Errorf("G.db.json changed without --force: %q", b)
		}
		wantAbsent(t, r, G, G+".part")
		_ = os.Remove(G + ".json")

		victim := filepath.Join(dir, "victim")
		if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, G+".part"); err != nil {
			t.Fatal(err)
		}
		r = run(t, c, dir, args("snapshot", "save", "G.db", "--force", plugintest.PFArgs(c))...)
		plugintest.WantCode(t, r, 5)
		if !strings.Contains(r.Stderr, "G.db.part exists") {
			t.Errorf("stderr does not name the planted G.db.part\n%s", r)
		}
		if b, _ := os.ReadFile(victim); string(b) != "precious" {
			t.Errorf("the write followed the planted symlink: %s now has %d bytes", victim, len(b))
		}
		wantAbsent(t, r, G, G+".json")
		_ = os.Remove(G + ".part")
	})

	t.Run("on-node", func(t *testing.T) { testOnNode(t, c, dir) })
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// testCorruptCopies runs "snapshot status" on damaged copies of F: each must exit 8 with a
// corrupt verdict and say why, never crash.
func testCorruptCopies(t *testing.T, dir, F string) {
	data, err := os.ReadFile(F)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(binary.LittleEndian.Uint32(data[24:28])) // page header (16) + magic + version
	if pageSize < 512 || pageSize > 1<<16 {
		t.Fatalf("page size %d read from the meta page does not look like bbolt's", pageSize)
	}
	dbLen := len(data) - 32
	flip := func(b []byte, off int) []byte {
		c := bytes.Clone(b)
		c[off] ^= 0x01
		return c
	}
	valOff := bytes.Index(data, []byte(value(numKeys/2)))
	if valOff < 0 {
		t.Fatalf("value %q not found in F", value(numKeys/2))
	}
	// Every page header (id == its index) gets a wrong id: bbolt asserts on the first one it visits.
	badHeaders := bytes.Clone(data)
	damaged := 0
	for p := 2; (p+1)*pageSize <= dbLen; p++ {
		if binary.LittleEndian.Uint64(badHeaders[p*pageSize:]) == uint64(p) {
			badHeaders[p*pageSize] ^= 0xff
			damaged++
		}
	}
	cases := []struct {
		name    string
		data    []byte
		trailer string // want
		problem string // in stderr
	}{
		{"one flipped byte in a value", flip(data, valOff+len(value(0))/2), "mismatch", "sha256 trailer does not match"},
		{"one flipped byte in the trailer", flip(data, len(data)-5), "mismatch", "sha256 trailer does not match"},
		{"trailer cut off", data[:dbLen], "missing", "no sha256 trailer"},
		{"truncated in the middle", data[:len(data)/2], "missing", "no sha256 trailer"},
		{"truncated to the meta pages", data[:2*pageSize], "missing", "no sha256 trailer"},
		{fmt.Sprintf("%d page headers damaged", damaged), badHeaders, "mismatch", "sha256 trailer does not match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "-") + ".db"
			if err := os.WriteFile(filepath.Join(dir, name), tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			r := run(t, nil, dir, "snapshot", "status", name, "-o", "json")
			wantCrashFree(t, r)
			plugintest.WantCode(t, r, 8)
			var s statusReport
			plugintest.Decode(t, r, &s)
			if s.Verdict != "corrupt" || s.Trailer != tc.trailer {
				t.Errorf("verdict %q trailer %q, want corrupt/%s\n%s", s.Verdict, s.Trailer, tc.trailer, r)
			}
			if !strings.Contains(r.Stderr, "error: ") || !strings.Contains(r.Stderr, tc.problem) {
				t.Errorf("stderr does not say %q\n%s", tc.problem, r)
			}
			// The table form gives the verdict too, with the same exit code.
			r = run(t, nil, dir, "snapshot", "status", name)
			wantCrashFree(t, r)
			plugintest.WantCode(t, r, 8)
			if !strings.Contains(r.Stdout, "corrupt") {
				t.Errorf("status table does not say corrupt\n%s", r)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testRestore restores F with the real etcdutl (with the flags restore-plan prints), starts a
// real single etcd on it and reads the keys back.
func testRestore(t *testing.T, c *harness.Cluster, F string, md snapshotMetadata) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "restored")
	const bump = 1000000
	var (
		clientURL, peerURL string
		etcd               *exec.Cmd
		etcdDone           chan error
		logPath            = filepath.Join(tmp, "etcd.log")
	)
	// Free ports can be taken between choosing and binding: try a few times.
	for attempt := 1; ; attempt++ {
		clientURL = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		peerURL = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		_ = os.RemoveAll(dataDir)
		restore := exec.CommandContext(ctx, filepath.Join(c.EtcdBin, "etcdutl"), "snapshot", "restore", F,
			"--data-dir", dataDir, "--name", "x", "--initial-cluster", "x="+peerURL,
			"--initial-advertise-peer-urls", peerURL, "--bump-revision", strconv.Itoa(bump), "--mark-compacted")
		if out, err := restore.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(restore.Args, " "), err, out)
		}
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		etcd = exec.Command(filepath.Join(c.EtcdBin, "etcd"), "--name", "x", "--data-dir", dataDir,
			"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "x="+peerURL)
		etcd.Stdout, etcd.Stderr = logf, logf
		etcd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := etcd.Start(); err != nil {
			logf.Close()
			t.Fatal(err)
		}
		logf.Close()
		etcdDone = make(chan error, 1)
		go func(cmd *exec.Cmd) { etcdDone <- cmd.Wait() }(etcd)
		up := waitEtcd(ctx, clientURL, etcdDone)
		if up == nil {
			break
		}
		log, _ := os.ReadFile(logPath)
		if attempt < 3 && bytes.Contains(log, []byte("address already in use")) {
			t.Logf("restored etcd: port taken, retrying: %v", up)
			continue
		}
		t.Fatalf("restored etcd did not come up: %v\n%s", up, truncate(string(log), 4000))
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-etcd.Process.Pid, syscall.SIGKILL)
		<-etcdDone //nolint:errcheck // killed on purpose: its exit error says only that
	})

	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := cl.Get(ctx, keyPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range resp.Kvs {
		got[string(kv.Key)] = string(kv.Value)
	}
	for i := 0; i < numKeys; i++ {
		if got[keyName(i)] != value(i) {
			t.Errorf("restored %s = %q, want %q", keyName(i), got[keyName(i)], value(i))
		}
	}
	if len(got) != numKeys {
		t.Errorf("restored %d keys under %s, want %d", len(got), keyPrefix, numKeys)
	}
	if resp.Header.Revision < md.Revision+bump {
		t.Errorf("restored revision %d, want >= snapshot revision %d + bump %d", resp.Header.Revision, md.Revision, bump)
	}
	fill, err := cl.Get(ctx, "/fill/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if fill.Count == 0 {
		t.Errorf("restored database has no /fill/ keys")
	}
	t.Logf("restored etcd at %s: %d keys under %s, %d under /fill/, revision %d", clientURL, len(got), keyPrefix, fill.Count, resp.Header.Revision)
}

// waitEtcd waits until a plain-http etcd answers a Get, or exits.
func waitEtcd(ctx context.Context, url string, done <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		select {
		case err := <-done:
			return fmt.Errorf("etcd exited: %v", err)
		default:
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cl.Get(cctx, "health-probe")
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer within 30s: %v", err)
		case err := <-done:
			return fmt.Errorf("etcd exited: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// testRestorePlan checks the plan against the member list and that it changes nothing.
func testRestorePlan(t *testing.T, c *harness.Cluster, dir, F string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	snapDir := func() []string {
		es, _ := os.ReadDir(dir)
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	etcdMembers := func() string {
		out, errOut, err := c.Etcdctl(ctx, "member", "list", "-w", "json")
		if err != nil {
			t.Fatalf("etcdctl member list: %v\n%s", err, errOut)
		}
		var ml struct {
			Members json.RawMessage `json:"members"`
		}
		if err := json.Unmarshal([]byte(out), &ml); err != nil {
			t.Fatal(err)
		}
		return string(ml.Members)
	}
	rev := func() int64 {
		resp, err := c.Client(t).Get(ctx, "nothing")
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	beforeFiles, beforeMembers, beforeRev, beforeSum := snapDir(), etcdMembers(), rev(), sha256File(t, F)

	r := run(t, c, dir, "member", "list", "-o", "json")
	plugintest.WantCode(t, r, 0)
	var ml memberList
	plugintest.Decode(t, r, &ml)

	r = run(t, c, dir, "snapshot", "restore-plan", "F.db", "-o", "json")
	plugintest.WantCode(t, r, 0)
	var plan restorePlan
	plugintest.Decode(t, r, &plan)
	if len(plan.Nodes) != len(c.MemberNames()) || len(ml.Members) != len(c.MemberNames()) {
		t.Fatalf("plan has %d nodes, member list %d members, cluster %d members\n%s", len(plan.Nodes), len(ml.Members), len(c.MemberNames()), r)
	}
	var ic []string
	for _, m := range ml.Members {
		for _, u := range m.PeerURLs {
			ic = append(ic, m.Name+"="+u)
		}
	}
	if plan.InitialCluster != strings.Join(ic, ",") {
		t.Errorf("plan initialCluster %q, member list gives %q", plan.InitialCluster, strings.Join(ic, ","))
	}
	for _, m := range ml.Members {
		i := slices.IndexFunc(plan.Nodes, func(n restoreNode) bool { return n.Name == m.Name })
		if i < 0 {
			t.Errorf("member %s (%s) has no node entry in the plan", m.Name, m.ID)
			continue
		}
		n := plan.Nodes[i]
		if !slices.Equal(n.PeerURLs, m.PeerURLs) || n.Node != m.Node || n.Pod != m.Pod {
			t.Errorf("plan node %+v does not match member %+v", n, m)
		}
		cmd := n.Command
		flagVal := func(f string) string {
			if i := slices.Index(cmd, f); i >= 0 && i+1 < len(cmd) {
				return cmd[i+1]
			}
			return ""
		}
		if len(cmd) < 4 || cmd[0] != "etcdutl" || cmd[1] != "snapshot" || cmd[2] != "restore" || cmd[3] != plan.SnapshotOnNode {
			t.Errorf("command %q is not etcdutl snapshot restore %s", cmd, plan.SnapshotOnNode)
		}
		if flagVal("--name") != m.Name || flagVal("--initial-cluster") != plan.InitialCluster ||
			flagVal("--initial-advertise-peer-urls") != strings.Join(m.PeerURLs, ",") || flagVal("--data-dir") != n.RestoreDir {
			t.Errorf("command %q: wrong --name/--initial-cluster/--initial-advertise-peer-urls/--data-dir for %s", cmd, m.Name)
		}
		if flagVal("--bump-revision") != strconv.FormatInt(plan.BumpRevision, 10) || plan.BumpRevision <= 0 || !slices.Contains(cmd, "--mark-compacted") {
			t.Errorf("command %q lacks --bump-revision %d / --mark-compacted", cmd, plan.BumpRevision)
		}
		if n.RestoreDir == n.DataDir || n.RestoreDir == "" {
			t.Errorf("restore dir %q must be a new directory, not the data dir %q", n.RestoreDir, n.DataDir)
		}
		if !strings.Contains(n.CommandLine, "--bump-revision") || !strings.Contains(n.CommandLine, "--mark-compacted") {
			t.Errorf("command line %q lacks --bump-revision/--mark-compacted", n.CommandLine)
		}
	}
	if len(plan.Steps) == 0 {
		t.Errorf("plan has no steps")
	}
	// The text form runs too and prints every node's command.
	r = run(t, c, dir, "snapshot", "restore-plan", "F.db")
	plugintest.WantCode(t, r, 0)
	for _, n := range plan.Nodes {
		if !strings.Contains(r.Stdout, n.CommandLine) {
			t.Errorf("text plan lacks %q\n%s", n.CommandLine, r)
		}
	}

	// Nothing changed: member list, revision, the directory, F, the nodes' disks.
	if got := etcdMembers(); got != beforeMembers {
		t.Errorf("member list changed:\nbefore %s\nafter  %s", beforeMembers, got)
	}
	if got := rev(); got != beforeRev {
		t.Errorf("revision changed from %d to %d", beforeRev, got)
	}
	if got := snapDir(); !slices.Equal(got, beforeFiles) {
		t.Errorf("files in the working directory changed: %v -> %v", beforeFiles, got)
	}
	if sha256File(t, F) != beforeSum {
		t.Errorf("F changed")
	}
	for _, n := range c.MemberNames() {
		for _, p := range []string{filepath.Join(c.Dir, "nodes", n, "var-upper", "etcd-restored"), filepath.Join(c.Dir, "nodes", n, "data-restored")} {
			if exists(p) {
				t.Errorf("%s exists: restore-plan must not restore", p)
			}
		}
	}
}

// testOnNode saves through exec onto the node's disk and checks the file from the host.
func testOnNode(t *testing.T, c *harness.Cluster, dir string) {
	const member = "cp-2"
	hostDataDir := filepath.Join(c.Dir, "nodes", member, "data") // the node's /var/lib/etcd (bind mount in netns mode)
	podPath := "/var/lib/etcd/snap.db"
	if c.Mode != harness.ModeNetns {
		podPath = filepath.Join(hostDataDir, "snap.db") // loopback: pods show the real host paths
	}
	hostFile := filepath.Join(hostDataDir, "snap.db")

	r := run(t, c, dir, "snapshot", "save", "--on-node", podPath, "--member", member, "-o", "json")
	plugintest.WantCode(t, r, 0)
	if strings.Contains(r.Stderr, "port-forward") {
		t.Errorf("--on-node should go through exec\n%s", r)
	}
	var res onNodeResult
	plugintest.Decode(t, r, &res)
	if res.Node != member || res.Pod != "etcd-"+member || res.Path != podPath || res.MemberID != hexID(c.MemberID(member)) {
		t.Errorf("on-node result %+v, want node %s pod etcd-%s path %s member %s", res, member, member, podPath, hexID(c.MemberID(member)))
	}
	if res.TotalKeys < numKeys || res.Revision <= 0 {
		t.Errorf("on-node result: %d keys, revision %d", res.TotalKeys, res.Revision)
	}
	if _, err := os.Stat(hostFile); err != nil {
		t.Fatalf("the snapshot is not on the node's disk at %s: %v\n%s", hostFile, err, r)
	}
	wantAbsent(t, r, hostFile+".part")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(c.EtcdBin, "etcdutl"), "snapshot", "status", hostFile, "-w", "json").Output()
	if err != nil {
		t.Fatalf("etcdutl snapshot status %s: %v %s", hostFile, err, out)
	}
	var es etcdutlStatus
	if err := json.Unmarshal(out, &es); err != nil {
		t.Fatalf("etcdutl snapshot status: %v\n%s", err, out)
	}
	if es.Revision != res.Revision || es.TotalKey != res.TotalKeys || es.Hash != res.Hash {
		t.Errorf("etcdutl on the host says %+v, the plugin said %+v", es, res)
	}
	// The plugin's own status agrees that the file (written by etcdctl, with trailer) is sound.
	r2 := run(t, nil, dir, "snapshot", "status", hostFile, "-o", "json")
	plugintest.WantCode(t, r2, 0)
	if res.Trailer != "valid" {
		t.Errorf("on-node result trailer %q, want valid (proved by etcdutl snapshot restore)", res.Trailer)
	}
	// The verification's scratch directory is gone again (the image has no rm: etcdctl removed it).
	wantNoScratch(t, hostDataDir)

	// An existing file is refused without --force, and left as it was.
	before := sha256File(t, hostFile)
	r = run(t, c, dir, "snapshot", "save", "--on-node", podPath, "--member", member)
	plugintest.WantCode(t, r, 5)
	if !strings.Contains(r.Stderr, "already exists") || !strings.Contains(r.Stderr, "choose another name") {
		t.Errorf("refusal of an existing file does not say so\n%s", r)
	}
	if sha256File(t, hostFile) != before {
		t.Errorf("%s changed although the save was refused", hostFile)
	}
	// With --force too: etcdctl would rename the new snapshot over it before it could be
	// verified, so a bad new one would cost the good old one.
	r = run(t, c, dir, "snapshot", "save", "--on-node", podPath, "--member", member, "--force", "-o", "json")
	plugintest.WantCode(t, r, 5)
	if !strings.Contains(r.Stderr, "before it could be verified") || sha256File(t, hostFile) != before {
		t.Errorf("--force over an existing file on the node was not refused, or the file changed\n%s", r)
	}
	wantNoScratch(t, hostDataDir)

	// The PKI is a hostPath too, mounted read-write: never a target, however the path is spelt.
	podPKI, hostPKI := "/etc/kubernetes/pki/etcd", filepath.Join(c.Dir, "nodes", member, "pki", "etcd")
	if c.Mode != harness.ModeNetns {
		podPKI = hostPKI
	}
	caKey := filepath.Join(hostPKI, "ca.key")
	keyBefore := sha256File(t, caKey)
	rel, err := filepath.Rel(filepath.Dir(podPath), filepath.Join(podPKI, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{filepath.Join(podPKI, "ca.key"), filepath.Dir(podPath) + "/" + rel} {
		r = run(t, c, dir, "snapshot", "save", "--on-node", target, "--member", member, "--force")
		plugintest.WantCode(t, r, 1)
		if !strings.Contains(r.Stderr, "data directory's hostPath mount") {
			t.Errorf("--on-node %s: refusal does not explain where snapshots may go\n%s", target, r)
		}
	}
	if sha256File(t, caKey) != keyBefore {
		t.Fatalf("the etcd CA key %s was overwritten", caKey)
	}

	// Outside the pod's hostPath mounts: refused, naming the mounts.
	r = run(t, c, dir, "snapshot", "save", "--on-node", "/tmp/x.db", "--member", member)
	plugintest.WantCode(t, r, 1)
	wantMount := "/var/lib/etcd"
	if c.Mode != harness.ModeNetns {
		wantMount = hostDataDir
	}
	if !strings.Contains(r.Stderr, "hostPath") || !strings.Contains(r.Stderr, wantMount) {
		t.Errorf("refusal does not explain the hostPath mounts (want %q named)\n%s", wantMount, r)
	}
	// Inside the member's live data: refused too.
	inMember := "/var/lib/etcd/member/snap.db"
	if c.Mode != harness.ModeNetns {
		inMember = filepath.Join(hostDataDir, "member", "snap.db")
	}
	r = run(t, c, dir, "snapshot", "save", "--on-node", inMember, "--member", member)
	plugintest.WantCode(t, r, 1)
	if !strings.Contains(r.Stderr, "member") || exists(filepath.Join(hostDataDir, "member", "snap.db")) {
		t.Errorf("a snapshot inside the member's data directory was not refused\n%s", r)
	}
}

// wantNoScratch fails when a verification directory of --on-node is left in the data directory.
func wantNoScratch(t *testing.T, hostDataDir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(hostDataDir, ".kubectl-etcd-verify-*"))
	if len(left) > 0 {
		t.Errorf("verification directories left on the node: %v", left)
	}
}
