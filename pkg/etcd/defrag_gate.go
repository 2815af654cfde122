package etcd

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnreadable marks a run stopped because it could not read the cluster's state: no member
// list, a voting member that did not answer, no leader, or the member next in line missing. A run acts only on what it can see.
var ErrUnreadable = errors.New("cannot read the cluster")

// unreadable says what st does not show of the cluster, or "" when it shows all of it: some
// member answered the member list (without it no voter is known by its ID), every voting
// member of that list answered, and a member reports a leader.
func unreadable(st *ClusterStatus) string {
	if !st.listed {
		return "no member answered the member list" + because(st.Errors())
	}
	for _, m := range st.Members {
		if m.ID != "" && !m.Learner && !m.Reachable {
			return fmt.Sprintf("voting member %s (%s) did not answer%s", nameOrUnstarted(m.Name), m.ID, because(m.Problems))
		}
	}
	if st.Leader == "" {
		return "no member reports a leader" + because(st.Errors())
	}
	return ""
}

// because renders the problems behind a verdict as " (a; b)", or nothing.
func because(problems []string) string {
	if len(problems) == 0 {
		return ""
	}
	return " (" + strings.Join(problems, "; ") + ")"
}

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
