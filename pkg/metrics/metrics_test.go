package metrics

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Load reads a capture of hack/capture-perf-metrics.sh: a real 3-member etcd's /metrics.
func load(t *testing.T, version, file string) *Set {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", version, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseRealMetrics(t *testing.T) {
	for _, v := range []string{"v3.6.16", "v3.7.3"} {
		t.Run(v, func(t *testing.T) {
			before, after := load(t, v, "cp-1.before.txt"), load(t, v, "cp-1.after.txt")
			if before.ServerID() == 0 || before.ServerID() != after.ServerID() {
				t.Errorf("server id %x / %x", before.ServerID(), after.ServerID())
			}
			st := after.Status()
			if st.Version != strings.TrimPrefix(v, "v") || st.DbSize <= 0 || st.DbSizeQuota != 2147483648 {
				t.Errorf("status %+v", st)
			}
			d, reset := after.Histogram(WALFsync).Delta(before.Histogram(WALFsync))
			if reset || d.Count == 0 {
				t.Fatalf("fsync delta %+v reset %v: the capture wrote keys between the scrapes", d, reset)
			}
			p99, ok := d.Quantile(0.99)
			if !ok || p99 <= 0 || p99 > 10 {
				t.Errorf("fsync p99 over the window %v %v, want a plausible latency", p99, ok)
			}
			peers := after.Histograms("etcd_network_peer_round_trip_time_seconds", "To")
			if len(peers) != 2 {
				t.Errorf("peer round trip series %v, want one per peer (2)", peers)
			}
			if m := after.ByLabel("grpc_server_started_total", "grpc_method"); m["Put"] < 100 {
				t.Errorf("Put requests %v, want the capture's 120", m["Put"])
			}
		})
	}
}

func TestParseLabels(t *testing.T) {
	s, err := Parse(strings.NewReader(`# TYPE weird gauge
weird{a="x,y",b="z\"q"} 3
# TYPE etcd_server_quota_backend_bytes gauge
etcd_server_quota_backend_bytes 2.147483648e+09
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Label("weird", "a") != "x,y" || s.Label("weird", "b") != `z"q` || s.Get("etcd_server_quota_backend_bytes") != 2147483648 {
		t.Errorf("labels or value misread")
	}
	if _, ok := s.Value("missing"); ok || s.Histogram("missing") != nil {
		t.Errorf("missing metric found")
	}
	if _, err := Parse(strings.NewReader("broken{ line")); err == nil {
		t.Errorf("a broken exposition parsed")
	}
}

func hist(count uint64, bounds []float64, counts []uint64) *Histogram {
	h := &Histogram{Count: count}
	for i, b := range bounds {
		h.Buckets = append(h.Buckets, Bucket{UpperBound: b, Count: counts[i]})
	}
	h.Buckets = append(h.Buckets, Bucket{UpperBound: math.Inf(1), Count: count})
	return h
}

func TestQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.002, 0.004, 0.008}
	tests := []struct {
		name string
		h    *Histogram
		q    float64
		want float64
		ok   bool
	}{
		{"empty", hist(0, bounds, []uint64{0, 0, 0, 0}), 0.99, 0, false},
		{"nil", nil, 0.99, 0, false},
		{"all in first bucket interpolates from 0", hist(10, bounds, []uint64{10, 10, 10, 10}), 0.5, 0.0005, true},
		{"p99 in third bucket", hist(100, bounds, []uint64{50, 90, 100, 100}), 0.99, 0.002 + 0.002*9/10, true},
		{"p50 at a bucket edge", hist(100, bounds, []uint64{50, 90, 100, 100}), 0.5, 0.001, true},
		{"rank in +Inf gives the highest finite bound", hist(10, bounds, []uint64{0, 0, 0, 5}), 0.99, 0.008, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.h.Quantile(tt.q)
			if ok != tt.ok || math.Abs(got-tt.want) > 1e-12 {
				t.Errorf("Quantile(%v) = %v, %v; want %v, %v", tt.q, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestDelta(t *testing.T) {
	bounds := []float64{0.001, 0.01}
	before := hist(10, bounds, []uint64{8, 10})
	before.Sum = 0.01
	after := hist(30, bounds, []uint64{8, 20})
	after.Sum = 0.11
	d, reset := after.Delta(before)
	if reset || d.Count != 20 || d.Buckets[0].Count != 0 || d.Buckets[1].Count != 10 || d.Buckets[2].Count != 20 || math.Abs(d.Sum-0.1) > 1e-12 {
		t.Errorf("delta %+v reset %v", d, reset)
	}
	// The window's observations were all above 1ms: the window p50 says so, the lifetime one not.
	if p, _ := d.Quantile(0.5); p <= 0.001 {
		t.Errorf("window p50 %v, want above 1ms", p)
	}
	// A member that restarted mid-window counts again from zero: the delta is what it counted
	// since, flagged, and never negative.
	restarted := hist(4, bounds, []uint64{4, 4})
	d, reset = restarted.Delta(before)
	if !reset || d.Count != 4 {
		t.Errorf("restart: delta %+v reset %v, want the new counts and reset", d, reset)
	}
	// Fewer in one bucket but not in the total is a reset too.
	odd := hist(12, bounds, []uint64{2, 12})
	if _, reset := odd.Delta(before); !reset {
		t.Errorf("a bucket that went down is not a reset")
	}
	// A series that appeared during the window (the first peer round trip) counts whole.
	if d, reset := after.Delta(nil); reset || d.Count != 30 {
		t.Errorf("new series: %+v %v", d, reset)
	}
}
