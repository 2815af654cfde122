package etcd

import (
	"context"
	"fmt"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// WaitHealthyOptions tune WaitHealthy.
type WaitHealthyOptions struct {
	// Timeout bounds the whole wait (default 2 minutes). The status is read at least once, and
	// the last read may start up to one Interval after Timeout has passed.
	Timeout time.Duration
	// Interval between status reads (default 1 second).
	Interval time.Duration
	// CallTimeout bounds each call to a member (default 10 seconds).
	CallTimeout time.Duration
	// Progress, when set, is told the result of every status read, numbered from 1.
	Progress func(poll int, st *ClusterStatus)
}

// WaitHealthy reads the cluster status until it is healthy or Timeout has passed, waiting
// Interval between reads; after a promotion this is how long the cluster takes to settle. It
// returns the last status read, which is never nil. The error is nil when the cluster is
// healthy, wraps ErrNotReady when Timeout passed first, and is ctx.Err() when ctx was done
// during a wait between reads (Ctrl-C stops the wait at once); in the last two cases the status
// is the last one read, not healthy.
func WaitHealthy(ctx context.Context, conn transport.Connector, pods []discovery.Member, o WaitHealthyOptions) (*ClusterStatus, error) {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	deadline := time.Now().Add(o.Timeout)
	for poll := 1; ; poll++ {
		st := Status(ctx, conn, pods, StatusOptions{Timeout: o.CallTimeout, ProbeHealth: true})
		if o.Progress != nil {
			o.Progress(poll, st)
		}
		if st.State == StateHealthy {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%w: the cluster is not healthy after %s: %s", ErrNotReady, o.Timeout, st.State)
		}
		if err := Sleep(ctx, o.Interval); err != nil {
			return st, err
		}
	}
}
