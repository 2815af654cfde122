package etcd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

const (
	id1 uint64 = 0x8e9e05c52164694d
	id2 uint64 = 0x91bc3c398fb3c146
	id3 uint64 = 0xfd422379fda50e48
	id4 uint64 = 0xa1b2c3d4e5f60718
)

func pods(names ...string) []discovery.Member {
	var out []discovery.Member
	for _, n := range names {
		out = append(out, discovery.Member{Namespace: "kube-system", Pod: "etcd-" + n, Node: n, Name: n,
			Phase: "Running", Ready: true, LocalClientURL: "https://127.0.0.1:2379",
			AdvertiseClientURLs: []string{"https://" + n + ":2379"}})
	}
	return out
}

func threeMembers() *fake.Cluster {
	mk := func(id uint64, n string) *fake.Member {
		return &fake.Member{ID: id, Name: n, Version: "3.6.16", DBSize: 100 << 20, InUse: 40 << 20, RaftIndex: 1000,
			PeerURLs: []string{"https://" + n + ":2380"}, ClientURLs: []string{"https://" + n + ":2379"}}
	}
	return &fake.Cluster{
		ClusterID: 0xcdf818194e3a8c32, LeaderID: id1,
		Members:   []*fake.Member{mk(id1, "cp-1"), mk(id2, "cp-2"), mk(id3, "cp-3")},
		PodMember: map[string]uint64{"etcd-cp-1": id1, "etcd-cp-2": id2, "etcd-cp-3": id3},
	}
}

func TestStatusStates(t *testing.T) {
	cases := []struct {
		name      string
		mutate    func(c *fake.Cluster)
		pods      []string
		state     ClusterState
		healthy   int
		voters    int
		left      int
		errSubstr string
	}{
		{name: "all healthy", state: StateHealthy, healthy: 3, voters: 3, left: 1},
		{name: "one down", mutate: func(c *fake.Cluster) { c.Members[1].Down = true }, state: StateDegraded, healthy: 2, voters: 3, left: 0, errSubstr: "etcd-cp-2: status: context deadline exceeded"},
		{name: "two down", mutate: func(c *fake.Cluster) { c.Members[1].Down = true; c.Members[2].Down = true }, state: StateQuorumLost, healthy: 1, voters: 3, left: -1},
		{name: "all down", mutate: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.Down = true
			}
		}, state: StateQuorumLost, healthy: 0, voters: 3, left: -2},
		{name: "member without pod", pods: []string{"cp-1", "cp-2"}, state: StateDegraded, healthy: 2, voters: 3, left: 0, errSubstr: "no etcd pod found for this member"},
		{name: "unstarted learner", mutate: func(c *fake.Cluster) {
			c.Members = append(c.Members, &fake.Member{ID: id4, Learner: true, PeerURLs: []string{"https://cp-4:2380"}})
		}, state: StateDegraded, healthy: 3, voters: 3, left: 1, errSubstr: "has not started"},
		{name: "alarm makes a member unhealthy", mutate: func(c *fake.Cluster) {
			c.Members[0].Unhealthy = "Active Alarm(s): NOSPACE"
			c.Alarms = []*etcdserverpb.AlarmMember{{MemberID: id1, Alarm: etcdserverpb.AlarmType_NOSPACE}}
		}, state: StateDegraded, healthy: 3, voters: 3, left: 1, errSubstr: "NOSPACE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := threeMembers()
			if c.mutate != nil {
				c.mutate(cl)
			}
			names := c.pods
			if names == nil {
				names = []string{"cp-1", "cp-2", "cp-3"}
			}
			st := Status(context.Background(), cl.Connector(), pods(names...), StatusOptions{})
			if st.State != c.state {
				t.Errorf("state %s, want %s", st.State, c.state)
			}
			if st.Quorum.HealthyVoters != c.healthy || st.Quorum.Voters != c.voters || st.Quorum.FailuresLeft != c.left {
				t.Errorf("quorum %+v", st.Quorum)
			}
			errs := strings.Join(st.Errors(), "\n")
			if c.errSubstr != "" && !strings.Contains(errs, c.errSubstr) {
				t.Errorf("errors %q lack %q", errs, c.errSubstr)
			}
			if c.errSubstr == "" && c.state == StateHealthy && errs != "" {
				t.Errorf("unexpected errors %q", errs)
			}
		})
	}
}

func TestStatusJoinsPodsAndIDs(t *testing.T) {
	cl := threeMembers()
	st := Status(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{})
	if len(st.Members) != 3 {
		t.Fatalf("members %d", len(st.Members))
	}
	m := st.Members[0]
	if m.Pod != "etcd-cp-1" || m.ID != "8e9e05c52164694d" || !m.Leader || m.Name != "cp-1" || m.FragmentationPct != 60 {
		t.Errorf("first member %+v", m)
	}
	if st.Leader != "8e9e05c52164694d" || st.ClusterID != "cdf818194e3a8c32" {
		t.Errorf("leader %s cluster %s", st.Leader, st.ClusterID)
	}
	// Every member is asked once for status and health; member list and alarms are asked of all
	// in parallel too, so a dead member never delays the answer.
	if n := len(cl.Calls); n != 12 {
		t.Errorf("calls %d: %v", n, cl.Calls)
	}
}

func TestQuorumArithmetic(t *testing.T) {
	cases := []struct{ voters, healthy, needed, tol, left int }{
		{1, 1, 1, 0, 0}, {2, 2, 2, 0, 0}, {3, 3, 2, 1, 1}, {3, 2, 2, 1, 0}, {3, 1, 2, 1, -1},
		{4, 4, 3, 1, 1}, {5, 5, 3, 2, 2}, {5, 3, 3, 2, 0}, {0, 0, 0, 0, 0},
	}
	for _, c := range cases {
		q := NewQuorum(c.voters, c.healthy, 0)
		if q.Needed != c.needed || q.FaultTolerance != c.tol || q.FailuresLeft != c.left {
			t.Errorf("NewQuorum(%d,%d) = %+v", c.voters, c.healthy, q)
		}
	}
}

func TestListMembersFlagsProblems(t *testing.T) {
	cl := threeMembers()
	cl.Members = append(cl.Members, &fake.Member{ID: id4, Learner: true, PeerURLs: []string{"https://cp-4:2380"}})
	cl.Members[0].Down = true // the list still comes from another member
	l, err := ListMembers(context.Background(), cl.Connector(), pods("cp-1", "cp-2"), 0)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]MemberInfo{}
	for _, m := range l.Members {
		byName[m.Name] = m
	}
	if m := byName["cp-3"]; m.HasPod || len(m.Problems) == 0 {
		t.Errorf("cp-3 has no pod: %+v", m)
	}
	if m := byName[""]; m.Started || !m.Learner || m.ID != "a1b2c3d4e5f60718" {
		t.Errorf("unstarted learner: %+v", m)
	}
	if m := byName["cp-1"]; m.Pod != "etcd-cp-1" || m.Node != "cp-1" {
		t.Errorf("cp-1: %+v", m)
	}
}

func TestListMembersAllDown(t *testing.T) {
	cl := threeMembers()
	for _, m := range cl.Members {
		m.Down = true
	}
	_, err := ListMembers(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), 0)
	if err == nil || !strings.Contains(err.Error(), "etcd-cp-1: context deadline exceeded (the other 2 pods fail the same way)") {
		t.Fatalf("want the reason in one line, got %v", err)
	}
	if !errors.Is(err, ErrNoMemberReachable) {
		t.Errorf("not ErrNoMemberReachable: %v", err)
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string]uint64{"8e9e05c52164694d": id1, "0x8e9e05c52164694d": id1, "FD422379FDA50E48": id3} {
		got, err := ParseID(in)
		if err != nil || got != want {
			t.Errorf("ParseID(%q) = %x %v", in, got, err)
		}
	}
	if _, err := ParseID("cp-1"); err == nil {
		t.Error("name accepted as ID")
	}
}
