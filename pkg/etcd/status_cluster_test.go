package etcd

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// statusJSON runs Status on a fresh cluster (mutated), with or without the cluster-wide reads,
// and returns the result as JSON and the calls made.
func statusJSON(t *testing.T, clusterReads bool, mutate func(*fake.Cluster), names ...string) (string, []string) {
	t.Helper()
	cl := threeMembers()
	if mutate != nil {
		mutate(cl)
	}
	cl.ClusterReads = clusterReads
	st := Status(context.Background(), cl.Connector(), pods(names...), StatusOptions{})
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b), cl.Calls
}

// On exec every call is a process started in a pod through the API server and the kubelet: a
// healthy cluster is read in one round of four calls to one pod (status and health of every
// member through etcdctl --cluster, the member list, the alarms), not four calls per member.
func TestStatusReadsAHealthyClusterInOneRoundFromOnePod(t *testing.T) {
	got, calls := statusJSON(t, true, nil, "cp-1", "cp-2", "cp-3")
	if len(calls) != 4 {
		t.Errorf("calls %d, want 4: %v", len(calls), calls)
	}
	for _, c := range calls {
		if !strings.HasPrefix(c, "etcd-cp-1 ") {
			t.Errorf("call %q to another pod than the one asked for the cluster", c)
		}
	}
	want, _ := statusJSON(t, false, nil, "cp-1", "cp-2", "cp-3")
	if got != want {
		t.Errorf("one round from one pod differs from asking every pod:\n%s\nwant\n%s", got, want)
	}
}

// Whatever fails, the cluster-wide round yields the same status as asking every pod: a member
// in trouble is asked itself, so its row and its errors are its own answer, and one member
// failing (the one asked for the cluster included) never hides the others.
func TestStatusClusterRoundGivesWhatAskingEveryPodGives(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(c *fake.Cluster)
		pods   []string
		// asked are the pods that must be asked themselves after the round.
		asked []string
	}{
		{name: "a follower down", mutate: func(c *fake.Cluster) { c.Members[1].Down = true }, asked: []string{"etcd-cp-2"}},
		{name: "the pod asked for the cluster down", mutate: func(c *fake.Cluster) { c.Members[0].Down = true },
			asked: []string{"etcd-cp-1", "etcd-cp-2", "etcd-cp-3"}},
		{name: "two down", mutate: func(c *fake.Cluster) { c.Members[1].Down = true; c.Members[2].Down = true },
			asked: []string{"etcd-cp-2", "etcd-cp-3"}},
		{name: "all down", mutate: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.Down = true
			}
		}, asked: []string{"etcd-cp-1", "etcd-cp-2", "etcd-cp-3"}},
		{name: "unhealthy follower", mutate: func(c *fake.Cluster) { c.Members[2].Unhealthy = "etcdserver: request timed out" },
			asked: []string{"etcd-cp-3"}},
		{name: "member without pod", pods: []string{"cp-1", "cp-2"}},
		{name: "unstarted learner", mutate: func(c *fake.Cluster) {
			c.Members = append(c.Members, &fake.Member{ID: id4, Learner: true, PeerURLs: []string{"https://cp-4:2380"}})
		}},
		{name: "NOSPACE alarm", mutate: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.Unhealthy = "Active Alarm(s): NOSPACE "
			}
			c.Alarms = []*etcdserverpb.AlarmMember{{MemberID: id1, Alarm: etcdserverpb.AlarmType_NOSPACE}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			names := c.pods
			if names == nil {
				names = []string{"cp-1", "cp-2", "cp-3"}
			}
			got, calls := statusJSON(t, true, c.mutate, names...)
			want, _ := statusJSON(t, false, c.mutate, names...)
			if got != want {
				t.Errorf("differs from asking every pod:\n%s\nwant\n%s", got, want)
			}
			asked := map[string]bool{}
			for _, call := range calls {
				pod, op, _ := strings.Cut(call, " ")
				if op == "status" {
					asked[pod] = true
				}
			}
			for _, p := range c.asked {
				if !asked[p] {
					t.Errorf("%s was not asked itself: %v", p, calls)
				}
				delete(asked, p)
			}
			for p := range asked {
				t.Errorf("%s was asked itself although the round settled it: %v", p, calls)
			}
		})
	}
}
