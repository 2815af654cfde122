package etcd

import (
	"context"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

func checks(r *DoctorReport) string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Severity+":"+f.Check)
	}
	return strings.Join(out, ",")
}

func TestDoctorHealthyClusterHasNoFindings(t *testing.T) {
	c := threeMembers()
	for _, m := range c.Members {
		m.InUse = m.DBSize
	}
	st := Status(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{})
	if r := Doctor(st, pods("cp-1", "cp-2", "cp-3"), DoctorOptions{}); len(r.Findings) != 0 {
		t.Errorf("findings on a healthy cluster: %+v", r.Findings)
	}
}

func TestDoctorFindings(t *testing.T) {
	c := threeMembers()
	c.Members[0].Version = "3.5.4"                               // old and skewed
	c.Members[1].DBSize, c.Members[1].InUse = 1900<<20, 1800<<20 // over 80 % of 2 GiB
	c.Members = append(c.Members, &fake.Member{ID: id4, Learner: true, PeerURLs: []string{"https://cp-4:2380"}})
	c.Alarms = []*etcdserverpb.AlarmMember{{MemberID: id2, Alarm: etcdserverpb.AlarmType_NOSPACE}}
	ps := pods("cp-1", "cp-2") // cp-3's pod is gone
	ps[0].AnnotationClientURLs = []string{"https://10.9.9.9:2379"}
	st := Status(context.Background(), c.Connector(), ps, StatusOptions{})
	got := checks(Doctor(st, ps, DoctorOptions{}))
	for _, want := range []string{"critical:member-without-pod", "warning:learner-not-started", "warning:old-version",
		"warning:version-skew", "critical:alarm", "warning:quota", "warning:fragmentation", "warning:advertise-url-mismatch"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in %s", want, got)
		}
	}
	if strings.Index(got, "critical") > strings.Index(got, "warning") {
		t.Errorf("critical findings should come first: %s", got)
	}
	c2 := threeMembers()
	c2.Members = append(c2.Members, &fake.Member{ID: id4, Name: "cp-4", Version: "3.6.16", PeerURLs: []string{"https://cp-4:2380"}, ClientURLs: []string{"https://cp-4:2379"}})
	c2.PodMember["etcd-cp-4"] = id4
	st = Status(context.Background(), c2.Connector(), pods("cp-1", "cp-2", "cp-3", "cp-4"), StatusOptions{})
	if got := checks(Doctor(st, nil, DoctorOptions{MinFragmentation: 99})); !strings.Contains(got, "warning:even-voters") {
		t.Errorf("even voters: %s", got)
	}
}

func TestMinimumFor(t *testing.T) {
	for v, want := range map[string]string{"3.5.5": "3.5.6", "3.5.6": "", "3.4.21": "3.4.22", "3.6.0": "", "3.5.21": ""} {
		if got := minimumFor(v); got != want {
			t.Errorf("minimumFor(%s) = %q, want %q", v, got, want)
		}
	}
}

func TestDoctorVersionFindings(t *testing.T) {
	cases := []struct {
		name  string
		setup func(c *fake.Cluster)
		want  []string
		not   []string
	}{
		{name: "healthy 3.6 with matching storage", setup: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.StorageVersion = "3.6.0"
			}
		}, not: []string{"downgrade-enabled", "unsafe-upgrade-start", "storage-version-behind"}},
		{name: "a downgrade left enabled", setup: func(c *fake.Cluster) {
			c.Downgrade = &etcdserverpb.DowngradeInfo{Enabled: true, TargetVersion: "3.5.0"}
			for _, m := range c.Members {
				m.StorageVersion = "3.5.0"
			}
		}, want: []string{"warning:downgrade-enabled"}, not: []string{"storage-version-behind"}},
		{name: "3.5.25 before 3.6", setup: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.Version = "3.5.25"
			}
		}, want: []string{"warning:unsafe-upgrade-start"}},
		{name: "3.5.26 is the safe start", setup: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.Version = "3.5.26"
			}
		}, not: []string{"unsafe-upgrade-start"}},
		{name: "storage version behind", setup: func(c *fake.Cluster) {
			for _, m := range c.Members {
				m.Version, m.StorageVersion = "3.7.3", "3.6.0"
			}
		}, want: []string{"warning:storage-version-behind"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := threeMembers()
			for _, m := range c.Members {
				m.InUse = m.DBSize
			}
			tc.setup(c)
			ps := pods("cp-1", "cp-2", "cp-3")
			got := checks(Doctor(Status(context.Background(), c.Connector(), ps, StatusOptions{}), ps, DoctorOptions{}))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %s in %s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("unexpected %s in %s", n, got)
				}
			}
		})
	}
}

// --quota-backend-bytes=-1 turns the quota off: a large database is no quota finding (it used to
// read as "-10485760000% of its quota" and keep doctor at exit 2 for ever). 0 is etcd's default.
func TestDoctorQuotaOff(t *testing.T) {
	for _, tc := range []struct {
		quota int64
		want  bool
	}{{-1, false}, {0, true}, {2 << 30, true}, {8 << 30, false}} {
		c := threeMembers()
		for _, m := range c.Members {
			m.DBSize, m.InUse = 1900<<20, 1900<<20
		}
		ps := pods("cp-1", "cp-2", "cp-3")
		for i := range ps {
			ps[i].QuotaBackendBytes = tc.quota
		}
		st := Status(context.Background(), c.Connector(), ps, StatusOptions{})
		r := Doctor(st, ps, DoctorOptions{})
		if got := strings.Contains(checks(r), "quota"); got != tc.want {
			t.Errorf("--quota-backend-bytes=%d: quota finding %v, want %v (%+v)", tc.quota, got, tc.want, r.Findings)
		}
		for _, f := range r.Findings {
			if strings.Contains(f.Finding, "-") && f.Check == "quota" {
				t.Errorf("--quota-backend-bytes=%d: %s", tc.quota, f.Finding)
			}
		}
	}
}
