package etcd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/metrics"
)

// The thresholds perf judges by (sources in the README, "perf").
const (
	// WALFsyncP99Limit: etcd's hardware guide asks for a WAL fsync p99 under 10 ms.
	WALFsyncP99Limit = 10 * time.Millisecond
	// BackendCommitP99Limit: and a backend commit p99 under 25 ms.
	BackendCommitP99Limit = 25 * time.Millisecond
	// ApplyLagLimit is etcd's maxGapBetweenApplyAndCommitIndex: beyond it the member refuses
	// requests ("too many requests").
	ApplyLagLimit = 5000
	// FDUsePercentLimit is the share of the open-file limit past which perf warns.
	FDUsePercentLimit = 80
)

// Perf verdicts, per member and for the cluster; several can hold at once.
const (
	VerdictOK             = "ok"
	VerdictSlowDisk       = "slow disk"
	VerdictSlowNetwork    = "slow network"
	VerdictUnstableLeader = "unstable leader"
	VerdictUnreachable    = "unreachable"
	VerdictRestarted      = "restarted"
	VerdictFDs            = "near the file limit"
)

// verdictOrder is the order verdicts are named in.
var verdictOrder = []string{VerdictUnreachable, VerdictSlowDisk, VerdictSlowNetwork, VerdictUnstableLeader, VerdictRestarted, VerdictFDs}

// checkVerdicts maps each perf check to the verdict it supports.
var checkVerdicts = map[string]string{
	"wal-fsync": VerdictSlowDisk, "backend-commit": VerdictSlowDisk, "slow-apply": VerdictSlowDisk, "apply-lag": VerdictSlowDisk,
	"peer-round-trip": VerdictSlowNetwork, "peer-send-failures": VerdictSlowNetwork, "slow-read-index": VerdictSlowNetwork,
	"leader-changes": VerdictUnstableLeader, "heartbeat-send-failures": VerdictUnstableLeader, "proposals-failed": VerdictUnstableLeader,
	"metrics-unreachable": VerdictUnreachable, "restarted": VerdictRestarted, "open-fds": VerdictFDs,
}

// PerfRoute says how perf reads the members, whatever --transport says.
const PerfRoute = "port-forward to each member's plain-HTTP metrics port (/metrics, no certificates)"

// PerfOptions tune Perf.
type PerfOptions struct {
	// Window is the time between the two scrapes; rates are per second of it.
	Window time.Duration
	// Timeout bounds each scrape.
	Timeout time.Duration
	// Wait waits out the window (default: a timer that calls Progress about once a second).
	Wait func(ctx context.Context, window time.Duration) error
	// Progress, when set, is told how much of the window has passed.
	Progress func(elapsed, window time.Duration)
	// FirstRead, when set, is told how many members answered the first read, before the wait.
	FirstRead func(answered int)
}

// PerfReport is the result of "perf".
type PerfReport struct {
	Window   string       `json:"window"`
	Route    string       `json:"route"`
	Verdict  string       `json:"verdict"`
	Members  []MemberPerf `json:"members"`
	Findings []Finding    `json:"findings"`
}

// Seconds is a latency in seconds; nil when there was no observation to estimate it from.
type Seconds = *float64

// MemberPerf is what one member's metrics say over the window (and over its life).
type MemberPerf struct {
	Pod       string `json:"pod"`
	Node      string `json:"node,omitempty"`
	Name      string `json:"name,omitempty"`
	ID        string `json:"id,omitempty"`
	Leader    bool   `json:"leader"`
	Verdict   string `json:"verdict"`
	Reachable bool   `json:"reachable"`
	// Error says why the member's metrics could not be read before or after the window.
	Error string `json:"error,omitempty"`
	// Restarted says the member's counters began again during the window: the window values
	// cover the time since its restart.
	Restarted bool         `json:"restarted,omitempty"`
	Disk      *DiskPerf    `json:"disk,omitempty"`
	Network   *NetworkPerf `json:"network,omitempty"`
	Raft      *RaftPerf    `json:"raft,omitempty"`
	Load      *LoadPerf    `json:"load,omitempty"`
	Process   *ProcessPerf `json:"process,omitempty"`
}

// DiskPerf: WAL fsync and backend commit latency.
type DiskPerf struct {
	WALFsyncs        uint64  `json:"walFsyncs"`
	WALFsyncP50      Seconds `json:"walFsyncP50Seconds,omitempty"`
	WALFsyncP99      Seconds `json:"walFsyncP99Seconds,omitempty"`
	BackendCommits   uint64  `json:"backendCommits"`
	BackendCommitP99 Seconds `json:"backendCommitP99Seconds,omitempty"`
	// Lifetime values are since the member started.
	LifetimeWALFsyncP99      Seconds `json:"lifetimeWALFsyncP99Seconds,omitempty"`
	LifetimeBackendCommitP99 Seconds `json:"lifetimeBackendCommitP99Seconds,omitempty"`
}

// NetworkPerf: round trips to each peer against the heartbeat interval.
type NetworkPerf struct {
	HeartbeatInterval string     `json:"heartbeatInterval"`
	Peers             []PeerPerf `json:"peers"`
}

// PeerPerf is one peer as this member sees it.
type PeerPerf struct {
	ID                string  `json:"id"`
	Name              string  `json:"name,omitempty"`
	RoundTripP99      Seconds `json:"roundTripP99Seconds,omitempty"`
	LifetimeRoundTrip Seconds `json:"lifetimeRoundTripP99Seconds,omitempty"`
	SentFailures      float64 `json:"sentFailures"`
}

// RaftPerf: counters over the window, and the state at its end.
type RaftPerf struct {
	LeaderChanges         float64 `json:"leaderChanges"`
	LifetimeLeaderChanges float64 `json:"lifetimeLeaderChanges"`
	HeartbeatSendFailures float64 `json:"heartbeatSendFailures"`
	SlowApplies           float64 `json:"slowApplies"`
	SlowReadIndexes       float64 `json:"slowReadIndexes"`
	ProposalsFailed       float64 `json:"proposalsFailed"`
	ProposalsPending      float64 `json:"proposalsPending"`
	// ApplyLag is committed minus applied proposals at the end of the window.
	ApplyLag float64 `json:"applyLag"`
}

// LoadPerf: what the clients ask of the member.
type LoadPerf struct {
	// RequestsPerSecond is the rate of gRPC calls started, by method, over the window.
	RequestsPerSecond map[string]float64 `json:"requestsPerSecond"`
	Watchers          float64            `json:"watchers"`
	DBSize            int64              `json:"dbSize"`
	// DBGrowth is the change of the database file size over the window (negative after a defrag).
	DBGrowth int64 `json:"dbGrowth"`
}

// ProcessPerf: the etcd process.
type ProcessPerf struct {
	ResidentMemory int64   `json:"residentMemory"`
	OpenFDs        float64 `json:"openFDs"`
	MaxFDs         float64 `json:"maxFDs"`
}

type scrapePair struct {
	before, after *metrics.Set
	err           error
	when          string
}

// Perf scrapes every member's /metrics twice, Window apart (both rounds in parallel), and
// judges each member by what changed in between. It writes nothing to the cluster.
func Perf(ctx context.Context, sc metrics.Scraper, members []discovery.Member, o PerfOptions) (*PerfReport, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Wait == nil {
		o.Wait = func(ctx context.Context, d time.Duration) error { return waitWindow(ctx, d, o.Progress) }
	}
	pairs := make([]scrapePair, len(members))
	scrapeAll(ctx, sc, members, o.Timeout, func(i int, s *metrics.Set, err error) {
		pairs[i] = scrapePair{before: s, err: err, when: "before the window"}
	}, func(int) bool { return true })
	if n := scraped(pairs); n > 0 {
		if o.FirstRead != nil {
			o.FirstRead(n)
		}
		if err := o.Wait(ctx, o.Window); err != nil {
			return nil, err
		}
		scrapeAll(ctx, sc, members, o.Timeout, func(i int, s *metrics.Set, err error) {
			pairs[i].after, pairs[i].err, pairs[i].when = s, err, "after the window"
		}, func(i int) bool { return pairs[i].before != nil })
	}
	return judgePerf(members, pairs, o.Window), nil
}

func scraped(pairs []scrapePair) int {
	n := 0
	for _, p := range pairs {
		if p.before != nil {
			n++
		}
	}
	return n
}

// scrapeAll scrapes the members want says yes to, in parallel, each bounded by timeout.
func scrapeAll(ctx context.Context, sc metrics.Scraper, members []discovery.Member, timeout time.Duration, done func(int, *metrics.Set, error), want func(int) bool) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range members {
		if !want(i) {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			s, err := sc.Scrape(cctx, &members[i])
			mu.Lock()
			done(i, s, err)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
}

// waitWindow sleeps d, calling progress about once a second.
func waitWindow(ctx context.Context, d time.Duration, progress func(elapsed, window time.Duration)) error {
	start := time.Now()
	end := time.NewTimer(d)
	defer end.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-end.C:
			return nil
		case <-tick.C:
			if progress != nil {
				progress(time.Since(start), d)
			}
		}
	}
}

func seconds(v float64, ok bool) Seconds {
	if !ok {
		return nil
	}
	return &v
}

// counterDelta is after-before, or after when the counter went down (a restart): never negative.
func counterDelta(after, before float64) (float64, bool) {
	if after < before {
		return after, true
	}
	return after - before, false
}

// judgePerf turns the scrapes into the report: values, findings and verdicts.
func judgePerf(members []discovery.Member, pairs []scrapePair, window time.Duration) *PerfReport {
	r := &PerfReport{Window: window.String(), Route: PerfRoute, Findings: []Finding{}}
	// Peers are named by the member IDs the members report of themselves.
	names, nodes, down := map[string]string{}, map[string]string{}, map[string]bool{}
	for i, p := range pairs {
		s := p.after
		if s == nil {
			s = p.before
		}
		if s == nil || s.ServerID() == 0 {
			continue
		}
		id := FormatID(s.ServerID())
		names[id], nodes[id] = members[i].Name, members[i].Node
		down[id] = p.after == nil
	}
	for i := range members {
		m := &members[i]
		mp := MemberPerf{Pod: m.Pod, Node: m.Node, Name: m.Name}
		var findings []Finding
		add := func(sev, check, finding, fix string) {
			findings = append(findings, Finding{Severity: sev, Check: check, Finding: finding, Fix: fix})
		}
		p := pairs[i]
		if p.before != nil {
			mp.ID = FormatID(p.before.ServerID())
		}
		if p.after == nil {
			mp.Error = fmt.Sprintf("reading /metrics %s: %v", p.when, p.err)
			add(SeverityCritical, "metrics-unreachable", mp.Error, fmt.Sprintf("check that etcd runs on node %s (kubectl etcd status), and that its metrics port answers (--listen-metrics-urls)", orUnknown(m.Node)))
		} else {
			mp.Reachable = true
			judgeMember(&mp, m, p.before, p.after, window, names, nodes, down, add)
		}
		who := fmt.Sprintf("%s (%s)", nameOrUnstarted(mp.Name), mp.ID)
		if mp.ID == "" {
			who = mp.Pod
		}
		seen := map[string]bool{}
		for _, f := range findings {
			f.Member = who
			r.Findings = append(r.Findings, f)
			seen[checkVerdicts[f.Check]] = true
		}
		mp.Verdict = verdictOf(seen)
		r.Members = append(r.Members, mp)
	}
	all := map[string]bool{}
	for _, f := range r.Findings {
		all[checkVerdicts[f.Check]] = true
	}
	r.Verdict = verdictOf(all)
	sort.SliceStable(r.Findings, func(i, j int) bool {
		return r.Findings[i].Severity == SeverityCritical && r.Findings[j].Severity != SeverityCritical
	})
	return r
}

func verdictOf(seen map[string]bool) string {
	var out []string
	for _, v := range verdictOrder {
		if seen[v] {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return VerdictOK
	}
	return strings.Join(out, ", ")
}

func ms(v float64) string { return fmt.Sprintf("%.1f ms", v*1000) }

// judgeMember fills mp from one member's two scrapes and adds its findings.
func judgeMember(mp *MemberPerf, m *discovery.Member, before, after *metrics.Set, window time.Duration,
	names, nodes map[string]string, down map[string]bool, add func(sev, check, finding, fix string)) {
	mp.ID = FormatID(after.ServerID())
	mp.Leader = after.Get("etcd_server_is_leader") == 1
	restarted := after.ServerID() != before.ServerID() ||
		after.Get("process_start_time_seconds") != before.Get("process_start_time_seconds")
	delta := func(name string) float64 {
		d, reset := counterDelta(after.Get(name), before.Get(name))
		restarted = restarted || reset
		return d
	}
	hist := func(name string) *metrics.Histogram {
		d, reset := after.Histogram(name).Delta(before.Histogram(name))
		restarted = restarted || reset
		return d
	}
	win := window.String()
	disk := &DiskPerf{}
	if h := hist(metrics.WALFsync); h != nil {
		disk.WALFsyncs = h.Count
		disk.WALFsyncP50 = seconds(h.Quantile(0.5))
		disk.WALFsyncP99 = seconds(h.Quantile(0.99))
	}
	if h := hist(metrics.BackendCommit); h != nil {
		disk.BackendCommits = h.Count
		disk.BackendCommitP99 = seconds(h.Quantile(0.99))
	}
	disk.LifetimeWALFsyncP99 = seconds(after.LifetimeP99(metrics.WALFsync))
	disk.LifetimeBackendCommitP99 = seconds(after.LifetimeP99(metrics.BackendCommit))
	mp.Disk = disk
	dataDir := m.DataDir
	if dataDir == "" {
		dataDir = "the data directory"
	}
	diskFix := fmt.Sprintf("move %s on node %s to an SSD or a dedicated disk (etcd fsyncs every write); look for other I/O on that disk", dataDir, orUnknown(m.Node))
	if p := disk.WALFsyncP99; p != nil && *p >= WALFsyncP99Limit.Seconds() {
		add(SeverityWarning, "wal-fsync", fmt.Sprintf("WAL fsync p99 %s over %s (%d fsyncs); etcd wants under %s", ms(*p), win, disk.WALFsyncs, WALFsyncP99Limit), diskFix)
	}
	if p := disk.BackendCommitP99; p != nil && *p >= BackendCommitP99Limit.Seconds() {
		add(SeverityWarning, "backend-commit", fmt.Sprintf("backend commit p99 %s over %s (%d commits); etcd wants under %s", ms(*p), win, disk.BackendCommits, BackendCommitP99Limit), diskFix)
	}

	hb := m.HeartbeatInterval()
	nw := &NetworkPerf{HeartbeatInterval: hb.String(), Peers: []PeerPerf{}}
	rttBefore := before.Histograms(metrics.PeerRoundTrip, "To")
	failAfter, failBefore := after.ByLabel("etcd_network_peer_sent_failures_total", "To"), before.ByLabel("etcd_network_peer_sent_failures_total", "To")
	peers := map[string]bool{}
	rttAfter := after.Histograms(metrics.PeerRoundTrip, "To")
	for id := range rttAfter {
		peers[id] = true
	}
	for id := range failAfter {
		peers[id] = true
	}
	// Peers the member has connected to, before their first round trip is measured.
	active := after.ByLabel("etcd_network_active_peers", "Remote")
	for id, v := range active {
		if v > 0 {
			peers[id] = true
		}
	}
	// etcd keeps the series of a peer that left the cluster (a removed or rebuilt member)
	// until it restarts: a peer that no scraped member is, that is not connected and that had
	// no round trip in the window is a former member, not a peer.
	for id := range peers {
		if names[id] != "" || active[id] > 0 {
			continue
		}
		if h := rttAfter[id]; h != nil {
			if d, _ := h.Delta(rttBefore[id]); d != nil && d.Count > 0 {
				continue
			}
		}
		delete(peers, id)
	}
	ids := make([]string, 0, len(peers))
	for id := range peers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return names[ids[i]]+ids[i] < names[ids[j]]+ids[j] })
	for _, id := range ids {
		pp := PeerPerf{ID: id, Name: names[id]}
		if h := rttAfter[id]; h != nil {
			d, reset := h.Delta(rttBefore[id])
			restarted = restarted || reset
			pp.RoundTripP99 = seconds(d.Quantile(0.99))
			pp.LifetimeRoundTrip = seconds(h.Quantile(0.99))
		}
		var reset bool
		pp.SentFailures, reset = counterDelta(failAfter[id], failBefore[id])
		restarted = restarted || reset
		nw.Peers = append(nw.Peers, pp)
		peer := pp.Name
		if peer == "" {
			peer = "member " + id
		}
		netFix := fmt.Sprintf("check the network between %s and %s (latency, loss, bandwidth)", orUnknown(m.Node), orUnknown(nodes[id]))
		if p := pp.RoundTripP99; p != nil && *p >= hb.Seconds() {
			add(SeverityWarning, "peer-round-trip", fmt.Sprintf("round trip to %s p99 %s over %s, at or above the heartbeat interval %s", peer, ms(*p), win, hb),
				netFix+"; or raise --heartbeat-interval and --election-timeout together on every member")
		}
		// Failures to a peer that is itself down are the peer's absence, reported for it.
		if pp.SentFailures > 0 && !down[id] {
			add(SeverityWarning, "peer-send-failures", fmt.Sprintf("%.0f messages to %s failed over %s", pp.SentFailures, peer, win), netFix)
		}
	}
	mp.Network = nw

	rf := &RaftPerf{
		LeaderChanges:         delta("etcd_server_leader_changes_seen_total"),
		LifetimeLeaderChanges: after.Get("etcd_server_leader_changes_seen_total"),
		HeartbeatSendFailures: delta("etcd_server_heartbeat_send_failures_total"),
		SlowApplies:           delta("etcd_server_slow_apply_total"),
		SlowReadIndexes:       delta("etcd_server_slow_read_indexes_total"),
		ProposalsFailed:       delta("etcd_server_proposals_failed_total"),
		ProposalsPending:      after.Get("etcd_server_proposals_pending"),
	}
	if lag := after.Get("etcd_server_proposals_committed_total") - after.Get("etcd_server_proposals_applied_total"); lag > 0 {
		rf.ApplyLag = lag
	}
	mp.Raft = rf
	if rf.LeaderChanges > 0 {
		add(SeverityWarning, "leader-changes", fmt.Sprintf("%.0f leader changes over %s", rf.LeaderChanges, win),
			"elections follow slow disks and networks: fix those findings first; else look in the etcd logs for \"elected leader\" and \"lost leader\"")
	}
	if rf.HeartbeatSendFailures > 0 {
		add(SeverityWarning, "heartbeat-send-failures", fmt.Sprintf("%.0f heartbeats sent late over %s", rf.HeartbeatSendFailures, win),
			fmt.Sprintf("the leader could not keep up: usually a slow disk or a starved CPU on node %s; look at its fsync numbers and the node's load", orUnknown(m.Node)))
	}
	if rf.ProposalsFailed > 0 {
		add(SeverityWarning, "proposals-failed", fmt.Sprintf("%.0f proposals failed over %s", rf.ProposalsFailed, win),
			"proposals fail during elections and without quorum: see the leader and network findings")
	}
	if rf.SlowApplies > 0 {
		add(SeverityWarning, "slow-apply", fmt.Sprintf("%.0f applies took over 100 ms over %s (\"apply request took too long\")", rf.SlowApplies, win),
			fmt.Sprintf("a slow disk or a busy CPU on node %s, or expensive requests (large ranges): see the disk and load numbers", orUnknown(m.Node)))
	}
	if rf.SlowReadIndexes > 0 {
		add(SeverityWarning, "slow-read-index", fmt.Sprintf("%.0f read indexes were slow or timed out over %s", rf.SlowReadIndexes, win),
			"linearizable reads wait for the leader: check the network to the leader and the leader's load")
	}
	if rf.ApplyLag >= ApplyLagLimit {
		add(SeverityWarning, "apply-lag", fmt.Sprintf("applies trail commits by %.0f entries (etcd refuses requests beyond %d)", rf.ApplyLag, ApplyLagLimit),
			diskFix)
	}

	ld := &LoadPerf{RequestsPerSecond: map[string]float64{}, Watchers: after.Get("etcd_debugging_mvcc_watcher_total"),
		DBSize: int64(after.Get("etcd_mvcc_db_total_size_in_bytes"))}
	ld.DBGrowth = ld.DBSize - int64(before.Get("etcd_mvcc_db_total_size_in_bytes"))
	started, startedBefore := after.ByLabel("grpc_server_started_total", "grpc_method"), before.ByLabel("grpc_server_started_total", "grpc_method")
	for method, n := range started {
		d, reset := counterDelta(n, startedBefore[method])
		restarted = restarted || reset
		if d > 0 && window > 0 {
			ld.RequestsPerSecond[method] = d / window.Seconds()
		}
	}
	mp.Load = ld

	pr := &ProcessPerf{ResidentMemory: int64(after.Get("process_resident_memory_bytes")), OpenFDs: after.Get("process_open_fds"), MaxFDs: after.Get("process_max_fds")}
	mp.Process = pr
	if pr.MaxFDs > 0 && pr.OpenFDs*100 >= pr.MaxFDs*FDUsePercentLimit {
		add(SeverityWarning, "open-fds", fmt.Sprintf("%.0f of %.0f file descriptors open", pr.OpenFDs, pr.MaxFDs),
			"raise the etcd process's open-file limit (LimitNOFILE of the container runtime), or find the clients that hold connections")
	}
	if restarted {
		mp.Restarted = true
		add(SeverityWarning, "restarted", "the member restarted during the window (its counters began again): its numbers cover only the time since",
			fmt.Sprintf("find out why etcd restarted on node %s (kubectl etcd status; the pod's restarts and logs), then run perf again", orUnknown(m.Node)))
	}
}

// AddLifetimeFsync sets the lifetime WAL fsync p99 of every reachable member of st from its
// /metrics, read in parallel (each read bounded by timeout). A member whose metrics cannot be
// read keeps none; the reasons are returned, one line per pod.
func AddLifetimeFsync(ctx context.Context, st *ClusterStatus, sc metrics.Scraper, pods []discovery.Member, timeout time.Duration) []string {
	rows := map[string]*MemberStatus{}
	for i := range st.Members {
		if m := &st.Members[i]; m.HasPod && m.Reachable {
			rows[m.Pod] = m
		}
	}
	var problems []string
	scrapeAll(ctx, sc, pods, timeout, func(i int, s *metrics.Set, err error) {
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", pods[i].Pod, err))
			return
		}
		rows[pods[i].Pod].WALFsyncP99 = seconds(s.LifetimeP99(metrics.WALFsync))
	}, func(i int) bool { return rows[pods[i].Pod] != nil })
	sort.Strings(problems)
	return problems
}
