package plugin_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

type finding struct {
	Severity string `json:"severity"`
	Check    string `json:"check"`
	Member   string `json:"member"`
	Finding  string `json:"finding"`
	Fix      string `json:"fix"`
}

type doctorReport struct {
	Transport string    `json:"transport"`
	State     string    `json:"state"`
	Findings  []finding `json:"findings"`
	Skipped   []string  `json:"skipped"`
}

func (r doctorReport) has(check, member string) bool {
	for _, f := range r.Findings {
		if f.Check == check && strings.Contains(f.Member, member) && f.Fix != "" {
			return true
		}
	}
	return false
}

// TestDoctor: a healthy cluster has no findings; a stopped learner, a member whose pod is gone
// and the even voter count that follows are reported, each with a fix, and the exit code says so.
func TestDoctor(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitStorageVersion(ctx, t, c)

	// No perf checks here: the harness's members share one disk with everything the machine
	// runs, so a slow fsync would be a true finding; e2e/perf covers them.
	r := plugintest.Run(t, c, "doctor", "--transport", "exec", "--perf-window=0")
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stdout, "no findings: Healthy: 3 of 3") {
		t.Errorf("healthy cluster:\n%s", r)
	}

	// A learner that joined and then stopped.
	if _, err := c.AddLearner(ctx, "cp-4"); err != nil {
		t.Fatal(err)
	}
	if err := c.StopMember("cp-4"); err != nil {
		t.Fatal(err)
	}
	// A member whose pod is gone (the node was reset, say) while etcd keeps running.
	if err := c.DeletePod("cp-3"); err != nil {
		t.Fatal(err)
	}
	r = plugintest.Run(t, c, "doctor", "--transport", "exec", "-o", "json", "--request-timeout", "5s")
	plugintest.WantCode(t, r, 2)
	var rep doctorReport
	plugintest.DecodeStrict(t, r, &rep)
	if !rep.has("member-without-pod", "cp-3") {
		t.Errorf("member without pod not reported:\n%s", r)
	}
	if !rep.has("unreachable", "cp-4") && !rep.has("unhealthy", "cp-4") {
		t.Errorf("stopped learner not reported:\n%s", r)
	}
	r = plugintest.Run(t, c, "doctor", "--transport", "exec", "--request-timeout", "5s")
	plugintest.WantCode(t, r, 2)
	if !rowHas(r.Stdout, "critical", "member-without-pod") || !strings.Contains(r.Stdout, "kubectl etcd member remove") {
		t.Errorf("table:\n%s", r)
	}
}

// TestCompletionThroughKubectl: "kubectl etcd <TAB>" reaches the plugin's completion through
// kubectl's kubectl_complete-<plugin> mechanism, and member names complete from the cluster.
func TestCompletionThroughKubectl(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	bin := t.TempDir()
	if err := os.Symlink(plugintest.Bin(), filepath.Join(bin, "kubectl-etcd")); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "..", "kubectl_complete-etcd"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(script, filepath.Join(bin, "kubectl_complete-etcd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(c.KubectlBin, filepath.Join(bin, "kubectl")); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) string {
		cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"__complete", "etcd"}, words...)...)
		env := []string{}
		for _, e := range c.Env() {
			if !strings.HasPrefix(e, "PATH=") {
				env = append(env, e)
			}
		}
		cmd.Env = append(env, "PATH="+bin+":/usr/bin:/bin", "KUBECONFIG="+c.Kubeconfig)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl __complete etcd %v: %v\n%s", words, err, out)
		}
		return string(out)
	}
	if out := complete("st"); !strings.Contains(out, "status") {
		t.Errorf("subcommands:\n%s", out)
	}
	if out := complete("member", "remove", ""); !strings.Contains(out, "cp-2") || !strings.Contains(out, hexID(c, "cp-2")) {
		t.Errorf("members:\n%s", out)
	}
	if out := complete("defrag", "--member", ""); !strings.Contains(out, "etcd-cp-1") {
		t.Errorf("--member:\n%s", out)
	}
}

// waitStorageVersion waits until every member reports the storage version of its minor
// (3.6.0 for 3.6.x): a new cluster starts at 3.5.0 and etcd raises it a moment after the
// cluster version is decided, and until then doctor rightly reports it as behind.
func waitStorageVersion(ctx context.Context, t *testing.T, c *harness.Cluster) {
	t.Helper()
	cl := c.Client(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var behind []string
		for _, ep := range c.Endpoints() {
			sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
			st, err := cl.Status(sctx, ep)
			scancel()
			if err != nil {
				behind = append(behind, ep+": "+err.Error())
				continue
			}
			parts := strings.SplitN(st.Version, ".", 3)
			if len(parts) < 2 || st.StorageVersion != parts[0]+"."+parts[1]+".0" {
				behind = append(behind, ep+": storage version "+st.StorageVersion+", server "+st.Version)
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("storage versions did not settle within 30s: %s", strings.Join(behind, "; "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
