package nodehelper

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// Connector wraps the connector of a transport that cannot stream snapshots (exec,
// metrics-only) so that its sessions can: Snapshot runs the SnapshotHelper on the member's
// node. Every other call goes to the wrapped session.
type Connector struct {
	transport.Connector
	Snapshots *SnapshotHelper
}

var (
	_ transport.Connector        = (*Connector)(nil)
	_ transport.SnapshotStreamer = (*Connector)(nil)
)

// StreamsSnapshots implements transport.SnapshotStreamer.
func (c *Connector) StreamsSnapshots() bool { return true }

// Unavailable implements transport.Limited for a wrapped transport that is limited
// (metrics-only), so that the wrapping does not hide which status fields it leaves empty.
func (c *Connector) Unavailable() []string {
	if l, ok := c.Connector.(transport.Limited); ok {
		return l.Unavailable()
	}
	return nil
}

// ReleaseExcept implements transport.Releaser for the wrapped transport.
func (c *Connector) ReleaseExcept(keep *discovery.Member) { transport.ReleaseExcept(c.Connector, keep) }

// Connect opens the wrapped transport's session and adds the helper to it.
func (c *Connector) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	s, err := c.Connector.Connect(ctx, m)
	if err != nil {
		return nil, err
	}
	return &session{Session: s, c: c}, nil
}

type session struct {
	transport.Session
	c *Connector
}

var _ transport.SnapshotRouter = (*session)(nil)

// Snapshot takes the snapshot on the member's node with a helper pod; closing the stream
// deletes the pod.
func (s *session) Snapshot(ctx context.Context) (*clientv3.SnapshotResponse, error) {
	m := s.Member()
	// The database size bounds the helper's deadline and scratch space; unknown is 0.
	var size int64
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if st, err := s.Session.Status(sctx); err == nil {
		size = st.DbSize
	}
	cancel()
	rc, err := s.c.Snapshots.Open(ctx, m, size)
	if err != nil {
		return nil, err
	}
	return &clientv3.SnapshotResponse{Snapshot: rc}, nil
}

// SnapshotRoute implements transport.SnapshotRouter.
func (s *session) SnapshotRoute() (route, via string) {
	r, pod := s.c.Snapshots.Used()
	return "helper-" + string(r), pod
}
