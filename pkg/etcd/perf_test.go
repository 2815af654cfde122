package etcd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/metrics"
)

// phasedScraper answers each pod with its scrape of the current phase (0 before the window, 1
// after); Wait moves it to the next phase. An error for a pod and phase fails that scrape.
type phasedScraper struct {
	phase int
	sets  map[string][2]*metrics.Set
	errs  map[string][2]error
	mu    sync.Mutex
	calls int
}

func (f *phasedScraper) Scrape(_ context.Context, m *discovery.Member) (*metrics.Set, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if err := f.errs[m.Pod][f.phase]; err != nil {
		return nil, err
	}
	return f.sets[m.Pod][f.phase], nil
}

func (f *phasedScraper) wait(context.Context, time.Duration) error { f.phase++; return nil }

func perfMembers() []discovery.Member {
	var out []discovery.Member
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		out = append(out, discovery.Member{Namespace: "kube-system", Pod: "etcd-" + n, Node: n, Name: n, DataDir: "/var/lib/etcd"})
	}
	return out
}

func parse(t *testing.T, text string) *metrics.Set {
	t.Helper()
	s, err := metrics.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// realScraper serves the captures of hack/capture-perf-metrics.sh.
func realScraper(t *testing.T, version string) *phasedScraper {
	f := &phasedScraper{sets: map[string][2]*metrics.Set{}}
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		var pair [2]*metrics.Set
		for i, when := range []string{"before", "after"} {
			b, err := os.ReadFile(fmt.Sprintf("../metrics/testdata/%s/%s.%s.txt", version, n, when))
			if err != nil {
				t.Fatal(err)
			}
			pair[i] = parse(t, string(b))
		}
		f.sets["etcd-"+n] = pair
	}
	return f
}

// Real captures of 3.6 and 3.7: every member reports plausible numbers and one entry per peer,
// named.
func TestPerfRealMetrics(t *testing.T) {
	for _, v := range []string{"v3.6.16", "v3.7.3"} {
		t.Run(v, func(t *testing.T) {
			sc := realScraper(t, v)
			r, err := Perf(context.Background(), sc, perfMembers(), PerfOptions{Window: 30 * time.Second, Wait: sc.wait})
			if err != nil {
				t.Fatal(err)
			}
			leaders := 0
			for _, m := range r.Members {
				if !m.Reachable || m.Restarted || m.ID == "" {
					t.Errorf("%s: reachable %v restarted %v id %q", m.Pod, m.Reachable, m.Restarted, m.ID)
					continue
				}
				if p := m.Disk.WALFsyncP99; p == nil || *p <= 0 || *p >= 10 {
					t.Errorf("%s: window fsync p99 %v, want between 0 and 10 s", m.Pod, p)
				}
				if len(m.Network.Peers) != 2 {
					t.Errorf("%s: peers %+v, want one per other member", m.Pod, m.Network.Peers)
				}
				for _, p := range m.Network.Peers {
					if p.Name == "" || p.Name == m.Name || p.LifetimeRoundTrip == nil || *p.LifetimeRoundTrip <= 0 {
						t.Errorf("%s: peer %+v", m.Pod, p)
					}
				}
				if m.Load.DBSize <= 0 || m.Process.ResidentMemory <= 0 || m.Process.OpenFDs <= 0 || m.Network.HeartbeatInterval != "100ms" {
					t.Errorf("%s: load %+v process %+v", m.Pod, m.Load, m.Process)
				}
				if m.Leader {
					leaders++
				}
			}
			if leaders != 1 {
				t.Errorf("%d leaders", leaders)
			}
			// The captures wrote 100 keys between the scrapes, through cp-1.
			if put := r.Members[0].Load.RequestsPerSecond["Put"]; put*30 < 99 || put*30 > 101 {
				t.Errorf("cp-1 Put rate %v/s over 30s, want 100 requests", put)
			}
		})
	}
}

// expo writes a small exposition: a member id, a WAL fsync histogram with the given cumulative
// buckets (1 ms, 10 ms, 20 ms), a backend commit one (10 ms, 25 ms, 50 ms), a round trip
// histogram to peer (50 ms, 100 ms, 200 ms) and extra lines.
func expo(id string, fsync, commit, rtt [3]int, peer string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# TYPE etcd_server_id gauge\netcd_server_id{server_id=%q} 1\n", id)
	hist := func(name string, bounds [3]string, counts [3]int, labels string) {
		fmt.Fprintf(&b, "# TYPE %s histogram\n", name)
		for i, le := range bounds {
			fmt.Fprintf(&b, "%s_bucket{%sle=%q} %d\n", name, labels, le, counts[i])
		}
		fmt.Fprintf(&b, "%s_bucket{%sle=\"+Inf\"} %d\n%s_sum{%s} 0\n%s_count{%s} %d\n", name, labels, counts[2], name, strings.TrimSuffix(labels, ","), name, strings.TrimSuffix(labels, ","), counts[2])
	}
	hist(metrics.WALFsync, [3]string{"0.001", "0.01", "0.02"}, fsync, "")
	hist(metrics.BackendCommit, [3]string{"0.01", "0.025", "0.05"}, commit, "")
	if peer != "" {
		hist(metrics.PeerRoundTrip, [3]string{"0.05", "0.1", "0.2"}, rtt, fmt.Sprintf("To=%q,", peer))
	}
	b.WriteString(extra)
	return b.String()
}

const idA, idB = "aaaa", "bbbb"

// twoMembers: cp-1 (idA) is judged, cp-2 (idB) is its peer with steady numbers.
func twoMembers(t *testing.T, before, after string) (*phasedScraper, []discovery.Member) {
	steady := parse(t, expo(idB, [3]int{10, 10, 10}, [3]int{10, 10, 10}, [3]int{1, 1, 1}, idA, ""))
	f := &phasedScraper{sets: map[string][2]*metrics.Set{
		"etcd-cp-1": {parse(t, before), parse(t, after)},
		"etcd-cp-2": {steady, steady},
	}}
	return f, perfMembers()[:2]
}

// Each verdict at its threshold: at the limit is a finding, just under it is not.
func TestPerfThresholds(t *testing.T) {
	zero := [3]int{}
	base := expo(idA, zero, zero, zero, idB, "")
	tests := []struct {
		name    string
		after   string
		hb      int
		verdict string
		check   string
	}{
		// 100 fsyncs, 99 of them at most 10 ms: p99 interpolates to exactly 10 ms.
		{"fsync p99 at 10ms", expo(idA, [3]int{0, 99, 100}, zero, zero, idB, ""), 0, VerdictSlowDisk, "wal-fsync"},
		{"fsync p99 under 10ms", expo(idA, [3]int{0, 100, 100}, zero, zero, idB, ""), 0, VerdictOK, ""},
		// 100 commits, 99 at most 25 ms, none at most 10 ms: p99 = 10 + 15*99/99 = 25 ms.
		{"commit p99 at 25ms", expo(idA, zero, [3]int{0, 99, 100}, zero, idB, ""), 0, VerdictSlowDisk, "backend-commit"},
		{"commit p99 under 25ms", expo(idA, zero, [3]int{0, 100, 100}, zero, idB, ""), 0, VerdictOK, ""},
		// Round trips: 99 of 100 at most 100 ms, none at most 50 ms: p99 = 100 ms.
		{"rtt p99 at the 100ms heartbeat", expo(idA, zero, zero, [3]int{0, 99, 100}, idB, ""), 0, VerdictSlowNetwork, "peer-round-trip"},
		{"rtt p99 under a 150ms heartbeat", expo(idA, zero, zero, [3]int{0, 99, 100}, idB, ""), 150, VerdictOK, ""},
		{"sent failures", base + "# TYPE etcd_network_peer_sent_failures_total counter\netcd_network_peer_sent_failures_total{To=\"bbbb\"} 3\n", 0, VerdictSlowNetwork, "peer-send-failures"},
		{"leader change", base + "# TYPE etcd_server_leader_changes_seen_total counter\netcd_server_leader_changes_seen_total 1\n", 0, VerdictUnstableLeader, "leader-changes"},
		{"heartbeat send failure", base + "# TYPE etcd_server_heartbeat_send_failures_total counter\netcd_server_heartbeat_send_failures_total 1\n", 0, VerdictUnstableLeader, "heartbeat-send-failures"},
		{"failed proposal", base + "# TYPE etcd_server_proposals_failed_total counter\netcd_server_proposals_failed_total 1\n", 0, VerdictUnstableLeader, "proposals-failed"},
		{"slow apply", base + "# TYPE etcd_server_slow_apply_total counter\netcd_server_slow_apply_total 1\n", 0, VerdictSlowDisk, "slow-apply"},
		{"slow read index", base + "# TYPE etcd_server_slow_read_indexes_total counter\netcd_server_slow_read_indexes_total 1\n", 0, VerdictSlowNetwork, "slow-read-index"},
		{"apply lag at 5000", base + "# TYPE etcd_server_proposals_committed_total gauge\netcd_server_proposals_committed_total 5000\n", 0, VerdictSlowDisk, "apply-lag"},
		{"apply lag under 5000", base + "# TYPE etcd_server_proposals_committed_total gauge\netcd_server_proposals_committed_total 4999\n", 0, VerdictOK, ""},
		{"fds at 80%", base + "# TYPE process_open_fds gauge\nprocess_open_fds 800\n# TYPE process_max_fds gauge\nprocess_max_fds 1000\n", 0, VerdictFDs, "open-fds"},
		{"fds under 80%", base + "# TYPE process_open_fds gauge\nprocess_open_fds 799\n# TYPE process_max_fds gauge\nprocess_max_fds 1000\n", 0, VerdictOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, members := twoMembers(t, base, tt.after)
			members[0].HeartbeatIntervalMS = tt.hb
			r, err := Perf(context.Background(), sc, members, PerfOptions{Window: 10 * time.Second, Wait: sc.wait})
			if err != nil {
				t.Fatal(err)
			}
			m := r.Members[0]
			if m.Verdict != tt.verdict || r.Verdict != tt.verdict || m.Restarted {
				t.Errorf("verdict %q (cluster %q, restarted %v), want %q; findings %+v", m.Verdict, r.Verdict, m.Restarted, tt.verdict, r.Findings)
			}
			if tt.check == "" {
				if len(r.Findings) != 0 {
					t.Errorf("findings %+v, want none", r.Findings)
				}
				return
			}
			if len(r.Findings) != 1 || r.Findings[0].Check != tt.check || r.Findings[0].Member != "cp-1 (aaaa)" || r.Findings[0].Fix == "" {
				t.Errorf("findings %+v, want one %s finding for cp-1 with a fix", r.Findings, tt.check)
			}
		})
	}
}

// A member whose counters went down restarted mid-window: it is said, the numbers are those
// since the restart, and nothing is negative.
func TestPerfRestartMidWindow(t *testing.T) {
	before := expo(idA, [3]int{50, 100, 100}, [3]int{100, 100, 100}, [3]int{100, 100, 100}, idB,
		"# TYPE etcd_server_leader_changes_seen_total counter\netcd_server_leader_changes_seen_total 3\n# TYPE grpc_server_started_total counter\ngrpc_server_started_total{grpc_method=\"Put\"} 500\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1000\n")
	after := expo(idA, [3]int{5, 10, 10}, [3]int{10, 10, 10}, [3]int{1, 1, 1}, idB,
		"# TYPE etcd_server_leader_changes_seen_total counter\netcd_server_leader_changes_seen_total 1\n# TYPE grpc_server_started_total counter\ngrpc_server_started_total{grpc_method=\"Put\"} 20\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 2000\n")
	sc, members := twoMembers(t, before, after)
	r, err := Perf(context.Background(), sc, members, PerfOptions{Window: 10 * time.Second, Wait: sc.wait})
	if err != nil {
		t.Fatal(err)
	}
	m := r.Members[0]
	if !m.Restarted || !strings.Contains(m.Verdict, VerdictRestarted) {
		t.Fatalf("restart not reported: %+v", m)
	}
	if m.Disk.WALFsyncs != 10 || m.Raft.LeaderChanges != 1 || m.Load.RequestsPerSecond["Put"] != 2 {
		t.Errorf("after a restart the window counts since it: fsyncs %d leader changes %v put/s %v", m.Disk.WALFsyncs, m.Raft.LeaderChanges, m.Load.RequestsPerSecond["Put"])
	}
	for _, v := range []float64{m.Raft.LeaderChanges, m.Raft.HeartbeatSendFailures, m.Raft.ProposalsFailed, m.Network.Peers[0].SentFailures, m.Load.RequestsPerSecond["Put"]} {
		if v < 0 {
			t.Errorf("negative number in %+v", m)
		}
	}
}

// A member stopped mid-window is reported unreachable (after the window) and the others still
// are judged; messages that could not reach it are its absence, not a slow network.
func TestPerfMemberStoppedMidWindow(t *testing.T) {
	a := expo(idA, [3]int{10, 10, 10}, [3]int{10, 10, 10}, [3]int{1, 1, 1}, idB, "")
	aAfter := expo(idA, [3]int{20, 20, 20}, [3]int{20, 20, 20}, [3]int{1, 1, 1}, idB, "# TYPE etcd_network_peer_sent_failures_total counter\netcd_network_peer_sent_failures_total{To=\"bbbb\"} 7\n")
	b := expo(idB, [3]int{10, 10, 10}, [3]int{10, 10, 10}, [3]int{1, 1, 1}, idA, "")
	sc := &phasedScraper{
		sets: map[string][2]*metrics.Set{"etcd-cp-1": {parse(t, a), parse(t, aAfter)}, "etcd-cp-2": {parse(t, b), nil}},
		errs: map[string][2]error{"etcd-cp-2": {nil, errors.New("connection refused")}},
	}
	r, err := Perf(context.Background(), sc, perfMembers()[:2], PerfOptions{Window: 10 * time.Second, Wait: sc.wait})
	if err != nil {
		t.Fatal(err)
	}
	if m := r.Members[1]; m.Reachable || m.Verdict != VerdictUnreachable || m.ID != idB || !strings.Contains(m.Error, "after the window: connection refused") {
		t.Errorf("stopped member: %+v", m)
	}
	if m := r.Members[0]; !m.Reachable || m.Verdict != VerdictOK || m.Network.Peers[0].SentFailures != 7 || m.Network.Peers[0].Name != "cp-2" {
		t.Errorf("live member: %+v", m)
	}
	if r.Verdict != VerdictUnreachable || len(r.Findings) != 1 || r.Findings[0].Severity != SeverityCritical {
		t.Errorf("cluster verdict %q findings %+v", r.Verdict, r.Findings)
	}
}

// When no member answers before the window, perf does not wait it out.
func TestPerfNoMemberNoWait(t *testing.T) {
	sc := &phasedScraper{errs: map[string][2]error{}}
	for _, m := range perfMembers() {
		sc.errs[m.Pod] = [2]error{errors.New("no metrics listener")}
	}
	r, err := Perf(context.Background(), sc, perfMembers(), PerfOptions{Window: time.Hour, Wait: sc.wait})
	if err != nil {
		t.Fatal(err)
	}
	if sc.phase != 0 || sc.calls != 3 || r.Verdict != VerdictUnreachable {
		t.Errorf("phase %d calls %d verdict %q", sc.phase, sc.calls, r.Verdict)
	}
}

// A member rebuilt or removed leaves its series in its peers' metrics until they restart: a
// peer that is no scraped member, is not connected and had no round trip in the window is not
// listed, and its old failures are no finding.
func TestPerfSkipsFormerMembers(t *testing.T) {
	gone := "cccc"
	lingering := "# TYPE etcd_network_peer_round_trip_time_seconds histogram\n" +
		"etcd_network_peer_round_trip_time_seconds_bucket{To=\"bbbb\",le=\"0.05\"} 1\n" +
		"etcd_network_peer_round_trip_time_seconds_bucket{To=\"bbbb\",le=\"+Inf\"} 1\n" +
		"etcd_network_peer_round_trip_time_seconds_sum{To=\"bbbb\"} 0.01\n" +
		"etcd_network_peer_round_trip_time_seconds_count{To=\"bbbb\"} 1\n" +
		"etcd_network_peer_round_trip_time_seconds_bucket{To=\"cccc\",le=\"0.05\"} 7\n" +
		"etcd_network_peer_round_trip_time_seconds_bucket{To=\"cccc\",le=\"+Inf\"} 7\n" +
		"etcd_network_peer_round_trip_time_seconds_sum{To=\"cccc\"} 0.1\n" +
		"etcd_network_peer_round_trip_time_seconds_count{To=\"cccc\"} 7\n" +
		"# TYPE etcd_network_peer_sent_failures_total counter\netcd_network_peer_sent_failures_total{To=\"cccc\"} 40\n" +
		"# TYPE etcd_network_active_peers gauge\netcd_network_active_peers{Local=\"aaaa\",Remote=\"bbbb\"} 1\netcd_network_active_peers{Local=\"aaaa\",Remote=\"cccc\"} 0\n"
	zero := [3]int{}
	text := expo(idA, zero, zero, zero, "", lingering)
	sc, members := twoMembers(t, text, text)
	r, err := Perf(context.Background(), sc, members, PerfOptions{Window: 10 * time.Second, Wait: sc.wait})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Members[0].Network.Peers {
		if p.ID == gone {
			t.Errorf("former member %s listed as a peer: %+v", gone, r.Members[0].Network.Peers)
		}
	}
	if len(r.Members[0].Network.Peers) != 1 || r.Members[0].Verdict != VerdictOK {
		t.Errorf("peers %+v verdict %q findings %+v", r.Members[0].Network.Peers, r.Members[0].Verdict, r.Findings)
	}
}
