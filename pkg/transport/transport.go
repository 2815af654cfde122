// Package transport defines how the plugin reaches one etcd member through the Kubernetes API.
// The operations in pkg/etcd use only the Session interface, so exec (etcdctl inside the pod) and
// port-forward (gRPC through a forwarded port) are interchangeable and produce the same results.
package transport

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
)

// Mode names a way of reaching the members.
type Mode string

const (
	ModeAuto        Mode = "auto"
	ModeExec        Mode = "exec"
	ModePortForward Mode = "port-forward"
	ModeMetricsOnly Mode = "metrics-only"
)

// Modes lists the values --transport accepts.
var Modes = []Mode{ModeAuto, ModeExec, ModePortForward}

// Health is the result of a health probe against one member, with etcdctl's "endpoint health"
// meaning: a linearizable read succeeds and the cluster has no active alarm.
type Health struct {
	Healthy bool          `json:"healthy"`
	Took    time.Duration `json:"took"`
	Error   string        `json:"error,omitempty"`
}

// Session talks to one etcd member. Results are etcd's own client types, decoded exactly
// (uint64 IDs are never routed through float64). Every method honours ctx's deadline.
type Session interface {
	// Member is the discovered pod this session reaches.
	Member() *discovery.Member
	// Mode says how the member is reached.
	Mode() Mode
	// Endpoint is the member URL the session talks to, as the transport sees it.
	Endpoint() string

	Status(ctx context.Context) (*clientv3.StatusResponse, error)
	Health(ctx context.Context) (*Health, error)
	MemberList(ctx context.Context) (*clientv3.MemberListResponse, error)
	AlarmList(ctx context.Context) (*clientv3.AlarmResponse, error)

	// MemberAdd adds a member (as a learner when learner is set). name only matters to etcdctl,
	// which echoes it in its next-step hints; etcd learns the name when the member starts.
	MemberAdd(ctx context.Context, name string, peerURLs []string, learner bool) (*clientv3.MemberAddResponse, error)
	MemberRemove(ctx context.Context, id uint64) (*clientv3.MemberRemoveResponse, error)
	MemberPromote(ctx context.Context, id uint64) (*clientv3.MemberPromoteResponse, error)

	// Defragment defragments this member's backend (it blocks the member meanwhile).
	Defragment(ctx context.Context) error
	// AlarmDisarm disarms the given alarms (member ID and type) and no other; the response lists
	// those that were active and are disarmed now. A transport that can only disarm every active
	// alarm at once (exec: etcdctl alarm disarm names none) first reads the active alarms and,
	// when one that was not given is active, disarms nothing and returns an *ExtraAlarmsError.
	AlarmDisarm(ctx context.Context, alarms []*etcdserverpb.AlarmMember) (*clientv3.AlarmResponse, error)
	// MoveLeader hands leadership to transferee; the session must be the leader's.
	MoveLeader(ctx context.Context, transferee uint64) error
	// HashKV hashes this member's keyspace up to rev.
	HashKV(ctx context.Context, rev int64) (*clientv3.HashKVResponse, error)
	// Compact compacts the keyspace up to rev (physically).
	Compact(ctx context.Context, rev int64) error

	// TryLock writes key with value under a lease of ttl unless the key exists; on success it
	// returns the function that releases it, else ErrLocked with the holder's value. Transports
	// that can renew the lease do so until release.
	TryLock(ctx context.Context, key, value string, ttl time.Duration) (release func(context.Context) error, err error)

	// Snapshot opens the member's snapshot stream (database followed by its sha256). Only the
	// port-forward transport can stream it; exec saves snapshots on the node instead.
	Snapshot(ctx context.Context) (*clientv3.SnapshotResponse, error)

	// Close releases what the session holds (forwarded ports, gRPC connections).
	Close() error

	// Range reads one page of the keys in [key, end) with their values, serializably (this
	// member answers from its own store; the leader is not involved), at most limit keys in key
	// order. end "\x00" means every key from key on. More in the response says whether keys are
	// left after the page. An answer over the transport's size limit fails with an error that
	// wraps ErrTooLarge.
	Range(ctx context.Context, key, end string, limit int64) (*clientv3.GetResponse, error)
	// Downgrade validates, enables or cancels a cluster downgrade to version (a minor, "3.6";
	// cancel ignores it). etcd answers with the cluster version.
	Downgrade(ctx context.Context, action clientv3.DowngradeAction, version string) (*clientv3.DowngradeResponse, error)
}

// Connector opens sessions to members. One connector serves a whole command run.
type Connector interface {
	Mode() Mode
	Connect(ctx context.Context, m *discovery.Member) (Session, error)
	Close() error
}

// MemberError is a failure that concerns one member only; the others' results still count.
type MemberError struct {
	Pod string
	Op  string
	Err error
}

func (e *MemberError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Pod, e.Op, e.Err) }
func (e *MemberError) Unwrap() error { return e.Err }

// LockedError says another operation holds a member lock.
type LockedError struct {
	Key, Holder string
}

func (e *LockedError) Error() string { return fmt.Sprintf("%s is held by %s", e.Key, e.Holder) }

// CleanupTimeout bounds clean-up calls that run after the caller's context may have ended, such
// as revoking the lease of a lock: one round trip to a busy member fits, and an interrupted run
// still exits within seconds.
const CleanupTimeout = 5 * time.Second

// CleanupContext returns a context for clean-up that must run even when ctx is already cancelled
// (Ctrl-C, an expired deadline), bounded by CleanupTimeout. It keeps ctx's values.
func CleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), CleanupTimeout)
}

// ExtraAlarmsError says that AlarmDisarm disarmed nothing because alarms other than those given
// are active and the transport cannot leave them armed while disarming the others.
type ExtraAlarmsError struct {
	Extra []*etcdserverpb.AlarmMember
}

func (e *ExtraAlarmsError) Error() string {
	names := make([]string, 0, len(e.Extra))
	for _, a := range e.Extra {
		names = append(names, fmt.Sprintf("%x:%s", a.MemberID, a.Alarm))
	}
	return fmt.Sprintf("alarms not asked for are active (%s) and etcdctl can only disarm all of them at once; nothing was disarmed", strings.Join(names, ", "))
}

// ExtraAlarms returns the alarms of active that are not in given (same member and type).
func ExtraAlarms(active, given []*etcdserverpb.AlarmMember) []*etcdserverpb.AlarmMember {
	var extra []*etcdserverpb.AlarmMember
	for _, a := range active {
		if a.Alarm == etcdserverpb.AlarmType_NONE {
			continue
		}
		if !slices.ContainsFunc(given, func(g *etcdserverpb.AlarmMember) bool { return g.MemberID == a.MemberID && g.Alarm == a.Alarm }) {
			extra = append(extra, a)
		}
	}
	return extra
}

// ErrUnsupported is returned by a transport for what it cannot do (metrics-only has no member list).
var ErrUnsupported = errors.New("not supported by this transport")

// ErrTooLarge says an answer was larger than the transport takes (the gRPC receive limit, the
// output cap of a command run through exec); asking for less (a smaller page) may pass.
var ErrTooLarge = errors.New("answer too large")

// EndpointStatus is one member's status as a cluster-wide read returns it: the client URL asked
// (from the member list) and the answer.
type EndpointStatus struct {
	Endpoint string
	Status   *clientv3.StatusResponse
}

// EndpointHealth is one member's health as a cluster-wide read returns it.
type EndpointHealth struct {
	Endpoint string
	Health
}

// ClusterReader is implemented by sessions for which one call that asks every member from this
// one (etcdctl's --cluster) costs far less than one call per member: exec, where every call is
// a process started in the pod through the API server and the kubelet. The member first reads
// the member list (a linearizable read through it), then asks the others at their client URLs.
// A member that does not answer is left out of the result (status) or reported unhealthy
// (health); err is set when some member did not answer, with the answers of the others still
// returned.
type ClusterReader interface {
	ClusterStatus(ctx context.Context) ([]EndpointStatus, error)
	// ClusterHealth probes every member: a linearizable read through it and the alarm list.
	ClusterHealth(ctx context.Context) ([]EndpointHealth, error)
}

// ClusterReading is implemented by connectors whose sessions are ClusterReaders, so that a
// caller knows before it connects.
type ClusterReading interface {
	ReadsCluster() bool
}

// ReadsCluster says whether conn's sessions implement ClusterReader.
func ReadsCluster(conn Connector) bool {
	c, ok := conn.(ClusterReading)
	return ok && c.ReadsCluster()
}

// CertInspector is implemented by sessions that can read the member's serving certificate.
type CertInspector interface {
	ServerCertificate(ctx context.Context) (*x509.Certificate, error)
}

// Limited is implemented by connectors that cannot fill every status field.
type Limited interface {
	// Unavailable names the fields this transport leaves empty.
	Unavailable() []string
}

// SnapshotStreamer is implemented by connectors whose sessions can stream a snapshot although
// their Mode cannot (the node helper: a pod on the member's node takes it and hands it over).
type SnapshotStreamer interface {
	StreamsSnapshots() bool
}

// CanStream says whether conn's sessions can stream a snapshot to this machine.
func CanStream(conn Connector) bool {
	if s, ok := conn.(SnapshotStreamer); ok && s.StreamsSnapshots() {
		return true
	}
	return conn.Mode() == ModePortForward
}

// SnapshotRouter is implemented by sessions that say how their last snapshot came: a route name
// and the helper that carried it (a pod, namespace/name).
type SnapshotRouter interface {
	SnapshotRoute() (route, via string)
}

// Releaser is implemented by connectors that keep per-member connections open between sessions
// (port-forward: one forward, with its own SPDY connection and buffers, per member). ReleaseExcept
// closes those of every member but keep, so that a long stream from one member (a snapshot) does
// not carry the connections a survey of all members opened; a later session reopens them.
type Releaser interface {
	ReleaseExcept(keep *discovery.Member)
}

// ReleaseExcept calls conn's ReleaseExcept when it has one; otherwise it does nothing.
func ReleaseExcept(conn Connector, keep *discovery.Member) {
	if r, ok := conn.(Releaser); ok {
		r.ReleaseExcept(keep)
	}
}
