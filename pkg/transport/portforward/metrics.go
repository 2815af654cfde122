package portforward

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// ErrNeedsCertificates marks what the metrics-only transport cannot answer.
var ErrNeedsCertificates = fmt.Errorf("not available without client certificates (metrics-only transport): %w", transport.ErrUnsupported)

// MetricsUnavailable lists the status fields the metrics endpoint cannot provide.
var MetricsUnavailable = []string{"member list", "alarms", "raft term", "raft index", "raft applied index", "revision", "cluster ID", "leader ID"}

// MetricsConnector reads the plain-HTTP metrics listener (kubeadm: http://127.0.0.1:2381) through a
// forward: /health, /readyz, /livez and a few /metrics gauges. It needs no certificates.
type MetricsConnector struct {
	Connector
}

// Unavailable implements transport.Limited.
func (c *MetricsConnector) Unavailable() []string { return MetricsUnavailable }

// Mode implements transport.Connector.
func (c *MetricsConnector) Mode() transport.Mode { return transport.ModeMetricsOnly }

// Connect opens (or reuses) the forward to the member's metrics port.
func (c *MetricsConnector) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	if m.MetricsURL == "" {
		return nil, fmt.Errorf("%s has no --listen-metrics-urls; without client certificates nothing can be read from it", m)
	}
	if !strings.HasPrefix(m.MetricsURL, "http://") {
		return nil, fmt.Errorf("%s: metrics URL %s is not plain HTTP; metrics-only mode needs an http:// --listen-metrics-urls", m, m.MetricsURL)
	}
	port, err := memberPort(m.MetricsURL)
	if err != nil {
		return nil, fmt.Errorf("%s: metrics URL %q: %w", m, m.MetricsURL, err)
	}
	f, err := c.forward(ctx, m, port)
	if err != nil {
		return nil, err
	}
	return &MetricsSession{conn: c, member: m, fwd: f, port: port, http: &http.Client{}}, nil
}

// MetricsSession answers from one member's metrics listener.
type MetricsSession struct {
	conn   *MetricsConnector
	member *discovery.Member
	port   int
	fwd    *Forward
	http   *http.Client
}

var _ transport.Session = (*MetricsSession)(nil)

func (s *MetricsSession) Member() *discovery.Member { return s.member }
func (s *MetricsSession) Mode() transport.Mode      { return transport.ModeMetricsOnly }
func (s *MetricsSession) Endpoint() string          { return s.member.MetricsURL }
func (s *MetricsSession) Close() error              { return nil }

func (s *MetricsSession) get(ctx context.Context, path string) (int, []byte, error) {
	f, err := s.conn.forward(ctx, s.member, s.port)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", f.LocalPort, path), nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		if !f.Alive() {
			return 0, nil, f.Err()
		}
		return 0, nil, describeGRPCError(err, f)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, body, err
}

// Health reads /health: {"health":"true","reason":""}.
func (s *MetricsSession) Health(ctx context.Context) (*transport.Health, error) {
	start := time.Now()
	code, body, err := s.get(ctx, "/health")
	if err != nil {
		return nil, err
	}
	h := &transport.Health{Took: time.Since(start)}
	var v struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("GET /health returned %d and no JSON: %q", code, strings.TrimSpace(string(body)))
	}
	h.Healthy = v.Health == "true"
	if !h.Healthy {
		h.Error = v.Reason
		if h.Error == "" {
			h.Error = fmt.Sprintf("/health returned %d", code)
		}
	}
	return h, nil
}

// Probe is the result of /readyz and /livez (etcd 3.6 and later; a learner is not ready).
type Probe struct {
	Path string `json:"path"`
	OK   bool   `json:"ok"`
	Body string `json:"body,omitempty"`
}

// Probes reads /readyz and /livez; a 404 (older etcd) is left out.
func (s *MetricsSession) Probes(ctx context.Context) ([]Probe, error) {
	var out []Probe
	for _, p := range []string{"/readyz", "/livez"} {
		code, body, err := s.get(ctx, p)
		if err != nil {
			return out, err
		}
		if code == http.StatusNotFound {
			continue
		}
		out = append(out, Probe{Path: p, OK: code == http.StatusOK, Body: strings.TrimSpace(string(body))})
	}
	return out, nil
}

// Status fills what /metrics tells: version, member ID, DB size and in-use, quota, learner and
// leader state. The rest stays zero (see MetricsUnavailable).
func (s *MetricsSession) Status(ctx context.Context) (*clientv3.StatusResponse, error) {
	code, body, err := s.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics returned %d", code)
	}
	m := ParseMetrics(string(body))
	st := &clientv3.StatusResponse{Header: &etcdserverpb.ResponseHeader{}}
	st.Version = m.Labels["etcd_server_version"]["server_version"]
	if id, ok := m.Labels["etcd_server_id"]["server_id"]; ok {
		if v, err := strconv.ParseUint(id, 16, 64); err == nil {
			st.Header.MemberId = v
		}
	}
	st.DbSize = int64(m.Values["etcd_mvcc_db_total_size_in_bytes"])
	st.DbSizeInUse = int64(m.Values["etcd_mvcc_db_total_size_in_use_in_bytes"])
	st.DbSizeQuota = int64(m.Values["etcd_server_quota_backend_bytes"])
	st.IsLearner = m.Values["etcd_server_is_learner"] == 1
	if m.Values["etcd_server_is_leader"] == 1 {
		st.Leader = st.Header.MemberId
	}
	if m.Values["etcd_server_has_leader"] == 0 {
		st.Errors = append(st.Errors, "member has no leader")
	}
	return st, nil
}

func (s *MetricsSession) MemberList(context.Context) (*clientv3.MemberListResponse, error) {
	return nil, fmt.Errorf("member list: %w", ErrNeedsCertificates)
}

func (s *MetricsSession) AlarmList(context.Context) (*clientv3.AlarmResponse, error) {
	return nil, fmt.Errorf("alarm list: %w", ErrNeedsCertificates)
}

// ServerCertificate reads the serving certificate of the member's client port through a second
// forward; no client certificate is needed for that.
func (s *MetricsSession) ServerCertificate(ctx context.Context) (*x509.Certificate, error) {
	if !strings.HasPrefix(s.member.LocalClientURL, "https://") {
		return nil, fmt.Errorf("client URL %s has no TLS", s.member.LocalClientURL)
	}
	port, err := memberPort(s.member.LocalClientURL)
	if err != nil {
		return nil, err
	}
	f, err := s.conn.forward(ctx, s.member, port)
	if err != nil {
		return nil, err
	}
	// This forward serves only the peek, so the reset etcd answers a connection without a
	// client certificate with cannot hurt another call.
	return peekServerCert(ctx, f.LocalPort, nil)
}

// Metrics are the samples of a Prometheus text exposition, reduced to what the plugin reads.
type Metrics struct {
	// Values holds unlabelled (or first-seen) sample values by metric name.
	Values map[string]float64
	// Labels holds, for info-style gauges, the labels of the sample by metric name.
	Labels map[string]map[string]string
	// LeaderChanges is etcd_server_leader_changes_seen_total.
	LeaderChanges float64
}

// ParseMetrics reads the gauges the plugin uses from a Prometheus text exposition.
func ParseMetrics(text string) *Metrics {
	m := &Metrics{Values: map[string]float64{}, Labels: map[string]map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		if _, seen := m.Values[name]; !seen {
			m.Values[name] = value
			if len(labels) > 0 {
				m.Labels[name] = labels
			}
		}
	}
	m.LeaderChanges = m.Values["etcd_server_leader_changes_seen_total"]
	return m
}

func parseSample(line string) (string, map[string]string, float64, bool) {
	var name, rest string
	labels := map[string]string{}
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", nil, 0, false
		}
		name, rest = line[:i], strings.TrimSpace(line[j+1:])
		for _, kv := range splitLabels(line[i+1 : j]) {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				labels[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	} else {
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", nil, 0, false
		}
		name, rest = f[0], strings.Join(f[1:], " ")
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", nil, 0, false
	}
	return name, labels, v, true
}

// splitLabels splits `a="x",b="y,z"` at the commas outside quotes.
func splitLabels(s string) []string {
	var out []string
	inQ, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQ = !inQ
		case ',':
			if !inQ {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func (s *MetricsSession) MemberAdd(context.Context, string, []string, bool) (*clientv3.MemberAddResponse, error) {
	return nil, fmt.Errorf("member add: %w", ErrNeedsCertificates)
}

func (s *MetricsSession) MemberRemove(context.Context, uint64) (*clientv3.MemberRemoveResponse, error) {
	return nil, fmt.Errorf("member remove: %w", ErrNeedsCertificates)
}

func (s *MetricsSession) MemberPromote(context.Context, uint64) (*clientv3.MemberPromoteResponse, error) {
	return nil, fmt.Errorf("member promote: %w", ErrNeedsCertificates)
}

func (s *MetricsSession) Snapshot(context.Context) (*clientv3.SnapshotResponse, error) {
	return nil, fmt.Errorf("snapshot: %w", ErrNeedsCertificates)
}

func (s *MetricsSession) Defragment(context.Context) error {
	return fmt.Errorf("defrag: %w", ErrNeedsCertificates)
}

func (s *MetricsSession) AlarmDisarm(context.Context, []*etcdserverpb.AlarmMember) (*clientv3.AlarmResponse, error) {
	return nil, fmt.Errorf("alarm disarm: %w", ErrNeedsCertificates)
}

func (s *MetricsSession) MoveLeader(context.Context, uint64) error {
	return fmt.Errorf("move-leader: %w", ErrNeedsCertificates)
}

func (s *MetricsSession) HashKV(context.Context, int64) (*clientv3.HashKVResponse, error) {
	return nil, fmt.Errorf("hashkv: %w", ErrNeedsCertificates)
}

func (s *MetricsSession) Compact(context.Context, int64) error {
	return fmt.Errorf("compaction: %w", ErrNeedsCertificates)
}

func (s *MetricsSession) TryLock(context.Context, string, string, time.Duration) (func(context.Context) error, error) {
	return nil, fmt.Errorf("lock: %w", ErrNeedsCertificates)
}

// Range needs the client API.
func (s *MetricsSession) Range(context.Context, string, string, int64) (*clientv3.GetResponse, error) {
	return nil, fmt.Errorf("reading keys: %w", ErrNeedsCertificates)
}

// Downgrade needs the client API.
func (s *MetricsSession) Downgrade(context.Context, clientv3.DowngradeAction, string) (*clientv3.DowngradeResponse, error) {
	return nil, fmt.Errorf("downgrade: %w", ErrNeedsCertificates)
}
