package etcd

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// onlyNOSPACE tells an unhealthy member whose only problem is a NOSPACE alarm: defrag is the cure.
func onlyNOSPACE(m MemberStatus) bool {
	return !m.Healthy && m.Reachable && strings.Contains(m.HealthErr, "NOSPACE") && !strings.Contains(m.HealthErr, "CORRUPT")
}

// healthyForDefrag: the member serves (reachable and healthy, or unhealthy only because of
// NOSPACE); see MemberStatus.Serving.
func healthyForDefrag(m MemberStatus) bool { return m.Serving() }

func hasAlarm(m MemberStatus, a string) bool {
	for _, x := range m.Alarms {
		if x == a {
			return true
		}
	}
	return strings.Contains(m.HealthErr, a)
}

// PlanDefrag checks health and orders the members: followers first, the leader last.
func PlanDefrag(st *ClusterStatus, o DefragOptions) (*DefragReport, error) {
	var bad []string
	for _, m := range st.Members {
		if m.Learner || m.ID == "" {
			continue
		}
		if !healthyForDefrag(m) {
			why := strings.Join(m.Problems, "; ")
			if why == "" {
				why = orUnknown(m.HealthErr)
			}
			bad = append(bad, fmt.Sprintf("%s (%s): %s", nameOrUnstarted(m.Name), m.ID, why))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: not every voting member is healthy, and a defrag blocks the member it runs on: %s",
			ErrRefused, strings.Join(bad, "; "))
	}
	r := &DefragReport{DryRun: o.DryRun}
	var only *MemberStatus
	if o.Member != "" {
		m, err := FindStatusMember(st, o.Member)
		if err != nil {
			return nil, err
		}
		only = m
	}
	for _, m := range st.Members {
		if (only != nil && m.ID != only.ID) || (o.PodSelected != nil && !o.PodSelected(m.Pod)) {
			continue
		}
		if m.Learner {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s (%s): learner", nameOrUnstarted(m.Name), m.ID))
			continue
		}
		if !m.HasPod {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s (%s): no etcd pod", nameOrUnstarted(m.Name), m.ID))
			continue
		}
		t := DefragTarget{Name: m.Name, ID: m.ID, Pod: m.Pod, Leader: m.Leader, DBSize: m.DBSize, DBSizeInUse: m.DBSizeInUse,
			FragmentationPct: m.FragmentationPct, ExpectedReclaim: m.DBSize - m.DBSizeInUse}
		switch {
		case o.Force:
			t.Needed, t.Reason = true, "--force"
		case onlyNOSPACE(m) || hasAlarm(m, "NOSPACE"):
			t.Needed, t.Reason = true, "NOSPACE alarm"
		case m.FragmentationPct >= o.MinFragmentation && m.DBSize >= o.MinSize:
			t.Needed, t.Reason = true, fmt.Sprintf("%.0f%% fragmented, %d bytes", m.FragmentationPct, m.DBSize)
		case m.FragmentationPct < o.MinFragmentation:
			t.Reason = fmt.Sprintf("only %.0f%% fragmented (threshold %.0f%%)", m.FragmentationPct, o.MinFragmentation)
		default:
			t.Reason = fmt.Sprintf("database %d bytes is under the %d-byte minimum", m.DBSize, o.MinSize)
		}
		r.Order = append(r.Order, t)
	}
	sort.SliceStable(r.Order, func(i, j int) bool {
		if r.Order[i].Leader != r.Order[j].Leader {
			return !r.Order[i].Leader
		}
		return r.Order[i].Name < r.Order[j].Name
	})
	return r, nil
}

// defragTimeout scales with the database: defrag rewrites the whole file.
func defragTimeout(size int64, fixed time.Duration) time.Duration {
	if fixed > 0 {
		return fixed
	}
	return 30*time.Second + time.Duration(size/(10<<20))*time.Second
}

// LeaderInPlace returns the plan's target that is the leader and would be defragmented without
// handing leadership away first: moveLeader is off, or no other serving voter with a pod could
// take it (a one-member cluster). nil when the plan does not defragment the leader in place.
func LeaderInPlace(st *ClusterStatus, r *DefragReport, moveLeader bool) *DefragTarget {
	for i := range r.Order {
		t := &r.Order[i]
		if !t.Leader || !t.Needed {
			continue
		}
		if !moveLeader || pickTransferee(st, r, t.ID) == nil {
			return t
		}
	}
	return nil
}
