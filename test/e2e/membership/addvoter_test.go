package membership_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// TestAddVoterQuorumPlan (issue 21 item 2): on a healthy 3-member cluster, "member add
// --learner=false" would take fault tolerance from 1 to 0 until the new voter runs: refused
// without --force (exit 5) with the plan on stderr; --dry-run --force prints the plan on stdout
// and changes nothing; without --yes and with stdin not a terminal it is refused; --force --yes
// adds an unstarted voter, which "member remove --yes" then removes again.
func TestAddVoterQuorumPlan(t *testing.T) {
	c := startCluster(t)
	before := etcdMembers(t, c)
	for i, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			peer := []string{fmt.Sprintf("--peer-urls=https://10.255.1.%d:2380", 4+i), "--learner=false"}
			args := func(extra ...string) []string {
				return append(append(append([]string{"member", "add", "cp-v"}, peer...), extra...), transportArgs(c, tr)...)
			}
			r := plugintest.Run(t, c, args("--yes")...)
			plugintest.WantCode(t, r, 5)
			wantIn(t, r, "stderr", r.Stderr, "before: 3 voters (3 serving), quorum 2, can lose 1 more",
				"after:  4 voters (3 serving), quorum 3, can lose 0 more",
				"the cluster could lose 1 more member(s) now and only 0 until cp-v has started and caught up; pass --force")
			wantMembers(t, c, before, "refused voter add")

			r = plugintest.Run(t, c, args("--dry-run", "--force")...)
			plugintest.WantCode(t, r, 0)
			wantIn(t, r, "stdout", r.Stdout, "Member:   new voter cp-v", "Verdict:  needs --force")
			wantIn(t, r, "stderr", r.Stderr, "dry run: nothing was changed")
			wantMembers(t, c, before, "voter add --dry-run")

			r = plugintest.Run(t, c, args("--force")...) // stdin is /dev/null, not a terminal
			plugintest.WantCode(t, r, 5)
			wantIn(t, r, "stderr", r.Stderr, "standard input is not a terminal; pass --yes")
			wantMembers(t, c, before, "voter add without a terminal")

			// etcd refuses membership changes for a few seconds after a member (re)connects.
			deadline := time.Now().Add(30 * time.Second)
			for {
				r = plugintest.Run(t, c, args("--force", "--yes", "-o", "json")...)
				if r.Code != 5 || !strings.Contains(r.Stderr, "retry shortly") || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Second)
			}
			plugintest.WantCode(t, r, 0)
			var res addResult
			plugintest.Decode(t, r, &res)
			if res.Learner || res.ID == "" {
				t.Fatalf("member add --learner=false -o json: %+v\n%s", res, r)
			}
			if m := etcdMember4(t, c, res.ID); m.Learner {
				t.Fatalf("added member is %+v, want a voter", m)
			}
			r = plugintest.Run(t, c, append([]string{"member", "remove", res.ID, "--yes", "--request-timeout", "3s"}, transportArgs(c, tr)...)...)
			plugintest.WantCode(t, r, 0)
			wantMembers(t, c, before, "voter add then member remove "+res.ID)
		})
	}
}
