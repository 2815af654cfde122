package etcd

import (
	"reflect"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// row is a member row as the join step leaves it: serving and healthy unless changed.
func row(id uint64, pod string) MemberStatus {
	return MemberStatus{ID: FormatID(id), Pod: pod, Name: strings.TrimPrefix(pod, "etcd-"), Reachable: true, Healthy: true, HasPod: true}
}

func listOf(ids ...uint64) *clientv3.MemberListResponse {
	ml := &clientv3.MemberListResponse{}
	for _, id := range ids {
		ml.Members = append(ml.Members, &etcdserverpb.Member{ID: id})
	}
	return ml
}

func TestSummarize(t *testing.T) {
	down := func(ms MemberStatus) MemberStatus {
		ms.Reachable, ms.Healthy = false, false
		ms.Problems = []string{"status: context deadline exceeded"}
		return ms
	}
	learner := func(ms MemberStatus) MemberStatus { ms.Learner = true; return ms }
	cases := []struct {
		name     string
		rows     []MemberStatus
		mlist    *clientv3.MemberListResponse
		leader   uint64
		state    ClusterState
		quorum   Quorum
		leaderID string
		warnings []string
	}{
		{name: "healthy", rows: []MemberStatus{row(id1, "etcd-cp-1"), row(id2, "etcd-cp-2"), row(id3, "etcd-cp-3")},
			mlist: listOf(id1, id2, id3), leader: id1, state: StateHealthy, quorum: NewQuorum(3, 3, 0), leaderID: FormatID(id1)},
		{name: "one member down", rows: []MemberStatus{row(id1, "etcd-cp-1"), down(row(id2, "etcd-cp-2")), row(id3, "etcd-cp-3")},
			mlist: listOf(id1, id2, id3), leader: id1, state: StateDegraded, quorum: NewQuorum(3, 2, 0), leaderID: FormatID(id1)},
		{name: "quorum lost", rows: []MemberStatus{row(id1, "etcd-cp-1"), down(row(id2, "etcd-cp-2")), down(row(id3, "etcd-cp-3"))},
			mlist: listOf(id1, id2, id3), leader: id1, state: StateQuorumLost, quorum: NewQuorum(3, 1, 0), leaderID: FormatID(id1)},
		// Without a leader the members still answer: the verdict is on health and quorum alone.
		{name: "no leader", rows: []MemberStatus{row(id1, "etcd-cp-1"), row(id2, "etcd-cp-2"), row(id3, "etcd-cp-3")},
			mlist: listOf(id1, id2, id3), state: StateHealthy, quorum: NewQuorum(3, 3, 0)},
		{name: "learner does not count as a voter", rows: []MemberStatus{row(id1, "etcd-cp-1"), row(id2, "etcd-cp-2"), row(id3, "etcd-cp-3"), learner(row(id4, "etcd-cp-4"))},
			mlist: listOf(id1, id2, id3, id4), leader: id1, state: StateHealthy, quorum: NewQuorum(3, 3, 1), leaderID: FormatID(id1)},
		{name: "even voter count warns", rows: []MemberStatus{row(id1, "etcd-cp-1"), row(id2, "etcd-cp-2")},
			mlist: listOf(id1, id2), leader: id1, state: StateHealthy, quorum: NewQuorum(2, 2, 0), leaderID: FormatID(id1),
			warnings: []string{"2 voting members: an even count tolerates no more failures than 1; etcd recommends 3 or 5"}},
		{name: "row not in the member list is not counted", rows: []MemberStatus{row(id1, "etcd-cp-1"), row(id2, "etcd-cp-2"), row(id3, "etcd-cp-3"), row(id4, "etcd-cp-4")},
			mlist: listOf(id1, id2, id3), leader: id1, state: StateHealthy, quorum: NewQuorum(3, 3, 0), leaderID: FormatID(id1)},
		{name: "no member list: every row counts", rows: []MemberStatus{down(row(id1, "etcd-cp-1")), down(MemberStatus{Pod: "etcd-cp-2", HasPod: true})},
			state: StateQuorumLost, quorum: NewQuorum(2, 0, 0),
			warnings: []string{"2 voting members: an even count tolerates no more failures than 1; etcd recommends 3 or 5"}},
		{name: "no rows", state: StateQuorumLost, quorum: NewQuorum(0, 0, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := &ClusterStatus{Members: c.rows}
			summarize(res, c.mlist, c.leader)
			if res.State != c.state {
				t.Errorf("state %s, want %s", res.State, c.state)
			}
			if res.Quorum != c.quorum {
				t.Errorf("quorum %+v, want %+v", res.Quorum, c.quorum)
			}
			if res.Leader != c.leaderID {
				t.Errorf("leader %q, want %q", res.Leader, c.leaderID)
			}
			if !reflect.DeepEqual(res.Warnings, c.warnings) {
				t.Errorf("warnings %q, want %q", res.Warnings, c.warnings)
			}
		})
	}
}

func TestClusterDowngradePrefersEnabled(t *testing.T) {
	rows := []MemberStatus{
		{Downgrade: &DowngradeState{}},
		{Downgrade: &DowngradeState{Enabled: true, TargetVersion: "3.5"}},
		{Downgrade: &DowngradeState{}},
		{},
	}
	if d := clusterDowngrade(rows); d == nil || !d.Enabled || d.TargetVersion != "3.5" {
		t.Errorf("downgrade %+v", d)
	}
	if d := clusterDowngrade([]MemberStatus{{}}); d != nil {
		t.Errorf("no member reports a downgrade, got %+v", d)
	}
}

func TestStatusWarnsOfExpiringCertificate(t *testing.T) {
	days := 3
	ms := row(id1, "etcd-cp-1")
	ms.ServerCertNotAfter, ms.ServerCertDaysLeft = "2000-01-01T00:00:00Z", &days
	w := statusWarnings([]MemberStatus{ms}, 1)
	if len(w) != 1 || !strings.Contains(w[0], "the serving certificate of etcd-cp-1 expires 2000-01-01T00:00:00Z (3 days)") {
		t.Errorf("warnings %q", w)
	}
}
