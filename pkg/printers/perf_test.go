package printers

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/metrics"
)

// captureScraper serves the real /metrics captures of pkg/metrics/testdata: the before file on
// the first scrape of a pod, the after file on the next; cp-3 does not answer after the window
// when stopCP3 is set.
type captureScraper struct {
	version string
	stopCP3 bool
	mu      sync.Mutex
	seen    map[string]int
}

func (c *captureScraper) Scrape(_ context.Context, m *discovery.Member) (*metrics.Set, error) {
	c.mu.Lock()
	when := []string{"before", "after"}[c.seen[m.Pod]]
	c.seen[m.Pod]++
	c.mu.Unlock()
	if c.stopCP3 && m.Pod == "etcd-cp-3" && when == "after" {
		return nil, fmt.Errorf("port-forward to pod etcd-cp-3 port 2381: connection refused")
	}
	f, err := os.Open(fmt.Sprintf("../metrics/testdata/%s/%s.%s.txt", c.version, m.Pod[len("etcd-"):], when))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return metrics.Parse(f)
}

func perfReport(t *testing.T, version string, stopCP3 bool) *etcd.PerfReport {
	t.Helper()
	var pods []discovery.Member
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		pods = append(pods, discovery.Member{Pod: "etcd-" + n, Node: n, Name: n, DataDir: "/var/lib/etcd"})
	}
	r, err := etcd.Perf(context.Background(), &captureScraper{version: version, stopCP3: stopCP3, seen: map[string]int{}}, pods,
		etcd.PerfOptions{Window: 30 * time.Second, Wait: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The report of the real 3.6.16 captures (taken on a busy machine: its backend commits and
// late heartbeats are real findings), and the same with cp-3 stopped mid-window.
func TestPerfGolden(t *testing.T) {
	r := perfReport(t, "v3.6.16", false)
	for _, f := range []Format{Table, Wide, JSON} {
		golden(t, "perf."+string(f), render(t, f, func(w io.Writer, f Format) error { return PrintPerf(w, f, r) }))
	}
	stopped := perfReport(t, "v3.6.16", true)
	golden(t, "perf-stopped.table", render(t, Table, func(w io.Writer, f Format) error { return PrintPerf(w, f, stopped) }))
	golden(t, "perf-v3.7.3.wide", render(t, Wide, func(w io.Writer, f Format) error { return PrintPerf(w, f, perfReport(t, "v3.7.3", false)) }))
}
