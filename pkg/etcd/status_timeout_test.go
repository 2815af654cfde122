package etcd

import (
	"context"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// slowConnect holds every connect until its call context ends, as an exec through a slow API
// server with a tiny --request-timeout would.
func slowConnect(ctx context.Context, _ *fake.Cluster, _ string) error {
	<-ctx.Done()
	return ctx.Err()
}

// When every call hit the per-call deadline, the members' state is unknown: the status says it
// timed out (and after how long) instead of calling them down; State stays QuorumLost so that
// nothing goes ahead on it. Members that fail at once (down), or a run the caller cancelled,
// are not "timed out".
func TestStatusSaysTimedOutWhenEveryCallHitTheDeadline(t *testing.T) {
	c := threeMembers()
	c.OnConnect = slowConnect
	st := Status(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{Timeout: 5 * time.Millisecond})
	if st.TimedOutAfter != "5ms" || st.State != StateQuorumLost {
		t.Errorf("every call timed out: timedOutAfter %q, state %s; want 5ms, QuorumLost", st.TimedOutAfter, st.State)
	}

	c = threeMembers()
	for _, m := range c.Members {
		m.Down = true // fails at once, with "context deadline exceeded" in its text
	}
	if st := Status(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{Timeout: time.Second}); st.TimedOutAfter != "" {
		t.Errorf("members down: timedOutAfter %q, want empty", st.TimedOutAfter)
	}

	c = threeMembers()
	c.OnConnect = func(ctx context.Context, c *fake.Cluster, pod string) error {
		if pod == "etcd-cp-3" {
			return slowConnect(ctx, c, pod)
		}
		return nil
	}
	if st := Status(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{Timeout: 50 * time.Millisecond}); st.TimedOutAfter != "" || st.State != StateDegraded {
		t.Errorf("one member slow: timedOutAfter %q, state %s; want empty, Degraded", st.TimedOutAfter, st.State)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = threeMembers()
	c.OnConnect = slowConnect
	if st := Status(ctx, c.Connector(), pods("cp-1", "cp-2", "cp-3"), StatusOptions{Timeout: time.Second}); st.TimedOutAfter != "" {
		t.Errorf("cancelled by the caller: timedOutAfter %q, want empty", st.TimedOutAfter)
	}
}
