package etcd

import (
	"fmt"
	"sort"
	"strings"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
)

// memberRef is everything a command-line argument may name one member by.
type memberRef struct {
	ID                     uint64
	Name, Pod, Node, IDHex string
}

func (r memberRef) String() string {
	s := nameOrUnstarted(r.Name) + " " + r.IDHex
	if r.Pod != "" {
		s += " (pod " + r.Pod
		if r.Node != "" {
			s += " on " + r.Node
		}
		s += ")"
	}
	return s
}

// resolveRef is the one member resolver: arg may be a member name, an etcd pod, a node or a hex
// member ID. It returns the index of the only member that arg names in any of those ways; when
// arg names two or more members (a member called like another member's node, a name that is
// also a hex ID) it refuses and lists them, so a command never acts on a guess.
func resolveRef(refs []memberRef, arg string) (int, error) {
	arg = strings.TrimSpace(arg)
	id, idErr := ParseID(arg)
	var hits []int
	for i, r := range refs {
		if arg != "" && (r.Name == arg || r.Pod == arg || r.Node == arg) || idErr == nil && r.ID == id {
			hits = append(hits, i)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		known := make([]string, 0, len(refs))
		for _, r := range refs {
			known = append(known, nameOrUnstarted(r.Name)+" "+r.IDHex)
		}
		sort.Strings(known)
		return -1, fmt.Errorf("%w: %q is not a member name, etcd pod, node or hex member ID of this cluster (members: %s)",
			ErrNotFound, arg, strings.Join(known, ", "))
	}
	cands := make([]string, 0, len(hits))
	for _, i := range hits {
		cands = append(cands, refs[i].String())
	}
	sort.Strings(cands)
	return -1, fmt.Errorf("%q names %d members: %s; give the hex member ID instead", arg, len(hits), strings.Join(cands, ", "))
}

// ResolveMember finds the member an argument names (see resolveRef) in a member list, with the
// pods that run them.
func ResolveMember(ml *clientv3.MemberListResponse, pods []discovery.Member, arg string) (*etcdserverpb.Member, error) {
	refs := make([]memberRef, 0, len(ml.Members))
	used := map[int]bool{}
	noStatus := func(int) *clientv3.StatusResponse { return nil }
	for _, m := range ml.Members {
		r := memberRef{ID: m.ID, Name: m.Name, IDHex: FormatID(m.ID)}
		if i := matchPod(m, pods, noStatus, used); i >= 0 {
			used[i] = true
			r.Pod, r.Node = pods[i].Pod, pods[i].Node
		}
		refs = append(refs, r)
	}
	i, err := resolveRef(refs, arg)
	if err != nil {
		return nil, err
	}
	return ml.Members[i], nil
}

// FindStatusMember finds the member an argument names (see resolveRef) among the rows of a
// status; rows without a member ID (a pod whose member never answered) cannot be named.
func FindStatusMember(st *ClusterStatus, arg string) (*MemberStatus, error) {
	var refs []memberRef
	var rows []int
	for i, m := range st.Members {
		if m.ID == "" {
			continue
		}
		id, err := ParseID(m.ID)
		if err != nil {
			continue
		}
		refs = append(refs, memberRef{ID: id, Name: m.Name, Pod: m.Pod, Node: m.Node, IDHex: m.ID})
		rows = append(rows, i)
	}
	i, err := resolveRef(refs, arg)
	if err != nil {
		return nil, err
	}
	return &st.Members[rows[i]], nil
}
