package etcd

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// MemberInfo is one entry of the cluster's member list joined to its pod.
type MemberInfo struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Started    bool     `json:"started"`
	Learner    bool     `json:"learner"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	Pod        string   `json:"pod,omitempty"`
	Node       string   `json:"node,omitempty"`
	HasPod     bool     `json:"hasPod"`
	PodPhase   string   `json:"podPhase,omitempty"`
	// Problems flag what needs a look: no pod for the member, a member that never started.
	Problems []string `json:"problems,omitempty"`
}

// MemberList is the result of "member list".
type MemberList struct {
	Transport string `json:"transport"`
	ClusterID string `json:"clusterID"`
	// From is the pod whose member answered.
	From    string       `json:"from"`
	Members []MemberInfo `json:"members"`
	// PodsWithoutMember are etcd pods whose member is not in the list.
	PodsWithoutMember []string `json:"podsWithoutMember,omitempty"`
}

// ErrNoMemberReachable says that no member answered.
var ErrNoMemberReachable = errors.New("no etcd member could be reached")

// UnreachableError lists why each member could not be asked.
type UnreachableError struct {
	Op      string
	PerPod  []string
	Timeout time.Duration
}

func (e *UnreachableError) Error() string {
	msg := fmt.Sprintf("%s: no etcd member could be reached", e.Op)
	if len(e.PerPod) == 0 {
		return msg
	}
	// One line: the first pod's reason, and the others' only where they differ.
	first := e.PerPod[0]
	same := true
	for _, p := range e.PerPod[1:] {
		if genericReason(p) != genericReason(first) {
			same = false
		}
	}
	if same {
		if len(e.PerPod) > 1 {
			return fmt.Sprintf("%s; %s (the other %d pods fail the same way)", msg, first, len(e.PerPod)-1)
		}
		return msg + "; " + first
	}
	return msg + "; " + strings.Join(e.PerPod, "; ")
}

// genericReason drops pod and node names so that equal failures compare equal.
func genericReason(s string) string {
	_, rest, ok := strings.Cut(s, ": ")
	if !ok {
		return s
	}
	if i := strings.Index(rest, "): "); strings.HasPrefix(rest, "pod ") && i > 0 {
		rest = rest[i+3:]
	}
	return rest
}

// Unwrap says why: when every member failed on access (RBAC or TLS), that is a setup problem of
// the caller (exit 1), not a cluster without quorum.
func (e *UnreachableError) Unwrap() error {
	if len(e.PerPod) > 0 && allAccessProblems(e.PerPod) {
		return ErrAccess
	}
	return ErrNoMemberReachable
}

// ErrAccess says the plugin was not allowed in: RBAC denied the API call, or etcd's TLS refused
// the certificates. The cluster itself may be fine.
var ErrAccess = errors.New("access denied")

// isAccessProblem recognises the messages of RBAC denials and TLS failures.
func isAccessProblem(s string) bool {
	return strings.Contains(s, "RBAC denied") || strings.Contains(s, ": TLS") || strings.Contains(s, "TLS handshake failed")
}

func allAccessProblems(list []string) bool {
	for _, p := range list {
		if !isAccessProblem(p) {
			return false
		}
	}
	return true
}

// AccessError returns an error when no member could be asked because every attempt was denied
// (RBAC or TLS): the caller's setup is wrong, which is not the same as a cluster without quorum.
func (s *ClusterStatus) AccessError() error {
	var all []string
	for _, m := range s.Members {
		if m.Reachable {
			return nil
		}
		if m.HasPod {
			all = append(all, m.Problems...)
		}
	}
	if len(all) == 0 || !allAccessProblems(all) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrAccess, all[0])
}

// FetchMemberList asks the members in parallel for the member list and returns the answer of the
// first member, in the order given, that answered, with the pod that gave it.
func FetchMemberList(ctx context.Context, conn transport.Connector, members []discovery.Member, timeout time.Duration) (*clientv3.MemberListResponse, *discovery.Member, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	type answer struct {
		i   int
		ml  *clientv3.MemberListResponse
		err error
	}
	ch := make(chan answer, len(members))
	cctx, cancel := context.WithTimeout(ctx, timeout)
	// The first answer returns at once; the other askers are cancelled and waited for, so no
	// goroutine outlives the call (ch is buffered, they never block on send).
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := range members {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := conn.Connect(cctx, &members[i])
			if err != nil {
				ch <- answer{i: i, err: err}
				return
			}
			defer s.Close()
			ml, err := s.MemberList(cctx)
			ch <- answer{i: i, ml: ml, err: err}
		}(i)
	}
	// The answer used is the one of the first pod, in the order given (discovery sorts by pod
	// name), that answered: a later pod's answer waits until every pod before it has failed, so
	// the same cluster always gives the same "from", whichever member is quicker.
	got := make([]*answer, len(members))
	next := 0
	var perPod []string
	for range members {
		a := <-ch
		got[a.i] = &a
		for ; next < len(members) && got[next] != nil; next++ {
			if got[next].err == nil {
				return got[next].ml, &members[next], nil
			}
			perPod = append(perPod, fmt.Sprintf("%s: %s", members[next].Pod, oneLine(got[next].err)))
		}
	}
	sort.Strings(perPod)
	return nil, nil, &UnreachableError{Op: "member list", PerPod: perPod, Timeout: timeout}
}

// ListMembers reads the member list and joins it to the etcd pods.
func ListMembers(ctx context.Context, conn transport.Connector, members []discovery.Member, timeout time.Duration) (*MemberList, error) {
	ml, from, err := FetchMemberList(ctx, conn, members, timeout)
	if err != nil {
		return nil, err
	}
	return JoinMembers(ml, members, string(conn.Mode()), from.Pod), nil
}

// JoinMembers pairs every member of a member list with its pod (by name, then by URL).
func JoinMembers(ml *clientv3.MemberListResponse, members []discovery.Member, mode, from string) *MemberList {
	res := &MemberList{Transport: mode, From: from}
	if ml.Header != nil {
		res.ClusterID = FormatID(ml.Header.ClusterId)
	}
	used := map[int]bool{}
	noStatus := func(int) *clientv3.StatusResponse { return nil }
	for _, mm := range ml.Members {
		mi := MemberInfo{ID: FormatID(mm.ID), Name: mm.Name, Learner: mm.IsLearner,
			Started: mm.Name != "" && len(mm.ClientURLs) > 0, PeerURLs: mm.PeerURLs, ClientURLs: mm.ClientURLs}
		if i := matchPod(mm, members, noStatus, used); i >= 0 {
			used[i] = true
			mi.Pod, mi.Node, mi.HasPod, mi.PodPhase = members[i].Pod, members[i].Node, true, members[i].Phase
		}
		switch {
		case !mi.Started && !mi.HasPod:
			mi.Problems = append(mi.Problems, "not started and no etcd pod")
		case !mi.Started:
			mi.Problems = append(mi.Problems, "not started")
		case !mi.HasPod:
			mi.Problems = append(mi.Problems, "no etcd pod (dead or reset node?)")
		}
		res.Members = append(res.Members, mi)
	}
	sort.SliceStable(res.Members, func(i, j int) bool {
		a, b := res.Members[i], res.Members[j]
		if a.Started != b.Started {
			return a.Started // members that never started go last
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	for i := range members {
		if !used[i] {
			res.PodsWithoutMember = append(res.PodsWithoutMember, members[i].Pod)
		}
	}
	return res
}
