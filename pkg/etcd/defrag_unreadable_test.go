package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// outage fails the next n sessions opened to the pods it names, as a short API-server outage
// (or a kube-apiserver restarted by its liveness probe) between two members would.
type outage struct {
	mu   sync.Mutex
	pods map[string]bool
	left int
}

func (o *outage) begin(n int, pods ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pods, o.left = map[string]bool{}, n
	for _, p := range pods {
		o.pods[p] = true
	}
}

func (o *outage) connect(_ context.Context, _ *fake.Cluster, pod string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.left > 0 && o.pods[pod] {
		o.left--
		return fmt.Errorf("connect to %s: the server is currently unable to handle the request", pod)
	}
	return nil
}

// A run acts only on what it can read: before each member (and before the leader, whose
// in-place defrag stalls every write) it stops when no member answered, a voter did not answer,
// the member next in line is no longer in the list, or no leader is known. It says what was
// done; nothing more is touched and nobody is asked.
func TestDefragFailsClosedWhenTheClusterCannotBeRead(t *testing.T) {
	all := []string{"etcd-cp-1", "etcd-cp-2", "etcd-cp-3"}
	tests := []struct {
		name string
		// after runs when the member named finished its defrag (its gate passed).
		afterMember string
		after       func(c *fake.Cluster, o *outage)
		before      func(c *fake.Cluster)
		wantDone    []uint64
		wantErr     []string
	}{
		{
			name: "every session fails in the round before the next follower", afterMember: "cp-2",
			after:    func(_ *fake.Cluster, o *outage) { o.begin(3, all...) },
			wantDone: []uint64{id2},
			wantErr: []string{"cannot read the cluster before defragmenting cp-3: no member answered the member list",
				"stopped; defragmented: cp-2; not touched: cp-3, cp-1"},
		},
		{
			name: "every session fails in the round before the leader", afterMember: "cp-3",
			after:    func(_ *fake.Cluster, o *outage) { o.begin(3, all...) },
			wantDone: []uint64{id2, id3},
			wantErr: []string{"cannot read the cluster before defragmenting cp-1: no member answered the member list",
				"etcd-cp-1: connect: connect to etcd-cp-1: the server is currently unable to handle the request",
				"stopped; defragmented: cp-2, cp-3; not touched: cp-1"},
		},
		{
			name: "one voter does not answer before the leader", afterMember: "cp-3",
			after:    func(_ *fake.Cluster, o *outage) { o.begin(1, "etcd-cp-2") },
			wantDone: []uint64{id2, id3},
			wantErr:  []string{"cannot read the cluster before defragmenting cp-1: voting member cp-2 (91bc3c398fb3c146) did not answer"},
		},
		{
			name: "no member reports a leader before the leader's turn", afterMember: "cp-3",
			after: func(c *fake.Cluster, _ *outage) {
				c.Lock()
				c.LeaderID = 0
				c.Unlock()
			},
			wantDone: []uint64{id2, id3},
			wantErr:  []string{"cannot read the cluster before defragmenting cp-1: no member reports a leader"},
		},
		{
			name: "the member next in line was replaced", afterMember: "cp-2",
			after: func(c *fake.Cluster, _ *outage) {
				c.Lock()
				c.Find(id3).ID = 0x77
				c.PodMember["etcd-cp-3"] = 0x77
				c.Unlock()
			},
			wantDone: []uint64{id2},
			wantErr:  []string{"cannot read the cluster before defragmenting cp-3: member fd422379fda50e48 is not in the member list"},
		},
		{
			name:    "no leader from the start: nothing is done",
			before:  func(c *fake.Cluster) { c.LeaderID = 0 },
			wantErr: []string{"cannot read the cluster: no member reports a leader; no member was defragmented"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fragmented()
			out := &outage{}
			c.OnConnect = out.connect
			if tt.before != nil {
				tt.before(c)
			}
			o := defragOpts()
			a := &asked{answer: errors.New("must not be asked")}
			o.Confirm = a.confirm
			o.Event = func(e DefragEvent) {
				if e.Step == "done" && e.Member == tt.afterMember {
					tt.after(c, out)
				}
			}
			_, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), o)
			if !errors.Is(err, ErrUnreadable) {
				t.Fatalf("err = %v, want %v", err, ErrUnreadable)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if fmt.Sprint(c.Defragged) != fmt.Sprint(tt.wantDone) {
				t.Errorf("defragmented %x, want %x", c.Defragged, tt.wantDone)
			}
			if len(c.LeaderMoves) != 0 || len(a.questions) != 0 {
				t.Errorf("leader moves %x, questions %q; want none", c.LeaderMoves, a.questions)
			}
			for _, call := range c.Calls {
				if strings.Contains(call, " lock ") && !lockedDone(call, tt.wantDone) {
					t.Errorf("a member not defragmented was locked: %q", call)
				}
			}
		})
	}
}

// lockedDone tells whether a lock call was for one of the members defragmented.
func lockedDone(call string, done []uint64) bool {
	for _, id := range done {
		if strings.Contains(call, FormatID(id)) {
			return true
		}
	}
	return false
}

// After a member's defrag, the wait for it to catch up needs a leader to compare with: a
// member answering healthy while no member reports a leader is not taken as caught up.
func TestDefragWaitNeedsALeader(t *testing.T) {
	c := fragmented()
	c.OnDefrag = func(c *fake.Cluster, id uint64) error {
		if id == id2 {
			c.Lock()
			c.LeaderID = 0
			c.Unlock()
		}
		return nil
	}
	o := defragOpts()
	o.Timeout = 300 * time.Millisecond
	_, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), o)
	if !errors.Is(err, ErrUnreadable) || !strings.Contains(err.Error(), "cp-2 did not come back healthy after its defrag: cannot read the cluster: no member reports a leader") {
		t.Fatalf("err = %v", err)
	}
	if len(c.Defragged) != 1 || c.Defragged[0] != id2 {
		t.Errorf("defragmented %x, want only cp-2", c.Defragged)
	}
}
