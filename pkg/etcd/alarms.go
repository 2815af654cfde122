package etcd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// AlarmInfo is one active alarm.
type AlarmInfo struct {
	MemberID string `json:"memberID"`
	Name     string `json:"name,omitempty"`
	Pod      string `json:"pod,omitempty"`
	Alarm    string `json:"alarm"`
	DBSize   int64  `json:"dbSize"`
	Quota    int64  `json:"quota,omitempty"`
}

// DefaultQuotaBytes is etcd's backend quota when --quota-backend-bytes is 0 or unset.
const DefaultQuotaBytes = 2 << 30

// MinDisarmMargin is the smallest margin DisarmMargin gives: more than one request of etcd's
// default --max-request-bytes (1.5 MiB).
const MinDisarmMargin = 2 << 20

// DisarmMargin is how far below its quota a member's database must be before a NOSPACE alarm is
// disarmed: etcd raises NOSPACE again as soon as a write would take the database to the quota
// (size plus the cost of the write), so a database just below it buys one write. The margin is
// 10 % of the quota, at least MinDisarmMargin.
func DisarmMargin(quota int64) int64 {
	return max(quota/10, MinDisarmMargin)
}

// effectiveQuota is the member's backend quota: what its status reports (etcd 3.6 and later),
// else its --quota-backend-bytes flag (Status fills both into DBSizeQuota), else etcd's default.
// A negative quota disables the limit: limited is false.
func effectiveQuota(m MemberStatus) (quota int64, limited bool) {
	switch {
	case m.DBSizeQuota < 0:
		return 0, false
	case m.DBSizeQuota == 0:
		return DefaultQuotaBytes, true
	}
	return m.DBSizeQuota, true
}

// ListAlarms returns the cluster's active alarms with the member they concern.
func ListAlarms(ctx context.Context, conn transport.Connector, pods []discovery.Member, timeout time.Duration) ([]AlarmInfo, *ClusterStatus, error) {
	st := Status(ctx, conn, pods, StatusOptions{Timeout: timeout})
	if len(st.Members) == 0 || st.Quorum.HealthyVoters == 0 && st.ClusterID == "" {
		return nil, st, fmt.Errorf("%w: %s", ErrNoMemberReachable, strings.Join(st.Errors(), "; "))
	}
	out := []AlarmInfo{}
	for _, a := range st.Alarms {
		id, alarm, _ := strings.Cut(a, ":")
		ai := AlarmInfo{MemberID: id, Alarm: alarm}
		if m := findByID(st, id); m != nil {
			ai.Name, ai.Pod, ai.DBSize, ai.Quota = m.Name, m.Pod, m.DBSize, m.DBSizeQuota
		}
		out = append(out, ai)
	}
	return out, st, nil
}

// PlanDisarm decides whether the alarms may be disarmed. etcd (and etcdctl alarm disarm) disarms
// them all at once, so it is all or nothing:
//   - a CORRUPT alarm means a member's data differ from the others'; it is disarmed only with
//     force, and then with a warning that names the member;
//   - with a NOSPACE alarm active, every member must have been reached and its database must be
//     below its quota by DisarmMargin: a member that was not reached may be the one at its quota,
//     and a member at its quota raises NOSPACE again with the next write. force overrides this
//     too, with a warning per member.
//
// Members that never started (a learner added but not yet run) have no database and do not count.
func PlanDisarm(st *ClusterStatus, alarms []AlarmInfo, force bool) (warnings []string, err error) {
	var corrupt, blockers []string
	nospace := false
	for _, a := range alarms {
		switch a.Alarm {
		case "CORRUPT":
			corrupt = append(corrupt, fmt.Sprintf("%s (%s)", orUnknown(a.Name), a.MemberID))
		case "NOSPACE":
			nospace = true
		}
	}
	if nospace {
		for _, m := range st.Members {
			who := fmt.Sprintf("%s (%s)", nameOrUnstarted(m.Name), orUnknown(m.ID))
			if m.ID == "" {
				who = "pod " + orUnknown(m.Pod)
			}
			if !m.Reachable && m.Name == "" && len(m.ClientURLs) == 0 && m.ID != "" {
				continue // never started: no database
			}
			// The database size comes from the member's status; a real bbolt file is never empty.
			if !m.Reachable || m.DBSize <= 0 {
				why := strings.Join(m.Problems, "; ")
				blockers = append(blockers, fmt.Sprintf("%s was not reached (%s): its database size is unknown and it may be the one at its quota",
					who, orUnknown(why)))
				continue
			}
			quota, limited := effectiveQuota(m)
			if !limited {
				continue
			}
			margin := DisarmMargin(quota)
			if m.DBSize >= quota-margin {
				blockers = append(blockers, fmt.Sprintf("%s database %d bytes is not below its quota %d bytes minus a %d-byte margin",
					who, m.DBSize, quota, margin))
			}
		}
	}
	if !force {
		var why []string
		if len(corrupt) > 0 {
			why = append(why, fmt.Sprintf("CORRUPT alarm of %s: that member's data differ from the others'; find the bad copy (kubectl etcd check consistency) and replace that member, or disarm anyway with --force",
				strings.Join(corrupt, ", ")))
		}
		if len(blockers) > 0 {
			why = append(why, strings.Join(blockers, "; ")+"; bring every member back and free space first (kubectl etcd defrag, after compaction), or NOSPACE returns with the next write")
		}
		if len(why) > 0 {
			return nil, fmt.Errorf("%w: not disarming: %s", ErrRefused, strings.Join(why, "; "))
		}
		return nil, nil
	}
	for _, c := range corrupt {
		warnings = append(warnings, fmt.Sprintf("disarming the CORRUPT alarm of %s because of --force: its data may differ from the other members' (check with kubectl etcd check consistency)", c))
	}
	for _, b := range blockers {
		warnings = append(warnings, "disarming NOSPACE because of --force although "+b)
	}
	return warnings, nil
}

// DisarmAlarms disarms every active alarm when PlanDisarm allows it, through a member that
// answered (the leader first). It returns the alarms disarmed ("<member id>:<alarm>") and the
// warnings for what force overrode.
func DisarmAlarms(ctx context.Context, conn transport.Connector, pods []discovery.Member, force bool, timeout time.Duration) (disarmed, warnings []string, err error) {
	alarms, st, err := ListAlarms(ctx, conn, pods, timeout)
	if err != nil {
		return nil, nil, err
	}
	if len(alarms) == 0 {
		return nil, nil, nil
	}
	if warnings, err = PlanDisarm(st, alarms, force); err != nil {
		return nil, nil, err
	}
	var via *discovery.Member
	for _, leaderFirst := range []bool{true, false} {
		for _, m := range st.Members {
			if via != nil || !m.Reachable || !m.HasPod || (leaderFirst && !m.Leader) {
				continue
			}
			for i := range pods {
				if pods[i].Pod == m.Pod {
					via = &pods[i]
				}
			}
		}
	}
	if via == nil {
		return nil, warnings, ErrNoMemberReachable
	}
	if err := withSession(ctx, conn, via, timeout, func(ctx context.Context, s transport.Session) error {
		_, err := s.AlarmDisarm(ctx)
		return err
	}); err != nil {
		return nil, warnings, fmt.Errorf("alarm disarm through %s: %w", via.Pod, err)
	}
	for _, a := range alarms {
		disarmed = append(disarmed, a.MemberID+":"+a.Alarm)
	}
	return disarmed, warnings, nil
}
