package etcd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// nospaceOneDown is issue 16's cluster: three voters, cp-3 down, and a NOSPACE alarm active, so
// the two members left answer health with "Active Alarm(s): NOSPACE" (etcd reports the alarm on
// every member) while they still serve reads and vote.
func nospaceOneDown() *fake.Cluster {
	c := threeMembers()
	c.Members[2].Down = true
	c.Members[0].Unhealthy = "Active Alarm(s): NOSPACE "
	c.Members[1].Unhealthy = "Active Alarm(s): NOSPACE "
	c.Alarms = []*etcdserverpb.AlarmMember{{MemberID: id1, Alarm: etcdserverpb.AlarmType_NOSPACE}}
	return c
}

func TestPlanRemoveUnderNOSPACE(t *testing.T) {
	c := nospaceOneDown()
	st := Status(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{})
	if st.Quorum.HealthyVoters != 2 || !st.Quorum.HasQuorum() {
		t.Fatalf("status quorum %+v: the NOSPACE members serve", st.Quorum)
	}
	for _, name := range []string{"cp-1", "cp-2"} {
		m, err := FindStatusMember(st, name)
		if err != nil {
			t.Fatal(err)
		}
		p := PlanRemove(st, *m)
		if p.After.Voters != 2 || p.After.HealthyVoters != 1 || p.After.Needed != 2 {
			t.Errorf("%s: after %+v, want 2 voters, 1 serving, quorum 2", name, p.After)
		}
		if len(p.Refusals) == 0 || !strings.Contains(p.Refusals[0], "lose quorum: 1 serving of 2 voters left, 2 needed") {
			t.Errorf("%s: refusals %q", name, p.Refusals)
		}
	}
	// The member that is down does not serve: removing it keeps both serving voters.
	m, _ := FindStatusMember(st, "cp-3")
	if p := PlanRemove(st, *m); len(p.Refusals) > 0 || p.After.HealthyVoters != 2 || p.After.Needed != 2 {
		t.Errorf("removing the down member: %+v", p)
	}
}

func TestPlanRemoveCorruptDoesNotServe(t *testing.T) {
	c := threeMembers()
	c.Members[2].Unhealthy = "Active Alarm(s): CORRUPT "
	c.Alarms = []*etcdserverpb.AlarmMember{{MemberID: id3, Alarm: etcdserverpb.AlarmType_CORRUPT}}
	st := Status(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{})
	if st.Quorum.HealthyVoters != 2 {
		t.Fatalf("a CORRUPT member counted as serving: %+v", st.Quorum)
	}
	m, _ := FindStatusMember(st, "cp-1")
	if p := PlanRemove(st, *m); len(p.Refusals) == 0 || p.After.HealthyVoters != 1 {
		t.Errorf("removing a serving member while another is CORRUPT: %+v", p)
	}
}

func TestSnapshotMemberUnderNOSPACE(t *testing.T) {
	c := nospaceOneDown()
	st := Status(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{})
	m, err := PickSnapshotMember(st, "")
	if err != nil {
		t.Fatalf("under NOSPACE every member serves reads: %v", err)
	}
	if m.Name != "cp-2" {
		t.Errorf("picked %s, want the follower cp-2", m.Name)
	}
	// CORRUPT members are never a source.
	for _, x := range c.Members[:2] {
		x.Unhealthy = "Active Alarm(s): CORRUPT "
	}
	st = Status(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{})
	if m, err := PickSnapshotMember(st, ""); !errors.Is(err, ErrNoMemberReachable) {
		t.Errorf("CORRUPT cluster: picked %v, err %v", m, err)
	}
}

func TestMoveLeaderUnderNOSPACE(t *testing.T) {
	c := nospaceOneDown()
	from, to, err := MoveLeaderTo(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), "", time.Second)
	if err != nil {
		t.Fatalf("--to-healthiest under NOSPACE: %v", err)
	}
	if from.Name != "cp-1" || to.Name != "cp-2" || c.LeaderID != id2 {
		t.Errorf("moved %v -> %v, leader %x", from, to, c.LeaderID)
	}
	// Named, back to cp-1, which is also under NOSPACE.
	if _, to, err := MoveLeaderTo(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), "cp-1", time.Second); err != nil || to.Name != "cp-1" || c.LeaderID != id1 {
		t.Errorf("named transferee under NOSPACE: %v %v", to, err)
	}
	// The member that is down is refused.
	if _, _, err := MoveLeaderTo(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), "cp-3", time.Second); !errors.Is(err, ErrRefused) {
		t.Errorf("down transferee: %v", err)
	}
	if len(c.LeaderMoves) != 2 {
		t.Errorf("leader moves %x", c.LeaderMoves)
	}
}

func TestPickTransfereeSkipsCorrupt(t *testing.T) {
	c := threeMembers()
	c.Members[1].Unhealthy = "Active Alarm(s): CORRUPT "
	c.Members[2].Down = true
	st := Status(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{})
	if to := pickTransferee(st, &DefragReport{}, FormatID(id1)); to != nil {
		t.Errorf("picked %s (%s)", to.Name, to.ID)
	}
}

// TestMoveLeaderWaitHonoursCancel: the wait for the new leader returns as soon as the context
// is cancelled (Ctrl-C), not when its timeout runs out.
func TestMoveLeaderWaitHonoursCancel(t *testing.T) {
	c := threeMembers()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The leader accepts the transfer but the leadership never moves, and the operator presses
	// Ctrl-C meanwhile.
	c.OnMoveLeader = func(*fake.Cluster, uint64) bool { cancel(); return false }
	done := make(chan error, 1)
	go func() {
		_, _, err := MoveLeaderTo(ctx, c.Connector(), pods("cp-1", "cp-2", "cp-3"), "cp-2", time.Hour)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the wait for the new leader ignored the cancelled context")
	}
}

func TestServingVoter(t *testing.T) {
	ok := MemberStatus{ID: "1", Reachable: true, Healthy: true}
	nospace := MemberStatus{ID: "1", Reachable: true, HealthErr: "Active Alarm(s): NOSPACE ", Alarms: []string{"NOSPACE"}}
	for _, tc := range []struct {
		name  string
		m     MemberStatus
		serve bool
	}{
		{"healthy", ok, true},
		{"NOSPACE only", nospace, true},
		{"NOSPACE and CORRUPT", MemberStatus{ID: "1", Reachable: true, HealthErr: "Active Alarm(s): NOSPACE CORRUPT "}, false},
		{"CORRUPT alarm on a member that answers healthy", MemberStatus{ID: "1", Reachable: true, Healthy: true, Alarms: []string{"CORRUPT"}}, false},
		{"unreachable", MemberStatus{ID: "1", HealthErr: "context deadline exceeded"}, false},
		{"reachable but unhealthy for another reason", MemberStatus{ID: "1", Reachable: true, HealthErr: "took too long"}, false},
		{"not in the member list", MemberStatus{Reachable: true, Healthy: true}, false},
		{"learner", MemberStatus{ID: "1", Reachable: true, Healthy: true, Learner: true}, false},
	} {
		if got := tc.m.ServingVoter(); got != tc.serve {
			t.Errorf("%s: ServingVoter() = %v, want %v", tc.name, got, tc.serve)
		}
	}
}

func TestSleepReturnsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep on a cancelled context: %v", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep: %v", err)
	}
}

func TestRemovePlanWorse(t *testing.T) {
	c := threeMembers()
	ps := pods("cp-1", "cp-2", "cp-3")
	plan := func() *RemovePlan {
		st := Status(context.Background(), c.Connector(), ps, StatusOptions{})
		m, err := FindStatusMember(st, "cp-3")
		if err != nil {
			t.Fatal(err)
		}
		return PlanRemove(st, *m)
	}
	c.Members[2].Down = true // cp-3 fails: removing it is the fix
	confirmed := plan()
	if len(confirmed.Refusals) > 0 {
		t.Fatalf("removing the failed member refused: %+v", confirmed)
	}
	if w := confirmed.Worse(confirmed); len(w) > 0 {
		t.Errorf("same plan reported worse: %q", w)
	}
	// While the operator reads the prompt, cp-2 fails too.
	c.Members[1].Down = true
	again := plan()
	w := strings.Join(again.Worse(confirmed), "; ")
	if !strings.Contains(w, "serving voters: 1, was 2") || !strings.Contains(w, "after the removal 1 of 2 voters would serve (quorum 2), was 2 of 2") ||
		!strings.Contains(w, "now the cluster would lose quorum") {
		t.Errorf("worse: %q", w)
	}
	// A learner's removal does not touch the quorum, whatever else fails meanwhile; a learner
	// promoted meanwhile is a change.
	lc, lps := withLearner(false)
	planLearner := func() *RemovePlan {
		st := Status(context.Background(), lc.Connector(), lps, StatusOptions{})
		m, err := FindStatusMember(st, "cp-4")
		if err != nil {
			t.Fatal(err)
		}
		return PlanRemove(st, *m)
	}
	learner := planLearner()
	lc.Members[1].Down = true
	if w := planLearner().Worse(learner); len(w) > 0 {
		t.Errorf("learner removal after a voter failed: %q", w)
	}
	lc.Find(id4).Learner = false
	if w := strings.Join(planLearner().Worse(learner), "; "); !strings.Contains(w, "the member is now a voter") {
		t.Errorf("learner promoted meanwhile: %q", w)
	}
	// The target comes back while the prompt waits: removing it is now a refused removal (it
	// serves and fault tolerance drops), which the operator never confirmed.
	c.Members[1].Down, c.Members[2].Down = false, false
	if w := strings.Join(plan().Worse(confirmed), "; "); !strings.Contains(w, "now the cluster could lose 1 more member(s) now and only 0 after") {
		t.Errorf("target back: %q", w)
	}
	// Better is not worse: confirmed with --force while cp-2 was down too, then cp-2 comes back.
	c.Members[1].Down, c.Members[2].Down = true, true
	forced := plan()
	c.Members[1].Down = false
	if w := plan().Worse(forced); len(w) > 0 {
		t.Errorf("better plan reported worse: %q", w)
	}
}

// TestPromoteWaitHonoursCancel: Ctrl-C while waiting for a learner to catch up ends the wait at
// once, whatever the poll interval.
func TestPromoteWaitHonoursCancel(t *testing.T) {
	c, ps := withLearner(false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := fastPromote()
	o.Timeout, o.Interval = 2*time.Hour, time.Hour
	o.Progress = func(PromoteProgress) { cancel() }
	done := make(chan error, 1)
	go func() {
		_, err := PromoteMember(ctx, c.Connector(), ps, id4, o)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
			t.Errorf("err %v, want an interruption", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the wait for the learner ignored the cancelled context")
	}
}
