// Package perf_test runs "kubectl etcd perf" as a real process against the e2e harness: with a
// kubeconfig only (no etcd certificates, no pods/exec), every member reports plausible numbers
// and one entry per peer; a member stopped mid-window is reported as such and the others still
// are.
package perf_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

// The JSON of "perf -o json" (the fields the tests check).
type report struct {
	Window   string   `json:"window"`
	Route    string   `json:"route"`
	Verdict  string   `json:"verdict"`
	Members  []member `json:"members"`
	Findings []struct {
		Severity string `json:"severity"`
		Check    string `json:"check"`
		Member   string `json:"member"`
		Finding  string `json:"finding"`
		Fix      string `json:"fix"`
	} `json:"findings"`
}

type member struct {
	Pod       string `json:"pod"`
	Name      string `json:"name"`
	ID        string `json:"id"`
	Verdict   string `json:"verdict"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error"`
	Disk      *struct {
		WALFsyncs           uint64   `json:"walFsyncs"`
		WALFsyncP99         *float64 `json:"walFsyncP99Seconds"`
		LifetimeWALFsyncP99 *float64 `json:"lifetimeWALFsyncP99Seconds"`
	} `json:"disk"`
	Network *struct {
		HeartbeatInterval string `json:"heartbeatInterval"`
		Peers             []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"peers"`
	} `json:"network"`
	Load *struct {
		RequestsPerSecond map[string]float64 `json:"requestsPerSecond"`
		DBSize            int64              `json:"dbSize"`
	} `json:"load"`
}

// viewer makes a user who may list pods and port-forward to them, and nothing else: no exec,
// and the plugin gets no etcd certificates (plugintest passes an empty --kubeadm-pki-dir).
func viewer(t *testing.T, c *harness.Cluster) []string {
	for _, args := range [][]string{
		{"create", "role", "e2e-perf-pods", "-n", c.Namespace, "--verb=get,list", "--resource=pods"},
		{"create", "role", "e2e-perf-pf", "-n", c.Namespace, "--verb=get,create", "--resource=pods/portforward"},
		{"create", "rolebinding", "e2e-perf-pods", "-n", c.Namespace, "--role=e2e-perf-pods", "--user=e2e-perf"},
		{"create", "rolebinding", "e2e-perf-pf", "-n", c.Namespace, "--role=e2e-perf-pf", "--user=e2e-perf"},
	} {
		if _, stderr, err := c.Kubectl(t.Context(), args...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
	}
	return []string{"--as", "e2e-perf"}
}

// writer puts keys through cp-1 until stopped, so that every member fsyncs during the window.
func writer(t *testing.T, c *harness.Cluster) (stop func()) {
	cl := c.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			_, _ = cl.Put(pctx, fmt.Sprintf("/registry/e2e/perf/%d", i%50), "value")
			pcancel()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

func member3(t *testing.T, r *plugintest.Result, rep *report) {
	t.Helper()
	if len(rep.Members) != 3 {
		t.Fatalf("%d members, want 3\n%s", len(rep.Members), r)
	}
}

// peersKnown runs short windows until every member lists its two peers (a fresh member has not
// connected to all of them yet).
func peersKnown(t *testing.T, c *harness.Cluster, as []string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := plugintest.Run(t, c, append([]string{"perf", "--window", "1s", "-o", "json"}, as...)...)
		var rep report
		plugintest.Decode(t, r, &rep)
		ok := len(rep.Members) == 3
		for _, m := range rep.Members {
			ok = ok && m.Network != nil && len(m.Network.Peers) == 2
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members do not list their peers within 90s\n%s", r)
		}
		time.Sleep(time.Second)
	}
}

func TestPerf(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	as := viewer(t, c)
	peersKnown(t, c, as)

	t.Run("kubeconfig only", func(t *testing.T) {
		stop := writer(t, c)
		r := plugintest.Run(t, c, append([]string{"perf", "--window", "5s", "-o", "json"}, as...)...)
		stop()
		// 0 or 2: whether this machine's shared disk is fast enough is not the test's to say.
		if r.Code != 0 && r.Code != 2 {
			t.Fatalf("exit %d, want 0 or 2\n%s", r.Code, r)
		}
		var rep report
		plugintest.Decode(t, r, &rep)
		member3(t, r, &rep)
		if rep.Window != "5s" || !strings.Contains(rep.Route, "metrics port") {
			t.Errorf("window %q route %q", rep.Window, rep.Route)
		}
		for i, name := range c.MemberNames() {
			m := rep.Members[i]
			if m.Pod != "etcd-"+name || m.ID != fmt.Sprintf("%x", c.MemberID(name)) || !m.Reachable || m.Error != "" {
				t.Errorf("%s: %+v", name, m)
				continue
			}
			if p := m.Disk.WALFsyncP99; m.Disk.WALFsyncs == 0 || p == nil || *p <= 0 || *p >= 10 {
				t.Errorf("%s: %d fsyncs in the window, p99 %v; want some, with 0 < p99 < 10s", name, m.Disk.WALFsyncs, p)
			}
			if p := m.Disk.LifetimeWALFsyncP99; p == nil || *p <= 0 || *p >= 10 {
				t.Errorf("%s: lifetime fsync p99 %v", name, p)
			}
			seen := map[string]bool{}
			for _, p := range m.Network.Peers {
				if p.Name == name || !strings.HasPrefix(p.Name, "cp-") || p.ID != fmt.Sprintf("%x", c.MemberID(p.Name)) {
					t.Errorf("%s: peer %+v", name, p)
				}
				seen[p.Name] = true
			}
			if len(seen) != 2 || m.Network.HeartbeatInterval != "100ms" {
				t.Errorf("%s: peers %v heartbeat %q, want the two others and kubeadm's 100ms", name, seen, m.Network.HeartbeatInterval)
			}
			if m.Load.DBSize <= 0 {
				t.Errorf("%s: db size %d", name, m.Load.DBSize)
			}
		}
		if rep.Members[0].Load.RequestsPerSecond["Put"] <= 0 {
			t.Errorf("cp-1 took the writes: Put rate %v", rep.Members[0].Load.RequestsPerSecond)
		}

		// The table, and a note with --transport exec: the metrics route is taken regardless.
		r = plugintest.Run(t, c, "perf", "--window", "1s", "--transport", "exec")
		if (r.Code != 0 && r.Code != 2) || !strings.Contains(r.Stdout, "verdict: ") || !strings.Contains(r.Stderr, "note: perf reads /metrics through a port-forward") {
			t.Errorf("table with --transport exec\n%s", r)
		}
	})

	t.Run("member stopped mid-window", func(t *testing.T) {
		// Stop cp-3 once the first read is done: the read after the window fails for it.
		victim := "cp-3"
		first := make(chan struct{})
		w := &lineWatch{want: "perf: first read of /metrics done", seen: first}
		p := plugintest.Start(t, c, plugintest.Options{Stderr: w}, append([]string{"perf", "--window", "4s", "-o", "json", "-v", "1"}, as...)...)
		select {
		case <-first:
		case <-p.Exited:
		}
		if err := c.StopMember(victim); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.StartMember(victim) })
		r := p.Wait(t)
		plugintest.WantCode(t, r, 2)
		var rep report
		plugintest.Decode(t, r, &rep)
		member3(t, r, &rep)
		for _, m := range rep.Members {
			switch {
			case m.Name == victim:
				if m.Reachable || m.Verdict != "unreachable" || !strings.Contains(m.Error, "after the window") {
					t.Errorf("stopped %s: %+v", victim, m)
				}
			case !m.Reachable || m.Disk == nil || strings.Contains(m.Verdict, "unreachable"):
				t.Errorf("%s still runs and must be reported: %+v", m.Name, m)
			}
		}
		if !strings.Contains(rep.Verdict, "unreachable") {
			t.Errorf("cluster verdict %q", rep.Verdict)
		}
		found := false
		for _, f := range rep.Findings {
			if f.Check == "metrics-unreachable" && strings.Contains(f.Member, victim) && f.Fix != "" {
				found = true
			}
			// Messages that could not reach the stopped member are its absence, not a slow network.
			if f.Check == "peer-send-failures" && strings.Contains(f.Finding, victim) {
				t.Errorf("failures to the stopped member reported as a network problem: %+v", f)
			}
		}
		if !found {
			t.Errorf("no metrics-unreachable finding for %s\n%s", victim, r)
		}
	})
}

// lineWatch closes seen when a line containing want is written.
type lineWatch struct {
	mu   sync.Mutex
	buf  strings.Builder
	want string
	seen chan struct{}
	done bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}
