package plugin_test

import (
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// TestDeadNodeBounded freezes one node's kubelet, so that the API server's port-forward and exec
// to it hang (client-go's port-forward dial takes no context): status must still end within
// about one --request-timeout and report every member. Port-forward reaches each member through
// its own node, so cp-2 is reported unreachable (exit 2); exec reads the whole cluster from one
// ready pod, where etcd itself sees cp-2 serving (exit 0).
func TestDeadNodeBounded(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	if c.Mode != harness.ModeNetns {
		t.Skip("needs netns mode: in loopback mode one kwok serves every node")
	}
	const to = 2 * time.Second
	if err := c.FreezeNode("cp-2"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.ThawNode("cp-2") })
	for tr, targs := range transports(c) {
		t.Run(tr, func(t *testing.T) {
			args := append([]string{"status", "-o", "json", "--request-timeout", to.String()}, targs...)
			r := plugintest.Run(t, c, args...)
			t.Logf("status through %s with cp-2's kubelet frozen took %s, exit %d", tr, r.Dur.Round(time.Millisecond), r.Code)
			// The API server gives up on the frozen kubelet by itself only after its own
			// timeouts (10 s and more); the plugin must not wait for that.
			if limit := to + 15*time.Second; r.Dur > limit { // the old code hung until the hang limit
				t.Errorf("took %s with --request-timeout %s; want under %s\n%s", r.Dur.Round(time.Millisecond), to, limit, r)
			}
			var st clusterStatus
			if tr == "exec" {
				// Over exec, status reads every member in one round from the first ready
				// pod (etcdctl --cluster): etcd's own view, in which cp-2 serves; the
				// frozen kubelet is never asked.
				plugintest.WantCode(t, r, 0)
				plugintest.DecodeStrict(t, r, &st)
				if m := st.member(t, "cp-2"); !m.Healthy {
					t.Errorf("cp-2 (etcd serving, kubelet frozen) over exec: problems %q; want etcd's view, healthy\n%s", m.Problems, r)
				}
			} else {
				plugintest.WantCode(t, r, 2)
				plugintest.DecodeStrict(t, r, &st)
				if m := st.member(t, "cp-2"); m.Healthy || len(m.Problems) == 0 {
					t.Errorf("cp-2 (kubelet frozen): healthy %v problems %q; want unhealthy with problems\n%s", m.Healthy, m.Problems, r)
				}
			}
			for _, name := range []string{"cp-1", "cp-3"} {
				if m := st.member(t, name); !m.Healthy {
					t.Errorf("%s: not healthy %q\n%s", name, m.Problems, r)
				}
			}
		})
	}
}
