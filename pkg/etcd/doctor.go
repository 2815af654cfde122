package etcd

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
)

// Severity of a doctor finding.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
)

// Finding is one thing an operator should fix.
type Finding struct {
	Severity string `json:"severity"`
	Check    string `json:"check"`
	Member   string `json:"member,omitempty"`
	Finding  string `json:"finding"`
	Fix      string `json:"fix"`
}

// DoctorReport is the result of "doctor".
type DoctorReport struct {
	Transport string    `json:"transport"`
	State     string    `json:"state"`
	Findings  []Finding `json:"findings"`
	// Skipped names checks the transport could not run.
	Skipped []string `json:"skipped,omitempty"`
}

// Recommended minimum versions: earlier patch releases have data-inconsistency bugs fixed since.
var minimumVersions = map[string]string{"3.4": "3.4.22", "3.5": "3.5.6"}

// DoctorOptions tune the thresholds.
type DoctorOptions struct {
	QuotaWarnPercent float64 // default 80
	MinFragmentation float64
	MinFragSize      int64
}

// Doctor examines a status and the pods and lists what needs fixing. It changes nothing.
func Doctor(st *ClusterStatus, pods []discovery.Member, o DoctorOptions) *DoctorReport {
	if o.QuotaWarnPercent == 0 {
		o.QuotaWarnPercent = 80
	}
	if o.MinFragmentation == 0 {
		o.MinFragmentation = DefaultMinFragmentation
	}
	if o.MinFragSize == 0 {
		o.MinFragSize = DefaultMinDefragSize
	}
	r := &DoctorReport{Transport: st.Transport, State: string(st.State), Findings: []Finding{}}
	add := func(sev, check string, m *MemberStatus, finding, fix string) {
		who := ""
		if m != nil {
			who = fmt.Sprintf("%s (%s)", nameOrUnstarted(m.Name), m.ID)
			if m.ID == "" {
				who = m.Pod
			}
		}
		r.Findings = append(r.Findings, Finding{Severity: sev, Check: check, Member: who, Finding: finding, Fix: fix})
	}
	if !st.Quorum.HasQuorum() {
		add(SeverityCritical, "quorum", nil, fmt.Sprintf("quorum lost: %d of %d voting members healthy", st.Quorum.HealthyVoters, st.Quorum.Voters),
			"bring members back (kubectl etcd status names them); if they are gone for good, restore from a snapshot (kubectl etcd snapshot restore-plan)")
	}
	versions := map[string][]string{}
	for i := range st.Members {
		m := &st.Members[i]
		started := m.Name != ""
		switch {
		case !m.HasPod && m.ID != "" && started:
			add(SeverityCritical, "member-without-pod", m, "member is in the member list but no etcd pod runs it (dead or reset node)",
				fmt.Sprintf("if the node is gone for good: kubectl etcd member remove %s, then add a replacement", m.ID))
		case m.Learner && !started:
			add(SeverityWarning, "learner-not-started", m, "learner was added but never started",
				fmt.Sprintf("start etcd on its node (see kubectl etcd member add output), or remove it: kubectl etcd member remove %s", m.ID))
		case !started && m.ID != "":
			add(SeverityCritical, "member-not-started", m, "voting member was added but never started: it counts toward quorum without serving",
				fmt.Sprintf("start etcd on its node, or remove it: kubectl etcd member remove %s", m.ID))
		case m.HasPod && !m.Healthy && m.Reachable && !onlyNOSPACE(*m):
			add(SeverityCritical, "unhealthy", m, "member is unhealthy: "+orUnknown(m.HealthErr), "look at the etcd logs on its node; kubectl etcd status for details")
		case m.HasPod && !m.Reachable:
			add(SeverityCritical, "unreachable", m, "member does not answer: "+strings.Join(m.Problems, "; "), "check the etcd process on its node")
		}
		if m.Version != "" {
			versions[m.Version] = append(versions[m.Version], nameOrUnstarted(m.Name))
			if least := minimumFor(m.Version); least != "" {
				add(SeverityWarning, "old-version", m, fmt.Sprintf("etcd %s is older than the recommended minimum %s", m.Version, least),
					"upgrade etcd (data-inconsistency fixes landed in "+least+")")
			}
		}
		if m.ServerCertDaysLeft != nil && *m.ServerCertDaysLeft < 30 {
			add(SeverityWarning, "certificate-expiry", m, fmt.Sprintf("serving certificate expires %s (%d days)", m.ServerCertNotAfter, *m.ServerCertDaysLeft),
				"renew it on the node: kubeadm certs renew etcd-server (and restart etcd)")
		}
		for _, a := range m.Alarms {
			switch a {
			case "NOSPACE":
				add(SeverityCritical, "alarm", m, "NOSPACE alarm: the cluster refuses writes", "kubectl etcd defrag --compact --force --disarm (the NOSPACE runbook)")
			case "CORRUPT":
				add(SeverityCritical, "alarm", m, "CORRUPT alarm: this member's data differs from the others", "replace the member: remove it and add it back empty (README runbook)")
			}
		}
		// A negative quota (--quota-backend-bytes=-1) is no limit: nothing to be near of.
		if quota, limited := effectiveQuota(*m); limited && m.DBSize > 0 && float64(m.DBSize) >= float64(quota)*o.QuotaWarnPercent/100 {
			add(SeverityWarning, "quota", m, fmt.Sprintf("database is %.0f%% of its quota (%d of %d bytes)", float64(m.DBSize)*100/float64(quota), m.DBSize, quota),
				"kubectl etcd defrag, and consider a larger --quota-backend-bytes (etcd suggests at most 8 GiB)")
		}
		if m.FragmentationPct >= o.MinFragmentation && m.DBSize >= o.MinFragSize {
			add(SeverityWarning, "fragmentation", m, fmt.Sprintf("%.0f%% of the database file is unused (%d bytes)", m.FragmentationPct, m.DBSize-m.DBSizeInUse),
				"kubectl etcd defrag")
		}
		if m.HasPod && started && len(m.ClientURLs) > 0 {
			for _, p := range pods {
				if p.Pod == m.Pod && len(p.AnnotationClientURLs) > 0 && !overlaps(p.AnnotationClientURLs, m.ClientURLs) {
					add(SeverityWarning, "advertise-url-mismatch", m, fmt.Sprintf("pod annotation %s says %s, the member list says %s",
						discovery.AdvertiseClientURLsAnnotation, strings.Join(p.AnnotationClientURLs, ","), strings.Join(m.ClientURLs, ",")),
						"make the etcd manifest's --advertise-client-urls and annotation match the member (kubeadm regenerates both from the node IP)")
				}
			}
		}
	}
	if v := st.Quorum.Voters; v > 0 && v%2 == 0 {
		add(SeverityWarning, "even-voters", nil, fmt.Sprintf("%d voting members: an even count tolerates no more failures than %d", v, v-1),
			"add or remove a member to reach an odd count (3 or 5)")
	}
	if len(versions) > 1 {
		var parts []string
		for v, names := range versions {
			parts = append(parts, v+": "+strings.Join(names, ","))
		}
		sort.Strings(parts)
		add(SeverityWarning, "version-skew", nil, "members run different etcd versions ("+strings.Join(parts, "; ")+")", "finish the upgrade (or rollback) so that all members run one version")
	}
	versionFindings(st, func(sev, check string, m *MemberStatus, finding, fix string) { add(sev, check, m, finding, fix) })
	if len(st.Unavailable) > 0 {
		r.Skipped = append(r.Skipped, "checks that need "+strings.Join(st.Unavailable, ", "))
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		return r.Findings[i].Severity == SeverityCritical && r.Findings[j].Severity != SeverityCritical
	})
	return r
}

// minimumFor returns the recommended minimum for the version's minor line, if v is below it.
func minimumFor(v string) string {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 3 {
		return ""
	}
	least, ok := minimumVersions[parts[0]+"."+parts[1]]
	if !ok {
		return ""
	}
	patch, err := strconv.Atoi(strings.SplitN(parts[2], "-", 2)[0])
	minPatch, _ := strconv.Atoi(strings.SplitN(least, ".", 3)[2])
	if err == nil && patch < minPatch {
		return least
	}
	return ""
}

// versionFindings reports what stands in the way of the next version step: a downgrade left
// enabled, 3.5 members below the safe 3.5 -> 3.6 starting point, and a storage version behind the
// server versions (the cluster version has not followed the members).
func versionFindings(st *ClusterStatus, add func(sev, check string, m *MemberStatus, finding, fix string)) {
	if t, ok := st.DowngradeEnabled(); ok {
		add(SeverityWarning, "downgrade-enabled", nil, fmt.Sprintf("a downgrade to %s is enabled: the cluster version stays lowered and upgrades are blocked", t),
			fmt.Sprintf("finish it (replace the members one at a time with etcd %s) or cancel it: kubectl etcd downgrade cancel", t))
	}
	var lowest *Version
	for i := range st.Members {
		m := &st.Members[i]
		v, err := ParseVersion(m.Version)
		if err != nil {
			continue
		}
		if lowest == nil || v.Compare(*lowest) < 0 {
			vv := v
			lowest = &vv
		}
		if v.SameMinor(SafeFrom35) && v.Compare(SafeFrom35) < 0 {
			add(SeverityWarning, "unsafe-upgrade-start", m, fmt.Sprintf("etcd %s: 3.6 is the next step, and it is safe only from %s (etcd-io/etcd#19557, #20793); kubeadm %s+ moves etcd to 3.6",
				m.Version, SafeFrom35, KubeadmFirstEtcd36), fmt.Sprintf("upgrade this member to %s or later before any upgrade to 3.6 (kubectl etcd upgrade-check --to 3.6)", SafeFrom35))
		}
	}
	if _, downgrading := st.DowngradeEnabled(); downgrading || lowest == nil || lowest.Compare(Version{3, 6, 0}) < 0 {
		return
	}
	for i := range st.Members {
		m := &st.Members[i]
		sv, err := ParseVersion(m.StorageVersion)
		if err != nil {
			continue
		}
		if sv.Major == lowest.Major && sv.Minor < lowest.Minor {
			add(SeverityWarning, "storage-version-behind", m, fmt.Sprintf("storage version %s is behind the server versions (every member runs %s or later): the cluster version did not follow the members",
				m.StorageVersion, lowest.MinorString()),
				"check that every member is healthy and runs one version (kubectl etcd upgrade-check); etcd raises the cluster and storage version once they do")
		}
	}
}
