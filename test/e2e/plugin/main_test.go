// Package plugin_test runs the kubectl-etcd binary as a real process against the e2e harness
// (real etcd members, a real kube-apiserver, kwok as the kubelet API) and checks its output,
// stderr and exit codes.
//
// The binary is $KUBECTL_ETCD when set (the Makefile sets it to bin/kubectl-etcd), else it is
// built once per test binary from the repository root (../../.. from this directory).
package plugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
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
	tmp, err := os.MkdirTemp("", "kubectl-etcd-plugin-e2e-")
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

// skipShort skips the test under -short: every test here needs the harness binaries.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: needs a harness cluster (binaries from hack/e2e-tools.sh)")
	}
}

// result is one run of the plugin.
type result struct {
	args           []string
	stdout, stderr string
	code           int
	dur            time.Duration
}

// String shows everything about the run, for failure messages.
func (r *result) String() string {
	return fmt.Sprintf("$ kubectl-etcd %s\nexit code %d after %s\n--- stdout:\n%s--- stderr:\n%s---",
		strings.Join(r.args, " "), r.code, r.dur.Round(time.Millisecond), withNL(r.stdout), withNL(r.stderr))
}

func withNL(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

// stderrLines returns the non-empty lines of stderr.
func (r *result) stderrLines() []string {
	var out []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// errorLines returns the stderr lines starting with "error: ".
func (r *result) errorLines() []string {
	var out []string
	for _, l := range r.stderrLines() {
		if strings.HasPrefix(l, "error: ") {
			out = append(out, l)
		}
	}
	return out
}

// hangLimit is how long any single plugin run may take before the test calls it a hang.
const hangLimit = 90 * time.Second

// start starts the plugin against cluster c; wait with finish. Unless args name
// --kubeadm-pki-dir, the empty directory is passed so that auto never finds host certificates.
func start(t *testing.T, c *harness.Cluster, args ...string) (*exec.Cmd, *result, *bytes.Buffer, *bytes.Buffer, context.CancelFunc) {
	t.Helper()
	full := append([]string{}, args...)
	if !slices.ContainsFunc(full, func(a string) bool { return strings.HasPrefix(a, "--kubeadm-pki-dir") }) {
		full = append(full, "--kubeadm-pki-dir", emptyPKIDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	cmd := exec.CommandContext(ctx, pluginBin, full...)
	cmd.Env = c.Env()
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := &result{args: full}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", pluginBin, err)
	}
	return cmd, r, &stdout, &stderr, cancel
}

func finish(t *testing.T, cmd *exec.Cmd, r *result, stdout, stderr *bytes.Buffer, cancel context.CancelFunc, t0 time.Time) *result {
	t.Helper()
	defer cancel()
	err := cmd.Wait()
	r.dur = time.Since(t0)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.code = 0
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		r.code = -1
		t.Fatalf("plugin did not exit normally (hang > %s?): %v\n%s", hangLimit, err, r)
	}
	t.Logf("kubectl-etcd %s -> exit %d in %s", strings.Join(r.args, " "), r.code, r.dur.Round(time.Millisecond))
	return r
}

// run runs the plugin to completion.
func run(t *testing.T, c *harness.Cluster, args ...string) *result {
	t.Helper()
	t0 := time.Now()
	cmd, r, o, e, cancel := start(t, c, args...)
	return finish(t, cmd, r, o, e, cancel, t0)
}

// wantCode fails the test (fatally) when the exit code is not want.
func wantCode(t *testing.T, r *result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit code %d, want %d\n%s", r.code, want, r)
	}
}

// decode unmarshals the run's stdout into v.
func decode(t *testing.T, r *result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding stdout as %T: %v\n%s", v, err, r)
	}
}

// pfCertArgs are the port-forward certificate flags for the cluster's healthcheck client pair.
func pfCertArgs(c *harness.Cluster) []string {
	return []string{"--cacert", filepath.Join(c.PKIDir, "ca.crt"),
		"--cert", filepath.Join(c.PKIDir, "healthcheck-client.crt"),
		"--key", filepath.Join(c.PKIDir, "healthcheck-client.key")}
}

// The JSON of `status -o json` and `member list -o json`, as documented in the README (decoded
// with DisallowUnknownFields, so a renamed or added field shows up here).

type clusterStatus struct {
	Transport   string         `json:"transport"`
	ClusterID   string         `json:"clusterID,omitempty"`
	Leader      string         `json:"leader,omitempty"`
	State       string         `json:"state"`
	Quorum      quorum         `json:"quorum"`
	Members     []memberStatus `json:"members"`
	Alarms      []string       `json:"alarms,omitempty"`
	Warnings    []string       `json:"warnings,omitempty"`
	Unavailable []string       `json:"unavailable,omitempty"`
}

type quorum struct {
	Voters         int `json:"voters"`
	HealthyVoters  int `json:"healthyVoters"`
	Learners       int `json:"learners"`
	Quorum         int `json:"quorum"`
	FaultTolerance int `json:"faultTolerance"`
	FailuresLeft   int `json:"failuresLeft"`
}

type memberStatus struct {
	Pod                  string   `json:"pod,omitempty"`
	Node                 string   `json:"node,omitempty"`
	Name                 string   `json:"name,omitempty"`
	ID                   string   `json:"id,omitempty"`
	Endpoint             string   `json:"endpoint,omitempty"`
	Reachable            bool     `json:"reachable"`
	Healthy              bool     `json:"healthy"`
	HealthError          string   `json:"healthError,omitempty"`
	HealthTook           string   `json:"healthTook,omitempty"`
	Leader               bool     `json:"leader"`
	Learner              bool     `json:"learner"`
	Version              string   `json:"version,omitempty"`
	StorageVersion       string   `json:"storageVersion,omitempty"`
	DBSize               int64    `json:"dbSize"`
	DBSizeInUse          int64    `json:"dbSizeInUse"`
	DBSizeQuota          int64    `json:"dbSizeQuota,omitempty"`
	FragmentationPercent float64  `json:"fragmentationPercent"`
	RaftTerm             uint64   `json:"raftTerm"`
	RaftIndex            uint64   `json:"raftIndex"`
	RaftAppliedIndex     uint64   `json:"raftAppliedIndex"`
	Revision             int64    `json:"revision"`
	LeaderID             string   `json:"leaderID,omitempty"`
	ClusterID            string   `json:"clusterID,omitempty"`
	Alarms               []string `json:"alarms,omitempty"`
	Errors               []string `json:"errors,omitempty"`
	HasPod               bool     `json:"hasPod"`
	PodPhase             string   `json:"podPhase,omitempty"`
	PodReady             bool     `json:"podReady"`
	Image                string   `json:"image,omitempty"`
	DataDir              string   `json:"dataDir,omitempty"`
	PeerURLs             []string `json:"peerURLs,omitempty"`
	ClientURLs           []string `json:"clientURLs,omitempty"`
	ServerCertNotAfter   string   `json:"serverCertNotAfter,omitempty"`
	ServerCertDaysLeft   *int     `json:"serverCertDaysLeft,omitempty"`
	Problems             []string `json:"problems,omitempty"`
}

type memberList struct {
	Transport         string       `json:"transport"`
	ClusterID         string       `json:"clusterID"`
	From              string       `json:"from"`
	Members           []memberInfo `json:"members"`
	PodsWithoutMember []string     `json:"podsWithoutMember,omitempty"`
}

type memberInfo struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Started    bool     `json:"started"`
	Learner    bool     `json:"learner"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	Pod        string   `json:"pod,omitempty"`
	Node       string   `json:"node,omitempty"`
	HasPod     bool     `json:"hasPod"`
	PodPhase   string   `json:"podPhase,omitempty"`
	Problems   []string `json:"problems,omitempty"`
}

// member returns the member of st whose pod is etcd-<name>.
func (st *clusterStatus) member(t *testing.T, name string) memberStatus {
	t.Helper()
	for _, m := range st.Members {
		if m.Pod == "etcd-"+name {
			return m
		}
	}
	t.Fatalf("no member with pod etcd-%s in %+v", name, st.Members)
	return memberStatus{}
}

// stable drops what legitimately differs between two runs or two transports: raft term and
// indexes, revision, DB sizes, the health probe's latency, the transport and the serving
// certificate (only port-forward sees it).
func (st clusterStatus) stable() clusterStatus {
	st.Transport = ""
	ms := make([]memberStatus, len(st.Members))
	for i, m := range st.Members {
		m.HealthTook = ""
		m.RaftTerm, m.RaftIndex, m.RaftAppliedIndex, m.Revision = 0, 0, 0, 0
		m.DBSize, m.DBSizeInUse, m.FragmentationPercent = 0, 0, 0
		m.ServerCertNotAfter, m.ServerCertDaysLeft = "", nil
		ms[i] = m
	}
	st.Members = ms
	return st
}

func (ml memberList) stable() memberList {
	ml.Transport, ml.From = "", ""
	return ml
}

func mustJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// etcdVersion is the version string etcd reports ("3.6.16") for the cluster's EtcdVersion.
func etcdVersion(c *harness.Cluster) string { return strings.TrimPrefix(c.EtcdVersion, "v") }

// hexID is how the plugin prints a member ID.
func hexID(c *harness.Cluster, name string) string { return fmt.Sprintf("%x", c.MemberID(name)) }

// waitHealthy polls `status --transport exec` until it exits 0 (after members were restarted).
func waitHealthy(t *testing.T, c *harness.Cluster) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var r *result
	for time.Now().Before(deadline) {
		r = run(t, c, "status", "--transport", "exec", "--request-timeout", "5s")
		if r.code == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("cluster did not become healthy within 60s; last run:\n%s", r)
}
