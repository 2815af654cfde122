// Package upgrade_test runs `kubectl etcd upgrade-check` and `kubectl etcd downgrade` as a real
// process against the e2e harness: the downgrade flow on a cluster of E2E_ETCD_VERSION (to the
// previous minor: 3.7 -> 3.6, 3.6 -> 3.5; enable and cancel need no binary of the older version),
// and a cluster with one member on the other version (3.6 and 3.7 members form one cluster).
//
// The binary is $KUBECTL_ETCD when set, else it is built once per test binary from the
// repository root (../../.. from this directory).
package upgrade_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

type downgradeState struct {
	Enabled       bool   `json:"enabled"`
	TargetVersion string `json:"targetVersion"`
}

type status struct {
	Downgrade *downgradeState `json:"downgrade"`
	Members   []struct {
		Name           string          `json:"name"`
		Version        string          `json:"version"`
		StorageVersion string          `json:"storageVersion"`
		Image          string          `json:"image"`
		Downgrade      *downgradeState `json:"downgrade"`
	} `json:"members"`
}

type blocker struct {
	Member string `json:"member"`
	Reason string `json:"reason"`
}

type upgradeReport struct {
	Target   string    `json:"target"`
	Safe     bool      `json:"safe"`
	Blockers []blocker `json:"blockers"`
	Plan     []struct {
		Member string `json:"member"`
		Leader bool   `json:"leader"`
	} `json:"plan"`
}

type downgradePlan struct {
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	Downgrade *downgradeState `json:"downgrade"`
	Refusals  []blocker       `json:"refusals"`
	Changed   bool            `json:"changed"`
}

// previousMinor is "3.6" for v3.7.3.
func previousMinor(t *testing.T, v string) string {
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimPrefix(v, "v"), "%d.%d", &major, &minor); err != nil {
		t.Fatalf("etcd version %q: %v", v, err)
	}
	return fmt.Sprintf("%d.%d", major, minor-1)
}

func readStatus(t *testing.T, c *harness.Cluster, extra ...string) *status {
	t.Helper()
	r := plugintest.Run(t, c, append(extra, "status", "-o", "json")...)
	plugintest.WantCode(t, r, 0)
	var st status
	plugintest.Decode(t, r, &st)
	return &st
}

// TestDowngradeFlow: validate, enable (exec) and cancel (port-forward) a downgrade to the previous
// minor, and see each change in what status -o json reports, in upgrade-check and in doctor.
func TestDowngradeFlow(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	prev := previousMinor(t, c.EtcdVersion)
	exec := []string{"--transport", "exec"}

	if st := readStatus(t, c, exec...); st.Downgrade != nil && st.Downgrade.Enabled {
		t.Fatalf("a fresh cluster reports a downgrade: %+v", st.Downgrade)
	}

	r := plugintest.Run(t, c, "--transport", "exec", "downgrade", "validate", prev, "-o", "json")
	plugintest.WantCode(t, r, 0)
	var p downgradePlan
	plugintest.Decode(t, r, &p)
	if p.Target != prev || len(p.Refusals) > 0 || p.Changed {
		t.Errorf("validate %s: %+v\n%s", prev, p, r)
	}
	// Two minors down is refused by the rules, one line on stderr, exit 5.
	r = plugintest.Run(t, c, "downgrade", "validate", previousMinor(t, "v"+prev))
	plugintest.WantCode(t, r, 5)
	if !strings.Contains(r.Stderr, "one minor version at a time") {
		t.Errorf("two minors down: stderr lacks the reason\n%s", r)
	}
	// Without a terminal and without --yes nothing changes.
	r = plugintest.Run(t, c, "downgrade", "enable", prev)
	plugintest.WantCode(t, r, 5)
	if st := readStatus(t, c); st.Downgrade != nil && st.Downgrade.Enabled {
		t.Fatalf("enable without confirmation enabled the downgrade\n%s", r)
	}

	r = plugintest.Run(t, c, "--transport", "exec", "downgrade", "enable", prev, "--yes", "-o", "json")
	plugintest.WantCode(t, r, 0)
	plugintest.Decode(t, r, &p)
	if !p.Changed || p.Downgrade == nil || !p.Downgrade.Enabled {
		t.Errorf("enable: %+v\n%s", p, r)
	}
	for _, tr := range [][]string{exec, plugintest.PFArgs(c)} {
		st := readStatus(t, c, tr...)
		if st.Downgrade == nil || !st.Downgrade.Enabled || st.Downgrade.TargetVersion != prev+".0" {
			t.Errorf("%v: status after enable shows downgrade %+v, want enabled to %s.0", tr, st.Downgrade, prev)
		}
		for _, m := range st.Members {
			if m.Downgrade == nil || !m.Downgrade.Enabled {
				t.Errorf("%v: member %s reports downgrade %+v", tr, m.Name, m.Downgrade)
			}
		}
	}
	r = plugintest.Run(t, c, "upgrade-check", "-o", "json")
	plugintest.WantCode(t, r, 5)
	var u upgradeReport
	plugintest.Decode(t, r, &u)
	if u.Safe || !strings.Contains(fmt.Sprint(u.Blockers), "downgrade to "+prev+".0 is enabled") {
		t.Errorf("upgrade-check with a downgrade enabled: %+v", u)
	}
	r = plugintest.Run(t, c, "doctor", "-o", "json")
	if !strings.Contains(r.Stdout, `"downgrade-enabled"`) {
		t.Errorf("doctor does not report the enabled downgrade\n%s", r)
	}

	r = plugintest.Run(t, c, append(plugintest.PFArgs(c), "downgrade", "cancel", "--yes")...)
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stderr, "Downgrade cancelled.") {
		t.Errorf("cancel does not say so\n%s", r)
	}
	if st := readStatus(t, c, exec...); st.Downgrade == nil || st.Downgrade.Enabled {
		t.Errorf("status after cancel shows downgrade %+v, want reported and not enabled", st.Downgrade)
	}
	r = plugintest.Run(t, c, "downgrade", "cancel", "--yes")
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stderr, "nothing to cancel") {
		t.Errorf("a second cancel does not say there is nothing to cancel\n%s", r)
	}
}

// TestMixedVersions starts cp-3 on the other supported version (3.7.3 in a 3.6.16 cluster, 3.6.16
// in a 3.7.3 one): a step from 3.6 to 3.7 under way. Finishing it is safe and plans only the
// members still on 3.6; the next step (3.8) and a downgrade are refused, naming the members that
// block.
func TestMixedVersions(t *testing.T) {
	plugintest.SkipShort(t)
	other := map[string]string{"v3.6.16": "v3.7.3", "v3.7.3": "v3.6.16"}[envVersion()]
	if other == "" {
		t.Fatalf("no other version known for E2E_ETCD_VERSION %q (want v3.6.16 or v3.7.3)", envVersion())
	}
	c := harness.Start(t, harness.Options{MemberVersions: map[string]string{"cp-3": other}})
	old := map[string]bool{}
	st := readStatus(t, c)
	for _, m := range st.Members {
		if strings.HasPrefix(m.Version, "3.6.") {
			old[m.Name] = true
		}
		want := "3.6.16"
		if (m.Name == "cp-3") == (c.EtcdVersion == "v3.6.16") {
			want = "3.7.3"
		}
		if m.Version != want || !strings.HasSuffix(m.Image, ":"+want+"-0") {
			t.Errorf("%s runs %s (image %s), want %s", m.Name, m.Version, m.Image, want)
		}
	}
	if len(old) == 0 || len(old) == 3 {
		t.Fatalf("want a mixed cluster, 3.6 members: %v", old)
	}

	r := plugintest.Run(t, c, "upgrade-check", "-o", "json")
	plugintest.WantCode(t, r, 0)
	var u upgradeReport
	plugintest.Decode(t, r, &u)
	if !u.Safe || u.Target != "3.7" || len(u.Plan) != len(old) {
		t.Errorf("finishing 3.7: %+v, want safe with a plan for %v", u, old)
	}
	for _, s := range u.Plan {
		if !old[s.Member] {
			t.Errorf("plan takes %s, which runs 3.7 already: %+v", s.Member, u.Plan)
		}
	}

	r = plugintest.Run(t, c, "upgrade-check", "--to", "3.8", "-o", "json")
	plugintest.WantCode(t, r, 5)
	plugintest.Decode(t, r, &u)
	named := map[string]bool{}
	for _, b := range u.Blockers {
		if b.Member != "" {
			named[b.Member] = true
			if !strings.Contains(b.Reason, "upgrade to 3.7 first") {
				t.Errorf("blocker %+v", b)
			}
		}
	}
	if fmt.Sprint(named) != fmt.Sprint(old) {
		t.Errorf("--to 3.8 names %v, want the 3.6 members %v\n%s", named, old, r)
	}
	if !strings.Contains(r.Stderr, "is not safe now") {
		t.Errorf("stderr lacks the verdict\n%s", r)
	}

	r = plugintest.Run(t, c, "downgrade", "validate", "3.6")
	plugintest.WantCode(t, r, 5)
	if !strings.Contains(r.Stderr, "different minor versions") {
		t.Errorf("downgrade of a mixed cluster: stderr lacks the reason\n%s", r)
	}
}

// envVersion is the cluster's etcd version as the harness picks it.
func envVersion() string {
	if v := os.Getenv("E2E_ETCD_VERSION"); v != "" {
		return v
	}
	return harness.DefaultEtcdVersion
}
