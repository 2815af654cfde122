package printers

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/usage"
)

func usageReport(source string) *usage.Report {
	a := usage.NewAggregator(3)
	a.Add([]byte("/registry/events/default/web-0.17a1"), 120_000)
	a.Add([]byte("/registry/events/kube-system/dns.17a2"), 90_000)
	a.Add([]byte("/registry/configmaps/default/big"), 300_000)
	a.Add([]byte("/registry/namespaces/default"), 500)
	a.Add([]byte("/registry/apiregistration.k8s.io/apiservices/v1.apps"), 1_200)
	a.Add([]byte("/registry/example.com/widgets/team-a/w1"), 2_000)
	a.Add([]byte("/kubectl-etcd/lock/8e9e05c52164694d"), 80)
	a.Add([]byte("compact_rev_key"), 22)
	r := &usage.Report{Source: source, Revision: 4711, KubeCompactRevision: 4600, Took: "12ms"}
	if source == "file" {
		a.AddHistory([]byte("/registry/configmaps/default/big"), 900_000)
		a.AddHistory([]byte("/registry/events/default/gone"), 40)
		r.File, r.CompactRevision, r.Leases = "/backup/etcd.db", 4600, 7
	} else {
		r.Member, r.Pod, r.Transport = "cp-2", "etcd-cp-2", "exec"
		r.Unavailable = []string{"history bytes per resource"}
	}
	r.Breakdown = a.Breakdown()
	r.DB = usage.DBSplit{Size: 8 << 20, InUse: 2 << 20, Free: 6 << 20, LiveData: r.Totals.Bytes}
	if source == "file" {
		r.DB.History = r.Totals.HistoryBytes
		r.DB.Overhead = r.DB.InUse - r.DB.LiveData - r.DB.History
	} else {
		r.DB.History = r.DB.InUse - r.DB.LiveData
	}
	return r
}

func TestUsageGolden(t *testing.T) {
	for _, source := range []string{"file", "live"} {
		r := usageReport(source)
		for _, f := range Formats {
			var buf bytes.Buffer
			if err := PrintUsage(&buf, f, ByResource, r); err != nil {
				t.Fatal(err)
			}
			golden(t, "usage-"+source+"."+string(f), buf.Bytes())
		}
		for _, by := range []string{ByNamespace, ByObject} {
			for _, f := range []Format{Table, Wide} {
				var buf bytes.Buffer
				if err := PrintUsage(&buf, f, by, r); err != nil {
					t.Fatal(err)
				}
				golden(t, "usage-"+source+"-"+by+"."+string(f), buf.Bytes())
			}
		}
	}
}

// The history column is a file's: a live table does not show an empty one.
func TestUsageLiveHasNoHistoryColumn(t *testing.T) {
	var buf bytes.Buffer
	if err := PrintUsage(&buf, Table, ByResource, usageReport("live")); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "HISTORY ") || strings.Contains(buf.String(), "HISTORY\t") {
		t.Errorf("live table has a history column:\n%s", buf.String())
	}
}

// A walk of unknown length shows its count without a "/0" total.
func TestProgressUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, true)
	p.Update("usage", 1500, 0, "keys, 2.0 MiB")
	p.Update("usage", 1500, 3000, "keys")
	p.Done()
	if got := buf.String(); !strings.Contains(got, "usage 1500 keys, 2.0 MiB") || !strings.Contains(got, " 50.0% 1500/3000 keys") || strings.Contains(got, "/0") {
		t.Errorf("progress: %q", got)
	}
}
