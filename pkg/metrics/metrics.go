// Package metrics reads etcd's Prometheus /metrics: it parses the exposition with the ecosystem's
// parser (github.com/prometheus/common/expfmt) and gives the plugin the few values it uses —
// gauges, counters by label, and histograms with their quantiles over a window. status, doctor
// and perf all read metrics through it; the transports only fetch the bytes.
package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
)

// Scraper fetches one member's /metrics.
type Scraper interface {
	Scrape(ctx context.Context, m *discovery.Member) (*Set, error)
}

// Set is one scrape of a member's /metrics.
type Set struct {
	families map[string]*dto.MetricFamily
}

// Parse reads a Prometheus text exposition.
func Parse(r io.Reader) (*Set, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	return &Set{families: fams}, nil
}

// Has reports whether the scrape holds the metric family name.
func (s *Set) Has(name string) bool {
	_, ok := s.families[name]
	return ok
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

// Value is the value of the first sample of a gauge, counter or untyped metric.
func (s *Set) Value(name string) (float64, bool) {
	f := s.families[name]
	if f == nil || len(f.GetMetric()) == 0 {
		return 0, false
	}
	v := sampleValue(f.GetMetric()[0])
	return v, !math.IsNaN(v)
}

// Get is Value with 0 for a missing metric.
func (s *Set) Get(name string) float64 {
	v, _ := s.Value(name)
	return v
}

// Label is the value of a label of the first sample of name (etcd's info gauges, such as
// etcd_server_id{server_id="..."}).
func (s *Set) Label(name, label string) string {
	f := s.families[name]
	if f == nil || len(f.GetMetric()) == 0 {
		return ""
	}
	for _, l := range f.GetMetric()[0].GetLabel() {
		if l.GetName() == label {
			return l.GetValue()
		}
	}
	return ""
}

func labelOf(m *dto.Metric, label string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == label {
			return l.GetValue()
		}
	}
	return ""
}

// ByLabel sums the samples of name by the value of label (grpc_server_started_total by
// grpc_method, etcd_network_peer_sent_failures_total by To).
func (s *Set) ByLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	f := s.families[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		if v := sampleValue(m); !math.IsNaN(v) {
			out[labelOf(m, label)] += v
		}
	}
	return out
}

// Bucket is one cumulative histogram bucket: Count observations were at most UpperBound.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Histogram is a cumulative Prometheus histogram; the last bucket is +Inf.
type Histogram struct {
	Count   uint64
	Sum     float64
	Buckets []Bucket
}

func histogramOf(m *dto.Metric) *Histogram {
	h := m.GetHistogram()
	if h == nil {
		return nil
	}
	out := &Histogram{Count: h.GetSampleCount(), Sum: h.GetSampleSum()}
	for _, b := range h.GetBucket() {
		out.Buckets = append(out.Buckets, Bucket{UpperBound: b.GetUpperBound(), Count: b.GetCumulativeCount()})
	}
	sort.Slice(out.Buckets, func(i, j int) bool { return out.Buckets[i].UpperBound < out.Buckets[j].UpperBound })
	if n := len(out.Buckets); n == 0 || !math.IsInf(out.Buckets[n-1].UpperBound, 1) {
		out.Buckets = append(out.Buckets, Bucket{UpperBound: math.Inf(1), Count: out.Count})
	}
	return out
}

// Histogram returns the histogram name (its first series), nil when the scrape has none.
func (s *Set) Histogram(name string) *Histogram {
	f := s.families[name]
	if f == nil || len(f.GetMetric()) == 0 {
		return nil
	}
	return histogramOf(f.GetMetric()[0])
}

// Histograms returns the series of histogram name by the value of label (the peer round trip
// time by To).
func (s *Set) Histograms(name, label string) map[string]*Histogram {
	out := map[string]*Histogram{}
	f := s.families[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		if h := histogramOf(m); h != nil {
			out[labelOf(m, label)] = h
		}
	}
	return out
}

// Delta is the histogram of the observations made between before and h. reset reports that a
// count went down (the member restarted and its counters began again): the delta is then h
// itself, the observations since the restart. A nil before counts as empty (a series that
// appeared during the window). Counts never go negative.
func (h *Histogram) Delta(before *Histogram) (delta *Histogram, reset bool) {
	if h == nil {
		return nil, false
	}
	if before == nil {
		return h, false
	}
	if h.Count < before.Count || len(h.Buckets) != len(before.Buckets) {
		return h, true
	}
	d := &Histogram{Count: h.Count - before.Count, Sum: h.Sum - before.Sum, Buckets: make([]Bucket, len(h.Buckets))}
	for i, b := range h.Buckets {
		pb := before.Buckets[i]
		if pb.UpperBound != b.UpperBound || b.Count < pb.Count {
			return h, true
		}
		d.Buckets[i] = Bucket{UpperBound: b.UpperBound, Count: b.Count - pb.Count}
	}
	if d.Sum < 0 {
		d.Sum = 0
	}
	return d, false
}

// Quantile estimates the q-quantile (0..1) as Prometheus's histogram_quantile does: it finds
// the bucket that holds the rank and interpolates linearly inside it (the first bucket starts
// at 0). A rank in the +Inf bucket returns the highest finite bound: the true value is at least
// that. ok is false when the histogram holds no observation.
func (h *Histogram) Quantile(q float64) (v float64, ok bool) {
	if h == nil || h.Count == 0 || len(h.Buckets) == 0 {
		return 0, false
	}
	rank := q * float64(h.Count)
	var lowBound float64
	var lowCount uint64
	for i, b := range h.Buckets {
		if float64(b.Count) >= rank && b.Count > 0 {
			if math.IsInf(b.UpperBound, 1) {
				if i == 0 {
					return 0, false
				}
				return h.Buckets[i-1].UpperBound, true
			}
			inBucket := float64(b.Count - lowCount)
			if inBucket == 0 {
				return b.UpperBound, true
			}
			return lowBound + (b.UpperBound-lowBound)*(rank-float64(lowCount))/inBucket, true
		}
		lowBound, lowCount = b.UpperBound, b.Count
	}
	return h.Buckets[len(h.Buckets)-1].UpperBound, true
}

// ServerID is the member's ID from etcd_server_id (0 when the scrape has none).
func (s *Set) ServerID() uint64 {
	id, err := strconv.ParseUint(s.Label("etcd_server_id", "server_id"), 16, 64)
	if err != nil {
		return 0
	}
	return id
}

// Status fills what a member's /metrics tells of its status: version, member ID, database size,
// in use and quota, learner and leader state, and "member has no leader" as an error. The rest
// (raft indexes, revision, cluster ID, the leader's ID when it is another member) stays zero.
func (s *Set) Status() *clientv3.StatusResponse {
	st := &clientv3.StatusResponse{Header: &etcdserverpb.ResponseHeader{}}
	st.Version = s.Label("etcd_server_version", "server_version")
	st.Header.MemberId = s.ServerID()
	st.DbSize = int64(s.Get("etcd_mvcc_db_total_size_in_bytes"))
	st.DbSizeInUse = int64(s.Get("etcd_mvcc_db_total_size_in_use_in_bytes"))
	st.DbSizeQuota = int64(s.Get("etcd_server_quota_backend_bytes"))
	st.IsLearner = s.Get("etcd_server_is_learner") == 1
	if s.Get("etcd_server_is_leader") == 1 {
		st.Leader = st.Header.MemberId
	}
	if v, ok := s.Value("etcd_server_has_leader"); ok && v == 0 {
		st.Errors = append(st.Errors, "member has no leader")
	}
	return st
}

// WALFsync is the WAL fsync latency histogram (seconds).
const WALFsync = "etcd_disk_wal_fsync_duration_seconds"

// LifetimeP99 is the 99th percentile of histogram name over the member's whole life.
func (s *Set) LifetimeP99(name string) (float64, bool) {
	return s.Histogram(name).Quantile(0.99)
}

// BackendCommit is the backend (bbolt) commit latency histogram (seconds).
const BackendCommit = "etcd_disk_backend_commit_duration_seconds"

// PeerRoundTrip is the round trip time to each peer (label To: the peer's ID), seconds.
const PeerRoundTrip = "etcd_network_peer_round_trip_time_seconds"
