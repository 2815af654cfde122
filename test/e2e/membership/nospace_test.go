package membership_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// TestNOSPACEOneMemberDown is issue 16 items 1 and 3 on real etcd: with a small quota filled
// until NOSPACE and one follower stopped, the two members left still serve (reads, raft), so
//   - member remove of a serving member is refused without --force (exit 5): it would leave one
//     serving voter of two, quorum 2;
//   - snapshot save finds a member to stream from and succeeds;
//   - move-leader --to-healthiest finds the other serving member and moves the leadership.
func TestNOSPACEOneMemberDown(t *testing.T) {
	plugintest.SkipShort(t)
	const quota = 24 << 20
	c := harness.Start(t, harness.Options{QuotaBackendBytes: quota})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Fill(ctx, 64); err == nil || !strings.Contains(err.Error(), "database space exceeded") {
		t.Fatalf("filling 64 MiB with a %d MiB quota: %v; want database space exceeded", quota>>20, err)
	}
	leader := leaderName(ctx, t, c)
	var followers []string
	for _, n := range c.MemberNames() {
		if n != leader {
			followers = append(followers, n)
		}
	}
	down, victim := followers[0], followers[1]
	if err := c.StopMember(down); err != nil {
		t.Fatal(err)
	}
	t.Logf("NOSPACE raised; leader %s, %s stopped, %s serving", leader, down, victim)
	rt := []string{"--request-timeout", "3s"} // bounds the calls to the stopped member

	r := plugintest.Run(t, c, append([]string{"status", "-o", "json", "--transport", transportExec}, rt...)...)
	plugintest.WantCode(t, r, 2)
	var st struct {
		State  string   `json:"state"`
		Alarms []string `json:"alarms"`
		Quorum struct {
			Voters        int `json:"voters"`
			HealthyVoters int `json:"healthyVoters"`
		} `json:"quorum"`
	}
	plugintest.Decode(t, r, &st)
	if st.State != "Degraded" || st.Quorum.Voters != 3 || st.Quorum.HealthyVoters != 2 || !strings.Contains(strings.Join(st.Alarms, " "), "NOSPACE") {
		t.Fatalf("status under NOSPACE with %s down: %+v; want Degraded, 2 of 3 serving, a NOSPACE alarm\n%s", down, st, r)
	}

	before := etcdMembers(t, c)
	for _, tr := range transports {
		t.Run("remove-serving-refused/"+tr, func(t *testing.T) {
			r := plugintest.Run(t, c, append(append([]string{"member", "remove", victim, "--yes"}, rt...), transportArgs(c, tr)...)...)
			plugintest.WantCode(t, r, 5)
			wantIn(t, r, "stdout", r.Stdout, "State:    serving (NOSPACE alarm: reads only) voter",
				"before: 3 voters (2 serving), quorum 2, can lose 0 more", "after:  2 voters (1 serving), quorum 2, can lose 0 more")
			wantIn(t, r, "stderr", r.Stderr, fmt.Sprintf("error: refused: removing member %s (%s): the cluster would lose quorum: 1 serving of 2 voters left, 2 needed", victim, hexID(c, victim)),
				"pass --force")
			wantMembers(t, c, before, "refused member remove under NOSPACE")
		})
	}

	t.Run("snapshot-save", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "nospace.db")
		r := plugintest.Run(t, c, append(append([]string{"snapshot", "save", file, "-o", "json"}, rt...), plugintest.PFArgs(c)...)...)
		plugintest.WantCode(t, r, 0)
		var md struct {
			MemberName string `json:"memberName"`
			Size       int64  `json:"size"`
		}
		plugintest.Decode(t, r, &md)
		if md.MemberName != victim {
			t.Errorf("snapshot from %q; want the serving follower %s\n%s", md.MemberName, victim, r)
		}
		if fi, err := os.Stat(file); err != nil || fi.Size() == 0 || fi.Size() != md.Size {
			t.Errorf("snapshot file: %v %v (metadata says %d bytes)", fi, err, md.Size)
		}
	})

	t.Run("move-leader", func(t *testing.T) {
		r := plugintest.Run(t, c, append([]string{"move-leader", "--to-healthiest", "--transport", transportExec}, rt...)...)
		plugintest.WantCode(t, r, 0)
		wantIn(t, r, "stdout", r.Stdout, fmt.Sprintf("leadership moved from %s (%s) to %s (%s)", leader, hexID(c, leader), victim, hexID(c, victim)))
		if got := leaderName(ctx, t, c); got != victim {
			t.Errorf("leader after move-leader: %s, want %s", got, victim)
		}
	})
}

// leaderName asks the running members which of them leads.
func leaderName(ctx context.Context, t *testing.T, c *harness.Cluster) string {
	t.Helper()
	cl := c.Client(t)
	for _, n := range c.MemberNames() {
		if !c.MemberRunning(n) {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := cl.Status(sctx, c.ClientURL(n))
		cancel()
		if err == nil && s.Header != nil && s.Leader == s.Header.MemberId {
			return n
		}
	}
	t.Fatal("no running member reports itself the leader")
	return ""
}
