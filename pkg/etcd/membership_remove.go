package etcd

import (
	"context"
	"fmt"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// RemovePlan is the preview of a removal: the member, and the quorum before and after.
type RemovePlan struct {
	Member  MemberStatus `json:"member"`
	Before  Quorum       `json:"before"`
	After   Quorum       `json:"after"`
	Learner bool         `json:"learner"`
	// Refusals are the reasons the removal needs --force; empty means it is safe.
	Refusals []string `json:"refusals,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// PlanRemove works out what removing the member would do to the quorum. Serving voters are
// counted as status counts them (MemberStatus.ServingVoter: a NOSPACE member serves, a down or
// CORRUPT one does not); the target is subtracted from them when it serves itself. The quorum
// after is (voters-1)/2+1, and the removal needs --force when fewer voters than that would serve.
func PlanRemove(st *ClusterStatus, target MemberStatus) *RemovePlan {
	p := &RemovePlan{Member: target, Before: st.Quorum, Learner: target.Learner}
	if target.Learner {
		p.After = st.Quorum
		p.After.Learners--
		return p
	}
	servingAfter := st.Quorum.HealthyVoters
	if target.ServingVoter() {
		servingAfter--
	}
	p.After = NewQuorum(st.Quorum.Voters-1, servingAfter, st.Quorum.Learners)
	switch {
	case p.After.Voters == 0:
		p.Refusals = append(p.Refusals, "it is the last voting member: removing it destroys the cluster")
	case !p.After.HasQuorum():
		p.Refusals = append(p.Refusals, fmt.Sprintf("the cluster would lose quorum: %d serving of %d voters left, %d needed",
			p.After.HealthyVoters, p.After.Voters, p.After.Needed))
	case p.After.FailuresLeft < p.Before.FailuresLeft:
		p.Refusals = append(p.Refusals, fmt.Sprintf("the cluster could lose %d more member(s) now and only %d after",
			p.Before.FailuresLeft, p.After.FailuresLeft))
	case p.After.Voters == 1 && p.Before.Voters == 2:
		p.Refusals = append(p.Refusals, "a single voting member would be left: no redundancy at all")
	}
	if p.After.Voters > 0 && p.After.Voters%2 == 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d voting members would remain: an even count tolerates no more failures than %d; etcd recommends 3 or 5",
			p.After.Voters, p.After.Voters-1))
	}
	if target.Leader {
		p.Warnings = append(p.Warnings, "it is the leader: the cluster elects a new one, a short write pause")
	}
	return p
}

// Worse compares the plan made again right before the removal with the plan the operator saw
// and confirmed. It returns what changed for the worse, one line each; none means the removal
// may go ahead as confirmed.
func (p *RemovePlan) Worse(confirmed *RemovePlan) []string {
	if p.Learner && confirmed.Learner {
		return nil // a learner does not vote: the quorum is the same with or without it
	}
	var out []string
	if p.Learner != confirmed.Learner {
		out = append(out, fmt.Sprintf("the member is now a %s", map[bool]string{true: "learner", false: "voter"}[p.Learner]))
	}
	return append(out, worseQuorum("removal", p.Before, p.After, p.Refusals, confirmed.Before, confirmed.After, confirmed.Refusals)...)
}

// worseQuorum lists how a plan of a membership change (change: "removal", "addition") made again (before, after, refusals) is worse than the
// one the operator confirmed: fewer or more voters, fewer serving, fewer failures tolerated
// after the change, and refusals that are new.
func worseQuorum(change string, before, after Quorum, refusals []string, cBefore, cAfter Quorum, cRefusals []string) []string {
	var out []string
	if before.Voters != cBefore.Voters {
		out = append(out, fmt.Sprintf("voting members: %d, was %d", before.Voters, cBefore.Voters))
	}
	if before.HealthyVoters < cBefore.HealthyVoters {
		out = append(out, fmt.Sprintf("serving voters: %d, was %d", before.HealthyVoters, cBefore.HealthyVoters))
	}
	if after.FailuresLeft < cAfter.FailuresLeft {
		out = append(out, fmt.Sprintf("after the %s %d of %d voters would serve (quorum %d), was %d of %d",
			change, after.HealthyVoters, after.Voters, after.Needed, cAfter.HealthyVoters, cAfter.Voters))
	}
	seen := map[string]bool{}
	for _, r := range cRefusals {
		seen[r] = true
	}
	for _, r := range refusals {
		if !seen[r] {
			out = append(out, "now "+r)
		}
	}
	return out
}

// RemoveMember removes a member through another healthy voter.
func RemoveMember(ctx context.Context, conn transport.Connector, pods []discovery.Member, id uint64, timeout time.Duration) error {
	s, err := voterSession(ctx, conn, pods, id, timeout)
	if err != nil {
		return err
	}
	defer s.Close()
	err = retryUnhealthy(ctx, 15*time.Second, func() error {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := s.MemberRemove(cctx, id)
		return err
	})
	switch {
	case errHas(err, msgMemberNotFound):
		return fmt.Errorf("%w: member %s is not in the cluster (already removed?)", ErrNotFound, FormatID(id))
	case errHas(err, msgUnhealthy):
		return fmt.Errorf("%w: etcd refuses the change: %s", ErrRefused, oneLine(err))
	case err != nil:
		return fmt.Errorf("member remove: %w", err)
	}
	return nil
}

func nameOrUnstarted(name string) string {
	if name == "" {
		return "(unstarted)"
	}
	return name
}
