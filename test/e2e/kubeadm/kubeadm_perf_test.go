package kubeadm_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// perfReport is the JSON of "perf -o json" (the fields TestPerf checks).
type perfReport struct {
	Verdict string `json:"verdict"`
	Members []struct {
		Name      string `json:"name"`
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
				Name string `json:"name"`
			} `json:"peers"`
		} `json:"network"`
	} `json:"members"`
	Findings []struct {
		Check   string `json:"check"`
		Member  string `json:"member"`
		Finding string `json:"finding"`
	} `json:"findings"`
}

// perfViewer is a user who may list pods and port-forward to them in kube-system and nothing
// else: no pods/exec, and the plugin gets no etcd certificate (plugintest passes an empty
// --kubeadm-pki-dir). perf must work with that alone.
func perfViewer(t *testing.T) []string {
	t.Helper()
	for _, args := range [][]string{
		{"create", "role", "e2e-perf-pods", "-n", "kube-system", "--verb=get,list", "--resource=pods"},
		{"create", "role", "e2e-perf-pf", "-n", "kube-system", "--verb=get,create", "--resource=pods/portforward"},
		{"create", "rolebinding", "e2e-perf-pods", "-n", "kube-system", "--role=e2e-perf-pods", "--user=e2e-perf"},
		{"create", "rolebinding", "e2e-perf-pf", "-n", "kube-system", "--role=e2e-perf-pf", "--user=e2e-perf"},
	} {
		if _, err := kubectl(t, args...); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = kubectl(t, "-n", "kube-system", "delete", "rolebinding", "e2e-perf-pods", "e2e-perf-pf", "--ignore-not-found")
		_, _ = kubectl(t, "-n", "kube-system", "delete", "role", "e2e-perf-pods", "e2e-perf-pf", "--ignore-not-found")
	})
	return []string{"--as", "e2e-perf"}
}

// TestPerf: on kubeadm's cluster (containerd's port-forward to the metrics port 2381 on each
// node's loopback, distroless etcd), with a kubeconfig only, every member reports plausible
// numbers and its two peers; with cp-3's etcd stopped mid-window (its manifest moved away
// once the first read is done), cp-3 is reported unreachable and the others still are.
func TestPerf(t *testing.T) {
	plugintest.SkipShort(t)
	as := perfViewer(t)
	// kube-apiserver writes all the time (leases, events): every member fsyncs in a window.
	r := runPlugin(t, append([]string{"perf", "--window", "20s", "-o", "json"}, as...)...)
	if r.Code != 0 && r.Code != 2 {
		t.Fatalf("exit %d, want 0 or 2 (whether these disks are fast enough is not the test's to say)\n%s", r.Code, r)
	}
	var rep perfReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(rep.Members) != 3 {
		t.Fatalf("%d members\n%s", len(rep.Members), r)
	}
	for _, m := range rep.Members {
		if !m.Reachable || m.Disk == nil || m.Network == nil {
			t.Errorf("%s: %+v", m.Name, m)
			continue
		}
		if p := m.Disk.WALFsyncP99; m.Disk.WALFsyncs == 0 || p == nil || *p <= 0 || *p >= 10 {
			t.Errorf("%s: %d fsyncs, p99 %v; want 0 < p99 < 10s", m.Name, m.Disk.WALFsyncs, p)
		}
		peers := map[string]bool{}
		for _, p := range m.Network.Peers {
			peers[p.Name] = true
		}
		if len(m.Network.Peers) != 2 || len(peers) != 2 || peers[m.Name] || m.Network.HeartbeatInterval != "100ms" {
			t.Errorf("%s: peers %+v heartbeat %q, want the two others and kubeadm's 100ms", m.Name, m.Network.Peers, m.Network.HeartbeatInterval)
		}
	}

	// cp-3 stopped mid-window.
	first := make(chan struct{})
	var once sync.Once
	w := writerFunc(func(p []byte) {
		if strings.Contains(string(p), "perf: first read of /metrics done") {
			once.Do(func() { close(first) })
		}
	})
	p := plugintest.Start(t, nil, plugintest.Options{Stderr: w}, append([]string{"perf", "--window", "60s", "-o", "json", "-v", "1"}, as...)...)
	select {
	case <-first:
	case <-p.Exited:
	}
	onNode(t, "cp-3", "mv", "/etc/kubernetes/manifests/etcd.yaml", "/etc/kubernetes/etcd.yaml.perf")
	t.Cleanup(func() {
		onNode(t, "cp-3", "mv", "/etc/kubernetes/etcd.yaml.perf", "/etc/kubernetes/manifests/etcd.yaml")
		eventually(t, "etcd on cp-3 back", 3*time.Minute, func() error {
			if r, _ := status(t, "--transport", "exec"); r.Code != 0 {
				return fmt.Errorf("status exit %d", r.Code)
			}
			return nil
		})
	})
	r = p.Wait(t)
	plugintest.WantCode(t, r, 2)
	rep = perfReport{}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	for _, m := range rep.Members {
		switch {
		case m.Name == "cp-3":
			if m.Reachable || m.Verdict != "unreachable" || !strings.Contains(m.Error, "after the window") {
				t.Errorf("stopped cp-3: %+v", m)
			}
		case !m.Reachable || m.Disk == nil:
			t.Errorf("%s still runs and must be reported: %+v", m.Name, m)
		}
	}
	for _, f := range rep.Findings {
		if f.Check == "peer-send-failures" && strings.Contains(f.Finding, "cp-3") {
			t.Errorf("failures to the stopped cp-3 reported as a network problem: %+v", f)
		}
	}
}

// writerFunc is an io.Writer that hands each write to f.
type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
