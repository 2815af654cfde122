package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// statusJSON runs Status on cl, with or without the cluster-wide reads, and returns the result
// as JSON and the calls made.
func statusJSON(t *testing.T, cl *fake.Cluster, clusterReads bool, members []discovery.Member) (*ClusterStatus, string, []string) {
	t.Helper()
	cl.ClusterReads = clusterReads
	cl.Calls = nil
	st := Status(context.Background(), cl.Connector(), members, StatusOptions{})
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return st, string(b), cl.Calls
}

// howAsked drops what only says how the health was learned (a probe's read time, or that it
// was read from the status): the rest must be the same whichever way the cluster was read.
var howAsked = regexp.MustCompile(`(?m)^\s*"(healthTook|healthInferred)": .*\n`)

// roundVsEveryPod compares Status through the cluster round with Status asking every pod
// everything, on two copies of the same cluster, and returns the round's result and calls.
func roundVsEveryPod(t *testing.T, mk func() *fake.Cluster, members []discovery.Member) (*ClusterStatus, []string) {
	t.Helper()
	st, got, calls := statusJSON(t, mk(), true, members)
	_, want, _ := statusJSON(t, mk(), false, members)
	if g, w := howAsked.ReplaceAllString(got, ""), howAsked.ReplaceAllString(want, ""); g != w {
		t.Errorf("the cluster round differs from asking every pod:\n%s\nwant\n%s", g, w)
	}
	return st, calls
}

func fiveMembers() *fake.Cluster {
	cl := threeMembers()
	for _, n := range []uint64{4, 5} {
		name := fmt.Sprintf("cp-%d", n)
		cl.Members = append(cl.Members, &fake.Member{ID: 0x1000 + n, Name: name, Version: "3.6.16", DBSize: 100 << 20,
			InUse: 40 << 20, RaftIndex: 1000, PeerURLs: []string{"https://" + name + ":2380"}, ClientURLs: []string{"https://" + name + ":2379"}})
		cl.PodMember["etcd-"+name] = 0x1000 + n
	}
	return cl
}

// On exec every call is a process started in a pod through the API server and the kubelet: a
// healthy cluster is read in two calls at once in one pod, whatever its size: every member's
// status through etcdctl endpoint status --cluster, and the member list. No alarm list
// (etcd puts every active alarm in each status's errors) and no health probe (the statuses
// show every member serving): the health is marked as read from the status.
func TestStatusReadsAHealthyClusterInTwoCalls(t *testing.T) {
	for _, c := range []struct {
		mk    func() *fake.Cluster
		names []string
	}{
		{threeMembers, []string{"cp-1", "cp-2", "cp-3"}},
		{fiveMembers, []string{"cp-1", "cp-2", "cp-3", "cp-4", "cp-5"}},
	} {
		t.Run(fmt.Sprint(len(c.names)), func(t *testing.T) {
			st, calls := roundVsEveryPod(t, c.mk, pods(c.names...))
			sort.Strings(calls)
			if want := []string{"etcd-cp-1 member list", "etcd-cp-1 status --cluster"}; !slices.Equal(calls, want) {
				t.Errorf("calls %q, want %q", calls, want)
			}
			if st.State != StateHealthy || !st.AlarmsRead || len(st.Alarms) != 0 {
				t.Errorf("state %s, alarms read %v %v", st.State, st.AlarmsRead, st.Alarms)
			}
			for _, m := range st.Members {
				if !m.Healthy || !m.HealthInferred || m.HealthTook != "" {
					t.Errorf("%s: healthy %v inferred %v took %q; want healthy, read from the status", m.Pod, m.Healthy, m.HealthInferred, m.HealthTook)
				}
			}
		})
	}
}

// Whatever fails, the cluster round yields the same status as asking every pod everything: a
// member in doubt is asked itself (its health when the round has its status, its status and
// health when not), so its row and its errors are its own answer, and one member failing (the
// pod that reads the cluster included) never hides the others.
func TestStatusClusterRoundGivesWhatAskingEveryPodGives(t *testing.T) {
	const (
		sh = "status+health"
		h  = "health"
	)
	cases := []struct {
		name   string
		mutate func(c *fake.Cluster)
		pods   []string
		// asked are the pods asked themselves after the round, and what.
		asked map[string]string
		// alarmList: the round reads the alarm list (some status has errors).
		alarmList bool
	}{
		{name: "healthy", asked: map[string]string{}},
		{name: "a follower down", mutate: func(c *fake.Cluster) { c.Members[1].Down = true },
			asked: map[string]string{"etcd-cp-2": sh}},
		{name: "the pod asked for the statuses down", mutate: func(c *fake.Cluster) { c.Members[0].Down = true },
			asked: map[string]string{"etcd-cp-1": "everything", "etcd-cp-2": "everything", "etcd-cp-3": "everything"}},
		{name: "two down", mutate: func(c *fake.Cluster) { c.Members[1].Down = true; c.Members[2].Down = true },
			asked: map[string]string{"etcd-cp-2": sh, "etcd-cp-3": sh}},
		{name: "all down", mutate: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.Down = true
			}
		}, asked: map[string]string{"etcd-cp-1": "everything", "etcd-cp-2": "everything", "etcd-cp-3": "everything"}},
		{name: "a follower cut off from the leader", mutate: func(c *fake.Cluster) {
			c.Members[2].Leaderless, c.Members[2].Unhealthy = true, "context deadline exceeded"
		}, asked: map[string]string{"etcd-cp-3": h}, alarmList: true},
		{name: "a follower applying far behind", mutate: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.RaftIndex = 20000
			}
			c.Members[2].ApplyLag, c.Members[2].Unhealthy = maxApplyGap+1, "context deadline exceeded"
		}, asked: map[string]string{"etcd-cp-3": h}},
		{name: "a follower applying a little behind", mutate: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.RaftIndex = 20000
			}
			c.Members[2].ApplyLag = maxApplyGap
		}, asked: map[string]string{}},
		{name: "no leader", mutate: func(c *fake.Cluster) {
			c.LeaderID = 0
			for _, m := range c.Members {
				m.Unhealthy = "etcdserver: no leader"
			}
		}, asked: map[string]string{"etcd-cp-1": h, "etcd-cp-2": h, "etcd-cp-3": h}, alarmList: true},
		{name: "member without pod", pods: []string{"cp-1", "cp-2"}, asked: map[string]string{}},
		{name: "unstarted learner", mutate: func(c *fake.Cluster) {
			c.Members = append(c.Members, &fake.Member{ID: id4, Learner: true, PeerURLs: []string{"https://cp-4:2380"}})
		}, asked: map[string]string{}},
		{name: "started learner", mutate: func(c *fake.Cluster) {
			c.Members = append(c.Members, &fake.Member{ID: id4, Name: "cp-4", Learner: true, Version: "3.6.16", RaftIndex: 1000,
				PeerURLs: []string{"https://cp-4:2380"}, ClientURLs: []string{"https://cp-4:2379"},
				Unhealthy: "etcdserver: rpc not supported for learner"})
			c.PodMember["etcd-cp-4"] = id4
		}, pods: []string{"cp-1", "cp-2", "cp-3", "cp-4"}, asked: map[string]string{"etcd-cp-4": h}},
		{name: "NOSPACE alarm", mutate: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.Unhealthy = "Active Alarm(s): NOSPACE "
			}
			c.Alarms = []*etcdserverpb.AlarmMember{{MemberID: id1, Alarm: etcdserverpb.AlarmType_NOSPACE}}
		}, asked: map[string]string{"etcd-cp-1": h, "etcd-cp-2": h, "etcd-cp-3": h}, alarmList: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			names := c.pods
			if names == nil {
				names = []string{"cp-1", "cp-2", "cp-3"}
			}
			mk := func() *fake.Cluster {
				cl := threeMembers()
				if c.mutate != nil {
					c.mutate(cl)
				}
				return cl
			}
			st, calls := roundVsEveryPod(t, mk, pods(names...))
			ops := map[string][]string{}
			round := map[string]bool{"etcd-cp-1 status --cluster": true, "etcd-cp-1 member list": true}
			alarmList := false
			for _, call := range calls {
				if call == "etcd-cp-1 alarm list" && !alarmList && !slices.Contains(calls, "etcd-cp-1 status") {
					alarmList = true
					continue
				}
				if round[call] {
					delete(round, call)
					continue
				}
				pod, op, _ := strings.Cut(call, " ")
				ops[pod] = append(ops[pod], op)
			}
			if alarmList != c.alarmList {
				t.Errorf("alarm list read in the round: %v, want %v: %v", alarmList, c.alarmList, calls)
			}
			got := map[string]string{}
			for pod, o := range ops {
				sort.Strings(o)
				switch strings.Join(o, ",") {
				case "health":
					got[pod] = h
				case "health,status":
					got[pod] = sh
				case "alarm list,health,member list,status":
					got[pod] = "everything"
				default:
					got[pod] = strings.Join(o, ",")
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.asked) {
				t.Errorf("asked themselves %v, want %v (calls %q)", got, c.asked, calls)
			}
			for _, m := range st.Members {
				if m.HealthInferred && (c.asked[m.Pod] != "" || m.Learner) {
					t.Errorf("%s: health marked as read from the status, but the member was asked or is a learner", m.Pod)
				}
			}
		})
	}
}

// The commands that change the cluster gate on real reads: with ProbeHealth the round adds
// etcdctl endpoint health --cluster (a linearizable read through every member), and a member
// whose status looks fine but whose reads fail is seen unhealthy. Without it, that member's
// health is read from its status: the limit README states.
func TestStatusProbeHealthReadsThroughEveryMember(t *testing.T) {
	run := func(probe bool, mutate func(*fake.Cluster)) (*ClusterStatus, []string) {
		cl := threeMembers()
		if mutate != nil {
			mutate(cl)
		}
		cl.ClusterReads = true
		st := Status(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{ProbeHealth: probe})
		sort.Strings(cl.Calls)
		return st, cl.Calls
	}
	st, calls := run(true, nil)
	if want := []string{"etcd-cp-1 health --cluster", "etcd-cp-1 member list", "etcd-cp-1 status --cluster"}; !slices.Equal(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
	for _, m := range st.Members {
		if !m.Healthy || m.HealthInferred || m.HealthTook == "" {
			t.Errorf("%s: healthy %v inferred %v took %q; want a probed read", m.Pod, m.Healthy, m.HealthInferred, m.HealthTook)
		}
	}

	readsFail := func(c *fake.Cluster) { c.Members[2].Unhealthy = "etcdserver: request timed out" }
	st, calls = run(true, readsFail)
	if m := st.Members[2]; m.Healthy || m.HealthErr != "etcdserver: request timed out" || !slices.Contains(calls, "etcd-cp-3 health") {
		t.Errorf("probed: cp-3 healthy %v %q, calls %q; want unhealthy, asked itself", m.Healthy, m.HealthErr, calls)
	}
	if st.State != StateDegraded {
		t.Errorf("probed: state %s, want Degraded", st.State)
	}
	st, _ = run(false, readsFail)
	if m := st.Members[2]; !m.Healthy || !m.HealthInferred {
		t.Errorf("not probed: cp-3 healthy %v inferred %v; want healthy, read from its status", m.Healthy, m.HealthInferred)
	}
}
