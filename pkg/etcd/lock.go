package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
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

// lockMember takes the member's lock for op. A lock held by someone else refuses the operation;
// a lock that cannot be written at all (a NOSPACE cluster refuses writes) is not a reason to
// refuse — that is when a defrag is needed most — so it returns a warning instead.
func lockMember(ctx context.Context, s transport.Session, memberID, name, op string, ttl time.Duration) (release func(), warning string, err error) {
	noop := func() {}
	rel, err := s.TryLock(ctx, LockKey(memberID), holderValue(op), ttl)
	var le *transport.LockedError
	switch {
	case errors.As(err, &le):
		return noop, "", fmt.Errorf("%w: member %s (%s) is busy: %s holds %s; wait for it to finish or pick another member",
			ErrRefused, nameOrUnstarted(name), memberID, describeHolder(le.Holder), le.Key)
	case err != nil:
		return noop, fmt.Sprintf("could not take the lock %s (%s); going on without it", LockKey(memberID), oneLine(err)), nil
	}
	return func() {
		rctx, cancel := transport.CleanupContext(ctx)
		defer cancel()
		_ = rel(rctx)
	}, "", nil
}
