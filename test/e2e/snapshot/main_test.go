// Package snapshot_test runs "kubectl etcd snapshot ..." as a real process against the e2e
// harness (real etcd members, a real kube-apiserver, kwok as the kubelet API) and checks the
// files it leaves behind with etcd's own tools: the real etcdutl restores what the plugin saved
// and a real etcd serves the restored data.
//
// The binary is $KUBECTL_ETCD when set (the Makefile sets it to bin/kubectl-etcd), else it is
// built once per test binary from the repository root (../../.. from this directory).
package snapshot_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
)

var (
	// pluginBin is the kubectl-etcd binary under test.
	pluginBin string
	// emptyPKIDir is passed as --kubeadm-pki-dir unless a test names one, so that a real
	// /etc/kubernetes/pki/etcd on the test machine never changes which transport auto picks.
	emptyPKIDir string
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if testing.Short() {
		return m.Run() // every test skips; nothing to build
	}
	tmp, err := os.MkdirTemp("", "kubectl-etcd-snapshot-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	emptyPKIDir = filepath.Join(tmp, "empty-pki")
	if err := os.Mkdir(emptyPKIDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if p := os.Getenv("KUBECTL_ETCD"); p != "" {
		if pluginBin, err = filepath.Abs(p); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := os.Stat(pluginBin); err != nil {
			fmt.Fprintf(os.Stderr, "KUBECTL_ETCD=%s: %v\n", p, err)
			return 1
		}
	} else {
		pluginBin = filepath.Join(tmp, "kubectl-etcd")
		t0 := time.Now()
		build := exec.Command("go", "build", "-o", pluginBin, "./cmd/kubectl-etcd")
		build.Dir = filepath.Join("..", "..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building kubectl-etcd: %v\n%s", err, out)
			return 1
		}
		fmt.Fprintf(os.Stderr, "built %s in %.1fs\n", pluginBin, time.Since(t0).Seconds())
	}
	return m.Run()
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: needs a harness cluster (binaries from hack/e2e-tools.sh)")
	}
}

// result is one run of the plugin.
type result struct {
	args           []string
	dir            string
	stdout, stderr string
	code           int
	signaled       bool
	dur            time.Duration
}

func (r *result) String() string {
	return fmt.Sprintf("$ (cd %s && kubectl-etcd %s)\nexit code %d after %s\n--- stdout:\n%s--- stderr:\n%s---",
		r.dir, strings.Join(r.args, " "), r.code, r.dur.Round(time.Millisecond), withNL(r.stdout), withNL(r.stderr))
}

func withNL(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

// hangLimit is how long any single plugin run may take before the test calls it a hang.
const hangLimit = 3 * time.Minute

// proc is a running plugin process.
type proc struct {
	cmd            *exec.Cmd
	r              *result
	stdout, stderr bytes.Buffer
	cancel         context.CancelFunc
	t0             time.Time
	exited         chan struct{} // closed when Wait returned
	err            error         // Wait's error, valid after exited
}

// start starts the plugin in dir against cluster c. Unless args name --kubeadm-pki-dir, the empty
// directory is passed so that auto never finds host certificates.
func start(t *testing.T, c *harness.Cluster, dir string, args ...string) *proc {
	t.Helper()
	full := append([]string{}, args...)
	if !slices.ContainsFunc(full, func(a string) bool { return strings.HasPrefix(a, "--kubeadm-pki-dir") }) {
		full = append(full, "--kubeadm-pki-dir", emptyPKIDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	p := &proc{r: &result{args: full, dir: dir}, cancel: cancel}
	p.cmd = exec.CommandContext(ctx, pluginBin, full...)
	p.cmd.Dir = dir
	if c != nil {
		p.cmd.Env = c.Env()
	}
	p.cmd.WaitDelay = 5 * time.Second
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.t0 = time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", pluginBin, err)
	}
	p.exited = make(chan struct{})
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p
}

// wait waits for the process and returns its result; a hang is fatal.
func (p *proc) wait(t *testing.T) *result {
	t.Helper()
	defer p.cancel()
	<-p.exited
	err := p.err
	r := p.r
	r.dur = time.Since(p.t0)
	r.stdout, r.stderr = p.stdout.String(), p.stderr.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.code = 0
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	case errors.As(err, &ee):
		r.code, r.signaled = -1, true
		t.Fatalf("plugin killed by a signal (hang > %s?): %v\n%s", hangLimit, err, r)
	default:
		t.Fatalf("waiting for the plugin: %v\n%s", err, r)
	}
	t.Logf("kubectl-etcd %s -> exit %d in %s", strings.Join(r.args, " "), r.code, r.dur.Round(time.Millisecond))
	return r
}

// run runs the plugin in dir to completion.
func run(t *testing.T, c *harness.Cluster, dir string, args ...string) *result {
	t.Helper()
	return start(t, c, dir, args...).wait(t)
}

func wantCode(t *testing.T, r *result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit code %d, want %d\n%s", r.code, want, r)
	}
}

// wantCrashFree fails when the plugin died of a Go panic or fatal runtime error.
func wantCrashFree(t *testing.T, r *result) {
	t.Helper()
	for _, s := range []string{"panic:", "fatal error:", "goroutine "} {
		if strings.Contains(r.stderr, s) {
			t.Fatalf("the plugin crashed (%q on stderr; exit code %d) instead of giving a verdict\n%s", s, r.code, truncate(r.String(), 1500))
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n... (truncated)"
}

// decode unmarshals the run's stdout into v (unknown fields are allowed: the plugin's JSON may grow).
func decode(t *testing.T, r *result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("decoding stdout as %T: %v\n%s", v, err, r)
	}
}

// pfArgs select the port-forward transport with the cluster's healthcheck client pair.
func pfArgs(c *harness.Cluster) []string {
	return []string{"--transport", "port-forward",
		"--cacert", filepath.Join(c.PKIDir, "ca.crt"),
		"--cert", filepath.Join(c.PKIDir, "healthcheck-client.crt"),
		"--key", filepath.Join(c.PKIDir, "healthcheck-client.key")}
}

func args(a ...any) []string {
	var out []string
	for _, x := range a {
		switch v := x.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		default:
			panic(fmt.Sprintf("args: %T", x))
		}
	}
	return out
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// wantAbsent fails when any of the paths exists.
func wantAbsent(t *testing.T, r *result, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if exists(p) {
			t.Errorf("%s exists after the run, want it absent\n%s", p, r)
		}
	}
}

// hexID is how the plugin prints a member or cluster ID.
func hexID(id uint64) string { return fmt.Sprintf("%x", id) }

// The JSON the plugin prints (only the fields the tests check).

type snapshotMetadata struct {
	File              string `json:"file"`
	Size              int64  `json:"size"`
	SHA256            string `json:"sha256"`
	DBSHA256          string `json:"dbSHA256"`
	ClusterID         string `json:"clusterID"`
	MemberID          string `json:"memberID"`
	MemberName        string `json:"memberName"`
	Pod               string `json:"pod"`
	Node              string `json:"node"`
	Revision          int64  `json:"revision"`
	EtcdVersion       string `json:"etcdVersion"`
	StorageVersion    string `json:"storageVersion"`
	DBSize            int64  `json:"dbSize"`
	KubernetesVersion string `json:"kubernetesVersion"`
	Time              string `json:"time"`
	Took              string `json:"took"`
	PluginVersion     string `json:"pluginVersion"`
}

type statusReport struct {
	File           string   `json:"file"`
	Size           int64    `json:"size"`
	SHA256         string   `json:"sha256"`
	Hash           uint32   `json:"hash"`
	Revision       int64    `json:"revision"`
	TotalKeys      int      `json:"totalKeys"`
	TotalSize      int64    `json:"totalSize"`
	StorageVersion string   `json:"storageVersion"`
	Trailer        string   `json:"trailer"`
	Bolt           string   `json:"bolt"`
	Verdict        string   `json:"verdict"`
	Problems       []string `json:"problems"`
}

type onNodeResult struct {
	Pod        string `json:"pod"`
	Node       string `json:"node"`
	MemberID   string `json:"memberID"`
	MemberName string `json:"memberName"`
	Path       string `json:"path"`
	HostPath   string `json:"hostPath"`
	Hash       uint32 `json:"hash"`
	Revision   int64  `json:"revision"`
	TotalKeys  int    `json:"totalKeys"`
	TotalSize  int64  `json:"totalSize"`
}

type restorePlan struct {
	Snapshot       string        `json:"snapshot"`
	SnapshotOnNode string        `json:"snapshotOnNode"`
	InitialCluster string        `json:"initialCluster"`
	BumpRevision   int64         `json:"bumpRevision"`
	Nodes          []restoreNode `json:"nodes"`
	Steps          []string      `json:"steps"`
	Warnings       []string      `json:"warnings"`
}

type restoreNode struct {
	Node        string   `json:"node"`
	Pod         string   `json:"pod"`
	Name        string   `json:"name"`
	PeerURLs    []string `json:"peerURLs"`
	DataDir     string   `json:"dataDir"`
	RestoreDir  string   `json:"restoreDir"`
	Command     []string `json:"command"`
	CommandLine string   `json:"commandLine"`
}

type memberList struct {
	ClusterID string `json:"clusterID"`
	Members   []struct {
		ID       string   `json:"id"`
		Name     string   `json:"name"`
		Started  bool     `json:"started"`
		Learner  bool     `json:"learner"`
		PeerURLs []string `json:"peerURLs"`
		Pod      string   `json:"pod"`
		Node     string   `json:"node"`
	} `json:"members"`
}

// etcdutlStatus is `etcdutl snapshot status -w json`.
type etcdutlStatus struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
}
