package portforward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

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
			wait := time.NewTimer(time.Second)
			select {
			case <-f.Done():
			case <-wait.C:
			case <-ctx.Done():
			}
			wait.Stop()
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
		// flight than gRPC's initial 64 KiB window before an acknowledgement. The read buffer
		// stays small: the forward delivers at most a few frames per read.
		DialOptions: []grpc.DialOption{
			grpc.WithInitialWindowSize(4 << 20),
			grpc.WithInitialConnWindowSize(8 << 20),
			grpc.WithReadBufferSize(64 << 10),
			grpc.WithDefaultCallOptions(grpc.ForceCodecV2(newRecvCodec())),
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
	resp, err := openSnapshot(cctx, cli.ActiveConnection())
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

// AlarmDisarm disarms each given alarm on its own (etcd's AlarmRequest names one member and
// type), so an alarm raised meanwhile stays armed.
func (s *Session) AlarmDisarm(ctx context.Context, alarms []*etcdserverpb.AlarmMember) (*clientv3.AlarmResponse, error) {
	out := &clientv3.AlarmResponse{}
	err := s.call(ctx, func(ctx context.Context, cli *clientv3.Client) error {
		for _, a := range alarms {
			if a.MemberID == 0 || a.Alarm == etcdserverpb.AlarmType_NONE {
				continue // the client reads a zero member and alarm as "every active alarm"
			}
			resp, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: a.MemberID, Alarm: a.Alarm})
			if err != nil {
				return err
			}
			out.Header = resp.Header
			out.Alarms = append(out.Alarms, resp.Alarms...)
		}
		return nil
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
	return out, tooLarge(err)
}

// tooLarge marks a gRPC ResourceExhausted (an answer over the receive limit) as
// transport.ErrTooLarge.
func tooLarge(err error) error {
	if err != nil && status.Code(err) == codes.ResourceExhausted {
		return fmt.Errorf("%w: %w", transport.ErrTooLarge, err)
	}
	return err
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
