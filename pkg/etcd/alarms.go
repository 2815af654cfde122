package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

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
	if !st.AlarmsRead {
		why := "every member that answered failed the alarm list"
		if slices.Contains(st.Unavailable, "alarms") {
			why = fmt.Sprintf("the %s transport cannot read it (it needs etcd client certificates: --cacert/--cert/--key, or RBAC for pods/exec)", st.Transport)
		}
		return nil, st, fmt.Errorf("cannot read the alarm list from any member: %s; the alarms are unknown, not absent", why)
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

// DisarmAlarms disarms the active alarms when PlanDisarm allows it, through a member that
// answered (the leader first). Only the alarms planned are disarmed: one raised after the plan
// (a CORRUPT found meanwhile) stays armed, and where the transport can only disarm all at once
// (exec) the disarm is refused for it unless force is set. It returns the alarms disarmed
// ("<member id>:<alarm>", as etcd reported them) and the warnings for what force overrode.
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
	planned := make([]*etcdserverpb.AlarmMember, 0, len(alarms))
	for _, a := range alarms {
		id, err := ParseID(a.MemberID)
		if err != nil {
			return nil, warnings, err
		}
		planned = append(planned, &etcdserverpb.AlarmMember{MemberID: id, Alarm: etcdserverpb.AlarmType(etcdserverpb.AlarmType_value[a.Alarm])})
	}
	var via *discovery.Member
	for _, leaderFirst := range []bool{true, false} {
		for _, m := range st.Members {
			if via != nil || !m.Reachable || !m.HasPod || (leaderFirst && !m.Leader) {
				continue
			}
			for i := range pods {
				if pods[i].Is(m.Pod, m.Name) {
					via = &pods[i]
				}
			}
		}
	}
	if via == nil {
		return nil, warnings, ErrNoMemberReachable
	}
	var resp *clientv3.AlarmResponse
	if err := withSession(ctx, conn, via, timeout, func(ctx context.Context, s transport.Session) error {
		var err error
		resp, err = s.AlarmDisarm(ctx, planned)
		var extra *transport.ExtraAlarmsError
		if !errors.As(err, &extra) {
			return err
		}
		if !force {
			return fmt.Errorf("%w: not disarming: %s raised after the plan, and through %s only every alarm can be disarmed at once; nothing was disarmed, run the command again to see the new plan",
				ErrRefused, alarmNames(st, extra.Extra), s.Mode())
		}
		warnings = append(warnings, fmt.Sprintf("disarming %s too because of --force: raised after the plan, and through %s only every alarm can be disarmed at once",
			alarmNames(st, extra.Extra), s.Mode()))
		planned = append(planned, extra.Extra...)
		resp, err = s.AlarmDisarm(ctx, planned)
		return err
	}); err != nil {
		if errors.Is(err, ErrRefused) {
			return nil, warnings, err
		}
		return nil, warnings, fmt.Errorf("alarm disarm through %s: %w", via.Pod, err)
	}
	for _, a := range resp.Alarms {
		disarmed = append(disarmed, FormatID(a.MemberID)+":"+a.Alarm.String())
	}
	if extra := transport.ExtraAlarms(resp.Alarms, planned); len(extra) > 0 {
		// Only possible where every alarm is disarmed at once, raised between the check and the disarm.
		warnings = append(warnings, fmt.Sprintf("also disarmed %s: raised between the last check and the disarm, which through %s covers every active alarm; check it (kubectl etcd alarm list, kubectl etcd check consistency)",
			alarmNames(st, extra), conn.Mode()))
	}
	return disarmed, warnings, nil
}

// alarmNames names alarms for a message: "CORRUPT of cp-3 (fd422379fda50e48)".
func alarmNames(st *ClusterStatus, alarms []*etcdserverpb.AlarmMember) string {
	names := make([]string, 0, len(alarms))
	for _, a := range alarms {
		id := FormatID(a.MemberID)
		name := "unknown member"
		if m := findByID(st, id); m != nil {
			name = nameOrUnstarted(m.Name)
		}
		names = append(names, fmt.Sprintf("%s of %s (%s)", a.Alarm, name, id))
	}
	return strings.Join(names, ", ")
}
