package etcd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The removal goes through another voter, never the member being removed, and the member is gone.
func TestRemoveMemberThroughAnotherVoter(t *testing.T) {
	for _, target := range []uint64{id1, id3} {
		cl := threeMembers()
		if err := RemoveMember(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), target, time.Second); err != nil {
			t.Fatalf("%x: %v", target, err)
		}
		if cl.Find(target) != nil {
			t.Errorf("%x still a member", target)
		}
		victim := "etcd-" + map[uint64]string{id1: "cp-1", id3: "cp-3"}[target]
		for _, call := range cl.Calls {
			if strings.Contains(call, " member remove ") && strings.HasPrefix(call, victim+" ") {
				t.Errorf("%x removed through itself: %v", target, cl.Calls)
			}
		}
	}
}

func TestRemoveMemberErrors(t *testing.T) {
	cl := threeMembers()
	ps := pods("cp-1", "cp-2", "cp-3")
	if err := RemoveMember(context.Background(), cl.Connector(), ps, 0x1234, time.Second); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "1234") {
		t.Errorf("unknown member: %v", err)
	}
	for _, m := range cl.Members {
		m.Down = true
	}
	if err := RemoveMember(context.Background(), cl.Connector(), ps, id2, time.Second); err == nil {
		t.Error("removal with no member answering succeeded")
	}
	if len(cl.Members) != 3 {
		t.Errorf("members changed: %d", len(cl.Members))
	}
}
