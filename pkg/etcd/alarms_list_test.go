package etcd

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

func TestListAlarms(t *testing.T) {
	cl := threeMembers()
	ps := pods("cp-1", "cp-2", "cp-3")
	got, st, err := ListAlarms(context.Background(), cl.Connector(), ps, time.Second)
	if err != nil || len(got) != 0 || got == nil || st == nil {
		t.Fatalf("no alarms: %v %v (want an empty, non-nil list)", got, err)
	}
	nospace(cl, id2)
	cl.Alarms = append(cl.Alarms, &etcdserverpb.AlarmMember{MemberID: id3, Alarm: etcdserverpb.AlarmType_CORRUPT})
	got, _, err = ListAlarms(context.Background(), cl.Connector(), ps, time.Second)
	if err != nil || len(got) != 2 {
		t.Fatalf("got %+v %v", got, err)
	}
	byMember := map[string]AlarmInfo{}
	for _, a := range got {
		byMember[a.MemberID] = a
	}
	if a := byMember[FormatID(id2)]; a.Alarm != "NOSPACE" || a.Name != "cp-2" || a.Pod != "etcd-cp-2" || a.DBSize != 100<<20 {
		t.Errorf("NOSPACE row %+v", a)
	}
	if a := byMember[FormatID(id3)]; a.Alarm != "CORRUPT" || a.Name != "cp-3" {
		t.Errorf("CORRUPT row %+v", a)
	}
}

func TestListAlarmsNothingReachable(t *testing.T) {
	cl := threeMembers()
	for _, m := range cl.Members {
		m.Down = true
	}
	if _, _, err := ListAlarms(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), time.Second); !errors.Is(err, ErrNoMemberReachable) {
		t.Errorf("got %v", err)
	}
}
