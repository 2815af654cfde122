package etcd

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// compacted is a three-member cluster at revision 500, compacted at 300, every member with the
// same hash.
func compacted() *fake.Cluster {
	c := threeMembers()
	for _, m := range c.Members {
		m.Revision, m.CompactRevision, m.KVHash = 500, 300, 0xaaaa
	}
	return c
}

// kube-apiserver's compaction lands while the members are hashed: the first member asked still
// answers from before it (compact revision 300), the others from after it (400, another hash).
// That is no corruption: the round is asked again, and then every member agrees.
func TestConsistencyCompactionDuringTheCheck(t *testing.T) {
	c := compacted()
	var once sync.Once
	first := ""
	asked := map[string]int{} // hashkv calls per pod, under the cluster's lock
	c.BeforeCall = func(c *fake.Cluster, pod, op string) {
		if !strings.HasPrefix(op, "hashkv ") {
			return
		}
		c.Lock()
		defer c.Unlock()
		compact := func(id uint64) { m := c.Find(id); m.CompactRevision, m.KVHash = 400, 0xbbbb }
		once.Do(func() {
			first = pod
			for p, id := range c.PodMember {
				if p != pod {
					compact(id)
				}
			}
		})
		if asked[pod]++; pod == first && asked[pod] > 1 {
			compact(c.PodMember[pod]) // its next round sees the compaction too
		}
	}
	r, err := CheckConsistency(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Consistent || len(r.Problems) > 0 || r.Attempts != 2 {
		t.Fatalf("want consistent after a second round, got %+v", r)
	}
	for _, h := range r.Members {
		if h.CompactRevision != 400 || h.Hash != 0xbbbb {
			t.Errorf("%s: %+v", h.Name, h)
		}
	}
}

// Members whose compact revisions never agree are compared only within each compact revision:
// after ConsistencyAttempts rounds that is a problem to run again (exit 2), not corruption.
func TestConsistencyDifferentCompactRevisionsAreNotCompared(t *testing.T) {
	c := compacted()
	c.Members[2].CompactRevision, c.Members[2].KVHash = 400, 0xbbbb
	r, err := CheckConsistency(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Consistent || r.Attempts != ConsistencyAttempts {
		t.Fatalf("different compact revisions are no inconsistency: %+v", r)
	}
	if p := strings.Join(r.Problems, "\n"); !strings.Contains(p, "compacted at different revisions (300: cp-1,cp-2; 400: cp-3) after 3 attempts") {
		t.Errorf("problems: %s", p)
	}
	// Within one compact revision a different hash is still corruption.
	c.Members[1].KVHash = 0xdead
	r, _ = CheckConsistency(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), time.Second)
	if r.Consistent || !strings.Contains(strings.Join(r.Problems, "\n"), "hashes differ at revision 500 (compact revision 300): 0000aaaa: cp-1; 0000dead: cp-2") {
		t.Errorf("mismatch at one compact revision: %+v", r)
	}
}

// Same compact revision, different hash: corruption at once, without a second round.
func TestConsistencyMismatch(t *testing.T) {
	c := compacted()
	c.Members[0].KVHash = 0xdead
	r, err := CheckConsistency(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), time.Second)
	if err != nil || r.Consistent || r.Attempts != 1 || r.Revision != 500 ||
		!strings.Contains(strings.Join(r.Problems, " "), "0000aaaa: cp-2,cp-3; 0000dead: cp-1") {
		t.Fatalf("want inconsistent after one round: %+v %v", r, err)
	}
}

// The members are hashed all at once (one after another, a compaction had the whole loop to
// land in): every member's HashKV waits here until all three have been asked.
func TestConsistencyAsksAllMembersAtOnce(t *testing.T) {
	c := compacted()
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	together := true
	c.BeforeCall = func(_ *fake.Cluster, _, op string) {
		if !strings.HasPrefix(op, "hashkv ") {
			return
		}
		mu.Lock()
		if arrived++; arrived == 3 {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(5 * time.Second): // deadlock guard: asked one after another
			mu.Lock()
			together = false
			mu.Unlock()
		}
	}
	r, err := CheckConsistency(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), time.Second)
	if err != nil || !r.Consistent {
		t.Fatalf("%+v %v", r, err)
	}
	if !together {
		t.Error("the members were not asked at once")
	}
}

// HashKV reads the whole database: its bound grows with the size, as a defrag's does, and never
// falls below the call timeout.
func TestHashKVTimeout(t *testing.T) {
	for _, tc := range []struct {
		size int64
		call time.Duration
		want time.Duration
	}{
		{0, 10 * time.Second, 30 * time.Second},
		{0, time.Minute, time.Minute},
		{8 << 30, 10 * time.Second, 30*time.Second + 819*time.Second},
	} {
		if got := hashKVTimeout(tc.size, tc.call); got != tc.want {
			t.Errorf("hashKVTimeout(%d, %s) = %s, want %s", tc.size, tc.call, got, tc.want)
		}
	}
}
