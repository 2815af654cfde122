// Package rebuild replaces an etcd member's data in place, through the Kubernetes API: the member
// is stopped (its static manifest set aside), removed, its data set aside, added back as a learner
// with the same name and peer URLs, started with an empty data directory and promoted once in sync
// — etcd's own recovery for a member whose data is broken, done with a helper pod on its node.
package rebuild

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

// Plan is the preview of a rebuild.
type Plan struct {
	// Member is the member as status sees it (for a member no longer in the member list: what
	// its pod says).
	Member etcd.MemberStatus `json:"member"`
	// State says in words why the member may need the rebuild: its alarm, unreachable, healthy.
	State string `json:"state"`
	// InList is false when an earlier run removed the member already (step 2 is skipped).
	InList bool `json:"inMemberList"`
	// Before is the quorum now; During while the member is out (removed, then a learner).
	Before etcd.Quorum `json:"before"`
	During etcd.Quorum `json:"during"`
	// PeerURLs are the member's peer URLs; the learner is added back with them.
	PeerURLs []string `json:"peerURLs"`
	// Peers are the other members, for --initial-cluster.
	Peers []Peer `json:"-"`
	// InitialCluster is the --initial-cluster of the first start.
	InitialCluster string `json:"initialCluster"`
	// Layout is where the rebuild works on the node.
	Layout Layout `json:"layout"`
	// Ports are the TCP ports etcd listens on, on the node (client and peer): none open means
	// etcd has stopped there.
	Ports []int `json:"-"`
	// ManifestFile is the manifest's name in the manifest directory (known once read).
	ManifestFile string `json:"manifestFile,omitempty"`
	// Refusals need --force; Blocked cannot be forced.
	Refusals []string `json:"refusals,omitempty"`
	Blocked  []string `json:"blocked,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Steps lists what the rebuild does, in words, for the preview.
func (p *Plan) Steps() []string {
	m := p.Member
	var s []string
	s = append(s, fmt.Sprintf("stop etcd on %s (its static manifest %s set aside; kept at %s)", m.Node,
		joinPath(p.Layout.ManifestDir, orDefault(p.ManifestFile, "etcd.yaml")), p.Layout.KeptManifest()))
	if p.InList {
		s = append(s, fmt.Sprintf("remove member %s", m.ID))
	} else {
		s = append(s, "(no removal: the member is no longer in the member list)")
	}
	if p.Layout.Aside != "" {
		s = append(s, fmt.Sprintf("set the old data aside at %s/member (hard links, no copy)", p.Layout.AsidePath()))
	} else {
		s = append(s, fmt.Sprintf("delete the old data in %s/member (--discard-old-data)", p.Layout.DataDir))
	}
	s = append(s, fmt.Sprintf("add %s back as a learner with peer URL %s", m.Name, strings.Join(p.PeerURLs, ",")))
	s = append(s, fmt.Sprintf("start etcd on %s with --initial-cluster-state=existing, then put the original manifest back", m.Node))
	s = append(s, "wait until the learner is in sync, promote it")
	return s
}

// PlanRebuild works out the rebuild of the member arg names (name, pod, node or hex ID), from the
// cluster's status and the discovered pods. A member that is not in the member list but whose
// pod still runs on its node (an earlier rebuild stopped after the removal) is rebuilt without the
// removal. maxLearners is etcd's --max-learners (0: etcd's default, 1).
func PlanRebuild(st *etcd.ClusterStatus, pods []discovery.Member, arg string, layout func(m *discovery.Member) (Layout, error)) (*Plan, *discovery.Member, error) {
	if st.Quorum.Voters == 0 || len(st.Members) == 0 {
		return nil, nil, fmt.Errorf("%w: cannot read the member list from any member", etcd.ErrNoMemberReachable)
	}
	p := &Plan{Before: st.Quorum}
	target, err := etcd.FindStatusMember(st, arg)
	var pod *discovery.Member
	if err == nil {
		p.Member, p.InList, p.PeerURLs = *target, true, target.PeerURLs
		pod = podNamed(pods, target.Pod)
	} else {
		pod = orphanPod(st, pods, arg)
		if pod == nil {
			return nil, nil, err
		}
		p.Member = etcd.MemberStatus{Pod: pod.Pod, Node: pod.Node, Name: pod.Name, HasPod: true, Image: pod.Image,
			PodPhase: pod.Phase, PodReady: pod.Ready, DataDir: pod.DataDir}
		p.PeerURLs = pod.InitialAdvertisePeerURLs
	}
	m := p.Member
	p.State = stateOf(m, p.InList)
	for _, o := range st.Members {
		if o.ID == m.ID && p.InList {
			continue
		}
		if o.Name == "" {
			p.Blocked = append(p.Blocked, fmt.Sprintf("member %s was added but never started: start or remove it first (the new member's --initial-cluster must name every member)", o.ID))
			continue
		}
		p.Peers = append(p.Peers, Peer{Name: o.Name, PeerURLs: o.PeerURLs})
	}
	switch {
	case m.Learner:
		p.Blocked = append(p.Blocked, fmt.Sprintf("%s is a learner: promote it (kubectl etcd promote %s) or remove it and join it again", m.Name, m.Name))
	case pod == nil || m.Node == "":
		p.Blocked = append(p.Blocked, fmt.Sprintf("member %s has no etcd pod, so its node is not known: see \"Replace a failed member\" in the README", nameOr(m)))
	case m.Name == "":
		p.Blocked = append(p.Blocked, fmt.Sprintf("member %s never started, so it has no data to rebuild: remove it, or start it", m.ID))
	case len(p.PeerURLs) == 0:
		p.Blocked = append(p.Blocked, fmt.Sprintf("the peer URL of %s is not known", m.Name))
	}
	if p.InList && !m.Learner {
		rp := etcd.PlanRemove(st, m)
		p.During = rp.After
		if m.ServingVoter() && st.Quorum.HealthyVoters == 1 {
			p.Blocked = append(p.Blocked, fmt.Sprintf("%s is the only healthy voting member: its data is the cluster's only good copy (restore from a snapshot instead)", m.Name))
		} else {
			p.Refusals = append(p.Refusals, rp.Refusals...)
		}
		p.Warnings = append(p.Warnings, rp.Warnings...)
	} else {
		p.During = st.Quorum
	}
	if !p.InList && !st.Quorum.HasQuorum() {
		p.Blocked = append(p.Blocked, fmt.Sprintf("the cluster has no quorum (%d serving of %d voters): a member cannot be added back", st.Quorum.HealthyVoters, st.Quorum.Voters))
	}
	maxLearners := 1
	if pod != nil && pod.MaxLearners > 0 {
		maxLearners = pod.MaxLearners
	}
	if st.Quorum.Learners >= maxLearners {
		p.Blocked = append(p.Blocked, fmt.Sprintf("the cluster has %d learner(s) and etcd allows %d: promote or remove the learner first", st.Quorum.Learners, maxLearners))
	}
	if pod != nil && len(p.Blocked) == 0 {
		l, err := layout(pod)
		if err != nil {
			return nil, nil, err
		}
		p.Layout = l
		p.Ports = listenPorts(pod)
		if len(p.Ports) == 0 {
			return nil, nil, fmt.Errorf("the etcd flags of %s name no client or peer port", pod)
		}
		p.InitialCluster = InitialCluster(append(append([]Peer(nil), p.Peers...), Peer{Name: m.Name, PeerURLs: p.PeerURLs}))
	}
	return p, pod, nil
}

// listenPorts are the ports of the member's client and peer listeners.
func listenPorts(pod *discovery.Member) []int {
	seen := map[int]bool{}
	var out []int
	for _, raw := range append(append([]string(nil), pod.ListenClientURLs...), pod.ListenPeerURLs...) {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if n, err := strconv.Atoi(u.Port()); err == nil && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// stateOf says in words why the member may need rebuilding.
func stateOf(m etcd.MemberStatus, inList bool) string {
	switch {
	case !inList:
		return "not in the member list (removed by an earlier run): its pod is still on the node"
	case len(m.Alarms) > 0:
		return strings.Join(m.Alarms, ", ") + " alarm"
	case !m.Reachable:
		return "unreachable" + suffix(m.HealthErr)
	case !m.Healthy:
		return "unhealthy" + suffix(m.HealthErr)
	}
	return "healthy"
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// orphanPod finds the etcd pod arg names (pod, node or --name) whose member is not in the
// member list.
func orphanPod(st *etcd.ClusterStatus, pods []discovery.Member, arg string) *discovery.Member {
	for i := range pods {
		p := &pods[i]
		if p.Pod != arg && p.Node != arg && p.Name != arg {
			continue
		}
		for _, m := range st.Members {
			if m.ID != "" && m.Name != "" && m.Name == p.Name {
				return nil
			}
		}
		return p
	}
	return nil
}

func podNamed(pods []discovery.Member, name string) *discovery.Member {
	for i := range pods {
		if pods[i].Pod == name && name != "" {
			return &pods[i]
		}
	}
	return nil
}

func nameOr(m etcd.MemberStatus) string {
	if m.Name != "" {
		return m.Name
	}
	return m.ID
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func joinPath(dir, file string) string { return strings.TrimSuffix(dir, "/") + "/" + file }
