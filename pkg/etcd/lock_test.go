package etcd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// A lock etcd will not store (NOSPACE refuses the lease) does not stop a defrag: it goes on
// without the lock and says so. Any other failure to take the lock stops the run before that
// member is touched.
func TestDefragLockFailures(t *testing.T) {
	c := fragmented()
	c.OnLock = func(*fake.Cluster, string) error {
		return errors.New("etcdctl lease grant 91 exited with code 1: etcdserver: mvcc: database space exceeded")
	}
	o := defragOpts()
	var warnings []string
	o.Event = func(e DefragEvent) {
		if e.Step == "warning" {
			warnings = append(warnings, e.Message)
		}
	}
	if _, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), o); err != nil || len(c.Defragged) != 3 {
		t.Fatalf("NOSPACE lock: %v, defragged %x", err, c.Defragged)
	}
	if len(warnings) != 3 || !strings.Contains(warnings[0], "going on without it") || !strings.Contains(warnings[0], "database space exceeded") {
		t.Errorf("warnings %q", warnings)
	}

	c = fragmented()
	c.OnLock = func(_ *fake.Cluster, key string) error {
		if key == LockKey("fd422379fda50e48") {
			return errors.New("etcdctl txn exited with code 4: invalid txn request")
		}
		return nil
	}
	r, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), defragOpts())
	if err == nil || !strings.Contains(err.Error(), "cannot take the lock /kubectl-etcd/lock/fd422379fda50e48 of member cp-3") ||
		!strings.Contains(err.Error(), "not touched: cp-3, cp-1") {
		t.Fatalf("err %v", err)
	}
	if len(c.Defragged) != 1 || c.Defragged[0] != id2 || r.Order[1].Started {
		t.Errorf("defragged %x, cp-3 %+v; want only cp-2, cp-3 not started", c.Defragged, r.Order[1])
	}
}
