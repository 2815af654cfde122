package etcd

import (
	"fmt"
	"strings"
)

// gate refuses to go on when a voter is unhealthy for a reason other than NOSPACE.
func gate(st *ClusterStatus) error {
	for _, m := range st.Members {
		if m.Learner || m.ID == "" {
			continue
		}
		if !healthyForDefrag(m) {
			return fmt.Errorf("%s (%s) is unhealthy: %s", nameOrUnstarted(m.Name), m.ID, strings.Join(m.Problems, "; "))
		}
	}
	return nil
}

func findByID(st *ClusterStatus, id string) *MemberStatus {
	for i := range st.Members {
		if st.Members[i].ID == id {
			return &st.Members[i]
		}
	}
	return nil
}

// pickTransferee picks a serving voting follower with a pod (NOSPACE does not disqualify it),
// preferring one defragmented already in this run, then the one furthest along.
func pickTransferee(st *ClusterStatus, r *DefragReport, leaderID string) *MemberStatus {
	done := map[string]bool{}
	for _, t := range r.Order {
		if t.Done {
			done[t.ID] = true
		}
	}
	var best *MemberStatus
	for i := range st.Members {
		m := &st.Members[i]
		if m.ID == leaderID || !m.ServingVoter() || !m.HasPod {
			continue
		}
		if best == nil || (done[m.ID] && !done[best.ID]) || (done[m.ID] == done[best.ID] && m.RaftAppliedIndex > best.RaftAppliedIndex) {
			best = m
		}
	}
	return best
}
