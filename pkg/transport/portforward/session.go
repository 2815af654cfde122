package portforward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// Connector opens gRPC sessions over port-forwards. Forwards are opened once per member and
// reused by every session of the command; Close stops them all.
type Connector struct {
	Forwarder Forwarder
	// TLS is the client configuration (CA, client pair, server name).
	TLS *tls.Config
	// DialTimeout bounds the gRPC connection set-up.
	DialTimeout time.Duration
	// CertSource names where the client certificates came from, for TLS error messages.
	CertSource string

	mu       sync.Mutex
	forwards map[string]*Forward
}

// Mode implements transport.Connector.
func (c *Connector) Mode() transport.Mode { return transport.ModePortForward }

// Connect opens (or reuses) the forward to the member's client port.
func (c *Connector) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	port, err := memberPort(m.LocalClientURL)
	if err != nil {
		return nil, fmt.Errorf("%s: client URL %q: %w", m, m.LocalClientURL, err)
	}
	if !strings.HasPrefix(m.LocalClientURL, "https://") {
		return nil, fmt.Errorf("%s: client URL %s is not https; the port-forward transport speaks TLS only (use --transport exec)", m, m.LocalClientURL)
	}
	s := &Session{conn: c, member: m, port: port}
	if _, _, err := s.ensure(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// forward returns a live forward to pod:port, opening a new one when there is none or the last
// one ended.
func (c *Connector) forward(ctx context.Context, m *discovery.Member, port int) (*Forward, error) {
	key := m.Namespace + "/" + m.Pod + ":" + strconv.Itoa(port)
	c.mu.Lock()
	f := c.forwards[key]
	c.mu.Unlock()
	if f != nil && f.Alive() {
		return f, nil
	}
	nf, err := c.Forwarder.Forward(ctx, m.Namespace, m.Pod, port)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forwards == nil {
		c.forwards = map[string]*Forward{}
	}
	if old := c.forwards[key]; old != nil && old != f && old.Alive() {
		nf.Close() // another session opened one meanwhile
		return old, nil
	}
	c.forwards[key] = nf
	return nf, nil
}

// Close stops every forward.
func (c *Connector) Close() error {
	c.mu.Lock()
	fs := c.forwards
	c.forwards = nil
	c.mu.Unlock()
	for _, f := range fs {
		f.Close()
	}
	return nil
}

// Session is a gRPC client to one member through a forward.
type Session struct {
	conn   *Connector
	member *discovery.Member
	port   int

	mu  sync.Mutex
	fwd *Forward
	cli *clientv3.Client
}

var _ transport.Session = (*Session)(nil)

func (s *Session) Member() *discovery.Member { return s.member }
func (s *Session) Mode() transport.Mode      { return transport.ModePortForward }

// Endpoint is the member's URL as the pod sees it; the forward's local port is an implementation detail.
func (s *Session) Endpoint() string { return s.member.LocalClientURL }

// Close closes the gRPC client; the forward stays for other sessions until the connector closes.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cli != nil {
		err := s.cli.Close()
		s.cli = nil
		return err
	}
	return nil
}

// ensure returns a client over a live forward, re-opening both when the forward ended.
func (s *Session) ensure(ctx context.Context) (*clientv3.Client, *Forward, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cli != nil && s.fwd != nil && s.fwd.Alive() {
		return s.cli, s.fwd, nil
	}
	if s.cli != nil {
		_ = s.cli.Close()
		s.cli = nil
	}
	f, err := s.conn.forward(ctx, s.member, s.port)
	if err != nil {
		return nil, nil, err
	}
	dial := s.conn.DialTimeout
	if dial <= 0 {
		dial = 5 * time.Second
	}
	if err := probeTLS(ctx, f.LocalPort, s.conn.TLS, dial); err != nil {
		// A closed connection may be the forward failing to reach the member (it is not
		// listening): client-go reports that on the forward a moment later. Prefer that cause.
		if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection reset") {
			select {
			case <-f.Done():
			case <-time.After(time.Second):
			}
			if p := f.Problems(); len(p) > 0 {
				return nil, nil, fmt.Errorf("%s: the member does not accept connections on %s: %s", s.member, s.member.LocalClientURL, strings.Join(p, "; "))
			}
		}
		return nil, nil, s.describeTLS(err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(f.LocalPort))},
		TLS:         s.conn.TLS.Clone(),
		DialTimeout: dial,
		// Keepalives find a dead member or forward within seconds during a long snapshot, and
		// keep idle-timeout middleboxes from cutting a long stream.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Logger:               zap.NewNop(),
		// The forwarded address is the only way in: never learn the members' own URLs.
		AutoSyncInterval:   0,
		MaxCallRecvMsgSize: 64 << 20,
		// One bulk stream (a snapshot) over a relayed, high-latency path: let more bytes be in
		// flight than gRPC's initial 64 KiB window before an acknowledgement.
		DialOptions: []grpc.DialOption{
			grpc.WithInitialWindowSize(4 << 20),
			grpc.WithInitialConnWindowSize(8 << 20),
			grpc.WithReadBufferSize(1 << 20),
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: etcd client: %w", s.member, err)
	}
	s.cli, s.fwd = cli, f
	return cli, f, nil
}

// call runs op with a context that is cancelled when the forward drops, so a lost forward is an
// error on this member at once instead of a wait for the deadline.
func (s *Session) call(ctx context.Context, op func(ctx context.Context, cli *clientv3.Client) error) error {
	cli, f, err := s.ensure(ctx)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-f.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	err = op(cctx, cli)
	if err != nil {
		if !f.Alive() && ctx.Err() == nil {
			return f.Err()
		}
		return describeGRPCError(err, f)
	}
	return nil
}

// describeGRPCError adds what the forward saw to a gRPC failure (the member refused the
// connection, a TLS problem) so that the cause is named rather than a bare deadline.
func describeGRPCError(err error, f *Forward) error {
	if p := f.Problems(); len(p) > 0 && (errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "DeadlineExceeded") || strings.Contains(err.Error(), "Unavailable")) {
		return fmt.Errorf("%w (port-forward: %s)", err, strings.Join(p, "; "))
	}
	return err
}

func (s *Session) Status(ctx context.Context) (*clientv3.StatusResponse, error) {
	var out *clientv3.StatusResponse
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		var err error
		out, err = cli.Status(ctx, cli.Endpoints()[0])
		return err
	})
	return out, err
}

// Health follows etcdctl's "endpoint health": a linearizable read (permission denied still
// proves the member serves) and no active alarm.
func (s *Session) Health(ctx context.Context) (*transport.Health, error) {
	h := &transport.Health{}
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		start := time.Now()
		_, err := cli.Get(ctx, "health")
		h.Took = time.Since(start)
		if err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
			h.Error = err.Error()
			return nil
		}
		al, err := cli.AlarmList(ctx)
		if err != nil {
			h.Error = "unable to fetch the alarm list: " + err.Error()
			return nil
		}
		if len(al.Alarms) > 0 {
			var names []string
			for _, a := range al.Alarms {
				names = append(names, a.Alarm.String())
			}
			h.Error = "Active Alarm(s): " + strings.Join(names, " ")
			return nil
		}
		h.Healthy = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (s *Session) MemberList(ctx context.Context) (*clientv3.MemberListResponse, error) {
	var out *clientv3.MemberListResponse
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		var err error
		out, err = cli.MemberList(ctx)
		return err
	})
	return out, err
}

func (s *Session) AlarmList(ctx context.Context) (*clientv3.AlarmResponse, error) {
	var out *clientv3.AlarmResponse
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		var err error
		out, err = cli.AlarmList(ctx)
		return err
	})
	return out, err
}

// ServerCertificate reads the member's serving certificate from a TLS handshake through the
// forward. No client certificate is needed to see it.
func (s *Session) ServerCertificate(ctx context.Context) (*x509.Certificate, error) {
	_, f, err := s.ensure(ctx)
	if err != nil {
		return nil, err
	}
	return peekServerCert(ctx, f.LocalPort)
}

func peekServerCert(ctx context.Context, localPort int) (*x509.Certificate, error) {
	var leaf *x509.Certificate
	cfg := &tls.Config{
		// Only reading the certificate, trusting nothing it says: verification is skipped here and
		// done for real by the gRPC client.
		InsecureSkipVerify: true, //nolint:gosec // see above
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) > 0 {
				if c, err := x509.ParseCertificate(raw[0]); err == nil {
					leaf = c
				}
			}
			return nil
		},
	}
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(localPort)))
	if conn != nil {
		_ = conn.Close()
	}
	if leaf != nil {
		return leaf, nil
	}
	if err == nil {
		err = errors.New("no certificate presented")
	}
	return nil, fmt.Errorf("reading the server certificate: %w", err)
}

func memberPort(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, err
	}
	if u.Host == "" {
		return 0, errors.New("no host")
	}
	return discovery.URLPort(raw)
}

func (s *Session) MemberAdd(ctx context.Context, _ string, peerURLs []string, learner bool) (*clientv3.MemberAddResponse, error) {
	var out *clientv3.MemberAddResponse
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		var err error
		if learner {
			out, err = cli.MemberAddAsLearner(ctx, peerURLs)
		} else {
			out, err = cli.MemberAdd(ctx, peerURLs)
		}
		return err
	})
	return out, err
}

func (s *Session) MemberRemove(ctx context.Context, id uint64) (*clientv3.MemberRemoveResponse, error) {
	var out *clientv3.MemberRemoveResponse
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		var err error
		out, err = cli.MemberRemove(ctx, id)
		return err
	})
	return out, err
}

func (s *Session) MemberPromote(ctx context.Context, id uint64) (*clientv3.MemberPromoteResponse, error) {
	var out *clientv3.MemberPromoteResponse
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		var err error
		out, err = cli.MemberPromote(ctx, id)
		return err
	})
	return out, err
}

// Snapshot opens the member's snapshot stream. The stream ends with ctx or the forward: a dropped
// forward cancels it at once rather than leaving a reader waiting.
func (s *Session) Snapshot(ctx context.Context) (*clientv3.SnapshotResponse, error) {
	cli, f, err := s.ensure(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-f.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	resp, err := cli.SnapshotWithVersion(cctx)
	if err != nil {
		cancel()
		if !f.Alive() {
			return nil, f.Err()
		}
		return nil, describeGRPCError(err, f)
	}
	resp.Snapshot = &forwardedStream{ReadCloser: resp.Snapshot, fwd: f, cancel: cancel}
	return resp, nil
}

// forwardedStream names the forward when the stream breaks because the forward dropped.
type forwardedStream struct {
	io.ReadCloser
	fwd    *Forward
	cancel context.CancelFunc
}

func (r *forwardedStream) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !r.fwd.Alive() {
		return n, r.fwd.Err()
	}
	return n, err
}

func (r *forwardedStream) Close() error {
	r.cancel()
	return r.ReadCloser.Close()
}

func (s *Session) Defragment(ctx context.Context) error {
	return s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		_, err := cli.Defragment(ctx, cli.Endpoints()[0])
		return err
	})
}

func (s *Session) AlarmDisarm(ctx context.Context) (*clientv3.AlarmResponse, error) {
	var out *clientv3.AlarmResponse
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		var err error
		// A zero member and alarm disarm every active alarm.
		out, err = cli.AlarmDisarm(ctx, &clientv3.AlarmMember{})
		return err
	})
	return out, err
}

func (s *Session) MoveLeader(ctx context.Context, transferee uint64) error {
	return s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		_, err := cli.MoveLeader(ctx, transferee)
		return err
	})
}

func (s *Session) HashKV(ctx context.Context, rev int64) (*clientv3.HashKVResponse, error) {
	var out *clientv3.HashKVResponse
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		var err error
		out, err = cli.HashKV(ctx, cli.Endpoints()[0], rev)
		return err
	})
	return out, err
}

func (s *Session) Compact(ctx context.Context, rev int64) error {
	return s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		_, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical())
		return err
	})
}

// probeTLS makes one TLS connection through the forward with the client configuration and sends
// the HTTP/2 preface, so that a certificate problem on either side shows up at once and by name
// instead of as a gRPC deadline: a server certificate our CA does not trust fails the handshake;
// a client certificate the server rejects arrives as an alert on the first read (TLS 1.3).
func probeTLS(ctx context.Context, port int, cfg *tls.Config, timeout time.Duration) error {
	c := cfg.Clone()
	c.NextProtos = []string{"h2"}
	d := tls.Dialer{Config: c, NetDialer: &net.Dialer{Timeout: timeout}}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	// Client preface and an empty SETTINGS frame; the server answers with its SETTINGS.
	preface := append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)
	if _, err := conn.Write(preface); err != nil {
		return err
	}
	buf := make([]byte, 1)
	if _, err := conn.Read(buf); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil // no verdict in time: let the real call decide
		}
		return err
	}
	return nil
}

// describeTLS turns a TLS failure into a message that says which side is wrong.
func (s *Session) describeTLS(err error) error {
	src := s.conn.CertSource
	if src == "" {
		src = "the given certificates"
	}
	msg := err.Error()
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cie x509.CertificateInvalidError
	switch {
	case errors.As(err, &uae) || strings.Contains(msg, "certificate signed by unknown authority"):
		return fmt.Errorf("%s: TLS: the etcd server certificate is not signed by the CA from %s (%v); give the etcd CA with --cacert", s.member, src, err)
	case errors.As(err, &hne):
		return fmt.Errorf("%s: TLS: the etcd server certificate is not valid for the forwarded address (%v); set --tls-server-name to a name it carries", s.member, err)
	case errors.As(err, &cie):
		return fmt.Errorf("%s: TLS: the etcd server certificate is not valid (%v)", s.member, err)
	case strings.Contains(msg, "remote error: tls:"):
		return fmt.Errorf("%s: TLS: etcd rejected the client certificate from %s (%v); it must be signed by the etcd CA and allow client auth", s.member, src, err)
	case strings.Contains(msg, "connection reset") || errors.Is(err, io.EOF):
		return fmt.Errorf("%s: TLS handshake failed: the member closed the connection (%v); check the client certificate from %s, or whether etcd listens on %s", s.member, err, src, s.member.LocalClientURL)
	}
	return fmt.Errorf("%s: TLS to %s failed: %w", s.member, s.member.LocalClientURL, err)
}

// TryLock takes the key in one transaction (only if absent) under a lease that is kept alive
// until release.
func (s *Session) TryLock(ctx context.Context, key, value string, ttl time.Duration) (func(context.Context) error, error) {
	cli, _, err := s.ensure(ctx)
	if err != nil {
		return nil, err
	}
	lease, err := cli.Grant(ctx, int64(ttl.Seconds())+1)
	if err != nil {
		return nil, err
	}
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, value, clientv3.WithLease(lease.ID))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil || !resp.Succeeded {
		rctx, cancel := transport.CleanupContext(ctx)
		_, _ = cli.Revoke(rctx, lease.ID)
		cancel()
		if err != nil {
			return nil, err
		}
		holder := "another operation"
		if len(resp.Responses) > 0 && len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
			holder = string(resp.Responses[0].GetResponseRange().Kvs[0].Value)
		}
		return nil, &transport.LockedError{Key: key, Holder: holder}
	}
	kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	if ch, err := cli.KeepAlive(kctx, lease.ID); err == nil {
		go func() {
			for range ch { //nolint:revive // drain keep-alive answers
			}
		}()
	}
	return func(ctx context.Context) error {
		stop()
		_, err := cli.Revoke(ctx, lease.ID)
		return err
	}, nil
}

// Range implements transport.Session with a serializable, paginated Get.
func (s *Session) Range(ctx context.Context, key, end string, limit int64) (*clientv3.GetResponse, error) {
	var out *clientv3.GetResponse
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		var err error
		out, err = cli.Get(ctx, key, clientv3.WithRange(end), clientv3.WithLimit(limit), clientv3.WithSerializable())
		return err
	})
	return out, err
}

func (s *Session) Downgrade(ctx context.Context, action clientv3.DowngradeAction, version string) (*clientv3.DowngradeResponse, error) {
	var out *clientv3.DowngradeResponse
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		var err error
		out, err = cli.Downgrade(ctx, action, version)
		return err
	})
	return out, err
}
