// Package membership_test runs the kubectl-etcd binary as a real process against the e2e
// harness and checks the commands that change the member list: "member add", "promote" and
// "member remove" (the kubeadm learner join flow, the safety checks and their exit codes).
//
// The binary is $KUBECTL_ETCD when set (the Makefile sets it to bin/kubectl-etcd), else it is
// built once per test binary from the repository root (../../.. from this directory).
package membership_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

// startCluster skips under -short and starts a 3-member harness cluster.
func startCluster(t *testing.T) *harness.Cluster {
	t.Helper()
	plugintest.SkipShort(t)
	return harness.Start(t, harness.Options{})
}

// Transports the main flows run with.
const (
	transportExec = "exec"
	portForward   = "port-forward"
)

var transports = []string{transportExec, portForward}

// transportArgs selects a transport; port-forward gets the host's healthcheck-client pair.
func transportArgs(c *harness.Cluster, tr string) []string {
	args := []string{"--transport", tr}
	if tr == portForward {
		args = append(args, plugintest.PFCertArgs(c)...)
	}
	return args
}

// start starts the plugin with stdin (nil: /dev/null, never a terminal) against cluster c.
func start(t *testing.T, c *harness.Cluster, stdin []byte, args ...string) *plugintest.Proc {
	t.Helper()
	return plugintest.Start(t, c, plugintest.Options{Stdin: stdin}, args...)
}

// wantIn fails the test when s does not contain every one of subs.
func wantIn(t *testing.T, r *plugintest.Result, stream, s string, subs ...string) {
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

// memberAdd runs "member add NAME --peer-urls=URL -o json". etcd refuses membership changes
// with "unhealthy cluster" until every member has been connected for 5 s (right after the
// cluster or a member started); the plugin reports that as exit 5 with "retry shortly", and
// memberAdd retries then, like kubeadm does, for up to 30 s.
func memberAdd(t *testing.T, c *harness.Cluster, tr, name, peerURL string) *plugintest.Result {
	t.Helper()
	args := append([]string{"member", "add", name, "--peer-urls=" + peerURL, "-o", "json"}, transportArgs(c, tr)...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := plugintest.Run(t, c, args...)
		if r.Code == 5 && strings.Contains(r.Stderr, "unhealthy cluster") && strings.Contains(r.Stderr, "retry shortly") &&
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
	return func(_ context.Context, peerURL string) (uint64, error) {
		t.Helper()
		r := memberAdd(t, c, tr, name, peerURL)
		if r.Code != 0 {
			return 0, fmt.Errorf("plugin exit code %d\n%s", r.Code, r)
		}
		var res addResult
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
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
