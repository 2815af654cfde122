package plugin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// TestPodSelectionAndConsistency: "status --pod etcd-cp-1" (the README's example) is healthy on a
// healthy cluster, the members outside --pod are asked and never counted as down; and "check
// consistency" stays consistent when kube-apiserver-style compactions land while it runs.
func TestPodSelectionAndConsistency(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})

	t.Run("status --pod", func(t *testing.T) {
		r := plugintest.Run(t, c, "status", "--pod", "etcd-cp-1", "--transport", "exec")
		plugintest.WantCode(t, r, 0)
		if !strings.Contains(r.Stdout, "Healthy: 3 of 3 voting members healthy") || len(r.StderrLines()) != 0 {
			t.Errorf("status --pod etcd-cp-1 on a healthy cluster\n%s", r)
		}
		if !rowHas(r.Stdout, "etcd-cp-1", "healthy") || strings.Contains(r.Stdout, "etcd-cp-2") || strings.Contains(r.Stdout, "etcd-cp-3") {
			t.Errorf("want only etcd-cp-1's row\n%s", r)
		}
		r = plugintest.Run(t, c, "status", "--pod", "etcd-cp-2", "-o", "json", "--transport", "exec")
		plugintest.WantCode(t, r, 0)
		var st clusterStatus
		plugintest.DecodeStrict(t, r, &st)
		if st.State != "Healthy" || st.Quorum.HealthyVoters != 3 || len(st.Members) != 1 || st.Members[0].Pod != "etcd-cp-2" {
			t.Errorf("status --pod etcd-cp-2 -o json: state %s quorum %+v members %d\n%s", st.State, st.Quorum, len(st.Members), r)
		}
		for _, args := range [][]string{{"doctor", "--usage=false", "--perf-window=0"}, {"check", "consistency"}} {
			r := plugintest.Run(t, c, append(args, "--pod", "etcd-cp-1", "--transport", "exec")...)
			plugintest.WantCode(t, r, 0)
		}
	})

	t.Run("consistency across compactions", func(t *testing.T) {
		cl := c.Client(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for round := 0; round < 5; round++ {
			var rev int64
			for i := 0; i < 100; i++ {
				resp, err := cl.Put(ctx, fmt.Sprintf("/registry/e2e/compaction/%d/%d", round, i), strings.Repeat("x", 512))
				if err != nil {
					t.Fatal(err)
				}
				rev = resp.Header.Revision
			}
			p := plugintest.Start(t, c, plugintest.Options{}, "check", "consistency", "--transport", "exec")
			if _, err := cl.Compact(ctx, rev); err != nil {
				t.Fatal(err)
			}
			r := p.Wait(t)
			plugintest.WantCode(t, r, 0)
			if !strings.Contains(r.Stdout, "consistent: 3 members agree") {
				t.Errorf("round %d: not consistent after a compaction\n%s", round, r)
			}
		}
	})
}
