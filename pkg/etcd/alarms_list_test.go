package etcd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
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

// metricsOnly is a connector that cannot read alarm lists, as the metrics-only transport.
type metricsOnly struct{ transport.Connector }

func (metricsOnly) Mode() transport.Mode  { return transport.ModeMetricsOnly }
func (metricsOnly) Unavailable() []string { return []string{"member list", "alarms"} }

// Issue 21 item 6: members that answer but no alarm list read means the alarms are unknown:
// an error, never "no active alarms", for alarm list and for disarm.
func TestListAlarmsUnreadableIsAnError(t *testing.T) {
	cl := threeMembers()
	nospace(cl, id2)
	cl.AlarmListErr = errors.New("alarm list: not available without client certificates")
	ps := pods("cp-1", "cp-2", "cp-3")
	got, _, err := ListAlarms(context.Background(), cl.Connector(), ps, time.Second)
	if err == nil || errors.Is(err, ErrNoMemberReachable) || !strings.Contains(err.Error(), "cannot read the alarm list from any member: every member that answered failed the alarm list; the alarms are unknown, not absent") {
		t.Errorf("got %v, %v", got, err)
	}
	_, _, err = ListAlarms(context.Background(), metricsOnly{cl.Connector()}, ps, time.Second)
	if err == nil || !strings.Contains(err.Error(), "the metrics-only transport cannot read it (it needs etcd client certificates") {
		t.Errorf("metrics-only: %v", err)
	}
	done, _, err := DisarmAlarms(context.Background(), cl.Connector(), ps, true, time.Second)
	if err == nil || len(done) != 0 || len(cl.Alarms) != 1 || len(disarmCalls(cl)) != 0 {
		t.Errorf("disarm: %v %v, alarms %v", done, err, cl.Alarms)
	}
}
