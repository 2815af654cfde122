package plugin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// reqTimeout is the --request-timeout of the failure tests; a command with a dead member must
// end within about one of it (members are asked in parallel).
const reqTimeout = 5 * time.Second

// bounded fails when a run took more than about one request timeout.
func bounded(t *testing.T, r *plugintest.Result) {
	t.Helper()
	if limit := reqTimeout + 15*time.Second; r.Dur > limit { // a hang runs into plugintest.HangLimit; the margin absorbs a loaded machine
		t.Errorf("took %s with --request-timeout %s; want under %s\n%s", r.Dur.Round(time.Millisecond), reqTimeout, limit, r)
	}
}

// transports are the ways the failure tests reach the members.
func transports(c *harness.Cluster) map[string][]string {
	return map[string][]string{
		"exec":         {"--transport", "exec"},
		"port-forward": append([]string{"--transport", "port-forward"}, plugintest.PFCertArgs(c)...),
	}
}

// checkDegraded asserts exit 2 with down named on stderr and the others healthy.
func checkDegraded(t *testing.T, c *harness.Cluster, r *plugintest.Result, transport, down string) {
	t.Helper()
	plugintest.WantCode(t, r, 2)
	bounded(t, r)
	var st clusterStatus
	plugintest.DecodeStrict(t, r, &st)
	if st.State != "Degraded" || st.Transport != transport {
		t.Errorf("state %q transport %q, want Degraded %s", st.State, st.Transport, transport)
	}
	if want := (quorum{Voters: 3, HealthyVoters: 2, Quorum: 2, FaultTolerance: 1, FailuresLeft: 0}); st.Quorum != want {
		t.Errorf("quorum %+v, want %+v", st.Quorum, want)
	}
	if len(st.Members) != 3 {
		t.Fatalf("%d members, want 3 (the stopped one keeps its row)\n%s", len(st.Members), r)
	}
	for _, name := range c.MemberNames() {
		m := st.member(t, name)
		if m.ID != hexID(c, name) {
			t.Errorf("%s: id %q, want %q (from the member list even when it is down)", name, m.ID, hexID(c, name))
		}
		if name == down {
			if m.Healthy || len(m.Problems) == 0 || m.Leader {
				t.Errorf("%s (stopped): healthy %v leader %v problems %q; want unhealthy with problems", name, m.Healthy, m.Leader, m.Problems)
			}
			continue
		}
		if !m.Healthy || !m.Reachable || len(m.Problems) > 0 || m.Version != etcdVersion(c) {
			t.Errorf("%s: healthy %v reachable %v problems %q version %q; want healthy", name, m.Healthy, m.Reachable, m.Problems, m.Version)
		}
	}
	errs := r.ErrorLines()
	if len(errs) == 0 {
		t.Errorf("no error lines on stderr\n%s", r)
	}
	for _, l := range errs {
		if !strings.HasPrefix(l, "error: etcd-"+down+": ") {
			t.Errorf("error line %q does not belong to etcd-%s", l, down)
		} else if len(strings.TrimPrefix(l, "error: etcd-"+down+": ")) < 10 {
			t.Errorf("error line %q says nothing", l)
		}
	}
	if t.Failed() {
		t.Logf("run:\n%s", r)
	}
}

// TestMembersDown stops one member (degraded, exit 2), then a second (quorum lost, exit 3), then
// starts both again (exit 0), through exec and port-forward.
func TestMembersDown(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	to := []string{"--request-timeout", reqTimeout.String()}

	if err := c.StopMember("cp-2"); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []string{"exec", "port-forward"} {
		t.Run("one down/"+tr, func(t *testing.T) {
			args := append(append([]string{"status", "-o", "json"}, to...), transports(c)[tr]...)
			checkDegraded(t, c, plugintest.Run(t, c, args...), tr, "cp-2")

			r := plugintest.Run(t, c, append(append([]string{"status"}, to...), transports(c)[tr]...)...)
			plugintest.WantCode(t, r, 2)
			if !strings.Contains(r.Stdout, "Degraded: 2 of 3 voting members healthy") {
				t.Errorf("table has no Degraded summary\n%s", r)
			}
			if !rowHas(r.Stdout, "etcd-cp-2", hexID(c, "cp-2")) {
				t.Errorf("the stopped member has no table row with its ID\n%s", r)
			}

			// The member list comes from a live member.
			r = plugintest.Run(t, c, append(append([]string{"member", "list", "-o", "json"}, to...), transports(c)[tr]...)...)
			plugintest.WantCode(t, r, 0)
			bounded(t, r)
			var ml memberList
			plugintest.DecodeStrict(t, r, &ml)
			if len(ml.Members) != 3 || ml.From == "etcd-cp-2" {
				t.Errorf("member list: %d members from %q; want 3 from a live member\n%s", len(ml.Members), ml.From, r)
			}
		})
	}

	if err := c.StopMember("cp-3"); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []string{"exec", "port-forward"} {
		t.Run("two down/"+tr, func(t *testing.T) {
			args := append(append([]string{"status", "-o", "json"}, to...), transports(c)[tr]...)
			r := plugintest.Run(t, c, args...)
			plugintest.WantCode(t, r, 3)
			bounded(t, r)
			var st clusterStatus
			plugintest.DecodeStrict(t, r, &st)
			if st.State != "QuorumLost" || st.Quorum.Voters != 3 || st.Quorum.HealthyVoters >= 2 || st.Quorum.FailuresLeft >= 0 {
				t.Errorf("state %q quorum %+v; want QuorumLost with fewer than 2 healthy of 3\n%s", st.State, st.Quorum, r)
			}
			for _, name := range []string{"cp-2", "cp-3"} {
				if lineWith(r.Stderr, "error: etcd-"+name+": ") == "" {
					t.Errorf("stderr does not name etcd-%s\n%s", name, r)
				}
			}
			r = plugintest.Run(t, c, append(append([]string{"status"}, to...), transports(c)[tr]...)...)
			plugintest.WantCode(t, r, 3)
			if !strings.Contains(r.Stdout, "QuorumLost") && !strings.Contains(strings.ToLower(r.Stdout), "quorum lost") {
				t.Errorf("table summary does not say the quorum is lost\n%s", r)
			}
		})
	}

	for _, name := range []string{"cp-2", "cp-3"} {
		if err := c.StartMember(name); err != nil {
			t.Fatal(err)
		}
	}
	waitHealthy(t, c)
	for tr, targs := range transports(c) {
		r := plugintest.Run(t, c, append([]string{"status", "-o", "json"}, targs...)...)
		plugintest.WantCode(t, r, 0)
		var st clusterStatus
		plugintest.DecodeStrict(t, r, &st)
		checkHealthyStatus(t, c, r, &st, tr)
	}
}

// TestForwardKilled kills a member while (and just before) a port-forward status runs: that
// member's forward fails, the others still answer, and nothing hangs beyond the timeout. The
// victim is a follower: right after the leader is killed the survivors still name it as leader
// for an election timeout, which would make the assertions race with the election.
func TestForwardKilled(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	args := append([]string{"status", "-o", "json", "--request-timeout", reqTimeout.String(), "--transport", "port-forward"}, plugintest.PFCertArgs(c)...)

	// A baseline to time the kill, and to find a follower.
	base := plugintest.Run(t, c, args...)
	plugintest.WantCode(t, base, 0)
	var st clusterStatus
	plugintest.DecodeStrict(t, base, &st)
	victim := ""
	for _, name := range []string{"cp-3", "cp-2"} {
		if !st.member(t, name).Leader {
			victim = name
			break
		}
	}
	t.Logf("killing %s (leader is %s)", victim, st.Leader)

	// Kill during the command, at several points of it.
	degraded := 0
	for i, frac := range []float64{0.25, 0.5, 0.75} {
		delay := time.Duration(float64(base.Dur) * frac)
		t0 := time.Now()
		p := plugintest.Start(t, c, plugintest.Options{}, args...)
		time.Sleep(delay)
		if err := c.KillMember(victim); err != nil {
			t.Fatal(err)
		}
		killedAt := time.Since(t0)
		r := p.Wait(t)
		t.Logf("kill %d at %s (%s into a %s baseline): exit %d", i, killedAt.Round(time.Millisecond), delay.Round(time.Millisecond), base.Dur.Round(time.Millisecond), r.Code)
		bounded(t, r)
		switch r.Code {
		case 0: // the command had everything it needed before the kill
		case 2:
			degraded++
			checkDegraded(t, c, r, "port-forward", victim)
		default:
			t.Errorf("exit %d; want 2 (or 0 if the kill came after the answers)\n%s", r.Code, r)
		}
		// Just after the kill: the forward to the dead member fails at once.
		r = plugintest.Run(t, c, args...)
		checkDegraded(t, c, r, "port-forward", victim)
		if !strings.Contains(lineWith(r.Stderr, "error: etcd-"+victim+": "), "connection refused") {
			t.Errorf("the error of etcd-%s does not say the connection was refused\n%s", victim, r)
		}

		if err := c.StartMember(victim); err != nil {
			t.Fatal(err)
		}
		waitHealthy(t, c)
	}
	t.Logf("%d of 3 mid-command kills showed up as degraded", degraded)
}
