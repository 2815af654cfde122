package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// asked records the leaders DefragOptions.Confirm is asked about and answers with answer.
type asked struct {
	questions []string
	answer    error
}

func (a *asked) confirm(plan *DefragReport, leader *DefragTarget) error {
	if plan == nil || len(plan.Order) == 0 || leader == nil {
		return errors.New("confirm got no plan or no leader")
	}
	a.questions = append(a.questions, fmt.Sprintf("%s %s leader=%v needed=%v", leader.Name, leader.ID, leader.Leader, leader.Needed))
	return a.answer
}

func TestDefragAsksBeforeTheLeaderInPlace(t *testing.T) {
	declined := fmt.Errorf("%w: not confirmed", ErrRefused)
	tests := []struct {
		name        string
		members     int
		moveLeader  bool
		answer      error
		wantAsked   int
		wantDefrags int
		wantErr     error
	}{
		{name: "leader handed away first: no question", members: 3, moveLeader: true, wantDefrags: 3},
		{name: "--move-leader=false, confirmed", members: 3, answer: nil, wantAsked: 1, wantDefrags: 3},
		{name: "--move-leader=false, declined: nothing touched", members: 3, answer: declined, wantAsked: 1, wantErr: ErrRefused},
		{name: "one member: no one to hand leadership to, declined", members: 1, moveLeader: true, answer: declined, wantAsked: 1, wantErr: ErrRefused},
		{name: "one member, confirmed", members: 1, moveLeader: true, wantAsked: 1, wantDefrags: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fragmented()
			c.Members = c.Members[:tt.members]
			names := []string{"cp-1", "cp-2", "cp-3"}[:tt.members]
			o := defragOpts()
			o.MoveLeader = tt.moveLeader
			a := &asked{answer: tt.answer}
			o.Confirm = a.confirm
			r, err := Defrag(context.Background(), c.Connector(), pods(names...), o)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if len(a.questions) != tt.wantAsked {
				t.Fatalf("asked %d times (%q), want %d", len(a.questions), a.questions, tt.wantAsked)
			}
			for _, q := range a.questions {
				if !strings.HasPrefix(q, "cp-1 ") || !strings.HasSuffix(q, " leader=true needed=true") {
					t.Errorf("asked about %q, want the leader cp-1, planned", q)
				}
			}
			if len(c.Defragged) != tt.wantDefrags {
				t.Errorf("defragmented %x, want %d members", c.Defragged, tt.wantDefrags)
			}
			if tt.wantErr != nil && r != nil {
				t.Errorf("a declined run returned a report %+v; nothing was done, so there is none to print", r)
			}
		})
	}
}

func TestDefragDryRunAndYesNeverAsk(t *testing.T) {
	for _, dry := range []bool{true, false} {
		c := fragmented()
		o := defragOpts()
		o.MoveLeader, o.DryRun = false, dry
		a := &asked{}
		if !dry {
			o.Confirm = nil // --yes
		} else {
			o.Confirm = a.confirm
		}
		if _, err := Defrag(context.Background(), c.Connector(), pods("cp-1", "cp-2", "cp-3"), o); err != nil {
			t.Fatalf("dry-run %v: %v", dry, err)
		}
		if len(a.questions) != 0 {
			t.Errorf("dry-run %v: asked %q", dry, a.questions)
		}
	}
}
