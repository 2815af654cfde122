// Package etcd holds the operations of the plugin (status, member list, ...). It works on
// transport.Sessions and discovered members only: it knows nothing of cobra or of how a member is
// reached, so every transport yields the same result structures.
//
// Where things are:
//   - status.go: Status and the join of pods with the member list; status_probe.go: the
//     parallel per-member calls; status_summary.go: quorum, state and warnings;
//     status_match.go: matching pods to members; resolve.go: the one MEMBER-argument resolver.
//   - members.go: the member list; membership.go: shared errors and retries;
//     membership_add.go, membership_remove.go (plan and removal), membership_promote.go;
//     promote_wait.go: waiting until the cluster is healthy after a promotion.
//   - defrag_plan.go (order, checks, the leader-in-place question), defrag_gate.go (health
//     gate, transferee), defrag.go (run).
//   - snapshot.go (save from a member), onnode.go (save on the node), alarms.go, lock.go,
//     doctor.go, versions.go, upgrade.go and downgrade.go.
package etcd

import (
	"fmt"
	"strconv"
	"strings"
)

// FormatID renders a member or cluster ID the way etcdctl's tables and "member remove" take it:
// lowercase hex without prefix.
func FormatID(id uint64) string { return strconv.FormatUint(id, 16) }

// ParseID reads a hex member ID, with or without a 0x prefix.
func ParseID(s string) (uint64, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	id, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("bad member ID %q, expecting ID in hex", s)
	}
	return id, nil
}

// ClusterState summarises the health of the whole cluster.
type ClusterState string

const (
	// StateHealthy: every member reports healthy.
	StateHealthy ClusterState = "Healthy"
	// StateDegraded: quorum holds, but some member is unhealthy or unreachable.
	StateDegraded ClusterState = "Degraded"
	// StateQuorumLost: fewer serving voters than a quorum, or no member reachable.
	StateQuorumLost ClusterState = "QuorumLost"
)

// Quorum is the voting arithmetic of a cluster.
type Quorum struct {
	// Voters is the number of voting members (learners excluded).
	Voters int `json:"voters"`
	// HealthyVoters is how many voters serve (MemberStatus.ServingVoter): healthy, or unhealthy
	// only because of a NOSPACE alarm.
	HealthyVoters int `json:"healthyVoters"`
	// Learners is the number of learner members.
	Learners int `json:"learners"`
	// Needed is the quorum size: Voters/2 + 1.
	Needed int `json:"quorum"`
	// FaultTolerance is how many voters may fail by design: (Voters-1)/2.
	FaultTolerance int `json:"faultTolerance"`
	// FailuresLeft is how many more voters may fail now before quorum is lost (negative: lost).
	FailuresLeft int `json:"failuresLeft"`
}

// NewQuorum computes the arithmetic for a number of voters and healthy voters.
func NewQuorum(voters, healthyVoters, learners int) Quorum {
	q := Quorum{Voters: voters, HealthyVoters: healthyVoters, Learners: learners}
	if voters > 0 {
		q.Needed = voters/2 + 1
		q.FaultTolerance = (voters - 1) / 2
	}
	q.FailuresLeft = healthyVoters - q.Needed
	return q
}

// HasQuorum reports whether enough voters serve.
func (q Quorum) HasQuorum() bool { return q.Voters > 0 && q.HealthyVoters >= q.Needed }
