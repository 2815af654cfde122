package printers

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

var statusHeaders = []string{"POD", "NODE", "MEMBER", "ID", "ENDPOINT", "HEALTH", "LEADER", "LEARNER",
	"VERSION", "DB", "IN-USE", "FRAG", "TERM", "INDEX", "APPLIED", "ALARMS", "ERRORS"}
var statusWideHeaders = []string{"CLUSTER-ID", "LEADER-ID", "REVISION", "QUOTA", "STORAGE", "TOOK", "CERT-EXPIRES", "POD-PHASE", "IMAGE", "DOWNGRADE", "FSYNC-P99"}

// PrintStatus renders a cluster status in the given format. In table formats it ends with a
// summary line; per-member errors are not printed here (callers print them to stderr).
func PrintStatus(w io.Writer, f Format, s *etcd.ClusterStatus) error {
	if f.Structured() {
		return PrintStructured(w, f, s)
	}
	headers := statusHeaders
	if f == Wide {
		headers = append(append([]string{}, statusHeaders...), statusWideHeaders...)
	}
	var rows [][]string
	for _, m := range s.Members {
		health := "unknown"
		switch {
		case m.Healthy:
			health = "healthy"
		case m.Reachable:
			health = "unhealthy"
		case !m.HasPod:
			health = "no-pod"
		default:
			health = "unreachable"
		}
		var size, inUse, frag, term, index, applied, version string
		if m.Reachable && m.Version != "" {
			size, inUse = Bytes(m.DBSize), Bytes(m.DBSizeInUse)
			frag = fmt.Sprintf("%.0f%%", m.FragmentationPct)
			if m.RaftTerm > 0 { // zero: the transport could not read raft state (metrics-only)
				term, index, applied = u64(m.RaftTerm), u64(m.RaftIndex), u64(m.RaftAppliedIndex)
			}
			version = m.Version
		}
		errs := "-"
		if n := len(m.Problems); n > 0 {
			errs = strconv.Itoa(n)
		}
		row := []string{OrDash(m.Pod), OrDash(m.Node), OrDash(m.Name), OrDash(m.ID), OrDash(m.Endpoint), health,
			Bool(m.Leader), Bool(m.Learner), OrDash(version), OrDash(size), OrDash(inUse), OrDash(frag),
			OrDash(term), OrDash(index), OrDash(applied), OrDash(strings.Join(m.Alarms, ",")), errs}
		if f == Wide {
			quota := ""
			if m.DBSizeQuota > 0 {
				quota = Bytes(m.DBSizeQuota)
			}
			rev := ""
			if m.Revision > 0 {
				rev = strconv.FormatInt(m.Revision, 10)
			}
			row = append(row, OrDash(m.ClusterID), OrDash(m.LeaderID), OrDash(rev), OrDash(quota),
				OrDash(m.StorageVersion), OrDash(m.HealthTook), certExpiry(m), OrDash(m.PodPhase), OrDash(m.Image), downgradeState(m.Downgrade), Millis(m.WALFsyncP99))
		}
		rows = append(rows, row)
	}
	if err := PrintTable(w, headers, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, StatusSummary(s))
	return err
}

// StatusSummary is the one-line verdict printed under the status table.
func StatusSummary(s *etcd.ClusterStatus) string {
	q := s.Quorum
	var b strings.Builder
	if s.TimedOutAfter != "" {
		// Nothing is known of the members: say so rather than call them down.
		fmt.Fprintf(&b, "TimedOut: no member answered within %s (--request-timeout): their state is unknown, not down; a longer timeout may help; transport %s",
			s.TimedOutAfter, s.Transport)
		return b.String()
	}
	// HealthyVoters counts serving voters: a member under a NOSPACE alarm serves reads and votes,
	// so it counts, but the line must not call it healthy.
	readOnly := 0
	for _, m := range s.Members {
		if m.ServingVoter() && !m.Healthy {
			readOnly++
		}
	}
	if readOnly == 0 {
		fmt.Fprintf(&b, "%s: %d of %d voting members healthy, quorum %d", s.State, q.HealthyVoters, q.Voters, q.Needed)
	} else {
		fmt.Fprintf(&b, "%s: %d of %d voting members serving (%d of them under a NOSPACE alarm: reads only), quorum %d",
			s.State, q.HealthyVoters, q.Voters, readOnly, q.Needed)
	}
	switch {
	case q.FailuresLeft >= 0:
		fmt.Fprintf(&b, ", can lose %d more (fault tolerance %d)", q.FailuresLeft, q.FaultTolerance)
	default:
		fmt.Fprintf(&b, ", quorum lost (%d more serving voter(s) needed)", -q.FailuresLeft)
	}
	if q.Learners > 0 {
		fmt.Fprintf(&b, "; %d learner(s)", q.Learners)
	}
	if len(s.Alarms) > 0 {
		fmt.Fprintf(&b, "; alarms %s", strings.Join(s.Alarms, ","))
	}
	if d := s.Downgrade; d != nil && d.Enabled {
		fmt.Fprintf(&b, "; downgrade to %s enabled", d.TargetVersion)
	}
	if s.Leader != "" {
		fmt.Fprintf(&b, "; leader %s", s.Leader)
	} else {
		b.WriteString("; no leader")
	}
	fmt.Fprintf(&b, "; transport %s", s.Transport)
	return b.String()
}

var memberHeaders = []string{"ID", "NAME", "STATUS", "LEARNER", "PEER-URLS", "CLIENT-URLS", "POD", "NODE", "PROBLEMS"}

// PrintMemberList renders a member list in the given format.
func PrintMemberList(w io.Writer, f Format, l *etcd.MemberList) error {
	if f.Structured() {
		return PrintStructured(w, f, l)
	}
	headers := memberHeaders
	if f == Wide {
		headers = append(append([]string{}, memberHeaders...), "POD-PHASE")
	}
	var rows [][]string
	for _, m := range l.Members {
		status := "started"
		if !m.Started {
			status = "unstarted"
		}
		row := []string{m.ID, OrDash(m.Name), status, Bool(m.Learner), OrDash(strings.Join(m.PeerURLs, ",")),
			OrDash(strings.Join(m.ClientURLs, ",")), OrDash(m.Pod), OrDash(m.Node), OrDash(strings.Join(m.Problems, "; "))}
		if f == Wide {
			row = append(row, OrDash(m.PodPhase))
		}
		rows = append(rows, row)
	}
	return PrintTable(w, headers, rows)
}

func certExpiry(m etcd.MemberStatus) string {
	if m.ServerCertDaysLeft == nil {
		return "-"
	}
	return fmt.Sprintf("%s(%dd)", m.ServerCertNotAfter[:10], *m.ServerCertDaysLeft)
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// downgradeState renders a member's downgrade info for the wide table.
func downgradeState(d *etcd.DowngradeState) string {
	switch {
	case d == nil:
		return "-"
	case d.Enabled:
		return "enabled:" + d.TargetVersion
	}
	return "none"
}
