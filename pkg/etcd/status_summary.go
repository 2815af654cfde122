package etcd

import (
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// summarize fills in the cluster-wide verdict of res from its member rows: the quorum, the
// leader, the state, the downgrade state and the warnings. mlist is the member list the rows
// were joined with (nil when no member answered one); leaderID is the leader the members
// report (0: none).
func summarize(res *ClusterStatus, mlist *clientv3.MemberListResponse, leaderID uint64) {
	voters, healthy, learners := countVoters(res.Members, mlist)
	res.Quorum = NewQuorum(voters, healthy, learners)
	if leaderID != 0 {
		res.Leader = FormatID(leaderID)
	}
	res.State = clusterState(res.Quorum, res.Members)
	res.Downgrade = clusterDowngrade(res.Members)
	res.Warnings = append(res.Warnings, statusWarnings(res.Members, voters)...)
}

// countVoters counts the voting members, those of them that serve, and the learners. With a
// member list only its members count; without one (no member answered it), every row counts,
// pods as voters: none is healthy enough to tell otherwise.
func countVoters(rows []MemberStatus, mlist *clientv3.MemberListResponse) (voters, healthy, learners int) {
	for _, ms := range rows {
		if mlist != nil && (ms.ID == "" || !inList(mlist, ms.ID)) {
			continue
		}
		if ms.Learner {
			learners++
			continue
		}
		voters++
		if ms.ServingVoter() {
			healthy++
		}
	}
	return voters, healthy, learners
}

// clusterState is the verdict: quorum lost, healthy when every row is healthy without
// problems, degraded otherwise. No voter at all is no quorum.
func clusterState(q Quorum, rows []MemberStatus) ClusterState {
	allHealthy := len(rows) > 0
	for _, ms := range rows {
		if !ms.Healthy || len(ms.Problems) > 0 {
			allHealthy = false
		}
	}
	switch {
	case !q.HasQuorum():
		return StateQuorumLost
	case allHealthy:
		return StateHealthy
	default:
		return StateDegraded
	}
}

// clusterDowngrade is the downgrade state the members report, an enabled one preferred (nil
// when no member reports one).
func clusterDowngrade(rows []MemberStatus) *DowngradeState {
	var out *DowngradeState
	for _, ms := range rows {
		if d := ms.Downgrade; d != nil && (out == nil || d.Enabled) {
			out = &DowngradeState{Enabled: d.Enabled, TargetVersion: d.TargetVersion}
		}
	}
	return out
}

// statusWarnings are the problems worth attention that are not member failures: serving
// certificates close to expiry and an even number of voters.
func statusWarnings(rows []MemberStatus, voters int) []string {
	var out []string
	for _, ms := range rows {
		if ms.ServerCertDaysLeft != nil && time.Until(mustTime(ms.ServerCertNotAfter)) < CertExpiryWarning {
			out = append(out, fmt.Sprintf("the serving certificate of %s expires %s (%d days); renew it (kubeadm certs renew etcd-server)",
				orUnknown(ms.Pod), ms.ServerCertNotAfter, *ms.ServerCertDaysLeft))
		}
	}
	if voters > 0 && voters%2 == 0 {
		out = append(out, fmt.Sprintf("%d voting members: an even count tolerates no more failures than %d; etcd recommends 3 or 5", voters, voters-1))
	}
	return out
}
