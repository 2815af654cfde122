package etcd

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The version rules of etcd upgrades and downgrades, as upgrade-check, downgrade and doctor apply
// them. Sources (checked against the upstream threads, not copied):
//
//   - etcd upgrades one minor version at a time, and every member must run the same version
//     before the next minor step starts; the cluster version (and with it the storage version
//     in 3.6+) follows the lowest member.
//   - 3.5 -> 3.6: members of 3.5.1 to 3.5.19 may persist a learner promotion only in the v2
//     store (etcd-io/etcd#19557, fixed in 3.5.20); a learner added during a rolling replacement
//     can still receive that wrong membership data from an old member (etcd-io/etcd#20793,
//     fixed in 3.5.24), and etcd's maintainers then named 3.5.26 the only safe starting point
//     for 3.6 (the "zombie members" follow-up). Below 3.5.26 the 3.6 members can refuse to
//     start ("membership: too many learner members in cluster").
//   - kubeadm 1.36 and later pair no Kubernetes version with etcd below 3.6 (its
//     SupportedEtcdVersion map lists 3.6 or newer for every Kubernetes minor it deploys), so a
//     kubeadm upgrade to 1.36+ moves a 3.5 etcd to 3.6.
//   - A downgrade goes one minor down, from a cluster whose members all run one minor version
//     (3.6 or later: the downgrade API is not usable before).

// Version is an etcd version: major.minor.patch. Patch is -1 when only major.minor was given
// (an etcdctl downgrade target such as "3.6", or a --to of a whole minor line).
type Version struct {
	Major, Minor, Patch int
}

// SafeFrom35 is the first 3.5 patch release from which 3.6 is a safe next step.
var SafeFrom35 = Version{3, 5, 26}

// KubeadmFirstEtcd36 is the first kubeadm minor that pairs every Kubernetes version with etcd 3.6+.
const KubeadmFirstEtcd36 = "1.36"

// ParseVersion reads "3.6.16", "v3.6.16", "3.6.16-0" (an image tag), or "3.6" (Patch -1).
func ParseVersion(s string) (Version, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(t, "-+"); i >= 0 {
		t = t[:i]
	}
	parts := strings.Split(t, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("bad etcd version %q, expecting MAJOR.MINOR or MAJOR.MINOR.PATCH (e.g. 3.6 or 3.6.16)", s)
	}
	nums := []int{0, 0, -1}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" {
			return Version{}, fmt.Errorf("bad etcd version %q, expecting MAJOR.MINOR or MAJOR.MINOR.PATCH (e.g. 3.6 or 3.6.16)", s)
		}
		nums[i] = n
	}
	return Version{nums[0], nums[1], nums[2]}, nil
}

func (v Version) String() string {
	if v.Patch < 0 {
		return fmt.Sprintf("%d.%d", v.Major, v.Minor)
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// MinorString is "3.6" for 3.6.16.
func (v Version) MinorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Compare orders versions; a missing patch counts as 0.
func (v Version) Compare(o Version) int {
	a := [3]int{v.Major, v.Minor, max(v.Patch, 0)}
	b := [3]int{o.Major, o.Minor, max(o.Patch, 0)}
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// SameMinor reports whether both are on one minor line.
func (v Version) SameMinor(o Version) bool { return v.Major == o.Major && v.Minor == o.Minor }

// minorsAbove is how many minor steps o is above v (negative: below); ok is false across majors.
func (v Version) minorsAbove(o Version) (int, bool) {
	if v.Major != o.Major {
		return 0, false
	}
	return o.Minor - v.Minor, true
}

// MemberVersion is what the rules need to know of one member.
type MemberVersion struct {
	Name    string `json:"name,omitempty"`
	ID      string `json:"id,omitempty"`
	Pod     string `json:"pod,omitempty"`
	Node    string `json:"node,omitempty"`
	Leader  bool   `json:"leader"`
	Learner bool   `json:"learner"`
	// Version is the server version the member reports ("" when it could not be read).
	Version string `json:"version,omitempty"`
	// StorageVersion is the storage schema version (3.6+; "" before).
	StorageVersion string `json:"storageVersion,omitempty"`
	Image          string `json:"image,omitempty"`
	// Problem says why the member could not be asked, when Version is empty.
	Problem string `json:"problem,omitempty"`
}

// Who names the member for messages: its name, else its pod, else its ID.
func (m MemberVersion) Who() string {
	switch {
	case m.Name != "":
		return m.Name
	case m.Pod != "":
		return m.Pod
	}
	return "member " + m.ID
}

// Blocker is one reason the target is not safe now, with the member it concerns (if any).
type Blocker struct {
	Member string `json:"member,omitempty"`
	Reason string `json:"reason"`
}

// VersionCheck is the verdict of the rules for one target.
type VersionCheck struct {
	// Target is the version asked for ("3.7", "3.6.16").
	Target string `json:"target"`
	// Lowest is the lowest server version among the members (the cluster version follows it).
	Lowest string `json:"lowest,omitempty"`
	// StorageVersion is the storage version the members report, lowest first ("" before 3.6).
	StorageVersion string    `json:"storageVersion,omitempty"`
	Safe           bool      `json:"safe"`
	Blockers       []Blocker `json:"blockers,omitempty"`
	// Notes are facts worth knowing that do not block (kubeadm pairing, storage version).
	Notes []string `json:"notes,omitempty"`
}

func (c *VersionCheck) block(member, format string, args ...any) {
	c.Blockers = append(c.Blockers, Blocker{Member: member, Reason: fmt.Sprintf(format, args...)})
}

type parsedMember struct {
	MemberVersion
	v Version
}

// parseMembers parses the members' versions; members without a readable version block.
func parseMembers(c *VersionCheck, members []MemberVersion) []parsedMember {
	var out []parsedMember
	if len(members) == 0 {
		c.block("", "no member reported its version")
	}
	for _, m := range members {
		if m.Version == "" {
			why := "its version could not be read"
			if m.Problem != "" {
				why += " (" + m.Problem + ")"
			}
			c.block(m.Who(), "%s; every member must answer before a version change", why)
			continue
		}
		v, err := ParseVersion(m.Version)
		if err != nil {
			c.block(m.Who(), "reports an unreadable version %q", m.Version)
			continue
		}
		out = append(out, parsedMember{m, v})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].v.Compare(out[j].v) < 0 })
	if len(out) > 0 {
		c.Lowest = out[0].v.String()
	}
	c.StorageVersion = lowestStorage(members)
	return out
}

func lowestStorage(members []MemberVersion) string {
	var low *Version
	s := ""
	for _, m := range members {
		v, err := ParseVersion(m.StorageVersion)
		if err != nil {
			continue
		}
		if low == nil || v.Compare(*low) < 0 {
			vv := v
			low, s = &vv, m.StorageVersion
		}
	}
	return s
}

// DefaultUpgradeTarget is the next step when no target is given: with mixed minor versions it is
// finishing the step under way (the highest minor present); else the next minor.
func DefaultUpgradeTarget(members []MemberVersion) (Version, bool) {
	var low, high *Version
	for _, m := range members {
		v, err := ParseVersion(m.Version)
		if err != nil {
			continue
		}
		if low == nil || v.Compare(*low) < 0 {
			vv := v
			low = &vv
		}
		if high == nil || v.Compare(*high) > 0 {
			vv := v
			high = &vv
		}
	}
	if low == nil {
		return Version{}, false
	}
	if !low.SameMinor(*high) {
		return Version{high.Major, high.Minor, -1}, true
	}
	return Version{low.Major, low.Minor + 1, -1}, true
}

// CheckUpgrade applies the upgrade rules to moving every member to target.
func CheckUpgrade(members []MemberVersion, target Version) *VersionCheck {
	c := &VersionCheck{Target: target.String()}
	ms := parseMembers(c, members)
	// "Finishing a step" means some members already run the target minor; then the others may be
	// one minor behind. Starting a new step needs every member on one version first.
	finishing := false
	for _, m := range ms {
		if m.v.SameMinor(target) {
			finishing = true
		}
	}
	versions := map[string][]string{}
	for _, m := range ms {
		versions[m.v.String()] = append(versions[m.v.String()], m.Who())
	}
	if len(versions) > 1 && !finishing {
		c.block("", "members run different versions (%s): bring every member to one version before the next step", describeVersions(versions))
	}
	for _, m := range ms {
		steps, ok := m.v.minorsAbove(target)
		switch {
		case !ok:
			c.block(m.Who(), "runs %s: %s is another major version, which etcd cannot upgrade to in place", m.v, target)
		case steps < 0:
			c.block(m.Who(), "runs %s, newer than %s: that is a downgrade (kubectl etcd downgrade validate %s)", m.v, target, target.MinorString())
		case steps > 1:
			c.block(m.Who(), "runs %s: etcd upgrades one minor version at a time; upgrade to %d.%d first", m.v, m.v.Major, m.v.Minor+1)
		case steps == 1 && m.v.SameMinor(Version{3, 5, -1}) && m.v.Compare(SafeFrom35) < 0:
			c.block(m.Who(), "runs %s: 3.5 -> 3.6 is safe only from %s (etcd-io/etcd#19557, #20793: older 3.5 members can pass wrong membership data and 3.6 members then fail to start); upgrade to 3.5.26 or later first",
				m.v, SafeFrom35)
		case steps == 0 && target.Patch >= 0 && m.v.Compare(target) > 0:
			c.block(m.Who(), "runs %s, newer than %s: a patch downgrade is not an upgrade step", m.v, target)
		}
	}
	if len(ms) > 0 && ms[0].v.Compare(Version{3, 6, 0}) < 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("kubeadm %s and later pair every Kubernetes version with etcd 3.6 or newer: a kubeadm upgrade to %s+ moves this etcd to 3.6, so the 3.5.26 rule applies to it",
			KubeadmFirstEtcd36, KubeadmFirstEtcd36))
	}
	if len(ms) > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("the cluster version (and the storage version, 3.6+) follows the lowest member, now %s: it moves to %s only after the last member runs it",
			ms[0].v, target.MinorString()))
	}
	c.Safe = len(c.Blockers) == 0
	return c
}

// CheckDowngrade applies the downgrade rules to a downgrade of the cluster to target (a minor).
func CheckDowngrade(members []MemberVersion, target Version) *VersionCheck {
	c := &VersionCheck{Target: target.MinorString()}
	ms := parseMembers(c, members)
	minors := map[string][]string{}
	for _, m := range ms {
		minors[m.v.MinorString()] = append(minors[m.v.MinorString()], m.Who())
	}
	if len(minors) > 1 {
		c.block("", "members run different minor versions (%s): a downgrade starts from a cluster on one minor version", describeVersions(minors))
	}
	for _, m := range ms {
		steps, ok := m.v.minorsAbove(target)
		switch {
		case !ok:
			c.block(m.Who(), "runs %s: %s is another major version", m.v, target.MinorString())
		case steps >= 0:
			c.block(m.Who(), "runs %s: %s is not below it, so it is no downgrade", m.v, target.MinorString())
		case steps < -1:
			c.block(m.Who(), "runs %s: etcd downgrades one minor version at a time; downgrade to %d.%d first", m.v, m.v.Major, m.v.Minor-1)
		case m.v.Compare(Version{3, 6, 0}) < 0:
			c.block(m.Who(), "runs %s: the downgrade API needs etcd 3.6 or later", m.v)
		}
	}
	c.Safe = len(c.Blockers) == 0
	return c
}

func describeVersions(v map[string][]string) string {
	var parts []string
	for ver, who := range v {
		parts = append(parts, ver+": "+strings.Join(who, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}
