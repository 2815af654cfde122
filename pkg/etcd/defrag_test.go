package etcd

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

func fragmented() *fake.Cluster {
	c := threeMembers() // 100 MiB files, 40 MiB in use: 60 % fragmented; leader cp-1
	for _, m := range c.Members {
		m.Revision = 500
	}
	return c
}

func defragOpts() DefragOptions {
	return DefragOptions{MinFragmentation: DefaultMinFragmentation, MinSize: DefaultMinDefragSize, MoveLeader: true,
		CallTimeout: time.Second, Timeout: 2 * time.Second}
}

func TestDefragOrderAndLeaderMove(t *testing.T) {
	c := fragmented()
	r, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), defragOpts())
	if err != nil {
		t.Fatal(err)
	}
	// Followers first, the old leader last; leadership moved to a defragmented follower first.
	if len(c.Defragged) != 3 || c.Defragged[0] != id2 || c.Defragged[1] != id3 || c.Defragged[2] != id1 {
		t.Errorf("order %x", c.Defragged)
	}
	if len(c.LeaderMoves) != 1 || (c.LeaderMoves[0] != id2 && c.LeaderMoves[0] != id3) {
		t.Errorf("leader moves %x", c.LeaderMoves)
	}
	if r.Reclaimed != 3*60<<20 || !r.Order[2].Done || r.Order[2].LeaderMove == "" {
		t.Errorf("report %+v", r)
	}
}

func TestDefragNoMoveLeaderKeepsLeaderLast(t *testing.T) {
	c := fragmented()
	o := defragOpts()
	o.MoveLeader = false
	if _, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), o); err != nil {
		t.Fatal(err)
	}
	if c.Defragged[2] != id1 || len(c.LeaderMoves) != 0 {
		t.Errorf("order %x moves %x", c.Defragged, c.LeaderMoves)
	}
}

func TestDefragRules(t *testing.T) {
	c := fragmented()
	c.Members[1].InUse = c.Members[1].DBSize // cp-2: 0 % fragmented
	c.Members[2].DBSize, c.Members[2].InUse = 10<<20, 1<<20
	r, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), defragOpts())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Defragged) != 1 || c.Defragged[0] != id1 {
		t.Errorf("defragged %x", c.Defragged)
	}
	reasons := ""
	for _, x := range r.Order {
		reasons += x.Reason + "|"
	}
	if !strings.Contains(reasons, "only 0% fragmented") || !strings.Contains(reasons, "under the 100000000-byte minimum") {
		t.Errorf("reasons %s", reasons)
	}
}

func TestDefragDryRunChangesNothing(t *testing.T) {
	c := fragmented()
	o := defragOpts()
	o.DryRun = true
	r, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), o)
	if err != nil || len(c.Defragged) != 0 || len(c.LeaderMoves) != 0 || len(r.Order) != 3 || r.Order[2].Name != "cp-1" {
		t.Errorf("dry run: %v %x %+v", err, c.Defragged, r)
	}
}

func TestDefragRefusesUnhealthyButNotNOSPACE(t *testing.T) {
	c := fragmented()
	c.Members[2].Down = true
	_, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), defragOpts())
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "cp-3") || len(c.Defragged) != 0 {
		t.Errorf("member down: %v %x", err, c.Defragged)
	}
	c = fragmented()
	for _, m := range c.Members {
		m.Unhealthy = "Active Alarm(s): NOSPACE"
	}
	c.Alarms = []*etcdserverpb.AlarmMember{{MemberID: id1, Alarm: etcdserverpb.AlarmType_NOSPACE}}
	o := defragOpts()
	o.Disarm = true
	r, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), o)
	if err != nil || len(c.Defragged) != 3 || len(r.Disarmed) != 1 || len(c.Alarms) != 0 {
		t.Errorf("NOSPACE: %v %x %+v", err, c.Defragged, r)
	}
	c = fragmented()
	c.Alarms = []*etcdserverpb.AlarmMember{{MemberID: id2, Alarm: etcdserverpb.AlarmType_CORRUPT}}
	c.Members[1].Unhealthy = "Active Alarm(s): CORRUPT"
	if _, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), defragOpts()); !errors.Is(err, ErrRefused) {
		t.Errorf("CORRUPT: %v", err)
	}
}

func TestDefragStopsAtFirstFailure(t *testing.T) {
	c := fragmented()
	c.OnDefrag = func(_ *fake.Cluster, id uint64) error {
		if id == id3 {
			return errors.New("context deadline exceeded")
		}
		return nil
	}
	r, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), defragOpts())
	if err == nil || !strings.Contains(err.Error(), "defragmenting cp-3") || !strings.Contains(err.Error(), "defragmented: cp-2") ||
		!strings.Contains(err.Error(), "not touched: cp-1") {
		t.Fatalf("err %v", err)
	}
	if len(c.Defragged) != 1 || len(c.LeaderMoves) != 0 || r.Order[2].Done {
		t.Errorf("went on after a failure: %x %x", c.Defragged, c.LeaderMoves)
	}
}

func TestDefragSkipsLearners(t *testing.T) {
	c, ps := withLearner(true)
	for _, m := range c.Members {
		m.DBSize, m.InUse = 200<<20, 10<<20
	}
	r, err := Defrag(context.Background(), c.Connector(), ps, defragOpts())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range c.Defragged {
		if id == id4 {
			t.Error("learner defragmented")
		}
	}
	if len(r.Skipped) != 1 || !strings.Contains(r.Skipped[0], "learner") {
		t.Errorf("skipped %v", r.Skipped)
	}
}

func TestMoveLeaderRefusals(t *testing.T) {
	c, ps := withLearner(true)
	if _, _, err := MoveLeaderTo(context.Background(), c.Connector(), ps, "cp-4", time.Second); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "learner") {
		t.Errorf("learner: %v", err)
	}
	single := threeMembers()
	single.Members = single.Members[:1]
	if _, _, err := MoveLeaderTo(context.Background(), single.Connector(), pods("cp-1"), "", time.Second); !errors.Is(err, ErrRefused) {
		t.Errorf("single member: %v", err)
	}
	c = threeMembers()
	from, to, err := MoveLeaderTo(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), "cp-3", time.Second)
	if err != nil || from.Name != "cp-1" || to.Name != "cp-3" || c.LeaderID != id3 {
		t.Errorf("move: %v %v %v", from, to, err)
	}
}

func TestDefragRefusesAMemberBeingSnapshotted(t *testing.T) {
	c := fragmented()
	c.Locks = map[string]string{LockKey("fd422379fda50e48"): `{"op":"snapshot","host":"laptop","pid":42,"since":"2026-11-23T10:00:00Z"}`}
	r, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), defragOpts())
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "a snapshot started 2026-11-23T10:00:00Z by pid 42 on laptop") {
		t.Fatalf("err %v", err)
	}
	// The busy member was not touched, and is reported so (not as a started defrag).
	if !strings.Contains(err.Error(), "cp-3 was not defragmented") || !strings.Contains(err.Error(), "defragmented: cp-2; not touched: cp-3, cp-1") {
		t.Errorf("err %v; want cp-3 listed as not touched", err)
	}
	if x := r.Order[1]; x.Name != "cp-3" || x.Started || x.Done || x.Error == "" {
		t.Errorf("report for cp-3: %+v", x)
	}
	for _, id := range c.Defragged {
		if id == id3 {
			t.Error("the locked member was defragmented")
		}
	}
	if len(c.Locks) != 1 {
		t.Errorf("locks left: %v", c.Locks)
	}
}

// Over exec, a command that changes the cluster does not take a member's health from its
// status: the round adds etcdctl endpoint health --cluster, so a member whose status looks
// fine but whose reads fail is seen, and the defrag is refused.
func TestDefragGatesOnReadsNotStatusesOverExec(t *testing.T) {
	c := fragmented()
	c.ClusterReads = true
	c.Members[2].Unhealthy = "etcdserver: request timed out"
	_, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), defragOpts())
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "request timed out") || len(c.Defragged) != 0 {
		t.Errorf("reads fail on cp-3: %v, defragged %x; want refused", err, c.Defragged)
	}
	if !slices.Contains(c.Calls, "etcd-cp-1 health --cluster") {
		t.Errorf("calls %q: want etcdctl endpoint health --cluster in the round", c.Calls)
	}
}
