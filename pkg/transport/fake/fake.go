// Package fake is an in-memory transport for unit tests: each pod answers from a scripted member.
package fake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/metrics"
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
	// Leaderless makes the member's status report no leader (and etcd's "no leader" error), as
	// a member cut off from the others does.
	Leaderless bool
	// ApplyLag is how far the member's applied index trails its raft index.
	ApplyLag uint64
	Version  string
	// StorageVersion is what the member's status reports as its storage version.
	StorageVersion string
	DBSize         int64
	InUse          int64
	// Quota is what the member's status reports as its backend quota (0: not reported).
	Quota     int64
	RaftIndex uint64
	PeerURLs  []string
	// ClientURLs of the member; empty for a member that never started.
	ClientURLs []string
	// InSync says whether a learner has caught up enough to be promoted.
	InSync bool
	// SnapshotData is what Snapshot streams (database plus trailer).
	SnapshotData []byte
	// KVHash is what HashKV reports (members with different values are inconsistent).
	KVHash uint32
	// Revision is the member's current revision.
	Revision int64
	// CompactRevision is the member's compact revision: HashKV below it fails as etcd's does.
	CompactRevision int64
	// Metrics are the /metrics texts the member's scrapes return in turn (the last one
	// repeats); without any, a scrape fails as it would without a metrics listener.
	Metrics []string
	scrapes int
}

// Cluster is a scripted etcd cluster; pods map to members by pod name.
type Cluster struct {
	mu        sync.Mutex
	ClusterID uint64
	LeaderID  uint64
	Members   []*Member
	PodMember map[string]uint64
	Alarms    []*etcdserverpb.AlarmMember
	// AlarmListErr, when set, fails every alarm list with it (metrics-only has no alarm list).
	AlarmListErr error
	// OnAlarmDisarm, when set, runs before alarms are disarmed (an alarm raised after the plan).
	OnAlarmDisarm func(c *Cluster)
	Calls         []string
	// BeforeCall, when set, runs (without the lock) before every call a session makes, with the
	// pod asked and the operation ("status", "member list", "hashkv 42", ...).
	BeforeCall func(c *Cluster, pod, op string)
	// MaxLearners is etcd's --max-learners (default 1).
	MaxLearners int
	// BeforePromote, when set, runs inside MemberPromote before the change; a non-nil error is
	// returned instead of applying it.
	BeforePromote func(c *Cluster, id uint64) error
	// AfterPromote, when set, runs after the change is applied; a non-nil error is returned as
	// if the response had been lost (the change stays applied).
	AfterPromote func(c *Cluster, id uint64) error
	// OnConnect, when set, runs before a session to a pod is opened; an error fails Connect
	// with it, as an API-server outage or a refused exec would.
	OnConnect func(ctx context.Context, c *Cluster, pod string) error
	// OnDefrag, when set, runs before a member is defragmented; an error fails that defrag.
	OnDefrag func(c *Cluster, id uint64) error
	// Defragged records the members defragmented, in order.
	Defragged []uint64
	// LeaderMoves records leadership transfers.
	LeaderMoves []uint64
	// OnMoveLeader, when set, runs (with the cluster locked) when the leader accepts a transfer;
	// false keeps the old leader, as a transfer that never completes would.
	OnMoveLeader func(c *Cluster, to uint64) bool
	// Locks holds the member locks taken (key -> holder).
	Locks map[string]string
	// OnLock, when set, runs before a lock is taken; an error fails TryLock with it.
	OnLock func(c *Cluster, key string) error
	// KV is the keyspace every member serves to Range (key -> value).
	KV map[string]string
	// RangeErrAfter, when set, fails Range once it has served this many pages (0: never).
	RangeErrAfter int
	// MaxRangeBytes, when set, fails a Range page whose keys and values add up to more, with
	// transport.ErrTooLarge (a gRPC receive limit, exec's output cap).
	MaxRangeBytes int
	ranges        int
	nextID        uint64
	// Downgrade is the cluster's downgrade state (every member reports it in its status when
	// the member's version is 3.6 or later); Downgrades records the calls (action and version).
	Downgrade  *etcdserverpb.DowngradeInfo
	Downgrades []string
	// ClusterReads makes sessions implement transport.ClusterReader, as exec's do: one member
	// reads every member's status and health (etcdctl --cluster).
	ClusterReads bool
	// OnDowngrade, when set, answers a downgrade call instead of the built-in rules.
	OnDowngrade func(c *Cluster, action clientv3.DowngradeAction, version string) (*clientv3.DowngradeResponse, error)
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
func (f *connector) ReadsCluster() bool   { return f.c.ClusterReads }

// ReleaseExcept implements transport.Releaser; it records "release except POD".
func (f *connector) ReleaseExcept(keep *discovery.Member) { f.c.record("release except " + keep.Pod) }

func (f *connector) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	if f.c.OnConnect != nil {
		if err := f.c.OnConnect(ctx, f.c, m.Pod); err != nil {
			return nil, err
		}
	}
	if f.c.ClusterReads {
		return &clusterSession{session{c: f.c, m: m}}, nil
	}
	return &session{c: f.c, m: m}, nil
}

// clusterSession is a session with the cluster-wide reads of transport.ClusterReader.
type clusterSession struct{ session }

var _ transport.ClusterReader = (*clusterSession)(nil)

// ClusterStatus asks every member with client URLs, as etcdctl endpoint status --cluster does
// from this member: those down are left out, and the error says so.
func (s *clusterSession) ClusterStatus(context.Context) ([]transport.EndpointStatus, error) {
	if _, err := s.self("status --cluster"); err != nil {
		return nil, err
	}
	var out []transport.EndpointStatus
	var err error
	for _, mem := range s.c.listed() {
		if mem.Down {
			err = fmt.Errorf("failed to get the status of endpoint %s (context deadline exceeded)", mem.ClientURLs[0])
			continue
		}
		out = append(out, transport.EndpointStatus{Endpoint: mem.ClientURLs[0], Status: s.statusOf(mem)})
	}
	return out, err
}

// ClusterHealth probes every member with client URLs, as etcdctl endpoint health --cluster.
func (s *clusterSession) ClusterHealth(context.Context) ([]transport.EndpointHealth, error) {
	if _, err := s.self("health --cluster"); err != nil {
		return nil, err
	}
	var out []transport.EndpointHealth
	for _, mem := range s.c.listed() {
		out = append(out, transport.EndpointHealth{Endpoint: mem.ClientURLs[0], Health: *healthOf(mem, nil)})
	}
	return out, nil
}

// listed returns the members with client URLs (those etcdctl --cluster asks).
func (c *Cluster) listed() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Member
	for _, m := range c.Members {
		if len(m.ClientURLs) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// Scrape implements metrics.Scraper (the metrics port): the member's next Metrics text. The
// call is recorded as "<pod> scrape" and BeforeCall sees it.
func (f *connector) Scrape(_ context.Context, m *discovery.Member) (*metrics.Set, error) {
	mem, err := (&session{c: f.c, m: m}).self("scrape")
	if err != nil {
		return nil, err
	}
	f.c.mu.Lock()
	if len(mem.Metrics) == 0 {
		f.c.mu.Unlock()
		return nil, fmt.Errorf("GET /metrics: connection refused (no metrics listener scripted)")
	}
	text := mem.Metrics[min(mem.scrapes, len(mem.Metrics)-1)]
	mem.scrapes++
	f.c.mu.Unlock()
	return metrics.Parse(strings.NewReader(text))
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
	if s.c.BeforeCall != nil {
		s.c.BeforeCall(s.c, s.m.Pod, op)
	}
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
	return s.statusOf(mem), nil
}

func (s *session) statusOf(mem *Member) *clientv3.StatusResponse {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	h := s.header(mem)
	h.Revision = mem.Revision
	st := &clientv3.StatusResponse{Header: h, Version: mem.Version, DbSize: mem.DBSize,
		DbSizeInUse: mem.InUse, DbSizeQuota: mem.Quota, Leader: s.c.LeaderID, RaftIndex: mem.RaftIndex, RaftTerm: 2,
		RaftAppliedIndex: mem.RaftIndex - min(mem.ApplyLag, mem.RaftIndex), IsLearner: mem.Learner, StorageVersion: mem.StorageVersion,
		DowngradeInfo: s.c.downgradeInfo(mem)}
	if mem.Leaderless {
		st.Leader = 0
	}
	// Like etcd: "no leader" and every active alarm of the cluster in each member's errors.
	if st.Leader == 0 {
		st.Errors = append(st.Errors, "etcdserver: no leader")
	}
	for _, a := range s.c.Alarms {
		st.Errors = append(st.Errors, fmt.Sprintf("memberID:%d alarm:%s ", a.MemberID, a.Alarm))
	}
	return st
}

func (c *Cluster) downgradeInfo(mem *Member) *etcdserverpb.DowngradeInfo {
	if c.Downgrade == nil || strings.HasPrefix(mem.Version, "3.5.") || strings.HasPrefix(mem.Version, "3.4.") {
		return nil
	}
	return &etcdserverpb.DowngradeInfo{Enabled: c.Downgrade.Enabled, TargetVersion: c.Downgrade.TargetVersion}
}

func (s *session) Health(context.Context) (*transport.Health, error) {
	mem, err := s.self("health")
	return healthOf(mem, err), nil
}

// healthOf is the health probe's answer from mem, or the failure err to reach it.
func healthOf(mem *Member, err error) *transport.Health {
	switch {
	case err != nil:
		return &transport.Health{Healthy: false, Error: err.Error()}
	case mem.Down:
		return &transport.Health{Healthy: false, Error: "context deadline exceeded"}
	case mem.Unhealthy != "":
		return &transport.Health{Healthy: false, Error: mem.Unhealthy}
	}
	return &transport.Health{Healthy: true, Took: 1000}
}

func (s *session) MemberList(context.Context) (*clientv3.MemberListResponse, error) {
	mem, err := s.self("member list")
	if err != nil {
		return nil, err
	}
	out := &clientv3.MemberListResponse{Header: s.header(mem)}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
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
	if s.c.AlarmListErr != nil {
		return nil, s.c.AlarmListErr
	}
	return &clientv3.AlarmResponse{Header: s.header(mem), Alarms: s.c.Alarms}, nil
}

func (s *session) MemberAdd(_ context.Context, name string, peerURLs []string, learner bool) (*clientv3.MemberAddResponse, error) {
	mem, err := s.self("member add " + name)
	if err != nil {
		return nil, err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	maxLearners := s.c.MaxLearners
	if maxLearners == 0 {
		maxLearners = 1
	}
	n := 0
	for _, m := range s.c.Members {
		if m.Learner {
			n++
		}
		for _, u := range m.PeerURLs {
			for _, p := range peerURLs {
				if u == p {
					return nil, fmt.Errorf("etcdserver: peerURL exists")
				}
			}
		}
	}
	if learner && n >= maxLearners {
		return nil, fmt.Errorf("etcdserver: too many learner members in cluster")
	}
	s.c.nextID++
	nm := &Member{ID: 0x1000 + s.c.nextID, Learner: learner, PeerURLs: peerURLs}
	s.c.Members = append(s.c.Members, nm)
	resp := &clientv3.MemberAddResponse{Header: s.header(mem), Member: &etcdserverpb.Member{ID: nm.ID, PeerURLs: peerURLs, IsLearner: learner}}
	for _, m := range s.c.Members {
		resp.Members = append(resp.Members, &etcdserverpb.Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.Learner})
	}
	return resp, nil
}

func (s *session) MemberRemove(_ context.Context, id uint64) (*clientv3.MemberRemoveResponse, error) {
	mem, err := s.self(fmt.Sprintf("member remove %x", id))
	if err != nil {
		return nil, err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	for i, m := range s.c.Members {
		if m.ID == id {
			s.c.Members = append(s.c.Members[:i], s.c.Members[i+1:]...)
			return &clientv3.MemberRemoveResponse{Header: s.header(mem)}, nil
		}
	}
	return nil, fmt.Errorf("etcdserver: member not found")
}

func (s *session) MemberPromote(_ context.Context, id uint64) (*clientv3.MemberPromoteResponse, error) {
	mem, err := s.self(fmt.Sprintf("member promote %x", id))
	if err != nil {
		return nil, err
	}
	if s.c.BeforePromote != nil {
		if err := s.c.BeforePromote(s.c, id); err != nil {
			return nil, err
		}
	}
	s.c.mu.Lock()
	target := s.c.member(id)
	switch {
	case target == nil:
		s.c.mu.Unlock()
		return nil, fmt.Errorf("etcdserver: member not found")
	case !target.Learner:
		s.c.mu.Unlock()
		return nil, fmt.Errorf("etcdserver: can only promote a learner member")
	case !target.InSync:
		s.c.mu.Unlock()
		return nil, fmt.Errorf("etcdserver: can only promote a learner member which is in sync with leader")
	}
	target.Learner = false
	s.c.mu.Unlock()
	if s.c.AfterPromote != nil {
		if err := s.c.AfterPromote(s.c, id); err != nil {
			return nil, err
		}
	}
	return &clientv3.MemberPromoteResponse{Header: s.header(mem)}, nil
}

// Lock and Unlock guard scripted changes made by test hooks while sessions run.
func (c *Cluster) Lock()   { c.mu.Lock() }
func (c *Cluster) Unlock() { c.mu.Unlock() }

// Find returns the scripted member with this ID.
func (c *Cluster) Find(id uint64) *Member { return c.member(id) }

func (s *session) Snapshot(context.Context) (*clientv3.SnapshotResponse, error) {
	mem, err := s.self("snapshot")
	if err != nil {
		return nil, err
	}
	return &clientv3.SnapshotResponse{Header: s.header(mem), Version: mem.Version,
		Snapshot: io.NopCloser(bytes.NewReader(mem.SnapshotData))}, nil
}

func (s *session) Defragment(context.Context) error {
	mem, err := s.self("defrag")
	if err != nil {
		return err
	}
	if s.c.OnDefrag != nil {
		if err := s.c.OnDefrag(s.c, mem.ID); err != nil {
			return err
		}
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	mem.DBSize = mem.InUse
	s.c.Defragged = append(s.c.Defragged, mem.ID)
	return nil
}

// AlarmDisarm disarms exactly the given alarms, as etcd does for each AlarmRequest; once no
// NOSPACE alarm is left, the members' health no longer reports one.
func (s *session) AlarmDisarm(_ context.Context, alarms []*etcdserverpb.AlarmMember) (*clientv3.AlarmResponse, error) {
	mem, err := s.self("alarm disarm")
	if err != nil {
		return nil, err
	}
	if s.c.OnAlarmDisarm != nil {
		s.c.OnAlarmDisarm(s.c)
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	resp := &clientv3.AlarmResponse{Header: s.header(mem)}
	var left []*etcdserverpb.AlarmMember
	nospace := false
	for _, a := range s.c.Alarms {
		given := false
		for _, g := range alarms {
			given = given || (g.MemberID == a.MemberID && g.Alarm == a.Alarm)
		}
		if given {
			resp.Alarms = append(resp.Alarms, a)
			continue
		}
		left = append(left, a)
		nospace = nospace || a.Alarm == etcdserverpb.AlarmType_NOSPACE
	}
	s.c.Alarms = left
	for _, m := range s.c.Members {
		if !nospace && strings.Contains(m.Unhealthy, "NOSPACE") {
			m.Unhealthy = ""
		}
	}
	return resp, nil
}

func (s *session) MoveLeader(_ context.Context, to uint64) error {
	mem, err := s.self(fmt.Sprintf("move-leader %x", to))
	if err != nil {
		return err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.LeaderID != mem.ID {
		return fmt.Errorf("etcdserver: not leader")
	}
	t := s.c.member(to)
	if t == nil || t.Learner || t.Down {
		return fmt.Errorf("etcdserver: bad leader transferee")
	}
	if s.c.OnMoveLeader != nil && !s.c.OnMoveLeader(s.c, to) {
		return nil
	}
	s.c.LeaderID = to
	s.c.LeaderMoves = append(s.c.LeaderMoves, to)
	return nil
}

func (s *session) HashKV(_ context.Context, rev int64) (*clientv3.HashKVResponse, error) {
	mem, err := s.self(fmt.Sprintf("hashkv %d", rev))
	if err != nil {
		return nil, err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if rev < mem.CompactRevision {
		return nil, fmt.Errorf("etcdserver: mvcc: required revision has been compacted")
	}
	return &clientv3.HashKVResponse{Header: s.header(mem), Hash: mem.KVHash, HashRevision: rev, CompactRevision: mem.CompactRevision}, nil
}

func (s *session) Compact(_ context.Context, rev int64) error {
	_, err := s.self(fmt.Sprintf("compact %d", rev))
	return err
}

func (s *session) TryLock(_ context.Context, key, value string, _ time.Duration) (func(context.Context) error, error) {
	if _, err := s.self("lock " + key); err != nil {
		return nil, err
	}
	if s.c.OnLock != nil {
		if err := s.c.OnLock(s.c, key); err != nil {
			return nil, err
		}
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if h, ok := s.c.Locks[key]; ok {
		return nil, &transport.LockedError{Key: key, Holder: h}
	}
	if s.c.Locks == nil {
		s.c.Locks = map[string]string{}
	}
	s.c.Locks[key] = value
	return func(context.Context) error {
		s.c.mu.Lock()
		delete(s.c.Locks, key)
		s.c.mu.Unlock()
		return nil
	}, nil
}

// Range serves a page of c.KV in key order; it records "range KEY END LIMIT".
func (s *session) Range(_ context.Context, key, end string, limit int64) (*clientv3.GetResponse, error) {
	mem, err := s.self(fmt.Sprintf("range %q %q %d", key, end, limit))
	if err != nil {
		return nil, err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.ranges++
	if s.c.RangeErrAfter > 0 && s.c.ranges > s.c.RangeErrAfter {
		return nil, fmt.Errorf("%s: range: connection lost", mem.Name)
	}
	var keys []string
	for k := range s.c.KV {
		if k == key || (end != "" && k >= key && (end == "\x00" || k < end)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := s.header(mem)
	h.Revision = mem.Revision
	r := &clientv3.GetResponse{Header: h, Count: int64(len(keys))}
	if limit > 0 && int64(len(keys)) > limit {
		keys, r.More = keys[:limit], true
	}
	size := 0
	for _, k := range keys {
		r.Kvs = append(r.Kvs, &mvccpb.KeyValue{Key: []byte(k), Value: []byte(s.c.KV[k]), ModRevision: mem.Revision})
		size += len(k) + len(s.c.KV[k])
	}
	if s.c.MaxRangeBytes > 0 && size > s.c.MaxRangeBytes {
		return nil, fmt.Errorf("%s: range: %d bytes, over the limit of %d: %w", mem.Name, size, s.c.MaxRangeBytes, transport.ErrTooLarge)
	}
	return r, nil
}

// Downgrade answers like etcd 3.6+: validate and enable need a target one minor below every
// member's version (enable records the target), cancel needs an enabled downgrade.
func (s *session) Downgrade(_ context.Context, action clientv3.DowngradeAction, version string) (*clientv3.DowngradeResponse, error) {
	mem, err := s.self(fmt.Sprintf("downgrade %d %s", action, version))
	if err != nil {
		return nil, err
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.Downgrades = append(s.c.Downgrades, fmt.Sprintf("%d %s", action, version))
	if s.c.OnDowngrade != nil {
		return s.c.OnDowngrade(s.c, action, version)
	}
	// Minor versions as major*1000+minor, so that 3.10 sorts after 3.9.
	minor := func(v string) int {
		var major, mnr int
		if _, err := fmt.Sscanf(strings.TrimPrefix(v, "v"), "%d.%d", &major, &mnr); err != nil {
			return -1
		}
		return major*1000 + mnr
	}
	name := func(m int) string { return fmt.Sprintf("%d.%d", m/1000, m%1000) }
	lowest := minor(mem.Version)
	for _, m := range s.c.Members {
		if v := minor(m.Version); m.Version != "" && v < lowest {
			lowest = v
		}
	}
	cluster := name(lowest)
	resp := &clientv3.DowngradeResponse{Header: s.header(mem), Version: cluster}
	switch action {
	case clientv3.DowngradeCancel:
		if s.c.Downgrade == nil || !s.c.Downgrade.Enabled {
			return nil, fmt.Errorf("etcdserver: no inflight downgrade job")
		}
		s.c.Downgrade = &etcdserverpb.DowngradeInfo{}
		return resp, nil
	}
	if minor(version) != lowest-1 || lowest%1000 == 0 {
		return nil, fmt.Errorf("etcdserver: invalid downgrade target version")
	}
	if action == clientv3.DowngradeEnable {
		if s.c.Downgrade != nil && s.c.Downgrade.Enabled {
			return nil, fmt.Errorf("etcdserver: cluster has a downgrade job in progress")
		}
		s.c.Downgrade = &etcdserverpb.DowngradeInfo{Enabled: true, TargetVersion: name(lowest-1) + ".0"}
	}
	return resp, nil
}
