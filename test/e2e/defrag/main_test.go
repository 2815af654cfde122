// Package defrag_test runs `kubectl etcd defrag` (and the alarm, move-leader and check
// consistency commands it goes with) as a real process against the e2e harness: fragmented
// databases, a member killed mid-run, a NOSPACE cluster, a member down, and (with E2E_MEASURE=1)
// the write latency a defrag causes under a steady write load.
//
// The binary is $KUBECTL_ETCD when set, else it is built once per test binary from the
// repository root (../../.. from this directory).
package defrag_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

func TestMain(m *testing.M) {
	plugintest.HangLimit = 5 * time.Minute
	plugintest.Main(m)
}

// ---- running the plugin ----

// line is one stderr line of a running plugin and when the test saw it.
type line struct {
	at   time.Time
	text string
}

// proc is a running plugin whose stderr lines arrive on lines as they are written.
type proc struct {
	*plugintest.Proc
	lines chan line
	mu    sync.Mutex
	seen  []line
	done  chan struct{} // closed when stderr hit EOF
}

// start starts the plugin against cluster c; stderr streams into p.lines (buffered, never
// blocks the plugin) and p.seen.
func start(t *testing.T, c *harness.Cluster, args ...string) *proc {
	t.Helper()
	p := &proc{lines: make(chan line, 1000), done: make(chan struct{})}
	pr, pw := io.Pipe()
	p.Proc = plugintest.Start(t, c, plugintest.Options{Stderr: pw}, args...)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := line{at: time.Now(), text: sc.Text()}
			p.mu.Lock()
			p.seen = append(p.seen, l)
			p.mu.Unlock()
			select {
			case p.lines <- l:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		<-p.Exited
		_ = pw.Close()
	}()
	return p
}

// wait waits for the plugin to exit and returns the run.
func (p *proc) wait(t *testing.T) *plugintest.Result {
	t.Helper()
	<-p.Exited
	<-p.done
	return p.Proc.Wait(t)
}

func (p *proc) stderrLines() []line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

// waitLine waits for a stderr line containing substr; false when the plugin exited first or
// after timeout.
func (p *proc) waitLine(substr string, timeout time.Duration) (line, bool) {
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	for {
		select {
		case l := <-p.lines:
			if strings.Contains(l.text, substr) {
				return l, true
			}
		case <-p.done:
			for len(p.lines) > 0 {
				if l := <-p.lines; strings.Contains(l.text, substr) {
					return l, true
				}
			}
			for _, l := range p.stderrLines() {
				if strings.Contains(l.text, substr) {
					return l, true
				}
			}
			return line{}, false
		case <-tm.C:
			return line{}, false
		}
	}
}

// execArgs selects the exec transport (plugintest.PFArgs the port-forward one).
func execArgs() []string { return []string{"--transport", "exec"} }

func args(base []string, more ...string) []string { return append(slices.Clone(base), more...) }

// ---- the plugin's JSON (README: defrag -o json, status -o json, alarm list -o json) ----

type defragReport struct {
	DryRun    bool           `json:"dryRun"`
	Order     []defragTarget `json:"order"`
	Skipped   []string       `json:"skipped"`
	Compacted int64          `json:"compactedRevision"`
	Disarmed  []string       `json:"disarmed"`
	Reclaimed int64          `json:"reclaimed"`
}

type defragTarget struct {
	Name             string  `json:"name"`
	ID               string  `json:"id"`
	Pod              string  `json:"pod"`
	Leader           bool    `json:"leader"`
	DBSize           int64   `json:"dbSize"`
	DBSizeInUse      int64   `json:"dbSizeInUse"`
	FragmentationPct float64 `json:"fragmentationPercent"`
	ExpectedReclaim  int64   `json:"expectedReclaim"`
	Needed           bool    `json:"needed"`
	Reason           string  `json:"reason"`
	Started          bool    `json:"started"`
	Done             bool    `json:"done"`
	SizeAfter        int64   `json:"dbSizeAfter"`
	Took             string  `json:"took"`
	LeaderMove       string  `json:"leaderMovedTo"`
	Error            string  `json:"error"`
}

func (r *defragReport) names() []string {
	var out []string
	for _, t := range r.Order {
		out = append(out, t.Name)
	}
	return out
}

func (r *defragReport) target(t *testing.T, name string) defragTarget {
	t.Helper()
	for _, x := range r.Order {
		if x.Name == name {
			return x
		}
	}
	t.Fatalf("no %s in the defrag order %v", name, r.names())
	return defragTarget{}
}

type clusterStatus struct {
	Leader  string `json:"leader"`
	State   string `json:"state"`
	Members []struct {
		Name     string   `json:"name"`
		ID       string   `json:"id"`
		Leader   bool     `json:"leader"`
		RaftTerm uint64   `json:"raftTerm"`
		Alarms   []string `json:"alarms"`
	} `json:"members"`
	Alarms []string `json:"alarms"`
}

type alarmInfo struct {
	MemberID string `json:"memberID"`
	Name     string `json:"name"`
	Alarm    string `json:"alarm"`
	DBSize   int64  `json:"dbSize"`
	Quota    int64  `json:"quota"`
}

// ---- looking at the cluster directly (clientv3, not the plugin) ----

// hexID is how the plugin prints a member ID.
func hexID(c *harness.Cluster, name string) string { return fmt.Sprintf("%x", c.MemberID(name)) }

// memberState is one member's status as etcd itself reports it.
type memberState struct {
	DBSize, InUse int64
	Leader        uint64
	Term          uint64
	Revision      int64
	Applied       uint64
}

// states asks every running member for its status directly.
func states(t *testing.T, c *harness.Cluster, cl *clientv3.Client) map[string]memberState {
	t.Helper()
	out := map[string]memberState{}
	for _, name := range c.MemberNames() {
		if !c.MemberRunning(name) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := cl.Status(ctx, c.ClientURL(name))
		cancel()
		if err != nil {
			t.Fatalf("status of %s: %v", name, err)
		}
		out[name] = memberState{DBSize: st.DbSize, InUse: st.DbSizeInUse, Leader: st.Leader, Term: st.RaftTerm,
			Revision: st.Header.Revision, Applied: st.RaftAppliedIndex}
	}
	return out
}

// nameOf maps a member ID to its harness name.
func nameOf(c *harness.Cluster, id uint64) string {
	for _, n := range c.MemberNames() {
		if c.MemberID(n) == id {
			return n
		}
	}
	return fmt.Sprintf("unknown(%x)", id)
}

// leader returns the leader every running member agrees on, waiting up to 30 s for agreement.
func leader(t *testing.T, c *harness.Cluster, cl *clientv3.Client) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ids []uint64
		for _, s := range states(t, c, cl) {
			ids = append(ids, s.Leader)
		}
		slices.Sort(ids)
		if ids = slices.Compact(ids); len(ids) == 1 && ids[0] != 0 {
			return nameOf(c, ids[0])
		}
		if time.Now().After(deadline) {
			t.Fatalf("members do not agree on a leader: %x", ids)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func maxTerm(s map[string]memberState) uint64 {
	var m uint64
	for _, x := range s {
		m = max(m, x.Term)
	}
	return m
}

// leaderChanges reads etcd_server_leader_changes_seen_total of every running member, through
// `kubectl exec etcd-<name> -- curl <metrics URL>` (the metrics listener is the member's own
// loopback in netns mode, so the pod is the way in).
func leaderChanges(t *testing.T, c *harness.Cluster) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, name := range c.MemberNames() {
		if !c.MemberRunning(name) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		body, stderr, err := c.Kubectl(ctx, "exec", "-n", c.Namespace, "etcd-"+name, "--", "curl", "-sS", "--max-time", "10", c.MetricsURL(name)+"/metrics")
		cancel()
		if err != nil {
			t.Fatalf("metrics of %s: %v: %s", name, err, stderr)
		}
		found := false
		for _, l := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(l, "etcd_server_leader_changes_seen_total "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					t.Fatalf("metrics of %s: %q: %v", name, l, err)
				}
				out[name], found = int(f), true
			}
		}
		if !found {
			t.Fatalf("metrics of %s: no etcd_server_leader_changes_seen_total in %d bytes", name, len(body))
		}
	}
	return out
}

// fragment writes about mib MiB under /fill/, deletes it and compacts physically at the
// current revision: every member's file keeps its size while almost none of it is in use.
func fragment(t *testing.T, c *harness.Cluster, cl *clientv3.Client, mib int) {
	t.Helper()
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := c.Fill(ctx, mib); err != nil {
		t.Fatalf("fill %d MiB: %v", mib, err)
	}
	tFill := time.Since(t0)
	compactAfterDelete(t, cl)
	// The freed pages count as free once no older read transaction holds them and a later write
	// transaction ran: with no other writes, a member can show the compacted pages as in use for
	// ever. So keep writing a small key until every member shows them free.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		if _, err := cl.Put(ctx, "/defrag-e2e/kick", strconv.Itoa(i)); err != nil {
			t.Fatalf("put after the compaction: %v", err)
		}
		s := states(t, c, cl)
		ok := true
		for _, x := range s {
			if x.DBSize-x.InUse < int64(mib)<<20*7/10 {
				ok = false
			}
		}
		if ok {
			t.Logf("fragmented: %d MiB filled in %s, deleted and compacted in %s; %s",
				mib, tFill.Round(time.Millisecond), (time.Since(t0) - tFill).Round(time.Millisecond), sizes(s))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members not fragmented as expected after filling %d MiB: %s", mib, sizes(s))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// compactAfterDelete deletes /fill/ and compacts physically at the revision of the delete.
func compactAfterDelete(t *testing.T, cl *clientv3.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	del, err := cl.Delete(ctx, "/fill/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("delete /fill/: %v", err)
	}
	if _, err := cl.Compact(ctx, del.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact at %d: %v", del.Header.Revision, err)
	}
}

func sizes(s map[string]memberState) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(s)) {
		parts = append(parts, fmt.Sprintf("%s %.1f MiB (%.1f in use)", n, mib(s[n].DBSize), mib(s[n].InUse)))
	}
	return strings.Join(parts, ", ")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// waitRunningHealthy waits until every running member answers Status with a leader.
func waitRunningHealthy(t *testing.T, c *harness.Cluster, cl *clientv3.Client) {
	t.Helper()
	_ = leader(t, c, cl)
}

// followers returns the running members other than l, sorted.
func followers(c *harness.Cluster, l string) []string {
	var out []string
	for _, n := range c.MemberNames() {
		if n != l {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

var errNotFound = errors.New("not found")

// findEvent returns the first stderr line containing substr.
func findEvent(ls []line, substr string) (line, error) {
	for _, l := range ls {
		if strings.Contains(l.text, substr) {
			return l, nil
		}
	}
	return line{}, fmt.Errorf("%q: %w", substr, errNotFound)
}
