package portforward

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

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

// ReleaseExcept implements transport.Releaser: it stops every forward but those to keep's pod,
// which frees their SPDY connections (a zlib header compressor and buffers each).
func (c *Connector) ReleaseExcept(keep *discovery.Member) {
	prefix := keep.Namespace + "/" + keep.Pod + ":"
	var stop []*Forward
	c.mu.Lock()
	for key, f := range c.forwards {
		if !strings.HasPrefix(key, prefix) {
			stop = append(stop, f)
			delete(c.forwards, key)
		}
	}
	c.mu.Unlock()
	for _, f := range stop {
		f.Close()
	}
}

// forward returns a live forward to pod:port, opening a new one when there is none or the last
// one ended.
func (c *Connector) forward(ctx context.Context, m *discovery.Member, port int) (*Forward, error) {
	key := forwardKey(m, port)
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

func forwardKey(m *discovery.Member, port int) string {
	return m.Namespace + "/" + m.Pod + ":" + strconv.Itoa(port)
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
