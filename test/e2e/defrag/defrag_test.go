package defrag_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// fillMiB is how much the rolling-defrag tests write (and delete) to fragment every member.
const fillMiB = 64

// TestDefragRolling fragments the database, checks that --dry-run changes nothing, then runs
// the rolling defrag through exec and (after fragmenting again) through port-forward: every
// member shrinks, followers go first and the leader at start last, leadership moves once
// (raft term +1, one leader change seen by each member) and nothing else is elected.
func TestDefragRolling(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	cl := c.Client(t)
	fragment(t, c, cl, fillMiB)

	t.Run("dry-run", func(t *testing.T) {
		before := states(t, c, cl)
		lc := leaderChanges(t, c)
		l := leader(t, c, cl)
		r := plugintest.Run(t, c, args(execArgs(), "defrag", "--dry-run", "--min-size", "1", "-o", "json")...)
		plugintest.WantCode(t, r, 0)
		var rep defragReport
		plugintest.Decode(t, r, &rep)
		if !rep.DryRun || len(rep.Order) != 3 {
			t.Fatalf("dryRun %v, order %v; want a dry run planning 3 members\n%s", rep.DryRun, rep.names(), r)
		}
		checkPlanOrder(t, c, &rep, l)
		for _, x := range rep.Order {
			if !x.Needed || !strings.Contains(x.Reason, "fragmented") || x.Done || x.SizeAfter != 0 || x.LeaderMove != "" {
				t.Errorf("%s: needed %v reason %q done %v after %d moved %q; want needed because fragmented, nothing done",
					x.Name, x.Needed, x.Reason, x.Done, x.SizeAfter, x.LeaderMove)
			}
			if want := before[x.Name].DBSize; x.DBSize != want {
				t.Errorf("%s: planned dbSize %d, etcd says %d", x.Name, x.DBSize, want)
			}
		}
		if !strings.Contains(r.Stderr, "dry run: nothing was changed") {
			t.Errorf("stderr does not say it was a dry run\n%s", r)
		}
		after := states(t, c, cl)
		for n, b := range before {
			a := after[n]
			if a.DBSize != b.DBSize || a.Revision != b.Revision || a.Term != b.Term || a.Leader != b.Leader {
				t.Errorf("%s changed by a dry run: before %+v after %+v", n, b, a)
			}
		}
		if lc2 := leaderChanges(t, c); !mapsEqual(lc, lc2) {
			t.Errorf("leader changes seen %v -> %v after a dry run", lc, lc2)
		}
	})

	t.Run("exec", func(t *testing.T) {
		rollingDefrag(t, c, cl, args(execArgs(), "defrag", "--min-size", "1", "-o", "json"), true)
	})
	t.Run("port-forward", func(t *testing.T) {
		fragment(t, c, cl, fillMiB)
		rollingDefrag(t, c, cl, args(plugintest.PFArgs(c), "defrag", "--force", "-o", "json"), false)
	})
	t.Run("consistent", func(t *testing.T) {
		r := plugintest.Run(t, c, args(execArgs(), "check", "consistency", "-o", "json")...)
		plugintest.WantCode(t, r, 0)
		var rep struct {
			Consistent bool `json:"consistent"`
			Members    []struct {
				Name string `json:"name"`
				Hash uint32 `json:"hash"`
			} `json:"members"`
		}
		plugintest.Decode(t, r, &rep)
		if !rep.Consistent || len(rep.Members) != 3 {
			t.Errorf("consistent %v with %d members after two rolling defrags\n%s", rep.Consistent, len(rep.Members), r)
		}
	})
	t.Run("leader in place asks first", func(t *testing.T) {
		// The plugin's stdin here is not a terminal: without --yes the question cannot be
		// answered, so the run is refused before any member is touched.
		before := states(t, c, cl)
		r := plugintest.Run(t, c, args(execArgs(), "defrag", "--force", "--move-leader=false")...)
		plugintest.WantCode(t, r, 5)
		if !strings.Contains(r.Stderr, "The plan:") || !strings.Contains(r.Stderr, "pass --yes to confirm") || strings.Contains(r.Stderr, "defragmenting ") {
			t.Errorf("want the plan and the --yes hint on stderr, and no defrag\n%s", r)
		}
		after := states(t, c, cl)
		for n, b := range before {
			if a := after[n]; a.DBSize != b.DBSize || a.Term != b.Term || a.Leader != b.Leader {
				t.Errorf("%s changed by a refused defrag: before %+v after %+v", n, b, a)
			}
		}
	})
}

// checkPlanOrder: the followers (by name) first, the leader l last.
func checkPlanOrder(t *testing.T, c *harness.Cluster, rep *defragReport, l string) {
	t.Helper()
	want := append(followers(c, l), l)
	if got := rep.names(); !slices.Equal(got, want) {
		t.Errorf("order %v, want %v (followers first, the leader %s last)", got, want, l)
	}
	for i, x := range rep.Order {
		if x.Leader != (i == len(rep.Order)-1) {
			t.Errorf("order[%d] %s: leader %v", i, x.Name, x.Leader)
		}
		if x.ID != hexID(c, x.Name) {
			t.Errorf("order[%d] %s: id %q, want %q", i, x.Name, x.ID, hexID(c, x.Name))
		}
	}
}

// rollingDefrag runs a defrag of every member with the leader moved and checks the result.
func rollingDefrag(t *testing.T, c *harness.Cluster, cl *clientv3.Client, argv []string, byFragmentation bool) {
	l := leader(t, c, cl)
	before := states(t, c, cl)
	lc := leaderChanges(t, c)
	p := start(t, c, argv...)
	r := p.wait(t)
	plugintest.WantCode(t, r, 0)
	var rep defragReport
	plugintest.Decode(t, r, &rep)
	if rep.DryRun || len(rep.Order) != 3 {
		t.Fatalf("dryRun %v, order %v; want 3 members defragmented\n%s", rep.DryRun, rep.names(), r)
	}
	checkPlanOrder(t, c, &rep, l)
	after := states(t, c, cl)
	var reclaimed int64
	for _, x := range rep.Order {
		if !x.Needed || !x.Done || x.Error != "" {
			t.Errorf("%s: needed %v done %v error %q; want done", x.Name, x.Needed, x.Done, x.Error)
		}
		if byFragmentation && !strings.Contains(x.Reason, "fragmented") {
			t.Errorf("%s: reason %q, want the fragmentation", x.Name, x.Reason)
		}
		if x.DBSize != before[x.Name].DBSize {
			t.Errorf("%s: dbSize %d in the report, etcd said %d before", x.Name, x.DBSize, before[x.Name].DBSize)
		}
		if x.SizeAfter <= 0 || x.SizeAfter >= x.DBSize || x.SizeAfter > x.DBSize/4 {
			t.Errorf("%s: dbSize %d -> dbSizeAfter %d; want it to shrink to under a quarter", x.Name, x.DBSize, x.SizeAfter)
		}
		if a := after[x.Name].DBSize; a > x.DBSize/4 {
			t.Errorf("%s: etcd says %d bytes after the defrag (was %d)", x.Name, a, x.DBSize)
		}
		reclaimed += x.DBSize - x.SizeAfter
	}
	if rep.Reclaimed != reclaimed {
		t.Errorf("reclaimed %d, the members add up to %d", rep.Reclaimed, reclaimed)
	}
	// Leadership: moved once, off the leader, to a follower defragmented before, right before the
	// leader's turn, and nothing else was elected.
	last := rep.Order[len(rep.Order)-1]
	if last.LeaderMove == "" || last.LeaderMove == l || !slices.Contains(followers(c, l), last.LeaderMove) {
		t.Errorf("leaderMovedTo %q on the leader %s; want one of its followers", last.LeaderMove, l)
	}
	for _, x := range rep.Order[:len(rep.Order)-1] {
		if x.LeaderMove != "" {
			t.Errorf("%s (a follower): leaderMovedTo %q", x.Name, x.LeaderMove)
		}
	}
	if nl := leader(t, c, cl); nl != last.LeaderMove {
		t.Errorf("leader after the run is %s, the report says it moved to %s", nl, last.LeaderMove)
	}
	if b, a := maxTerm(before), maxTerm(after); a != b+1 {
		t.Errorf("raft term %d -> %d; want exactly +1 (the planned transfer, no election)", b, a)
	}
	lc2 := leaderChanges(t, c)
	for n, v := range lc2 {
		if v-lc[n] != 1 {
			t.Errorf("%s saw %d leader change(s) during the run (%d -> %d); want exactly 1", n, v-lc[n], lc[n], v)
		}
	}
	// Progress: each member's defrag began after the previous one was done; the move came right
	// before the leader's defrag.
	ls := p.stderrLines()
	prevDone := time.Time{}
	for _, x := range rep.Order {
		beg, err := findEvent(ls, "defragmenting "+x.Name+" ")
		if err != nil {
			t.Errorf("stderr: %v\n%s", err, r)
			continue
		}
		end, err := findEvent(ls, x.Name+": ")
		if err != nil {
			t.Errorf("stderr: %v\n%s", err, r)
			continue
		}
		if beg.at.Before(prevDone) || end.at.Before(beg.at) {
			t.Errorf("%s: began %s, done %s, the previous member was done %s", x.Name, beg.at.Format("15:04:05.000"), end.at.Format("15:04:05.000"), prevDone.Format("15:04:05.000"))
		}
		if x.Name == l {
			mv, err := findEvent(ls, "moving leadership from "+l+" to "+last.LeaderMove)
			if err != nil || mv.at.After(beg.at) || mv.at.Before(prevDone) {
				t.Errorf("the move of the leadership (%v at %s) does not come between the last follower and the leader's defrag\n%s", err, mv.at.Format("15:04:05.000"), r)
			}
		}
		prevDone = end.at
	}
	if t.Failed() {
		t.Logf("run:\n%s", r)
	}
	var parts []string
	for _, x := range rep.Order {
		parts = append(parts, fmt.Sprintf("%s %.1f -> %.1f MiB in %s", x.Name, mib(x.DBSize), mib(x.SizeAfter), x.Took))
	}
	t.Logf("defragmented %s; leadership %s -> %s; run took %s", strings.Join(parts, ", "), l, last.LeaderMove, r.Dur.Round(time.Millisecond))
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// TestDefragMemberKilled kills a member while a rolling defrag runs: first the leader while the
// first follower is being defragmented (--move-leader=false), then, on the next run, the member
// next in order as soon as the one before it reports done. Each time the command must stop with
// an error naming the dead member, say what was done, and leave the later members untouched.
func TestDefragMemberKilled(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	cl := c.Client(t)
	// Live data, so that each defrag has something to copy and lasts long enough to be hit.
	writeLive(t, c, 48)
	fragment(t, c, cl, 100)

	t.Run("leader-during-follower-defrag", func(t *testing.T) {
		l := leader(t, c, cl)
		fs := followers(c, l)
		before := states(t, c, cl)
		p := start(t, c, args(execArgs(), "defrag", "--request-timeout", "5s", "--min-size", "1", "--move-leader=false", "--yes", "-o", "json")...)
		if _, ok := p.waitLine("defragmenting "+fs[0]+" ", 2*time.Minute); !ok {
			r := p.wait(t)
			t.Fatalf("no progress line for %s's defrag\n%s", fs[0], r)
		}
		if err := c.KillMember(l); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed the leader %s while %s was being defragmented", l, fs[0])
		r := p.wait(t)
		checkStopped(t, c, r, l, fs[0], []string{fs[1], l}, before)
		if err := c.StartMember(l); err != nil {
			t.Fatal(err)
		}
		waitRunningHealthy(t, c, cl)
		// The dead member kept its (fragmented) file: its size did not change.
		if a := states(t, c, cl)[l].DBSize; a != before[l].DBSize {
			t.Errorf("%s (killed, never defragmented): %d bytes, was %d", l, a, before[l].DBSize)
		}
	})

	t.Run("next-member-after-first-done", func(t *testing.T) {
		// Plan first: whoever is left fragmented, in the order the plugin will take them.
		r := plugintest.Run(t, c, args(execArgs(), "defrag", "--dry-run", "--min-size", "1", "-o", "json")...)
		plugintest.WantCode(t, r, 0)
		var plan defragReport
		plugintest.Decode(t, r, &plan)
		var todo []string
		for _, x := range plan.Order {
			if x.Needed {
				todo = append(todo, x.Name)
			}
		}
		if len(todo) < 2 {
			t.Fatalf("only %v still need a defrag; want 2\n%s", todo, r)
		}
		before := states(t, c, cl)
		p := start(t, c, args(execArgs(), "defrag", "--request-timeout", "5s", "--min-size", "1", "-o", "json")...)
		if _, ok := p.waitLine(todo[0]+": ", 2*time.Minute); !ok {
			r := p.wait(t)
			t.Fatalf("no done line for %s\n%s", todo[0], r)
		}
		if err := c.KillMember(todo[1]); err != nil {
			t.Fatal(err)
		}
		t.Logf("killed %s right after %s was done", todo[1], todo[0])
		r = p.wait(t)
		checkStopped(t, c, r, todo[1], todo[0], todo[1:], before)
		if err := c.StartMember(todo[1]); err != nil {
			t.Fatal(err)
		}
		waitRunningHealthy(t, c, cl)
		after := states(t, c, cl)
		for _, n := range todo[1:] {
			if after[n].DBSize != before[n].DBSize {
				t.Errorf("%s (not touched): %d bytes, was %d", n, after[n].DBSize, before[n].DBSize)
			}
		}
	})
}

// checkStopped checks a run that had dead stopped: non-zero exit, an error naming dead, done
// reported for doneMember, and the members in untouched neither done nor resized.
func checkStopped(t *testing.T, c *harness.Cluster, r *plugintest.Result, dead, doneMember string, untouched []string, before map[string]memberState) {
	t.Helper()
	if r.Code == 0 {
		t.Fatalf("exit code 0 although %s was killed mid-run\n%s", dead, r)
	}
	var errLine string
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(l, "error: ") {
			errLine = l
		}
	}
	if !strings.Contains(errLine, dead) {
		t.Errorf("the error line %q does not name the killed member %s\n%s", errLine, dead, r)
	}
	if !strings.Contains(errLine, "defragmented: "+doneMember) {
		t.Errorf("the error line %q does not say %s was defragmented", errLine, doneMember)
	}
	var rep defragReport
	plugintest.Decode(t, r, &rep)
	d := rep.target(t, doneMember)
	if !d.Done || d.SizeAfter <= 0 || d.SizeAfter >= d.DBSize {
		t.Errorf("%s: done %v, %d -> %d bytes; want done and smaller", doneMember, d.Done, d.DBSize, d.SizeAfter)
	}
	t.Logf("%s: %.1f -> %.1f MiB, its defrag took %s", doneMember, mib(d.DBSize), mib(d.SizeAfter), d.Took)
	failed := 0
	for _, x := range rep.Order {
		if x.Error != "" {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d members carry an error in the report, want 1 (where it stopped)", failed)
	}
	for _, n := range untouched {
		x := rep.target(t, n)
		if x.Done || x.SizeAfter != 0 || x.LeaderMove != "" {
			t.Errorf("%s: done %v dbSizeAfter %d leaderMovedTo %q; want untouched", n, x.Done, x.SizeAfter, x.LeaderMove)
		}
		if n != dead {
			cl := c.Client(t)
			if a := states(t, c, cl)[n].DBSize; a != before[n].DBSize {
				t.Errorf("%s (not touched): %d bytes, was %d", n, a, before[n].DBSize)
			}
		}
	}
	if strings.Count(r.Stderr, "not touched: ") != 1 && len(untouched) > 1 {
		t.Errorf("the error does not list what was not touched\n%s", r)
	}
	t.Logf("stopped with exit %d: %s", r.Code, errLine)
	if t.Failed() {
		t.Logf("run:\n%s", r)
	}
}

// TestDefragRefusedMemberDown: with a voting member down, defrag (and its dry run) refuse with
// exit 5 before touching anything.
func TestDefragRefusedMemberDown(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	cl := c.Client(t)
	fragment(t, c, cl, 32)
	l := leader(t, c, cl)
	down := followers(c, l)[0]
	if err := c.StopMember(down); err != nil {
		t.Fatal(err)
	}
	before := states(t, c, cl)
	for _, extra := range [][]string{{"--force"}, {"--min-size", "1", "--dry-run"}, {"--force", "--compact", "--disarm"}} {
		r := plugintest.Run(t, c, args(execArgs(), append([]string{"defrag", "--request-timeout", "3s"}, extra...)...)...)
		plugintest.WantCode(t, r, 5)
		if r.Dur > 10*time.Second {
			t.Errorf("the refusal took %s with --request-timeout 3s", r.Dur.Round(time.Millisecond))
		}
		if !strings.Contains(r.Stderr, down) || !strings.Contains(r.Stderr, "not every voting member is healthy") {
			t.Errorf("the refusal does not name %s\n%s", down, r)
		}
		if strings.Contains(r.Stderr, "defragmenting ") {
			t.Errorf("a defrag began\n%s", r)
		}
	}
	after := states(t, c, cl)
	for n, b := range before {
		a := after[n]
		if a.DBSize != b.DBSize || a.Revision != b.Revision || a.Term != b.Term || a.Leader != b.Leader {
			t.Errorf("%s changed by a refused defrag: before %+v after %+v", n, b, a)
		}
	}
	if err := c.StartMember(down); err != nil {
		t.Fatal(err)
	}
}

// TestNOSPACE: with a small quota, fill until NOSPACE; status shows the alarm; alarm disarm is
// refused while the members are at their quota, and (after compaction and defrag) while a member
// is stopped; with every member back, defrag --force --disarm clears it and writes work again.
func TestNOSPACE(t *testing.T) {
	plugintest.SkipShort(t)
	const quota = 24 << 20
	c := harness.Start(t, harness.Options{QuotaBackendBytes: quota})
	cl := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err := c.Fill(ctx, 64)
	if err == nil || !strings.Contains(err.Error(), "database space exceeded") {
		t.Fatalf("filling 64 MiB with a %d MiB quota: %v", quota>>20, err)
	}
	t.Logf("fill: %v; %s", err, sizes(states(t, c, cl)))

	// NOSPACE: quorum holds (the members still vote and serve reads), so Degraded, exit 2.
	r := plugintest.Run(t, c, args(execArgs(), "status", "-o", "json")...)
	plugintest.WantCode(t, r, 2)
	var st clusterStatus
	plugintest.Decode(t, r, &st)
	if st.State != "Degraded" {
		t.Errorf("state %s with a NOSPACE alarm, want Degraded\n%s", st.State, r)
	}
	if !slices.ContainsFunc(st.Alarms, func(a string) bool { return strings.HasSuffix(a, ":NOSPACE") }) {
		t.Errorf("status alarms %q; want a NOSPACE alarm\n%s", st.Alarms, r)
	}
	t.Logf("status with NOSPACE: exit %d, state %s, alarms %q", r.Code, st.State, st.Alarms)

	r = plugintest.Run(t, c, args(execArgs(), "alarm", "list", "-o", "json")...)
	plugintest.WantCode(t, r, 0)
	var alarms []alarmInfo
	plugintest.Decode(t, r, &alarms)
	if len(alarms) == 0 || alarms[0].Alarm != "NOSPACE" || alarms[0].Quota != quota {
		t.Errorf("alarm list %+v; want NOSPACE with quota %d\n%s", alarms, quota, r)
	}

	r = plugintest.Run(t, c, args(execArgs(), "alarm", "disarm")...)
	if r.Code != 5 || !strings.Contains(r.Stderr, "not disarming") {
		t.Errorf("alarm disarm at the quota: exit %d, want 5 with a refusal\n%s", r.Code, r)
	}
	if _, err := cl.Put(ctx, "/probe", "x"); err == nil || !strings.Contains(err.Error(), "database space exceeded") {
		t.Errorf("a put after the refused disarm: %v; want database space exceeded (still armed)", err)
	}

	compactAfterDelete(t, cl)
	// Every database is far below the quota once defragmented, but a member that cannot be
	// reached blocks the disarm: it may be the one at its quota.
	r = plugintest.Run(t, c, args(execArgs(), "defrag", "--force")...)
	plugintest.WantCode(t, r, 0)
	// NOSPACE refuses the lock's lease: the defrag goes on without the lock and says so.
	if n := strings.Count(r.Stderr, "going on without it"); n != len(c.MemberNames()) || !strings.Contains(r.Stderr, "database space exceeded") {
		t.Errorf("%d warnings about the lock under NOSPACE, want one per member naming the NOSPACE refusal\n%s", n, r)
	}
	down := followers(c, leader(t, c, cl))[0]
	if err := c.StopMember(down); err != nil {
		t.Fatal(err)
	}
	r = plugintest.Run(t, c, args(execArgs(), "alarm", "disarm", "--request-timeout", "3s")...)
	if r.Code != 5 || !strings.Contains(r.Stderr, "not disarming") || !strings.Contains(r.Stderr, down+" ("+hexID(c, down)+") was not reached") {
		t.Errorf("alarm disarm with %s stopped: exit %d, want 5 with a refusal naming it\n%s", down, r.Code, r)
	}
	if _, err := cl.Put(ctx, "/probe", "x"); err == nil || !strings.Contains(err.Error(), "database space exceeded") {
		t.Errorf("a put after the refused disarm: %v; want database space exceeded (still armed)", err)
	}
	if err := c.StartMember(down); err != nil {
		t.Fatal(err)
	}
	waitServing(t, c)

	r = plugintest.Run(t, c, args(execArgs(), "defrag", "--force", "--disarm", "-o", "json")...)
	plugintest.WantCode(t, r, 0)
	var rep defragReport
	plugintest.Decode(t, r, &rep)
	if len(rep.Disarmed) == 0 || !strings.HasSuffix(rep.Disarmed[0], ":NOSPACE") {
		t.Errorf("disarmed %q; want the NOSPACE alarm\n%s", rep.Disarmed, r)
	}
	for _, x := range rep.Order {
		if !x.Done || x.SizeAfter >= quota/2 {
			t.Errorf("%s: done %v, %d -> %d bytes; want done and well under the quota", x.Name, x.Done, x.DBSize, x.SizeAfter)
		}
	}
	r = plugintest.Run(t, c, args(execArgs(), "alarm", "list", "-o", "json")...)
	plugintest.WantCode(t, r, 0)
	alarms = nil
	plugintest.Decode(t, r, &alarms)
	if len(alarms) != 0 {
		t.Errorf("alarms after defrag --disarm: %+v", alarms)
	}
	if _, err := cl.Put(ctx, "/probe", "x"); err != nil {
		t.Errorf("a put after defrag --disarm: %v", err)
	}
	r = plugintest.Run(t, c, args(execArgs(), "status")...)
	if r.Code != 0 {
		t.Errorf("status after recovery: exit %d\n%s", r.Code, r)
	}
}

// waitServing polls status until every member answers and is healthy but for a NOSPACE alarm
// (after a member was restarted under NOSPACE).
func waitServing(t *testing.T, c *harness.Cluster) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := plugintest.Run(t, c, args(execArgs(), "status", "-o", "json", "--request-timeout", "5s")...)
		var st struct {
			Members []struct {
				Reachable   bool   `json:"reachable"`
				Healthy     bool   `json:"healthy"`
				HealthError string `json:"healthError"`
				RaftIndex   uint64 `json:"raftIndex"`
			} `json:"members"`
		}
		ok := r.Code <= 2
		if ok {
			plugintest.Decode(t, r, &st)
			ok = len(st.Members) == len(c.MemberNames())
		}
		for _, m := range st.Members {
			if !m.Reachable || !(m.Healthy || strings.Contains(m.HealthError, "NOSPACE")) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members not all serving within 60s; last status:\n%s", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestMoveLeaderAndConsistency: check consistency passes on a healthy cluster, move-leader
// --to-healthiest moves the leadership (one term), move-leader to a learner is refused.
func TestMoveLeaderAndConsistency(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	cl := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < 100; i++ {
		if _, err := cl.Put(ctx, fmt.Sprintf("/k/%03d", i), strings.Repeat("v", i)); err != nil {
			t.Fatal(err)
		}
	}

	r := plugintest.Run(t, c, args(execArgs(), "check", "consistency", "-o", "json")...)
	plugintest.WantCode(t, r, 0)
	var rep struct {
		Revision   int64 `json:"revision"`
		Consistent bool  `json:"consistent"`
		Members    []struct {
			Name string `json:"name"`
			Hash uint32 `json:"hash"`
		} `json:"members"`
	}
	plugintest.Decode(t, r, &rep)
	if !rep.Consistent || len(rep.Members) != 3 || rep.Revision < 101 {
		t.Errorf("consistent %v, %d members, revision %d\n%s", rep.Consistent, len(rep.Members), rep.Revision, r)
	}

	l := leader(t, c, cl)
	before := states(t, c, cl)
	r = plugintest.Run(t, c, args(execArgs(), "move-leader", "--to-healthiest")...)
	plugintest.WantCode(t, r, 0)
	nl := leader(t, c, cl)
	if nl == l || !strings.Contains(r.Stdout, "leadership moved from "+l) || !strings.Contains(r.Stdout, "to "+nl+" ") {
		t.Errorf("leader %s -> %s\n%s", l, nl, r)
	}
	if b, a := maxTerm(before), maxTerm(states(t, c, cl)); a != b+1 {
		t.Errorf("raft term %d -> %d; want +1", b, a)
	}
	r = plugintest.Run(t, c, args(execArgs(), "status", "-o", "json")...)
	plugintest.WantCode(t, r, 0)
	var st clusterStatus
	plugintest.Decode(t, r, &st)
	if st.Leader != hexID(c, nl) {
		t.Errorf("status says leader %q, want %s (%s)", st.Leader, nl, hexID(c, nl))
	}

	if _, err := c.AddLearner(ctx, "cp-4"); err != nil {
		t.Fatal(err)
	}
	r = plugintest.Run(t, c, args(execArgs(), "move-leader", "cp-4")...)
	if r.Code != 5 || !strings.Contains(r.Stderr, "learner") {
		t.Errorf("move-leader to a learner: exit %d, want 5 naming the learner\n%s", r.Code, r)
	}
	if l2 := leader(t, c, cl); l2 != nl {
		t.Errorf("leader %s -> %s after a refused move", nl, l2)
	}
	// A learner is skipped by defrag, and the check still passes with it.
	r = plugintest.Run(t, c, args(execArgs(), "defrag", "--dry-run", "--force", "-o", "json")...)
	plugintest.WantCode(t, r, 0)
	var plan defragReport
	plugintest.Decode(t, r, &plan)
	if slices.Contains(plan.names(), "cp-4") || len(plan.Skipped) != 1 || !strings.Contains(plan.Skipped[0], "learner") {
		t.Errorf("plan %v skipped %q; want the learner cp-4 skipped\n%s", plan.names(), plan.Skipped, r)
	}
}
