package portforward

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/metrics"
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
	port, err := metricsPort(m)
	if err != nil {
		return nil, err
	}
	f, err := c.forward(ctx, m, port)
	if err != nil {
		return nil, err
	}
	return &MetricsSession{conn: c, member: m, fwd: f, port: port}, nil
}

// metricsPort is the port of the member's plain-HTTP metrics listener.
func metricsPort(m *discovery.Member) (int, error) {
	if m.MetricsURL == "" {
		return 0, fmt.Errorf("%s has no --listen-metrics-urls; without client certificates nothing can be read from it", m)
	}
	if !strings.HasPrefix(m.MetricsURL, "http://") {
		return 0, fmt.Errorf("%s: metrics URL %s is not plain HTTP; metrics-only mode needs an http:// --listen-metrics-urls", m, m.MetricsURL)
	}
	port, err := memberPort(m.MetricsURL)
	if err != nil {
		return 0, fmt.Errorf("%s: metrics URL %q: %w", m, m.MetricsURL, err)
	}
	return port, nil
}

// Scrape implements metrics.Scraper: it reads the member's /metrics through a forward to its
// metrics port (no certificates needed).
func (c *MetricsConnector) Scrape(ctx context.Context, m *discovery.Member) (*metrics.Set, error) {
	port, err := metricsPort(m)
	if err != nil {
		return nil, err
	}
	return c.scrape(ctx, m, port)
}

func (c *MetricsConnector) scrape(ctx context.Context, m *discovery.Member, port int) (*metrics.Set, error) {
	code, body, err := c.get(ctx, m, port, "/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics returned %d", code)
	}
	return metrics.Parse(bytes.NewReader(body))
}

// get does one plain-HTTP GET on the member's port through a (reused) forward.
func (c *MetricsConnector) get(ctx context.Context, m *discovery.Member, port int, path string) (int, []byte, error) {
	f, err := c.forward(ctx, m, port)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", f.LocalPort, path), nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
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

// MetricsSession answers from one member's metrics listener.
type MetricsSession struct {
	conn   *MetricsConnector
	member *discovery.Member
	port   int
	fwd    *Forward
}

var _ transport.Session = (*MetricsSession)(nil)

func (s *MetricsSession) Member() *discovery.Member { return s.member }
func (s *MetricsSession) Mode() transport.Mode      { return transport.ModeMetricsOnly }
func (s *MetricsSession) Endpoint() string          { return s.member.MetricsURL }
func (s *MetricsSession) Close() error              { return nil }

func (s *MetricsSession) get(ctx context.Context, path string) (int, []byte, error) {
	return s.conn.get(ctx, s.member, s.port, path)
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

// Status fills what /metrics tells (metrics.Set.Status); the rest stays zero (see
// MetricsUnavailable).
func (s *MetricsSession) Status(ctx context.Context) (*clientv3.StatusResponse, error) {
	set, err := s.conn.scrape(ctx, s.member, s.port)
	if err != nil {
		return nil, err
	}
	return set.Status(), nil
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
