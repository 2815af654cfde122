package membership_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// TestJoinFlowPromote is kubeadm's learner join done with the plugin: "member add" adds cp-4 as
// a learner (the harness then starts etcd with the printed settings, after data was written so
// that the learner has a log to catch up on), "promote cp-4" waits for it and promotes it, and a
// second "promote cp-4" is a no-op.
func TestJoinFlowPromote(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			c := startCluster(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := c.Fill(ctx, 32); err != nil {
				t.Fatal(err)
			}
			id, err := c.AddMember(ctx, "cp-4", harness.AddOptions{Add: pluginAdd(t, c, tr, "cp-4")})
			if err != nil {
				t.Fatalf("kubeadm join of cp-4 with the plugin's member add: %v", err)
			}
			hex := fmt.Sprintf("%x", id)
			if m := etcdMember4(t, c, hex); !m.Learner || m.Name != "cp-4" {
				t.Fatalf("after member add and start: cp-4 is %+v, want a started learner", m)
			}

			r := plugintest.Run(t, c, append([]string{"promote", "cp-4", "--timeout", "60s"}, transportArgs(c, tr)...)...)
			plugintest.WantCode(t, r, 0)
			wantIn(t, r, "stdout", r.Stdout, fmt.Sprintf("member cp-4 (%s): promoted in ", hex))
			// Piped stderr: plain progress lines, no carriage returns or escape sequences.
			wantIn(t, r, "stderr", r.Stderr, fmt.Sprintf("learner cp-4 (%s) raft index", hex))
			t.Logf("progress: %s", firstLine(r.Stderr, "learner cp-4"))
			if strings.ContainsAny(r.Stderr, "\r\x1b") {
				t.Errorf("stderr is not a terminal but has \\r or escape sequences\n%s", r)
			}
			// After promoting, the member table is printed.
			wantIn(t, r, "stdout", r.Stdout, "ID", "LEARNER", "etcd-cp-4")
			if m := etcdMember4(t, c, hex); m.Learner {
				t.Fatalf("after promote: etcd still lists cp-4 as a learner: %+v\n%s", m, r)
			}

			r = plugintest.Run(t, c, append([]string{"member", "list", "-o", "json"}, transportArgs(c, tr)...)...)
			plugintest.WantCode(t, r, 0)
			var ml memberList
			plugintest.Decode(t, r, &ml)
			var found bool
			for _, m := range ml.Members {
				if m.ID == hex {
					found = true
					if m.Learner || !m.Started || m.Name != "cp-4" || m.Pod != "etcd-cp-4" {
						t.Errorf("member list: cp-4 is %+v, want a started voter in pod etcd-cp-4\n%s", m, r)
					}
				} else if m.Learner {
					t.Errorf("member list: unexpected learner %+v\n%s", m, r)
				}
			}
			if !found || len(ml.Members) != 4 {
				t.Fatalf("member list: want 4 members incl. %s\n%s", hex, r)
			}

			// Re-running is safe: the member already votes.
			r = plugintest.Run(t, c, append([]string{"promote", "cp-4", "--timeout", "60s"}, transportArgs(c, tr)...)...)
			plugintest.WantCode(t, r, 0)
			wantIn(t, r, "stdout", r.Stdout, fmt.Sprintf("member cp-4 (%s): already a voting member", hex))
			// Without a target: nothing to do.
			r = plugintest.Run(t, c, append([]string{"promote"}, transportArgs(c, tr)...)...)
			plugintest.WantCode(t, r, 0)
			wantIn(t, r, "stderr", r.Stderr, "no learners to promote")
		})
	}
}

// etcdMember4 returns the member with hex ID hex from etcd's own member list.
func etcdMember4(t *testing.T, c *harness.Cluster, hex string) etcdMember {
	t.Helper()
	ms := etcdMembers(t, c)
	for _, m := range ms {
		if m.ID == hex {
			return m
		}
	}
	t.Fatalf("member %s is not in etcd's member list %+v", hex, ms)
	return etcdMember{}
}

// TestPromoteAppliedElsewhere: a promotion the server applied while the plugin did not see its
// answer must be reported as success. The plugin's "promote cp-4" starts while cp-4 was added but
// never started (so it waits); then cp-4 is started and promoted out of band through etcd's API
// between two of the plugin's checks. The next check must see a voter and exit 0.
func TestPromoteAppliedElsewhere(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			c := startCluster(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			id, err := c.AddMember(ctx, "cp-4", harness.AddOptions{NoStart: true})
			if err != nil {
				t.Fatal(err)
			}
			hex := fmt.Sprintf("%x", id)
			const interval = 15 * time.Second
			p := start(t, c, nil, append([]string{"promote", "cp-4", "--timeout", "90s", "--poll-interval", interval.String()},
				transportArgs(c, tr)...)...)
			// Let the plugin make its first check (member not started) and go to sleep.
			time.Sleep(4 * time.Second)
			if err := c.StartMember("cp-4"); err != nil {
				t.Fatal(err)
			}
			cl := c.Client(t)
			var promoted time.Duration
			for {
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := cl.MemberPromote(cctx, id)
				ccancel()
				if err == nil {
					promoted = time.Since(p.T0)
					break
				}
				if strings.Contains(err.Error(), "in sync") && ctx.Err() == nil && time.Since(p.T0) < interval-2*time.Second {
					time.Sleep(200 * time.Millisecond)
					continue
				}
				r := p.Wait(t)
				t.Fatalf("out-of-band promote of cp-4 at %s after the plugin started: %v (did the plugin promote first?)\n%s",
					time.Since(p.T0).Round(time.Millisecond), err, r)
			}
			t.Logf("cp-4 promoted out of band %s after the plugin started", promoted.Round(time.Millisecond))
			if m := etcdMember4(t, c, hex); m.Learner {
				t.Fatalf("out-of-band promote: cp-4 still a learner: %+v", m)
			}

			r := p.Wait(t)
			plugintest.WantCode(t, r, 0)
			out := fmt.Sprintf("member cp-4 (%s): ", hex)
			t.Logf("plugin's outcome: %s", firstLine(r.Stdout, out))
			// The plugin never sent a promote of its own (its first check saw a member that had not
			// started), so the member it finds voting is "already a voting member".
			wantIn(t, r, "stdout", r.Stdout, out+"already a voting member")
			if strings.Contains(r.Stderr, "error:") {
				t.Errorf("stderr has an error\n%s", r)
			}
			if m := etcdMember4(t, c, hex); m.Learner {
				t.Fatalf("cp-4 a learner again?! %+v", m)
			}
		})
	}
}

// TestPromoteLearnerNotRunning: a learner that never started, and one whose etcd stopped, are
// not promoted; promote gives up after --timeout with exit 6 and says why.
func TestPromoteLearnerNotRunning(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id, err := c.AddMember(ctx, "cp-4", harness.AddOptions{NoStart: true})
	if err != nil {
		t.Fatal(err)
	}
	hex := fmt.Sprintf("%x", id)
	const timeout, callTimeout = 10 * time.Second, 3 * time.Second
	// The last check may start just before the deadline and wait for one call; plus discovery,
	// connecting and process start.
	const limit = timeout + 2*callTimeout + 10*time.Second

	promote := func(t *testing.T, tr string, reasons ...string) {
		t.Helper()
		r := plugintest.Run(t, c, append([]string{"promote", "cp-4", "--timeout", timeout.String(), "--request-timeout", callTimeout.String()},
			transportArgs(c, tr)...)...)
		plugintest.WantCode(t, r, 6)
		wantIn(t, r, "stderr", r.Stderr, fmt.Sprintf("error: not ready: member %s was not promoted within %s: ", hex, timeout))
		wantIn(t, r, "stderr", r.Stderr, reasons...)
		if r.Dur < timeout-time.Second || r.Dur > limit {
			t.Errorf("exit after %s, want about --timeout %s (at most %s)\n%s", r.Dur.Round(time.Millisecond), timeout, limit, r)
		}
		// --wait=false: one check, no waiting.
		r = plugintest.Run(t, c, append([]string{"promote", "cp-4", "--wait=false", "--request-timeout", callTimeout.String()},
			transportArgs(c, tr)...)...)
		plugintest.WantCode(t, r, 6)
		wantIn(t, r, "stderr", r.Stderr, fmt.Sprintf("error: not ready: member %s cannot be promoted yet: ", hex))
		wantIn(t, r, "stderr", r.Stderr, reasons...)
		if r.Dur > 2*callTimeout+10*time.Second {
			t.Errorf("--wait=false took %s\n%s", r.Dur.Round(time.Millisecond), r)
		}
		if m := etcdMember4(t, c, hex); !m.Learner {
			t.Fatalf("cp-4 was promoted: %+v", m)
		}
	}

	t.Run("never-started", func(t *testing.T) {
		for _, tr := range transports {
			t.Run(tr, func(t *testing.T) { promote(t, tr, "member has not started", "etcd-cp-4") })
		}
	})
	if t.Failed() {
		return
	}
	if err := c.StartMember("cp-4"); err != nil {
		t.Fatal(err)
	}
	if err := c.StopMember("cp-4"); err != nil {
		t.Fatal(err)
	}
	t.Run("stopped", func(t *testing.T) {
		for _, tr := range transports {
			t.Run(tr, func(t *testing.T) { promote(t, tr, "learner in pod etcd-cp-4 (node cp-4) does not answer: ") })
		}
	})
}

// TestAddSecondLearnerRefused: with one learner in the cluster, "member add" of another learner
// is refused (exit 5, "too many learners"), also with --force, and nothing changes.
func TestAddSecondLearnerRefused(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := c.AddLearner(ctx, "cp-4")
	if err != nil {
		t.Fatal(err)
	}
	before := etcdMembers(t, c)
	for _, tr := range transports {
		for _, force := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/force=%v", tr, force), func(t *testing.T) {
				args := append([]string{"member", "add", "cp-5", "--peer-urls=https://127.0.0.1:1"}, transportArgs(c, tr)...)
				if force {
					args = append(args, "--force")
				}
				r := plugintest.Run(t, c, args...)
				plugintest.WantCode(t, r, 5)
				wantIn(t, r, "stderr", r.Stderr, "error: refused: too many learners", fmt.Sprintf("cp-4 (%x)", id))
				if r.Stdout != "" {
					t.Errorf("stdout not empty\n%s", r)
				}
				wantMembers(t, c, before, "refused member add")
			})
		}
	}
}

// TestRemoveSafetyChecks: in a 3-member cluster with cp-3 down, removing the healthy cp-1 is
// refused without --force (exit 5); --dry-run previews and changes nothing; without --yes and
// with stdin not a terminal the removal is refused (exit 5) even when the pipe says "yes"; and
// removing the dead cp-3 with --yes works.
func TestRemoveSafetyChecks(t *testing.T) {
	c := startCluster(t)
	if err := c.StopMember("cp-3"); err != nil {
		t.Fatal(err)
	}
	before := etcdMembers(t, c)
	rt := []string{"--request-timeout", "3s"} // bounds the checks of the dead cp-3
	cp1, cp3 := hexID(c, "cp-1"), hexID(c, "cp-3")

	for _, tr := range transports {
		t.Run("remove-healthy-refused/"+tr, func(t *testing.T) {
			for _, extra := range [][]string{nil, {"--yes"}} {
				r := plugintest.Run(t, c, append(append([]string{"member", "remove", "cp-1"}, extra...), append(rt, transportArgs(c, tr)...)...)...)
				plugintest.WantCode(t, r, 5)
				wantIn(t, r, "stdout", r.Stdout, "Member:   member cp-1 ("+cp1+")", "Verdict:  needs --force: the cluster would lose quorum")
				wantIn(t, r, "stderr", r.Stderr, "error: refused: removing member cp-1 ("+cp1+"): the cluster would lose quorum", "pass --force")
				wantMembers(t, c, before, "refused member remove cp-1")
			}
		})
	}

	t.Run("dry-run", func(t *testing.T) {
		// A refused plan stays refused with --dry-run (exit 5): the check runs before the dry-run exit.
		r := plugintest.Run(t, c, append([]string{"member", "remove", "cp-1", "--dry-run"}, rt...)...)
		plugintest.WantCode(t, r, 5)
		wantIn(t, r, "stdout", r.Stdout, "Verdict:  needs --force")
		wantMembers(t, c, before, "member remove cp-1 --dry-run")

		// A safe plan: exit 0, "nothing was changed".
		r = plugintest.Run(t, c, append([]string{"member", "remove", "cp-3", "--dry-run"}, rt...)...)
		plugintest.WantCode(t, r, 0)
		wantIn(t, r, "stdout", r.Stdout, "Member:   member cp-3 ("+cp3+")", "State:    not serving voter",
			"before: 3 voters (2 serving), quorum 2, can lose 0 more", "after:  2 voters (2 serving), quorum 2, can lose 0 more",
			"Verdict:  safe to remove")
		wantIn(t, r, "stderr", r.Stderr, "dry run: nothing was changed")
		wantMembers(t, c, before, "member remove cp-3 --dry-run")

		r = plugintest.Run(t, c, append([]string{"member", "remove", "cp-3", "--dry-run", "-o", "json"}, rt...)...)
		plugintest.WantCode(t, r, 0)
		var plan struct {
			Member struct {
				Name    string `json:"name"`
				ID      string `json:"id"`
				Healthy bool   `json:"healthy"`
			} `json:"member"`
			Before   struct{ Voters, HealthyVoters, FailuresLeft int } `json:"before"`
			After    struct{ Voters, HealthyVoters, FailuresLeft int } `json:"after"`
			Learner  bool                                              `json:"learner"`
			Refusals []string                                          `json:"refusals"`
		}
		plugintest.Decode(t, r, &plan)
		if plan.Member.Name != "cp-3" || plan.Member.ID != cp3 || plan.Member.Healthy || plan.Learner || len(plan.Refusals) != 0 ||
			plan.Before.Voters != 3 || plan.Before.HealthyVoters != 2 || plan.After.Voters != 2 || plan.After.HealthyVoters != 2 {
			t.Errorf("unexpected plan %+v\n%s", plan, r)
		}
		wantMembers(t, c, before, "member remove cp-3 --dry-run -o json")
	})

	t.Run("no-tty-no-yes", func(t *testing.T) {
		for _, stdin := range []string{"", "yes\n"} { // /dev/null, and a pipe that "answers"
			var in []byte
			if stdin != "" {
				in = []byte(stdin)
			}
			r := start(t, c, in, append([]string{"member", "remove", "cp-3"}, rt...)...).Wait(t)
			plugintest.WantCode(t, r, 5)
			wantIn(t, r, "stderr", r.Stderr, "error: refused: confirmation needed and standard input is not a terminal", "--yes")
			wantMembers(t, c, before, fmt.Sprintf("member remove cp-3 without --yes, stdin %q", stdin))
		}
	})

	t.Run("remove-dead-member", func(t *testing.T) {
		r := plugintest.Run(t, c, append([]string{"member", "remove", "cp-3", "--yes"}, rt...)...)
		plugintest.WantCode(t, r, 0)
		wantIn(t, r, "stderr", r.Stderr, "Removed member cp-3 ("+cp3+").", "Next: on node cp-3")
		var want []etcdMember
		for _, m := range before {
			if m.ID != cp3 {
				want = append(want, m)
			}
		}
		wantMembers(t, c, want, "member remove cp-3 --yes")
	})
}

// TestAddRemoveRoundTrip: a learner added with "member add" (never started) is removed again by
// its hex ID, or by its node name when the harness created its node and pod; the member list is
// back to the original three.
func TestAddRemoveRoundTrip(t *testing.T) {
	c := startCluster(t)
	before := etcdMembers(t, c)
	for i, tr := range transports {
		t.Run("by-id/"+tr, func(t *testing.T) {
			peer := fmt.Sprintf("https://10.255.0.%d:2380", 4+i)
			r := memberAdd(t, c, tr, "cp-x", peer)
			plugintest.WantCode(t, r, 0)
			var res addResult
			plugintest.Decode(t, r, &res)
			if !res.Learner || res.Name != "cp-x" || res.ID == "" {
				t.Fatalf("member add -o json: %+v\n%s", res, r)
			}
			if m := etcdMember4(t, c, res.ID); !m.Learner || m.Name != "" {
				t.Fatalf("added member is %+v, want an unstarted learner", m)
			}
			if got := len(etcdMembers(t, c)); got != len(before)+1 {
				t.Fatalf("after member add: %d members, want %d", got, len(before)+1)
			}

			r = plugintest.Run(t, c, append([]string{"member", "remove", res.ID, "--yes"}, transportArgs(c, tr)...)...)
			plugintest.WantCode(t, r, 0)
			wantIn(t, r, "stdout", r.Stdout, "Member:   unstarted member "+res.ID, "Quorum:   unchanged (learners do not vote)", "Verdict:  safe to remove")
			wantIn(t, r, "stderr", r.Stderr, "Removed unstarted member "+res.ID+".")
			wantMembers(t, c, before, "member add then member remove "+res.ID)
		})
	}
	t.Run("by-node", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		id, err := c.AddMember(ctx, "cp-4", harness.AddOptions{NoStart: true, Add: pluginAdd(t, c, transportExec, "cp-4")})
		if err != nil {
			t.Fatal(err)
		}
		hex := fmt.Sprintf("%x", id)
		// cp-4's pod exists but its etcd never ran: the plugin names the member after its pod's
		// etcd --name. --request-timeout bounds the calls to the silent pod.
		r := plugintest.Run(t, c, "member", "remove", "cp-4", "--yes", "--request-timeout", "3s")
		plugintest.WantCode(t, r, 0)
		wantIn(t, r, "stdout", r.Stdout, "Member:   member cp-4 ("+hex+")", "Pod:      etcd-cp-4 (node cp-4)",
			"State:    not serving learner", "Verdict:  safe to remove")
		wantIn(t, r, "stderr", r.Stderr, "Removed member cp-4 ("+hex+").")
		wantMembers(t, c, before, "member add then member remove cp-4")
	})
}

// TestNotFound: naming a member that does not exist exits 7 and lists the members.
func TestNotFound(t *testing.T) {
	c := startCluster(t)
	before := etcdMembers(t, c)
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			for _, args := range [][]string{
				{"promote", "cp-9"},
				{"promote", "deadbeef"},
				{"member", "remove", "cp-9", "--yes"},
				{"member", "remove", "deadbeef", "--yes"},
			} {
				r := plugintest.Run(t, c, append(args, transportArgs(c, tr)...)...)
				plugintest.WantCode(t, r, 7)
				wantIn(t, r, "stderr", r.Stderr, "error: member not found: ", "cp-1 "+hexID(c, "cp-1"))
			}
			wantMembers(t, c, before, "member not found")
		})
	}
}

// firstLine returns the first line of s that contains sub.
func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
