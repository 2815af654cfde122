// Package exec reaches etcd members by running etcdctl inside their own pods through the
// Kubernetes API, with the endpoint and certificate paths read from each pod's etcd flags.
// The etcd image is distroless, so only argv is ever sent: no shell, no pipes.
package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// DefaultEtcdctl is the etcdctl that etcd images carry on their PATH.
const DefaultEtcdctl = "etcdctl"

// defaultCommandTimeout bounds an etcdctl call when the caller's context has no deadline.
const defaultCommandTimeout = 30 * time.Second

// Connector opens exec sessions.
type Connector struct {
	Executor Executor
	// Etcdctl is the etcdctl binary to run in the container (default "etcdctl").
	Etcdctl string
	// Via, when set, is the container etcdctl runs in for every member instead of the member's
	// own pod: a helper pod that reaches members with no pod in the API (external etcd), with
	// the member's endpoint and certificate paths as they are inside that container.
	Via *Target
}

// Target is a container that etcdctl is exec'd in.
type Target struct {
	Namespace, Pod, Container string
}

// Mode implements transport.Connector.
func (c *Connector) Mode() transport.Mode { return transport.ModeExec }

// Connect implements transport.Connector. Nothing is opened until the first call.
func (c *Connector) Connect(_ context.Context, m *discovery.Member) (transport.Session, error) {
	if m.LocalClientURL == "" {
		return nil, fmt.Errorf("%s: no client URL in the etcd flags", m)
	}
	bin := c.Etcdctl
	if bin == "" {
		bin = DefaultEtcdctl
	}
	s := &Session{member: m, exec: c.Executor, etcdctl: bin}
	if c.Via != nil {
		s.via = *c.Via
	}
	return s, nil
}

// Close implements transport.Connector.
func (c *Connector) Close() error { return nil }

// ReadsCluster implements transport.ClusterReading: sessions run etcdctl's --cluster forms.
func (c *Connector) ReadsCluster() bool { return true }

// Session runs etcdctl in one member's pod.
type Session struct {
	member  *discovery.Member
	exec    Executor
	etcdctl string
	via     Target // the container to exec in, when not the member's own (Connector.Via)
}

// target is the container etcdctl runs in: Via's, else the member's own.
func (s *Session) target() Target {
	if s.via.Pod != "" {
		return s.via
	}
	return Target{Namespace: s.member.Namespace, Pod: s.member.Pod, Container: s.member.Container}
}

var _ transport.Session = (*Session)(nil)

func (s *Session) Member() *discovery.Member { return s.member }
func (s *Session) Mode() transport.Mode      { return transport.ModeExec }
func (s *Session) Endpoint() string          { return s.member.LocalClientURL }
func (s *Session) Close() error              { return nil }

// Argv builds the etcdctl command line for this member: its in-pod endpoint, the certificate
// paths from its own flags, JSON output and timeouts derived from ctx.
func (s *Session) Argv(ctx context.Context, args ...string) []string {
	m := s.member
	timeout := defaultCommandTimeout
	if dl, ok := ctx.Deadline(); ok {
		// Leave etcdctl a little less than the caller so that its own error, which says what
		// timed out, arrives before the exec stream is cut.
		timeout = time.Until(dl) - 500*time.Millisecond
		if timeout < time.Second {
			timeout = time.Second
		}
	}
	dial := timeout
	if dial > 5*time.Second {
		dial = 5 * time.Second
	}
	argv := []string{s.etcdctl, "--endpoints=" + m.LocalClientURL}
	if strings.HasPrefix(m.LocalClientURL, "https://") || strings.HasPrefix(m.LocalClientURL, "unixs://") {
		if m.TrustedCAFile != "" {
			argv = append(argv, "--cacert="+m.TrustedCAFile)
		}
		if m.CertFile != "" && m.KeyFile != "" {
			argv = append(argv, "--cert="+m.CertFile, "--key="+m.KeyFile)
		}
	}
	argv = append(argv,
		"--dial-timeout="+dial.Round(time.Millisecond).String(),
		"--command-timeout="+timeout.Round(time.Millisecond).String(),
		"-w", "json")
	return append(argv, args...)
}

// run executes etcdctl with args and returns its stdout. A non-zero exit becomes an error that
// carries etcdctl's own message; stdout is returned too, since some commands print JSON and
// still exit non-zero (an unhealthy endpoint health).
func (s *Session) run(ctx context.Context, args ...string) ([]byte, error) {
	return s.runInput(ctx, nil, args...)
}

// runInput is run with stdin fed to etcdctl (nil: no standard input).
func (s *Session) runInput(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	o := newOutputs()
	stdout, stderr := o.stdout, o.stderr
	argv := s.Argv(ctx, args...)
	t := s.target()
	err := s.exec.Exec(ctx, t.Namespace, t.Pod, t.Container, argv, stdin, stdout, stderr)
	if oerr := o.overflow(); oerr != nil {
		return nil, fmt.Errorf("etcdctl %s: %w", strings.Join(args, " "), oerr)
	}
	if err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			msg := etcdctlMessage(stderr.String())
			if msg == "" {
				msg = "no message on stderr"
			}
			return stdout.Bytes(), fmt.Errorf("etcdctl %s exited with code %d: %s", strings.Join(args, " "), ee.Code, msg)
		}
		if ctx.Err() != nil {
			return stdout.Bytes(), fmt.Errorf("etcdctl %s: %w", strings.Join(args, " "), ctx.Err())
		}
		return stdout.Bytes(), err
	}
	return stdout.Bytes(), nil
}

// etcdctlMessage extracts the human part of etcdctl's stderr: its "Error: ..." line, or else the
// last line that is not one of its structured (JSON) log lines.
func etcdctlMessage(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	var last string
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "Error: ") {
			return strings.TrimPrefix(l, "Error: ")
		}
		if last == "" && !strings.HasPrefix(l, "{") {
			last = l
		}
	}
	if last != "" {
		return last
	}
	// Only structured logs: report the message and error of the last one.
	for i := len(lines) - 1; i >= 0; i-- {
		var entry struct {
			Msg   string `json:"msg"`
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(lines[i]), &entry) == nil && entry.Msg != "" {
			if entry.Error != "" {
				return entry.Msg + ": " + entry.Error
			}
			return entry.Msg
		}
	}
	return ""
}

// Status implements transport.Session with "etcdctl endpoint status".
func (s *Session) Status(ctx context.Context) (*clientv3.StatusResponse, error) {
	out, err := s.run(ctx, "endpoint", "status")
	if err != nil {
		return nil, err
	}
	return DecodeEndpointStatus(out)
}

// Health implements transport.Session with "etcdctl endpoint health".
func (s *Session) Health(ctx context.Context) (*transport.Health, error) {
	out, err := s.run(ctx, "endpoint", "health")
	if h, derr := DecodeEndpointHealth(out); derr == nil {
		return h, nil // etcdctl exits 1 for an unhealthy endpoint but still reports it
	}
	if err != nil {
		return nil, err
	}
	return DecodeEndpointHealth(out)
}

var _ transport.ClusterReader = (*Session)(nil)

// ClusterStatus implements transport.ClusterReader with "etcdctl endpoint status --cluster":
// one process in this pod asks every member of the member list. etcdctl prints the statuses it
// got and exits non-zero when one endpoint failed; those statuses are returned with the error.
func (s *Session) ClusterStatus(ctx context.Context) ([]transport.EndpointStatus, error) {
	out, err := s.run(ctx, "endpoint", "status", "--cluster")
	st, derr := DecodeEndpointStatuses(out)
	if err != nil {
		return st, err
	}
	return st, derr
}

// ClusterHealth implements transport.ClusterReader with "etcdctl endpoint health --cluster",
// which probes every member concurrently. etcdctl exits non-zero when one is unhealthy, and
// still prints every result.
func (s *Session) ClusterHealth(ctx context.Context) ([]transport.EndpointHealth, error) {
	out, err := s.run(ctx, "endpoint", "health", "--cluster")
	if h, derr := DecodeEndpointHealths(out); derr == nil {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	return DecodeEndpointHealths(out)
}

// MemberList implements transport.Session with "etcdctl member list".
func (s *Session) MemberList(ctx context.Context) (*clientv3.MemberListResponse, error) {
	out, err := s.run(ctx, "member", "list")
	if err != nil {
		return nil, err
	}
	return DecodeMemberList(out)
}

// AlarmList implements transport.Session with "etcdctl alarm list".
func (s *Session) AlarmList(ctx context.Context) (*clientv3.AlarmResponse, error) {
	out, err := s.run(ctx, "alarm", "list")
	if err != nil {
		return nil, err
	}
	return DecodeAlarmList(out)
}

// MemberAdd implements transport.Session with "etcdctl member add". The name comes last, after
// "--", so that a name starting with "-" is a name and not an option.
func (s *Session) MemberAdd(ctx context.Context, name string, peerURLs []string, learner bool) (*clientv3.MemberAddResponse, error) {
	args := []string{"member", "add", "--peer-urls=" + strings.Join(peerURLs, ",")}
	if learner {
		args = append(args, "--learner")
	}
	args = append(args, "--", name)
	out, err := s.run(ctx, args...)
	if err != nil {
		return nil, err
	}
	var resp clientv3.MemberAddResponse
	return &resp, decodeStrict(out, &resp)
}

// MemberRemove implements transport.Session with "etcdctl member remove".
func (s *Session) MemberRemove(ctx context.Context, id uint64) (*clientv3.MemberRemoveResponse, error) {
	out, err := s.run(ctx, "member", "remove", strconv.FormatUint(id, 16))
	if err != nil {
		return nil, err
	}
	var resp clientv3.MemberRemoveResponse
	return &resp, decodeStrict(out, &resp)
}

// MemberPromote implements transport.Session with "etcdctl member promote".
func (s *Session) MemberPromote(ctx context.Context, id uint64) (*clientv3.MemberPromoteResponse, error) {
	out, err := s.run(ctx, "member", "promote", strconv.FormatUint(id, 16))
	if err != nil {
		return nil, err
	}
	var resp clientv3.MemberPromoteResponse
	return &resp, decodeStrict(out, &resp)
}

// Snapshot is not possible through exec: etcdctl cannot write a snapshot to stdout.
func (s *Session) Snapshot(context.Context) (*clientv3.SnapshotResponse, error) {
	return nil, fmt.Errorf("streaming a snapshot needs the port-forward transport (etcd client certificates); "+
		"through exec use --on-node to save it on the node: %w", transport.ErrUnsupported)
}

// etcdutl is the etcdutl next to the configured etcdctl.
func (s *Session) etcdutl() string {
	if i := strings.LastIndex(s.etcdctl, "/"); i >= 0 {
		return s.etcdctl[:i+1] + "etcdutl"
	}
	return "etcdutl"
}

// Defragment implements transport.Session with "etcdctl defrag".
func (s *Session) Defragment(ctx context.Context) error {
	_, err := s.run(ctx, "defrag")
	return err
}

// AlarmDisarm implements transport.Session with "etcdctl alarm list", then "etcdctl alarm
// disarm". etcdctl cannot name the alarm to disarm, it disarms every active one: so the list is
// read first, and when an alarm not given is active nothing is disarmed (*transport.ExtraAlarmsError).
func (s *Session) AlarmDisarm(ctx context.Context, alarms []*etcdserverpb.AlarmMember) (*clientv3.AlarmResponse, error) {
	active, err := s.AlarmList(ctx)
	if err != nil {
		return nil, err
	}
	if extra := transport.ExtraAlarms(active.Alarms, alarms); len(extra) > 0 {
		return nil, &transport.ExtraAlarmsError{Extra: extra}
	}
	out, err := s.run(ctx, "alarm", "disarm")
	if err != nil {
		return nil, err
	}
	return DecodeAlarmList(out)
}

// MoveLeader implements transport.Session with "etcdctl move-leader" against this (leader) member.
func (s *Session) MoveLeader(ctx context.Context, transferee uint64) error {
	_, err := s.run(ctx, "move-leader", strconv.FormatUint(transferee, 16))
	return err
}

// HashKV implements transport.Session with "etcdctl endpoint hashkv".
func (s *Session) HashKV(ctx context.Context, rev int64) (*clientv3.HashKVResponse, error) {
	out, err := s.run(ctx, "endpoint", "hashkv", "--rev="+strconv.FormatInt(rev, 10))
	if err != nil {
		return nil, err
	}
	return DecodeHashKV(out)
}

// Compact implements transport.Session with "etcdctl compaction --physical".
func (s *Session) Compact(ctx context.Context, rev int64) error {
	_, err := s.run(ctx, "compaction", strconv.FormatInt(rev, 10), "--physical")
	return err
}

// TryLock grants a lease of ttl, then takes the key in one transaction that puts it under the
// lease only if it does not exist, and otherwise reads the holder (etcdctl txn, the operations on
// its standard input). etcdctl cannot keep a lease alive, so ttl must cover the whole operation.
// The lease is revoked when the key is held or the transaction fails, and by release.
func (s *Session) TryLock(ctx context.Context, key, value string, ttl time.Duration) (func(context.Context) error, error) {
	out, err := s.run(ctx, "lease", "grant", strconv.FormatInt(int64(ttl.Seconds())+1, 10))
	if err != nil {
		return nil, err
	}
	var lease struct {
		ID int64 `json:"ID"`
	}
	if err := decodeStrict(out, &lease); err != nil {
		return nil, err
	}
	if lease.ID == 0 {
		return nil, fmt.Errorf("etcdctl lease grant returned no lease ID")
	}
	leaseHex := strconv.FormatInt(lease.ID, 16)
	revoke := func(ctx context.Context) error {
		_, err := s.run(ctx, "lease", "revoke", leaseHex)
		return err
	}
	giveUp := func() {
		cctx, cancel := transport.CleanupContext(ctx)
		defer cancel()
		_ = revoke(cctx)
	}
	out, err = s.runInput(ctx, strings.NewReader(LockTxn(key, value, leaseHex)), "txn")
	if err != nil {
		giveUp()
		return nil, err
	}
	won, holder, err := DecodeLockTxn(out)
	if err != nil {
		giveUp()
		return nil, err
	}
	if !won {
		giveUp()
		return nil, &transport.LockedError{Key: key, Holder: holder}
	}
	return revoke, nil
}

// LockTxn is the standard input of "etcdctl txn" that takes key for the lease (hex ID): compares,
// a blank line, the operations when they hold, a blank line, the operations when they do not, and
// a final blank line (etcdctl 3.6 and 3.7 read each list up to a blank line and fail on EOF).
// Keys and values are Go-quoted, which is how etcdctl unquotes them.
func LockTxn(key, value, leaseHex string) string {
	k := strconv.Quote(key)
	return fmt.Sprintf("create(%s) = \"0\"\n\nput %s %s --lease=%s\n\nget %s\n\n", k, k, strconv.Quote(value), leaseHex, k)
}

// DecodeLockTxn reads "etcdctl txn -w json" after LockTxn: whether the put happened, and
// otherwise the holder's value from the get of the failure branch.
func DecodeLockTxn(data []byte) (won bool, holder string, err error) {
	var resp struct {
		Succeeded bool `json:"succeeded"`
		Responses []struct {
			Response struct {
				Range *struct {
					Kvs []struct {
						Value []byte `json:"value"`
					} `json:"kvs"`
				} `json:"response_range"`
			} `json:"Response"`
		} `json:"responses"`
	}
	if err := decodeStrict(data, &resp); err != nil {
		return false, "", err
	}
	if resp.Succeeded {
		return true, "", nil
	}
	for _, r := range resp.Responses {
		if r.Response.Range != nil && len(r.Response.Range.Kvs) > 0 {
			return false, string(r.Response.Range.Kvs[0].Value), nil
		}
	}
	return false, "another operation", nil
}

// Range implements transport.Session with "etcdctl get --limit N --consistency=s -w json -- KEY
// END" (--from-key for an end of "\x00"). The keys come after "--": a key such as "-x" is a key,
// never an option. etcdctl's JSON carries keys and values in base64. A key or range end with a
// NUL byte cannot be passed in argv and is refused.
func (s *Session) Range(ctx context.Context, key, end string, limit int64) (*clientv3.GetResponse, error) {
	if (key != "\x00" && strings.IndexByte(key, 0) >= 0) || (end != "\x00" && strings.IndexByte(end, 0) >= 0) {
		return nil, fmt.Errorf("key %q: etcdctl cannot be given a key with a NUL byte; use the port-forward transport", key)
	}
	if key == "\x00" && end == "\x00" {
		key = "" // etcdctl turns an empty key with --from-key into "\x00": the whole keyspace
	}
	args := []string{"get", fmt.Sprintf("--limit=%d", limit), "--consistency=s", "-w", "json"}
	if end == "\x00" {
		args = append(args, "--from-key")
	}
	args = append(args, "--", key)
	if end != "" && end != "\x00" {
		args = append(args, end)
	}
	out, err := s.run(ctx, args...)
	if err != nil {
		return nil, err
	}
	return DecodeGet(out)
}

// Downgrade implements transport.Session with "etcdctl downgrade validate|enable VERSION" and
// "etcdctl downgrade cancel".
func (s *Session) Downgrade(ctx context.Context, action clientv3.DowngradeAction, version string) (*clientv3.DowngradeResponse, error) {
	args, err := DowngradeArgs(action, version)
	if err != nil {
		return nil, err
	}
	out, err := s.run(ctx, args...)
	if err != nil {
		return nil, err
	}
	var resp clientv3.DowngradeResponse
	return &resp, decodeStrict(out, &resp)
}

// DowngradeArgs is the etcdctl argv (after the global flags) of a downgrade action.
func DowngradeArgs(action clientv3.DowngradeAction, version string) ([]string, error) {
	switch action {
	case clientv3.DowngradeValidate:
		return []string{"downgrade", "validate", version}, nil
	case clientv3.DowngradeEnable:
		return []string{"downgrade", "enable", version}, nil
	case clientv3.DowngradeCancel:
		return []string{"downgrade", "cancel"}, nil
	}
	return nil, fmt.Errorf("unknown downgrade action %d", action)
}
