package etcd

import (
	"fmt"
	"strings"
)

// UpgradeReport is the result of "upgrade-check": the members' versions, the verdict for the
// target and the order in which to take the step. It changes nothing.
type UpgradeReport struct {
	Transport string `json:"transport"`
	State     string `json:"state"`
	// Target is the version checked ("3.7", "3.6.16").
	Target string `json:"target"`
	// Lowest is the lowest server version; the cluster version follows it.
	Lowest string `json:"lowest,omitempty"`
	// StorageVersion is the lowest storage version the members report (3.6+).
	StorageVersion string          `json:"storageVersion,omitempty"`
	Downgrade      *DowngradeState `json:"downgrade,omitempty"`
	Safe           bool            `json:"safe"`
	Blockers       []Blocker       `json:"blockers,omitempty"`
	Notes          []string        `json:"notes,omitempty"`
	Members        []MemberVersion `json:"members"`
	// Plan is the per-member order: followers first, the leader last, one at a time.
	Plan []UpgradeStep `json:"plan"`
}

// UpgradeStep is one member's turn in the plan.
type UpgradeStep struct {
	Step   int    `json:"step"`
	Member string `json:"member"`
	Node   string `json:"node,omitempty"`
	From   string `json:"from"`
	To     string `json:"to"`
	Leader bool   `json:"leader"`
}

// MemberVersions extracts what the version rules need from a status.
func MemberVersions(st *ClusterStatus) []MemberVersion {
	var out []MemberVersion
	for _, m := range st.Members {
		mv := MemberVersion{Name: m.Name, ID: m.ID, Pod: m.Pod, Node: m.Node, Leader: m.Leader, Learner: m.Learner,
			Version: m.Version, StorageVersion: m.StorageVersion, Image: m.Image}
		if m.Version == "" {
			mv.Problem = strings.Join(m.Problems, "; ")
			if mv.Problem == "" && !m.HasPod {
				mv.Problem = "no etcd pod runs it"
			}
		}
		out = append(out, mv)
	}
	return out
}

// CheckUpgradeStatus checks the upgrade of the cluster st describes to target: the version rules,
// plus the preconditions of any version change (every member healthy, no downgrade enabled).
func CheckUpgradeStatus(st *ClusterStatus, target Version) *UpgradeReport {
	members := MemberVersions(st)
	c := CheckUpgrade(members, target)
	r := &UpgradeReport{Transport: st.Transport, State: string(st.State), Target: c.Target, Lowest: c.Lowest,
		StorageVersion: c.StorageVersion, Blockers: c.Blockers, Notes: c.Notes, Members: members, Plan: []UpgradeStep{}}
	if st.State != StateHealthy {
		r.Blockers = append([]Blocker{{Reason: fmt.Sprintf("the cluster is %s: every member must be healthy before a version change (kubectl etcd status names the problem)", st.State)}}, r.Blockers...)
	}
	if t, ok := st.DowngradeEnabled(); ok {
		r.Downgrade = &DowngradeState{Enabled: true, TargetVersion: t}
		r.Blockers = append(r.Blockers, Blocker{Reason: fmt.Sprintf("a downgrade to %s is enabled: cancel it (kubectl etcd downgrade cancel) or finish it before upgrading", t)})
	}
	r.Safe = len(r.Blockers) == 0
	r.Plan = upgradeOrder(members, target)
	return r
}

// upgradeOrder lists the members that do not run target yet: learners and followers first,
// the leader last (its restart costs an election; taking it last costs only one).
func upgradeOrder(members []MemberVersion, target Version) []UpgradeStep {
	var first, last []MemberVersion
	for _, m := range members {
		v, err := ParseVersion(m.Version)
		if err != nil {
			continue // no version: a blocker already names it, and no plan can take it along
		}
		if v.SameMinor(target) && (target.Patch < 0 || v.Compare(target) >= 0) {
			continue // already there
		}
		if m.Leader {
			last = append(last, m)
		} else {
			first = append(first, m)
		}
	}
	var out []UpgradeStep
	for i, m := range append(first, last...) {
		out = append(out, UpgradeStep{Step: i + 1, Member: m.Who(), Node: m.Node, From: m.Version, To: target.String(), Leader: m.Leader})
	}
	if out == nil {
		out = []UpgradeStep{}
	}
	return out
}
