package printers

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/metrics"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/printers -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func cluster() (*fake.Cluster, []discovery.Member) {
	mk := func(id uint64, n string, size, inUse int64) *fake.Member {
		return &fake.Member{ID: id, Name: n, Version: "3.6.16", DBSize: size, InUse: inUse, RaftIndex: 4711,
			PeerURLs: []string{"https://10.0.0.1" + n[3:] + ":2380"}, ClientURLs: []string{"https://10.0.0.1" + n[3:] + ":2379"}}
	}
	c := &fake.Cluster{
		ClusterID: 0xcdf818194e3a8c32, LeaderID: 0x8e9e05c52164694d,
		Members: []*fake.Member{
			mk(0x8e9e05c52164694d, "cp-1", 104857600, 41943040),
			mk(0x91bc3c398fb3c146, "cp-2", 104857600, 52428800),
			mk(0xfd422379fda50e48, "cp-3", 0, 0),
			{ID: 0xa1b2c3d4e5f60718, Learner: true, PeerURLs: []string{"https://10.0.0.14:2380"}},
		},
		PodMember: map[string]uint64{"etcd-cp-1": 0x8e9e05c52164694d, "etcd-cp-2": 0x91bc3c398fb3c146, "etcd-cp-3": 0xfd422379fda50e48},
	}
	c.Members[2].Down = true
	var pods []discovery.Member
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		pods = append(pods, discovery.Member{Namespace: "kube-system", Pod: "etcd-" + n, Node: n, Name: n, Phase: "Running",
			Ready: true, LocalClientURL: "https://127.0.0.1:2379", Image: "registry.k8s.io/etcd:3.6.16-0"})
	}
	return c, pods
}

func TestStatusGolden(t *testing.T) {
	c, pods := cluster()
	st := etcd.Status(context.Background(), c.Connector(), pods, etcd.StatusOptions{})
	// cp-1's lifetime WAL fsync p99 (-o wide, json, yaml) from its /metrics: 99 of 100 fsyncs
	// took at most 4 ms, none at most 2 ms; cp-2 has no metrics listener.
	c.Members[0].Metrics = []string{`# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.002"} 0
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.004"} 99
etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 100
etcd_disk_wal_fsync_duration_seconds_sum 0.3
etcd_disk_wal_fsync_duration_seconds_count 100
`}
	problems := etcd.AddLifetimeFsync(context.Background(), st, c.Connector().(metrics.Scraper), pods, time.Second)
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "etcd-cp-2: ") {
		t.Errorf("problems %q, want cp-2's (no metrics listener); cp-3 is unreachable and not asked", problems)
	}
	for _, f := range Formats {
		var buf bytes.Buffer
		if err := PrintStatus(&buf, f, st); err != nil {
			t.Fatal(err)
		}
		golden(t, "status."+string(f), buf.Bytes())
	}
}

func TestMemberListGolden(t *testing.T) {
	c, pods := cluster()
	c.Members[2].Down = false
	l, err := etcd.ListMembers(context.Background(), c.Connector(), pods[:2], 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Formats {
		var buf bytes.Buffer
		if err := PrintMemberList(&buf, f, l); err != nil {
			t.Fatal(err)
		}
		golden(t, "member-list."+string(f), buf.Bytes())
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat(""); err != nil || f != Table {
		t.Errorf("default: %v %v", f, err)
	}
	if _, err := ParseFormat("jsonpath"); err == nil || err.Error() != `unable to match a printer suitable for the output format "jsonpath", allowed formats are: table,wide,json,yaml` {
		t.Errorf("bad format error: %v", err)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 104857600: "100.0 MiB", 2147483648: "2.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// Under a NOSPACE alarm the members still serve and count toward the quorum; the summary must
// say they serve reads only, never that they are healthy.
func TestStatusSummaryNOSPACE(t *testing.T) {
	c, pods := cluster()
	c.Members[0].Unhealthy = "Active Alarm(s): NOSPACE "
	c.Members[1].Unhealthy = "Active Alarm(s): NOSPACE "
	st := etcd.Status(context.Background(), c.Connector(), pods, etcd.StatusOptions{})
	got := StatusSummary(st)
	want := "2 of 3 voting members serving (2 of them under a NOSPACE alarm: reads only), quorum 2"
	if !strings.Contains(got, want) {
		t.Errorf("summary %q does not contain %q", got, want)
	}
	if strings.Contains(got, "healthy") {
		t.Errorf("summary %q calls NOSPACE members healthy", got)
	}
}

func TestUpgradeReportGolden(t *testing.T) {
	c, pods := cluster()
	c.Members[2].Down = false
	c.Members[1].Version = "3.5.25"
	for _, m := range c.Members {
		if m.Version == "3.6.16" {
			m.StorageVersion = "3.6.0"
		}
	}
	st := etcd.Status(context.Background(), c.Connector(), pods, etcd.StatusOptions{})
	r := etcd.CheckUpgradeStatus(st, etcd.Version{Major: 3, Minor: 7, Patch: -1})
	if r.Safe {
		t.Fatal("a mixed 3.5/3.6 cluster passes the 3.7 check")
	}
	for _, f := range Formats {
		var buf bytes.Buffer
		if err := PrintUpgradeReport(&buf, f, r); err != nil {
			t.Fatal(err)
		}
		golden(t, "upgrade-check."+string(f), buf.Bytes())
	}
}

// With a downgrade enabled, -o wide, the summary and -o json all show it.
func TestStatusShowsDowngrade(t *testing.T) {
	c, pods := cluster()
	c.Downgrade = &etcdserverpb.DowngradeInfo{Enabled: true, TargetVersion: "3.5.0"}
	st := etcd.Status(context.Background(), c.Connector(), pods, etcd.StatusOptions{})
	var wide, js bytes.Buffer
	if err := PrintStatus(&wide, Wide, st); err != nil {
		t.Fatal(err)
	}
	if err := PrintStatus(&js, JSON, st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(wide.String(), "enabled:3.5.0") || !strings.Contains(wide.String(), "downgrade to 3.5.0 enabled") {
		t.Errorf("wide status lacks the downgrade:\n%s", wide.String())
	}
	if !strings.Contains(js.String(), `"downgrade": {
        "enabled": true,
        "targetVersion": "3.5.0"
    }`) {
		t.Errorf("json status lacks the cluster's downgrade:\n%s", js.String())
	}
}

// Every call timed out: the summary says so, with the timeout, and calls nobody down.
func TestStatusSummaryTimedOut(t *testing.T) {
	st := &etcd.ClusterStatus{Transport: "exec", State: etcd.StateQuorumLost, TimedOutAfter: "1ms",
		Quorum: etcd.NewQuorum(3, 0, 0)}
	got := StatusSummary(st)
	want := "TimedOut: no member answered within 1ms (--request-timeout): their state is unknown, not down; a longer timeout may help; transport exec"
	if got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}
