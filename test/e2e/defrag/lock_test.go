package defrag_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	transportexec "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/exec"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// execSessions opens the plugin's exec transport (pods/exec through the API server, etcdctl in
// the etcd pods) to every discovered member, keyed by pod name.
func execSessions(t *testing.T, c *harness.Cluster) map[string]transport.Session {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	members, err := discovery.Discover(ctx, client, discovery.Options{Namespace: c.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	conn := &transportexec.Connector{Executor: &transportexec.APIExecutor{Config: cfg, Client: client}}
	out := map[string]transport.Session{}
	for i := range members {
		s, err := conn.Connect(ctx, &members[i])
		if err != nil {
			t.Fatal(err)
		}
		out[members[i].Pod] = s
	}
	return out
}

// leaseCount is how many leases the cluster holds.
func leaseCount(t *testing.T, cl *clientv3.Client) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := cl.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Leases)
}

// TestLockExecOnlyOneWins: two runs (through the pods of two different members, as from two
// laptops) take the same member lock through exec at the same moment, several times: exactly one
// holds it each time, the other is told who does, and the loser's lease is revoked.
func TestLockExecOnlyOneWins(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	cl := c.Client(t)
	sessions := execSessions(t, c)
	via := []transport.Session{sessions["etcd-cp-1"], sessions["etcd-cp-2"]}
	if via[0] == nil || via[1] == nil {
		t.Fatalf("no sessions for etcd-cp-1 and etcd-cp-2: %v", sessions)
	}
	key := "/kubectl-etcd/lock/" + hexID(c, "cp-3")
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		start := make(chan struct{})
		rel := make([]func(context.Context) error, 2)
		errs := make([]error, 2)
		for i := range via {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				rel[i], errs[i] = via[i].TryLock(ctx, key, fmt.Sprintf(`{"op":"e2e","pid":%d}`, i), time.Minute)
			}(i)
		}
		close(start)
		wg.Wait()
		var won, lost []int
		for i, err := range errs {
			var le *transport.LockedError
			switch {
			case err == nil:
				won = append(won, i)
			case errors.As(err, &le):
				lost = append(lost, i)
			default:
				t.Fatalf("round %d, run %d: %v", round, i, err)
			}
		}
		if len(won) != 1 || len(lost) != 1 {
			t.Fatalf("round %d: %d runs hold the lock, %d were refused; want exactly one each (errors %v)", round, len(won), len(lost), errs)
		}
		var le *transport.LockedError
		_ = errors.As(errs[lost[0]], &le)
		if want := fmt.Sprintf(`{"op":"e2e","pid":%d}`, won[0]); le.Holder != want || le.Key != key {
			t.Errorf("round %d: refused with holder %q key %q; want %q %q", round, le.Holder, le.Key, want, key)
		}
		if n := leaseCount(t, cl); n != 1 {
			t.Errorf("round %d: %d leases while one run holds the lock; the loser's lease was not revoked", round, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := rel[won[0]](ctx); err != nil {
			t.Fatalf("round %d: release: %v", round, err)
		}
		got, err := cl.Get(ctx, key)
		cancel()
		if err != nil || len(got.Kvs) != 0 {
			t.Fatalf("round %d: after release: %v %v", round, got, err)
		}
		if n := leaseCount(t, cl); n != 0 {
			t.Errorf("round %d: %d leases after release", round, n)
		}
	}
}

// TestDefragLockBusy: a member whose lock another run holds is not defragmented; the run stops
// there with exit 5, names the holder, and lists that member (and those after it) as not touched.
func TestDefragLockBusy(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	cl := c.Client(t)
	l := leader(t, c, cl)
	busy := followers(c, l)[1] // the second in the order: the first is done, busy is not touched
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lease, err := cl.Grant(ctx, 120)
	if err != nil {
		t.Fatal(err)
	}
	holder := `{"op":"snapshot","host":"laptop","pid":4242,"since":"2026-12-02T10:00:00Z"}`
	if _, err := cl.Put(ctx, "/kubectl-etcd/lock/"+hexID(c, busy), holder, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	for _, base := range [][]string{execArgs(), plugintest.PFArgs(c)} {
		r := plugintest.Run(t, c, args(base, "defrag", "--force", "-o", "json")...)
		plugintest.WantCode(t, r, 5)
		var rep defragReport
		plugintest.Decode(t, r, &rep)
		first := followers(c, l)[0]
		if x := rep.target(t, first); !x.Done {
			t.Errorf("%s (before the busy member) not done: %+v", first, x)
		}
		if x := rep.target(t, busy); x.Done || x.Started || x.Error == "" {
			t.Errorf("busy member %s: %+v; want not started, with the reason", busy, x)
		}
		if !strings.Contains(r.Stderr, "a snapshot started 2026-12-02T10:00:00Z by pid 4242 on laptop") ||
			!strings.Contains(r.Stderr, "not touched: "+busy+", "+l) {
			t.Errorf("want the holder named and %s, %s listed as not touched\n%s", busy, l, r)
		}
	}
	got, err := cl.Get(ctx, "/kubectl-etcd/lock/"+hexID(c, busy))
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != holder {
		t.Errorf("the other run's lock changed: %v %v", got, err)
	}
	if _, err := cl.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
}
