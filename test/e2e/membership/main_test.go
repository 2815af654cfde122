// Package membership_test runs the kubectl-etcd binary as a real process against the e2e
// harness and checks the commands that change the member list: "member add", "promote" and
// "member remove" (the kubeadm learner join flow, the safety checks and their exit codes).
//
// The binary is $KUBECTL_ETCD when set (the Makefile sets it to bin/kubectl-etcd), else it is
// built once per test binary from the repository root (../../.. from this directory).
package membership_test

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
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
)

var (
	// pluginBin is the kubectl-etcd binary under test.
	pluginBin string
	// emptyPKIDir is passed as --kubeadm-pki-dir so that a real /etc/kubernetes/pki/etcd on
	// the test machine never changes what the plugin does.
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
	tmp, err := os.MkdirTemp("", "kubectl-etcd-membership-e2e-")
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

// startCluster skips under -short and starts a 3-member harness cluster.
func startCluster(t *testing.T) *harness.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: needs a harness cluster (binaries from hack/e2e-tools.sh)")
	}
	return harness.Start(t, harness.Options{})
}

// Transports the main flows run with.
const (
	exec_       = "exec"
	portForward = "port-forward"
)

var transports = []string{exec_, portForward}

// transportArgs selects a transport; port-forward gets the host's healthcheck-client pair.
func transportArgs(c *harness.Cluster, tr string) []string {
	args := []string{"--transport", tr}
	if tr == portForward {
		args = append(args, "--cacert", filepath.Join(c.PKIDir, "ca.crt"),
			"--cert", filepath.Join(c.PKIDir, "healthcheck-client.crt"),
			"--key", filepath.Join(c.PKIDir, "healthcheck-client.key"))
	}
	return args
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

// hangLimit is how long any single plugin run may take before the test calls it a hang.
const hangLimit = 3 * time.Minute

// running is a plugin process started by start.
type running struct {
	t              *testing.T
	cmd            *exec.Cmd
	r              *result
	stdout, stderr bytes.Buffer
	cancel         context.CancelFunc
	t0             time.Time
}

// start starts the plugin with stdin (nil: /dev/null, never a terminal) against cluster c.
// --kubeadm-pki-dir names an empty directory.
func start(t *testing.T, c *harness.Cluster, stdin []byte, args ...string) *running {
	t.Helper()
	full := append(slices.Clone(args), "--kubeadm-pki-dir", emptyPKIDir)
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	p := &running{t: t, r: &result{args: full}, cancel: cancel}
	p.cmd = exec.CommandContext(ctx, pluginBin, full...)
	p.cmd.Env = c.Env()
	p.cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		p.cmd.Stdin = bytes.NewReader(stdin)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.t0 = time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", pluginBin, err)
	}
	return p
}

// wait waits for the process and returns its result.
func (p *running) wait() *result {
	p.t.Helper()
	defer p.cancel()
	err := p.cmd.Wait()
	r := p.r
	r.dur = time.Since(p.t0)
	r.stdout, r.stderr = p.stdout.String(), p.stderr.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.code = 0
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		r.code = -1
		p.t.Fatalf("plugin did not exit normally (hang > %s?): %v\n%s", hangLimit, err, r)
	}
	p.t.Logf("kubectl-etcd %s -> exit %d in %s", strings.Join(r.args, " "), r.code, r.dur.Round(time.Millisecond))
	return r
}

// run runs the plugin to completion with stdin /dev/null.
func run(t *testing.T, c *harness.Cluster, args ...string) *result {
	t.Helper()
	return start(t, c, nil, args...).wait()
}

// wantCode fails the test (fatally) when the exit code is not want.
func wantCode(t *testing.T, r *result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit code %d, want %d\n%s", r.code, want, r)
	}
}

// wantIn fails the test when s does not contain every one of subs.
func wantIn(t *testing.T, r *result, stream, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q\n%s", stream, sub, r)
		}
	}
}

// addResult is what "member add -o json" prints (the fields the tests read).
type addResult struct {
	ClusterID      string   `json:"clusterID"`
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Learner        bool     `json:"learner"`
	PeerURLs       []string `json:"peerURLs"`
	InitialCluster string   `json:"initialCluster"`
}

// memberInfo is one member of "member list -o json" (the fields the tests read).
type memberInfo struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Started bool   `json:"started"`
	Learner bool   `json:"learner"`
	Pod     string `json:"pod"`
}

type memberList struct {
	Members []memberInfo `json:"members"`
}

// decode unmarshals the run's stdout into v.
func decode(t *testing.T, r *result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("decoding stdout as %T: %v\n%s", v, err, r)
	}
}

// memberAdd runs "member add NAME --peer-urls=URL -o json". etcd refuses membership changes
// with "unhealthy cluster" until every member has been connected for 5 s (right after the
// cluster or a member started); the plugin reports that as exit 5 with "retry shortly", and
// memberAdd retries then, like kubeadm does, for up to 30 s.
func memberAdd(t *testing.T, c *harness.Cluster, tr, name, peerURL string) *result {
	t.Helper()
	args := append([]string{"member", "add", name, "--peer-urls=" + peerURL, "-o", "json"}, transportArgs(c, tr)...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := run(t, c, args...)
		if r.code == 5 && strings.Contains(r.stderr, "unhealthy cluster") && strings.Contains(r.stderr, "retry shortly") &&
			time.Now().Before(deadline) {
			time.Sleep(time.Second)
			continue
		}
		return r
	}
}

// pluginAdd is the harness' AddOptions.Add that makes the plugin (not the harness) add the
// member: memberAdd, then the checks of its JSON; it returns the new member's ID.
func pluginAdd(t *testing.T, c *harness.Cluster, tr, name string) func(ctx context.Context, peerURL string) (uint64, error) {
	return func(ctx context.Context, peerURL string) (uint64, error) {
		t.Helper()
		r := memberAdd(t, c, tr, name, peerURL)
		if r.code != 0 {
			return 0, fmt.Errorf("plugin exit code %d\n%s", r.code, r)
		}
		var res addResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			return 0, fmt.Errorf("decoding member add -o json: %v\n%s", err, r)
		}
		if res.Name != name || !res.Learner || !slices.Equal(res.PeerURLs, []string{peerURL}) {
			return 0, fmt.Errorf("member add -o json: got name %q learner %v peerURLs %v, want %q true [%s]\n%s",
				res.Name, res.Learner, res.PeerURLs, name, peerURL, r)
		}
		if !strings.Contains(res.InitialCluster, name+"="+peerURL) {
			return 0, fmt.Errorf("member add -o json: initialCluster %q lacks %s=%s\n%s", res.InitialCluster, name, peerURL, r)
		}
		id, err := strconv.ParseUint(res.ID, 16, 64)
		if err != nil || id == 0 {
			return 0, fmt.Errorf("member add -o json: id %q is not a hex member ID: %v\n%s", res.ID, err, r)
		}
		return id, nil
	}
}

// etcdMember is one member as etcd itself reports it (through the harness' client).
type etcdMember struct {
	ID      string
	Name    string
	Learner bool
}

// etcdMembers reads the member list straight from etcd (not through the plugin), sorted by ID.
func etcdMembers(t *testing.T, c *harness.Cluster) []etcdMember {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := c.Client(t).MemberList(ctx)
	if err != nil {
		t.Fatalf("member list from etcd: %v", err)
	}
	var out []etcdMember
	for _, m := range resp.Members {
		out = append(out, etcdMember{ID: fmt.Sprintf("%x", m.ID), Name: m.Name, Learner: m.IsLearner})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// wantMembers fails when etcd's member list differs from want.
func wantMembers(t *testing.T, c *harness.Cluster, want []etcdMember, why string) {
	t.Helper()
	if got := etcdMembers(t, c); !slices.Equal(got, want) {
		t.Fatalf("%s: etcd member list changed:\n got  %+v\n want %+v", why, got, want)
	}
}

// hexID is how the plugin prints a member ID.
func hexID(c *harness.Cluster, name string) string { return fmt.Sprintf("%x", c.MemberID(name)) }
