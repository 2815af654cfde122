package etcd

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWaitHealthyAtOnce(t *testing.T) {
	cl := threeMembers()
	polls := 0
	st, err := WaitHealthy(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), WaitHealthyOptions{
		Timeout: time.Second, Interval: time.Hour, Progress: func(int, *ClusterStatus) { polls++ },
	})
	if err != nil || st == nil || st.State != StateHealthy {
		t.Fatalf("state %v, err %v", st, err)
	}
	if polls != 1 {
		t.Errorf("polls %d, want 1", polls)
	}
}

func TestWaitHealthyAfterPolls(t *testing.T) {
	cl := threeMembers()
	cl.Members[1].Unhealthy = "raft: not caught up"
	const healthyAt = 4
	var seen []int
	st, err := WaitHealthy(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), WaitHealthyOptions{
		Timeout: 10 * time.Second, Interval: time.Millisecond,
		Progress: func(poll int, st *ClusterStatus) {
			seen = append(seen, poll)
			if poll < healthyAt && st.State == StateHealthy {
				t.Errorf("poll %d healthy too early", poll)
			}
			if poll == healthyAt-1 {
				// Between reads no call is in flight: the next read sees the member recovered.
				cl.Members[1].Unhealthy = ""
			}
		},
	})
	if err != nil || st.State != StateHealthy {
		t.Fatalf("state %s, err %v", st.State, err)
	}
	if len(seen) != healthyAt || seen[0] != 1 || seen[healthyAt-1] != healthyAt {
		t.Errorf("polls %v, want 1..%d", seen, healthyAt)
	}
}

func TestWaitHealthyTimeout(t *testing.T) {
	cl := threeMembers()
	cl.Members[2].Down = true
	polls := 0
	start := time.Now()
	st, err := WaitHealthy(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), WaitHealthyOptions{
		Timeout: 50 * time.Millisecond, Interval: 5 * time.Millisecond, CallTimeout: time.Second,
		Progress: func(int, *ClusterStatus) { polls++ },
	})
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("err %v, want ErrNotReady", err)
	}
	if st == nil || st.State != StateDegraded {
		t.Fatalf("last status %+v, want Degraded", st)
	}
	if polls < 2 {
		t.Errorf("polls %d, want several", polls)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestWaitHealthyCancelledMidWait(t *testing.T) {
	cl := threeMembers()
	cl.Members[2].Down = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polls := 0
	start := time.Now()
	type result struct {
		st  *ClusterStatus
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := WaitHealthy(ctx, cl.Connector(), pods("cp-1", "cp-2", "cp-3"), WaitHealthyOptions{
			Timeout: time.Hour, Interval: time.Hour,
			Progress: func(int, *ClusterStatus) {
				polls++
				cancel() // Ctrl-C while the loop is about to wait an hour
			},
		})
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", r.err)
		}
		if r.st == nil || r.st.State == StateHealthy {
			t.Errorf("last status %+v", r.st)
		}
		if polls != 1 {
			t.Errorf("polls %d, want 1", polls)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("took %s to stop", took)
		}
	case <-time.After(time.Minute):
		t.Fatal("WaitHealthy did not return after ctx was cancelled")
	}
}
