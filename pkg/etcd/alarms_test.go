package etcd

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

func nospace(c *fake.Cluster, ids ...uint64) {
	for _, id := range ids {
		c.Alarms = append(c.Alarms, &etcdserverpb.AlarmMember{MemberID: id, Alarm: etcdserverpb.AlarmType_NOSPACE})
		c.Find(id).Unhealthy = "Active Alarm(s): NOSPACE"
	}
}

func disarm(c *fake.Cluster, ps []discovery.Member, force bool) ([]string, []string, error) {
	return DisarmAlarms(context.Background(), c.Connector(), ps, force, time.Second)
}

func disarmCalls(c *fake.Cluster) []string {
	var out []string
	for _, call := range c.Calls {
		if strings.HasSuffix(call, " alarm disarm") {
			out = append(out, call)
		}
	}
	return out
}

func TestDisarmMargin(t *testing.T) {
	for _, tc := range []struct{ quota, want int64 }{
		{2 << 30, 2 << 30 / 10},
		{8 << 30, 8 << 30 / 10},
		{24 << 20, 24 << 20 / 10},
		{8 << 20, MinDisarmMargin}, // 10 % would be less than one large request
	} {
		if got := DisarmMargin(tc.quota); got != tc.want {
			t.Errorf("DisarmMargin(%d) = %d, want %d", tc.quota, got, tc.want)
		}
	}
}

// A member below its quota, but by less than the margin, raises NOSPACE again with the next
// writes: refused. Below the margin: disarmed. The quota is the one the member reports; without
// one, its --quota-backend-bytes flag; without that, etcd's 2 GiB; negative means no limit.
func TestDisarmNOSPACEOnlyBelowQuotaWithMargin(t *testing.T) {
	const quota = 100 << 20 // margin 10 MiB
	for _, tc := range []struct {
		name   string
		mutate func(c *fake.Cluster, ps []discovery.Member)
		ok     bool
		substr string
	}{
		{"just below the quota", func(c *fake.Cluster, _ []discovery.Member) { c.Members[0].DBSize = quota - 1<<20 }, false, "not below its quota 104857600 bytes minus a 10485760-byte margin"},
		{"at the quota minus the margin", func(c *fake.Cluster, _ []discovery.Member) { c.Members[1].DBSize = quota - 10<<20 }, false, "cp-2 (91bc3c398fb3c146) database"},
		{"below the margin", func(c *fake.Cluster, _ []discovery.Member) { c.Members[0].DBSize = quota - 10<<20 - 1 }, true, ""},
		{"quota from the pod's flag", func(c *fake.Cluster, ps []discovery.Member) {
			for _, m := range c.Members {
				m.Quota = 0
			}
			ps[2].QuotaBackendBytes = 90 << 20
			c.Members[2].DBSize = 85 << 20
		}, false, "cp-3 (fd422379fda50e48) database 89128960 bytes is not below its quota 94371840 bytes"},
		{"default quota", func(c *fake.Cluster, _ []discovery.Member) {
			for _, m := range c.Members {
				m.Quota, m.DBSize, m.InUse = 0, 1900<<20, 100<<20
			}
		}, false, "quota 2147483648 bytes minus a 214748364-byte margin"},
		{"no quota", func(c *fake.Cluster, _ []discovery.Member) {
			for _, m := range c.Members {
				m.Quota, m.DBSize = -1, 10<<30
			}
		}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fragmented()
			for _, m := range c.Members {
				m.Quota, m.DBSize = quota, 50<<20
			}
			nospace(c, id1)
			ps := pods("cp-1", "cp-2", "cp-3")
			tc.mutate(c, ps)
			done, warnings, err := disarm(c, ps, false)
			if tc.ok {
				if err != nil || len(c.Alarms) != 0 || !slices.Equal(done, []string{"8e9e05c52164694d:NOSPACE"}) || len(warnings) != 0 {
					t.Fatalf("want disarmed: %v %v %v, alarms left %v", done, warnings, err, c.Alarms)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not disarming") || !strings.Contains(err.Error(), tc.substr) {
				t.Fatalf("err %v; want a refusal containing %q", err, tc.substr)
			}
			if len(c.Alarms) != 1 || len(disarmCalls(c)) != 0 {
				t.Errorf("refused but disarmed: alarms %v, calls %v", c.Alarms, disarmCalls(c))
			}
			// --force disarms, and says whose check it overrode.
			_, warnings, err = disarm(c, ps, true)
			if err != nil || len(c.Alarms) != 0 || len(warnings) == 0 || !strings.Contains(warnings[0], "--force") || !strings.Contains(warnings[0], tc.substr) {
				t.Errorf("--force: %v, warnings %q, alarms %v", err, warnings, c.Alarms)
			}
		})
	}
}

// A member that could not be reached may be the one at its quota: it blocks a NOSPACE disarm.
func TestDisarmNOSPACEBlockedByAnUnreachedMember(t *testing.T) {
	c := fragmented()
	nospace(c, id1)
	c.Members[2].Down = true
	ps := pods("cp-1", "cp-2", "cp-3")
	_, _, err := disarm(c, ps, false)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "cp-3 (fd422379fda50e48) was not reached") {
		t.Fatalf("err %v", err)
	}
	if len(c.Alarms) != 1 || len(disarmCalls(c)) != 0 {
		t.Fatalf("disarmed with cp-3 down: alarms %v calls %v", c.Alarms, disarmCalls(c))
	}
	// A member without a pod counts the same.
	_, _, err = disarm(c, pods("cp-1", "cp-2"), false)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "cp-3") {
		t.Fatalf("member without pod: %v", err)
	}
	// --force: disarmed through a member that answers, with a warning naming cp-3.
	c.Members[0].Down = true // the leader too: another member is asked
	done, warnings, err := disarm(c, ps, true)
	if err != nil || len(done) != 1 || len(warnings) != 2 || !strings.Contains(strings.Join(warnings, "\n"), "cp-3 (fd422379fda50e48) was not reached") {
		t.Fatalf("--force: %v %v %q", err, done, warnings)
	}
	if calls := disarmCalls(c); len(calls) != 1 || calls[0] != "etcd-cp-2 alarm disarm" {
		t.Errorf("disarm calls %v; want one through etcd-cp-2", calls)
	}
}

// A learner that never started has no database: it does not block the disarm.
func TestDisarmIgnoresAnUnstartedLearner(t *testing.T) {
	c := fragmented()
	c.Members = append(c.Members, &fake.Member{ID: id4, Learner: true, PeerURLs: []string{"https://cp-4:2380"}})
	nospace(c, id2)
	if done, _, err := disarm(c, pods("cp-1", "cp-2", "cp-3"), false); err != nil || len(done) != 1 {
		t.Fatalf("%v %v", err, done)
	}
	if calls := disarmCalls(c); len(calls) != 1 || calls[0] != "etcd-cp-1 alarm disarm" {
		t.Errorf("disarm calls %v; want one through the leader", calls)
	}
}

// CORRUPT is never disarmed without --force, whatever the sizes; with --force a warning names
// the member.
func TestDisarmCORRUPTNeedsForce(t *testing.T) {
	c := fragmented()
	c.Alarms = []*etcdserverpb.AlarmMember{{MemberID: id2, Alarm: etcdserverpb.AlarmType_CORRUPT}}
	c.Members[1].Unhealthy = "Active Alarm(s): CORRUPT"
	ps := pods("cp-1", "cp-2", "cp-3")
	_, _, err := disarm(c, ps, false)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "CORRUPT alarm of cp-2 (91bc3c398fb3c146)") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err %v", err)
	}
	if len(c.Alarms) != 1 || len(disarmCalls(c)) != 0 {
		t.Fatalf("CORRUPT disarmed without --force: alarms %v calls %v", c.Alarms, disarmCalls(c))
	}
	// NOSPACE next to it does not make it go through either.
	nospace(c, id1)
	if _, _, err := disarm(c, ps, false); !errors.Is(err, ErrRefused) || len(c.Alarms) != 2 {
		t.Fatalf("CORRUPT + NOSPACE: %v, alarms %v", err, c.Alarms)
	}
	done, warnings, err := disarm(c, ps, true)
	if err != nil || len(done) != 2 || len(c.Alarms) != 0 {
		t.Fatalf("--force: %v %v alarms %v", err, done, c.Alarms)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "CORRUPT alarm of cp-2 (91bc3c398fb3c146)") {
		t.Errorf("warnings %q; want one naming cp-2", warnings)
	}
}

// Issue 21 item 11: only the planned (member, alarm) pairs are disarmed; a CORRUPT raised after
// the plan stays armed.
func TestDisarmOnlyThePlannedAlarms(t *testing.T) {
	c := fragmented()
	nospace(c, id1)
	raised := false
	c.OnAlarmDisarm = func(c *fake.Cluster) {
		c.Lock()
		defer c.Unlock()
		if !raised {
			raised = true
			c.Alarms = append(c.Alarms, &etcdserverpb.AlarmMember{MemberID: id3, Alarm: etcdserverpb.AlarmType_CORRUPT})
		}
	}
	done, warnings, err := disarm(c, pods("cp-1", "cp-2", "cp-3"), false)
	if err != nil || !slices.Equal(done, []string{"8e9e05c52164694d:NOSPACE"}) || len(warnings) != 0 {
		t.Fatalf("%v %v %v", done, warnings, err)
	}
	if len(c.Alarms) != 1 || c.Alarms[0].MemberID != id3 || c.Alarms[0].Alarm != etcdserverpb.AlarmType_CORRUPT {
		t.Errorf("alarms left %v; want the CORRUPT raised after the plan", c.Alarms)
	}
}

// allAtOnce is a connector whose sessions disarm like etcdctl: all or nothing, refusing with
// transport.ExtraAlarmsError when an alarm not given is active.
type allAtOnce struct{ transport.Connector }

type allAtOnceSession struct{ transport.Session }

func (c allAtOnce) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	s, err := c.Connector.Connect(ctx, m)
	return allAtOnceSession{s}, err
}

func (s allAtOnceSession) AlarmDisarm(ctx context.Context, given []*etcdserverpb.AlarmMember) (*clientv3.AlarmResponse, error) {
	active, err := s.AlarmList(ctx)
	if err != nil {
		return nil, err
	}
	if extra := transport.ExtraAlarms(active.Alarms, given); len(extra) > 0 {
		return nil, &transport.ExtraAlarmsError{Extra: extra}
	}
	return s.Session.AlarmDisarm(ctx, active.Alarms)
}

// Where only every alarm can be disarmed at once, a CORRUPT raised after the plan refuses the
// disarm without --force; with --force both go, with a warning naming the CORRUPT.
func TestDisarmAllAtOnceRefusesAnAlarmRaisedAfterThePlan(t *testing.T) {
	for _, force := range []bool{false, true} {
		c := fragmented()
		nospace(c, id1)
		ps := pods("cp-1", "cp-2", "cp-3")
		// Raised once the plan has been made: right before the disarm's own alarm list.
		st := Status(context.Background(), c.Connector(), ps, StatusOptions{Timeout: time.Second})
		if len(st.Alarms) != 1 {
			t.Fatalf("alarms %v", st.Alarms)
		}
		conn := allAtOnce{c.Connector()}
		raise := &raiseOnDisarm{Connector: conn, c: c}
		done, warnings, err := DisarmAlarms(context.Background(), raise, ps, force, time.Second)
		if !force {
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "CORRUPT of cp-3 (fd422379fda50e48) raised after the plan") || len(c.Alarms) != 2 {
				t.Errorf("without --force: %v %v, alarms %v", done, err, c.Alarms)
			}
			continue
		}
		if err != nil || len(done) != 2 || len(c.Alarms) != 0 || !strings.Contains(strings.Join(warnings, "\n"), "disarming CORRUPT of cp-3 (fd422379fda50e48) too because of --force") {
			t.Errorf("--force: %v %v %q, alarms %v", done, err, warnings, c.Alarms)
		}
	}
}

// raiseOnDisarm raises a CORRUPT on cp-3 when the first session that disarms is opened.
type raiseOnDisarm struct {
	transport.Connector
	c *fake.Cluster
}

func (r *raiseOnDisarm) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	s, err := r.Connector.Connect(ctx, m)
	if err != nil {
		return nil, err
	}
	return raisingSession{Session: s, c: r.c}, nil
}

type raisingSession struct {
	transport.Session
	c *fake.Cluster
}

func (s raisingSession) AlarmDisarm(ctx context.Context, given []*etcdserverpb.AlarmMember) (*clientv3.AlarmResponse, error) {
	s.c.Lock()
	if len(s.c.Alarms) == 1 {
		s.c.Alarms = append(s.c.Alarms, &etcdserverpb.AlarmMember{MemberID: id3, Alarm: etcdserverpb.AlarmType_CORRUPT})
	}
	s.c.Unlock()
	return s.Session.AlarmDisarm(ctx, given)
}
