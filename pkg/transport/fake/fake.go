// Package fake is an in-memory transport for unit tests: each pod answers from a scripted member.
package fake

import (
	"context"
	"fmt"
	"sync"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// Member is the scripted state of one member.
type Member struct {
	ID      uint64
	Name    string
	Learner bool
	// Down makes every call to this member fail as an unreachable endpoint would.
	Down bool
	// Unhealthy makes the health probe report this error.
	Unhealthy string
	Version   string
	DBSize    int64
	InUse     int64
	RaftIndex uint64
	PeerURLs  []string
	// ClientURLs of the member; empty for a member that never started.
	ClientURLs []string
}

// Cluster is a scripted etcd cluster; pods map to members by pod name.
type Cluster struct {
	mu        sync.Mutex
	ClusterID uint64
	LeaderID  uint64
	Members   []*Member
	PodMember map[string]uint64
	Alarms    []*etcdserverpb.AlarmMember
	Calls     []string
}

// Connector returns a transport.Connector over this cluster.
func (c *Cluster) Connector() transport.Connector { return &connector{c: c} }

func (c *Cluster) member(id uint64) *Member {
	for _, m := range c.Members {
		if m.ID == id {
			return m
		}
	}
	return nil
}

func (c *Cluster) record(s string) {
	c.mu.Lock()
	c.Calls = append(c.Calls, s)
	c.mu.Unlock()
}

type connector struct{ c *Cluster }

func (f *connector) Mode() transport.Mode { return transport.ModeExec }
func (f *connector) Close() error         { return nil }
func (f *connector) Connect(_ context.Context, m *discovery.Member) (transport.Session, error) {
	return &session{c: f.c, m: m}, nil
}

type session struct {
	c *Cluster
	m *discovery.Member
}

func (s *session) Member() *discovery.Member { return s.m }
func (s *session) Mode() transport.Mode      { return transport.ModeExec }
func (s *session) Endpoint() string          { return s.m.LocalClientURL }
func (s *session) Close() error              { return nil }

func (s *session) self(op string) (*Member, error) {
	s.c.record(s.m.Pod + " " + op)
	id, ok := s.c.PodMember[s.m.Pod]
	mem := s.c.member(id)
	if !ok || mem == nil || mem.Down {
		return nil, fmt.Errorf("context deadline exceeded")
	}
	return mem, nil
}

func (s *session) header(mem *Member) *etcdserverpb.ResponseHeader {
	return &etcdserverpb.ResponseHeader{ClusterId: s.c.ClusterID, MemberId: mem.ID, RaftTerm: 2}
}

func (s *session) Status(context.Context) (*clientv3.StatusResponse, error) {
	mem, err := s.self("status")
	if err != nil {
		return nil, err
	}
	return &clientv3.StatusResponse{Header: s.header(mem), Version: mem.Version, DbSize: mem.DBSize,
		DbSizeInUse: mem.InUse, Leader: s.c.LeaderID, RaftIndex: mem.RaftIndex, RaftTerm: 2,
		RaftAppliedIndex: mem.RaftIndex, IsLearner: mem.Learner}, nil
}

func (s *session) Health(context.Context) (*transport.Health, error) {
	mem, err := s.self("health")
	if err != nil {
		return &transport.Health{Healthy: false, Error: err.Error()}, nil
	}
	if mem.Unhealthy != "" {
		return &transport.Health{Healthy: false, Error: mem.Unhealthy}, nil
	}
	return &transport.Health{Healthy: true, Took: 1000}, nil
}

func (s *session) MemberList(context.Context) (*clientv3.MemberListResponse, error) {
	mem, err := s.self("member list")
	if err != nil {
		return nil, err
	}
	out := &clientv3.MemberListResponse{Header: s.header(mem)}
	for _, m := range s.c.Members {
		out.Members = append(out.Members, &etcdserverpb.Member{ID: m.ID, Name: m.Name, IsLearner: m.Learner,
			PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs})
	}
	return out, nil
}

func (s *session) AlarmList(context.Context) (*clientv3.AlarmResponse, error) {
	mem, err := s.self("alarm list")
	if err != nil {
		return nil, err
	}
	return &clientv3.AlarmResponse{Header: s.header(mem), Alarms: s.c.Alarms}, nil
}
