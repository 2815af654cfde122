package printers

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

func promoteOutcomes() []etcd.PromoteOutcome {
	return []etcd.PromoteOutcome{
		{ID: "a1b2c3d4e5f60718", Name: "cp-4", Outcome: etcd.OutcomePromoted, Took: "3.2s"},
		{ID: "b1b2c3d4e5f60718", Name: "", Outcome: etcd.OutcomePromotedLostAck, Took: "10.004s"},
		{ID: "c1b2c3d4e5f60718", Name: "cp-6", Outcome: etcd.OutcomeAlreadyVoting, Took: "12ms"},
	}
}

func TestPromoteResultGolden(t *testing.T) {
	c, pods := cluster()
	c.Members[2].Down = false
	l, err := etcd.ListMembers(context.Background(), c.Connector(), pods[:2], 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Formats {
		var buf bytes.Buffer
		r := &PromoteResult{Promoted: promoteOutcomes(), State: etcd.StateHealthy, Members: l}
		if err := PrintPromoteResult(&buf, f, r); err != nil {
			t.Fatal(err)
		}
		golden(t, "promote-"+string(f)+".golden", buf.Bytes())
	}
}

// The lines "promote" writes besides the result: one per learner on stdout, progress, the
// nothing-to-do note, and the member problems with the exit message when the cluster stays
// unhealthy.
func TestPromoteLinesGolden(t *testing.T) {
	var buf bytes.Buffer
	for _, o := range promoteOutcomes() {
		if err := PrintPromoteOutcome(&buf, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := PrintNoLearners(&buf); err != nil {
		t.Fatal(err)
	}
	progress := []etcd.PromoteProgress{
		{Name: "cp-4", ID: "a1b2c3d4e5f60718", LearnerIndex: 400, LeaderIndex: 1000, ETA: 12 * time.Second},
		{Name: "cp-4", ID: "a1b2c3d4e5f60718", LearnerIndex: 500, LeaderIndex: 1000, ETA: 10 * time.Second,
			Waiting: "learner not in sync with the leader (raft index 500 of the leader's 1000, 500 behind)"},
		{ID: "b1b2c3d4e5f60718", LearnerIndex: 900, LeaderIndex: 1000, Waiting: "learner has no leader yet"},
		{Name: "cp-4", ID: "a1b2c3d4e5f60718", LearnerIndex: 7, LeaderIndex: 0},
	}
	for _, tty := range []bool{false, true} {
		bar := NewProgress(&buf, tty)
		bar.Every, bar.Redraw = 0, 0 // every update is a line, or a redraw
		for _, p := range progress {
			ShowPromoteProgress(bar, p)
		}
		bar.Done()
	}
	c, pods := cluster()
	st := etcd.Status(context.Background(), c.Connector(), pods, etcd.StatusOptions{})
	if err := PrintStatusErrors(&buf, st); err != nil {
		t.Fatal(err)
	}
	buf.WriteString(PromoteNotHealthy(st) + "\n")
	golden(t, "promote-lines.golden", buf.Bytes())
}
