package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// LockPrefix is where the plugin keeps its per-member locks, in the cluster's own etcd, so that
// two runs of the plugin (from different laptops, say) never snapshot and defragment the same
// member at once: a defrag waits for a long snapshot, and a snapshot pins freed pages.
const LockPrefix = "/kubectl-etcd/lock/"

// LockKey is the lock key of one member.
func LockKey(memberID string) string { return LockPrefix + memberID }

type lockHolder struct {
	Op    string `json:"op"`
	Host  string `json:"host"`
	PID   int    `json:"pid"`
	Since string `json:"since"`
}

func holderValue(op string) string {
	host, _ := os.Hostname()
	b, _ := json.Marshal(lockHolder{Op: op, Host: host, PID: os.Getpid(), Since: time.Now().UTC().Format(time.RFC3339)})
	return string(b)
}

// describeHolder renders a holder value for a message.
func describeHolder(v string) string {
	var h lockHolder
	if json.Unmarshal([]byte(v), &h) != nil || h.Op == "" {
		return v
	}
	return fmt.Sprintf("a %s started %s by pid %d on %s", h.Op, h.Since, h.PID, h.Host)
}

// lockUnwritable tells the lock failures that mean etcd will not store the lock at all: a
// NOSPACE cluster refuses the lease and the put (and that is when a defrag or a snapshot is
// needed most), a user without write access to the key under etcd auth, a transport that cannot
// write keys. Other failures (a timeout, a broken stream, an etcdctl error) are not among them.
func lockUnwritable(err error) bool {
	msg := err.Error()
	return errors.Is(err, transport.ErrUnsupported) || strings.Contains(msg, "database space exceeded") ||
		strings.Contains(msg, "permission denied")
}

// lockMember takes the member's lock for op. A lock held by someone else refuses the operation;
// a lock that etcd will not store (lockUnwritable) is not a reason to refuse, so it returns a
// warning instead; any other failure to take it is an error, and nothing was done.
func lockMember(ctx context.Context, s transport.Session, memberID, name, op string, ttl time.Duration) (release func(), warning string, err error) {
	noop := func() {}
	rel, err := s.TryLock(ctx, LockKey(memberID), holderValue(op), ttl)
	var le *transport.LockedError
	switch {
	case errors.As(err, &le):
		return noop, "", fmt.Errorf("%w: member %s (%s) is busy: %s holds %s; wait for it to finish or pick another member",
			ErrRefused, nameOrUnstarted(name), memberID, describeHolder(le.Holder), le.Key)
	case err != nil && lockUnwritable(err):
		return noop, fmt.Sprintf("could not take the lock %s (%s); going on without it", LockKey(memberID), oneLine(err)), nil
	case err != nil:
		return noop, "", fmt.Errorf("cannot take the lock %s of member %s (%s): %w", LockKey(memberID), nameOrUnstarted(name), memberID, err)
	}
	return func() {
		rctx, cancel := transport.CleanupContext(ctx)
		defer cancel()
		_ = rel(rctx)
	}, "", nil
}
