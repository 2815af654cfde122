package etcd

import (
	"strings"
	"testing"
)

func mv(name, version string) MemberVersion { return MemberVersion{Name: name, Version: version} }

func TestParseVersion(t *testing.T) {
	cases := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{in: "3.6.16", want: Version{3, 6, 16}},
		{in: "v3.7.3", want: Version{3, 7, 3}},
		{in: "3.5.26-0", want: Version{3, 5, 26}},
		{in: "3.6", want: Version{3, 6, -1}},
		{in: "3", wantErr: true},
		{in: "3.x", wantErr: true},
		{in: "3.6.1.2", wantErr: true},
		{in: "", wantErr: true},
		{in: "3..1", wantErr: true},
	}
	for _, tc := range cases {
		got, err := ParseVersion(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseVersion(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && got != tc.want {
			t.Errorf("ParseVersion(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestCheckUpgrade(t *testing.T) {
	cases := []struct {
		name    string
		members []MemberVersion
		target  string
		safe    bool
		// blockedBy are the members named by a blocker; want are substrings of the reasons.
		blockedBy []string
		want      []string
	}{
		{name: "3.5.26 to 3.6 is safe", members: []MemberVersion{mv("a", "3.5.26"), mv("b", "3.5.26"), mv("c", "3.5.26")}, target: "3.6", safe: true},
		{name: "3.5.25 to 3.6 is not", members: []MemberVersion{mv("a", "3.5.25"), mv("b", "3.5.25"), mv("c", "3.5.25")}, target: "3.6",
			blockedBy: []string{"a", "b", "c"}, want: []string{"safe only from 3.5.26", "#19557"}},
		{name: "3.5.25 to 3.5.26 is a patch step", members: []MemberVersion{mv("a", "3.5.25"), mv("b", "3.5.25")}, target: "3.5.26", safe: true},
		{name: "3.6 to 3.7", members: []MemberVersion{mv("a", "3.6.16"), mv("b", "3.6.16"), mv("c", "3.6.16")}, target: "3.7", safe: true},
		{name: "3.6 to 3.7.3 with a patch", members: []MemberVersion{mv("a", "3.6.16"), mv("b", "3.6.16")}, target: "3.7.3", safe: true},
		{name: "skipping a minor", members: []MemberVersion{mv("a", "3.5.26"), mv("b", "3.5.26")}, target: "3.7",
			blockedBy: []string{"a", "b"}, want: []string{"one minor version at a time", "upgrade to 3.6 first"}},
		{name: "a downgrade target", members: []MemberVersion{mv("a", "3.7.3"), mv("b", "3.7.3")}, target: "3.6",
			blockedBy: []string{"a", "b"}, want: []string{"downgrade validate 3.6"}},
		{name: "patch downgrade", members: []MemberVersion{mv("a", "3.6.16")}, target: "3.6.10",
			blockedBy: []string{"a"}, want: []string{"patch downgrade"}},
		{name: "finishing a step with mixed members", members: []MemberVersion{mv("a", "3.7.3"), mv("b", "3.6.16"), mv("c", "3.7.3")}, target: "3.7", safe: true},
		{name: "mixed members before the next step", members: []MemberVersion{mv("a", "3.6.16"), mv("b", "3.7.3")}, target: "3.8",
			blockedBy: []string{"a"}, want: []string{"different versions", "3.6.16: a", "upgrade to 3.7 first"}},
		{name: "mixed patches before the next minor", members: []MemberVersion{mv("a", "3.6.15"), mv("b", "3.6.16")}, target: "3.7",
			want: []string{"different versions (3.6.15: a; 3.6.16: b)"}},
		{name: "a member without a version", members: []MemberVersion{mv("a", "3.6.16"), {Name: "b", Problem: "context deadline exceeded"}}, target: "3.7",
			blockedBy: []string{"b"}, want: []string{"could not be read (context deadline exceeded)"}},
		{name: "another major", members: []MemberVersion{mv("a", "3.6.16")}, target: "4.0", blockedBy: []string{"a"}, want: []string{"another major"}},
		{name: "no members", target: "3.7", want: []string{"no member reported"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target, err := ParseVersion(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			c := CheckUpgrade(tc.members, target)
			checkVerdict(t, c, tc.safe, tc.blockedBy, tc.want)
		})
	}
}

func checkVerdict(t *testing.T, c *VersionCheck, safe bool, blockedBy, want []string) {
	t.Helper()
	if c.Safe != safe {
		t.Fatalf("Safe = %v, want %v; blockers: %+v", c.Safe, safe, c.Blockers)
	}
	if safe != (len(c.Blockers) == 0) {
		t.Fatalf("Safe = %v with blockers %+v", c.Safe, c.Blockers)
	}
	named := map[string]bool{}
	var reasons []string
	for _, b := range c.Blockers {
		if b.Member != "" {
			named[b.Member] = true
		}
		reasons = append(reasons, b.Reason)
	}
	for _, m := range blockedBy {
		if !named[m] {
			t.Errorf("no blocker names member %s: %+v", m, c.Blockers)
		}
	}
	if len(blockedBy) > 0 && len(named) != len(blockedBy) {
		t.Errorf("blockers name %v, want exactly %v", named, blockedBy)
	}
	all := strings.Join(reasons, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("reasons lack %q:\n%s", w, all)
		}
	}
}

func TestCheckUpgradeNotes(t *testing.T) {
	c := CheckUpgrade([]MemberVersion{
		{Name: "a", Version: "3.5.26"}, {Name: "b", Version: "3.5.26"},
	}, Version{3, 6, -1})
	if !strings.Contains(strings.Join(c.Notes, "\n"), "kubeadm 1.36") {
		t.Errorf("a 3.5 cluster gets no kubeadm note: %v", c.Notes)
	}
	c = CheckUpgrade([]MemberVersion{
		{Name: "a", Version: "3.6.16", StorageVersion: "3.6.0"}, {Name: "b", Version: "3.7.3", StorageVersion: "3.7.0"},
	}, Version{3, 7, -1})
	if c.StorageVersion != "3.6.0" || c.Lowest != "3.6.16" {
		t.Errorf("storage %q lowest %q, want the lowest member's 3.6.0 and 3.6.16", c.StorageVersion, c.Lowest)
	}
	if strings.Contains(strings.Join(c.Notes, "\n"), "kubeadm") {
		t.Errorf("a 3.6+ cluster gets the kubeadm note: %v", c.Notes)
	}
}

func TestDefaultUpgradeTarget(t *testing.T) {
	cases := []struct {
		members []MemberVersion
		want    string
		ok      bool
	}{
		{[]MemberVersion{mv("a", "3.6.16"), mv("b", "3.6.16")}, "3.7", true},
		{[]MemberVersion{mv("a", "3.6.16"), mv("b", "3.7.3")}, "3.7", true},
		{[]MemberVersion{mv("a", "3.5.25")}, "3.6", true},
		{[]MemberVersion{{Name: "a"}}, "", false},
	}
	for _, tc := range cases {
		got, ok := DefaultUpgradeTarget(tc.members)
		if ok != tc.ok || (ok && got.String() != tc.want) {
			t.Errorf("DefaultUpgradeTarget(%v) = %v, %v; want %s, %v", tc.members, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCheckDowngrade(t *testing.T) {
	cases := []struct {
		name      string
		members   []MemberVersion
		target    string
		safe      bool
		blockedBy []string
		want      []string
	}{
		{name: "3.7 to 3.6", members: []MemberVersion{mv("a", "3.7.3"), mv("b", "3.7.3")}, target: "3.6", safe: true},
		{name: "3.6 to 3.5", members: []MemberVersion{mv("a", "3.6.16")}, target: "3.5", safe: true},
		{name: "3.7 to 3.5 skips a minor", members: []MemberVersion{mv("a", "3.7.3")}, target: "3.5", blockedBy: []string{"a"}, want: []string{"one minor version at a time"}},
		{name: "not below", members: []MemberVersion{mv("a", "3.6.16")}, target: "3.6", blockedBy: []string{"a"}, want: []string{"no downgrade"}},
		{name: "mixed minors", members: []MemberVersion{mv("a", "3.6.16"), mv("b", "3.7.3")}, target: "3.6",
			blockedBy: []string{"a"}, want: []string{"different minor versions (3.6: a; 3.7: b)"}},
		{name: "3.5 cluster has no downgrade API", members: []MemberVersion{mv("a", "3.5.26")}, target: "3.4", blockedBy: []string{"a"}, want: []string{"needs etcd 3.6"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target, err := ParseVersion(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			checkVerdict(t, CheckDowngrade(tc.members, target), tc.safe, tc.blockedBy, tc.want)
		})
	}
}
