package printers

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

var (
	perfHeaders     = []string{"MEMBER", "VERDICT", "FSYNC-P50", "FSYNC-P99", "COMMIT-P99", "PEER-RTT-P99", "LEADER-CHANGES", "REQ/S", "DB-GROWTH"}
	perfWideHeaders = []string{"NODE", "LIFETIME-FSYNC-P99", "LIFETIME-COMMIT-P99", "HEARTBEAT", "HEARTBEAT-FAILURES", "SLOW-APPLIES", "APPLY-LAG", "WATCHERS", "RSS", "FDS", "TOP-REQUESTS"}
)

// Millis renders a latency in seconds as milliseconds ("-" when there was nothing to measure).
func Millis(s etcd.Seconds) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%.1fms", *s*1000)
}

// PrintPerf renders a perf report: one row per member over the window (wide adds the lifetime
// values, raft counters, load and process), then the findings with their fixes, then the
// verdict. JSON and YAML give the report.
func PrintPerf(w io.Writer, f Format, r *etcd.PerfReport) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	headers := perfHeaders
	if f == Wide {
		headers = append(append([]string{}, perfHeaders...), perfWideHeaders...)
	}
	rows := make([][]string, 0, len(r.Members))
	for _, m := range r.Members {
		name := m.Name
		if m.Leader {
			name += "*"
		}
		if !m.Reachable {
			row := []string{name, m.Verdict}
			for len(row) < len(headers) {
				row = append(row, "-")
			}
			rows = append(rows, row)
			continue
		}
		var rtt []string
		for _, p := range m.Network.Peers {
			peer := p.Name
			if peer == "" {
				peer = p.ID
			}
			rtt = append(rtt, peer+"="+Millis(p.RoundTripP99))
		}
		var reqs float64
		for _, v := range m.Load.RequestsPerSecond {
			reqs += v
		}
		growth := "+" + Bytes(m.Load.DBGrowth)
		if m.Load.DBGrowth < 0 {
			growth = "-" + Bytes(-m.Load.DBGrowth)
		}
		row := []string{name, m.Verdict, Millis(m.Disk.WALFsyncP50), Millis(m.Disk.WALFsyncP99), Millis(m.Disk.BackendCommitP99),
			OrDash(strings.Join(rtt, ",")), fmt.Sprintf("%.0f", m.Raft.LeaderChanges), fmt.Sprintf("%.1f", reqs), growth}
		if f == Wide {
			row = append(row, m.Node, Millis(m.Disk.LifetimeWALFsyncP99), Millis(m.Disk.LifetimeBackendCommitP99), m.Network.HeartbeatInterval,
				fmt.Sprintf("%.0f", m.Raft.HeartbeatSendFailures), fmt.Sprintf("%.0f", m.Raft.SlowApplies), fmt.Sprintf("%.0f", m.Raft.ApplyLag),
				fmt.Sprintf("%.0f", m.Load.Watchers), Bytes(m.Process.ResidentMemory), fmt.Sprintf("%.0f/%.0f", m.Process.OpenFDs, m.Process.MaxFDs),
				topRequests(m.Load.RequestsPerSecond, 3))
		}
		rows = append(rows, row)
	}
	if err := PrintTable(w, headers, rows); err != nil {
		return err
	}
	if len(r.Findings) > 0 {
		fmt.Fprintln(w)
		if err := printFindings(w, r.Findings); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\nverdict: %s (over %s; * leader)\n", r.Verdict, r.Window)
	return err
}

// topRequests names the n busiest gRPC methods with their rates ("Put=3.3/s,Range=0.1/s").
func topRequests(rates map[string]float64, n int) string {
	methods := make([]string, 0, len(rates))
	for m := range rates {
		methods = append(methods, m)
	}
	sort.Slice(methods, func(i, j int) bool {
		if rates[methods[i]] != rates[methods[j]] {
			return rates[methods[i]] > rates[methods[j]]
		}
		return methods[i] < methods[j]
	})
	if len(methods) > n {
		methods = methods[:n]
	}
	parts := make([]string, 0, len(methods))
	for _, m := range methods {
		parts = append(parts, fmt.Sprintf("%s=%.1f/s", m, rates[m]))
	}
	return OrDash(strings.Join(parts, ","))
}
