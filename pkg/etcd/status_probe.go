package etcd

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// memberProbe is what asking one pod's member yielded: the open session and every answer,
// nil where the call failed. errs holds one line per failed connect, status or health call;
// a failed member list or alarm list is not an error of the member (another member answers it).
type memberProbe struct {
	session transport.Session
	status  *clientv3.StatusResponse
	health  *transport.Health
	mlist   *clientv3.MemberListResponse
	alarms  *clientv3.AlarmResponse
	cert    *x509.Certificate
	errs    []string
	// timedOut: a connect, status or health call failed once the probe's own deadline had
	// passed (the caller's context still live): the member did not answer in time.
	timedOut bool
	// healthInferred: health was read from the member's status in the cluster round, not
	// asked of the member (statusShowsHealthy).
	healthInferred bool
}

// probeMembers asks every member, each bounded by timeout, and returns one probe per member, in
// the order of members. The caller closes the sessions with closeProbes.
//
// Where the transport reads the whole cluster from one member for less than it costs to ask
// each (exec: every call is a process started through the API server and the kubelet), the
// cluster is first read in one round of two concurrent calls (probeCluster). Only what that
// round leaves in doubt is then asked of the members themselves, in parallel: the health of a
// member whose status does not show it healthy, everything of a member without a status. On the
// other transports every member is asked everything: the row of a member in trouble is always
// its own answer, and one member failing never hides the others.
func probeMembers(ctx context.Context, conn transport.Connector, members []discovery.Member, o StatusOptions) []memberProbe {
	timeout := o.Timeout
	probes := make([]memberProbe, len(members))
	r := probeCluster(ctx, conn, members, o, probes)
	var wg sync.WaitGroup
	for i := range members {
		if r.need[i] == askNothing {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if r.need[i] == askHealth {
				probeMember(ctx, conn, &members[i], timeout, &probes[i], askHealth)
				return
			}
			probes[i] = memberProbe{}
			ask := askEverything
			if r.mlist != nil {
				ask = askStatusAndHealth
			}
			probeMember(ctx, conn, &members[i], timeout, &probes[i], ask)
		}(i)
	}
	wg.Wait()
	// The round's member list and alarms go with one probe (clusterViews reads them from there).
	if r.mlist != nil {
		probes[r.asker].mlist, probes[r.asker].alarms = r.mlist, r.alarms
	}
	return probes
}

// ask says what a member is asked itself after the cluster round.
type ask int

const (
	// askEverything: the round failed; status, health, member list and alarms.
	askEverything ask = iota
	// askStatusAndHealth: the round has the member list and alarms, not this member's status.
	askStatusAndHealth
	// askHealth: the round has this member's status, which does not show it healthy.
	askHealth
	// askNothing: the round settled the member.
	askNothing
)

// clusterRound is what probeCluster read: what each member must still be asked, and the
// member list and alarms of the round (nil when it did not get them), read through asker.
type clusterRound struct {
	need   []ask
	asker  int
	mlist  *clientv3.MemberListResponse
	alarms *clientv3.AlarmResponse
}

// clusterRoundShare is the share of the per-call timeout the cluster-wide round may take (at
// least 2s, which one exec through a busy kubelet needs) before every member is asked itself: a
// member that hangs costs a third of the timeout more, not a whole one.
const clusterRoundShare = 3

// maxApplyGap is how far a member's applied index may trail the leader's commit index for its
// status to count as healthy: etcd's own bound (maxGapBetweenApplyAndCommitIndex), past which
// it refuses requests with "too many requests".
const maxApplyGap = 5000

// probeCluster reads the cluster in one round when the transport has cluster-wide reads
// (transport.ClusterReader), two calls at once in one pod: every member's status (etcdctl
// endpoint status --cluster, which reads the member list linearizably first) and the member
// list. Both go through the pod chosen (one kubelet): a second pod would be a second node whose
// kubelet may hang while etcd serves. etcd adds every active alarm, and
// "no leader", to each member's status errors: when no status has one, no alarm is active; when
// one has, the alarm list is read after the round. A member is settled, healthy, when its
// status shows it serving (statusShowsHealthy); a member with a status that does not is asked
// only its health; a member without one, or every member when the round failed, is asked itself.
//
// With o.ProbeHealth the round has a third call, etcdctl endpoint health --cluster (a
// linearizable read through every member, and the alarm list), and a member is settled by its
// answer instead (healthy, or unhealthy only because of an alarm).
func probeCluster(ctx context.Context, conn transport.Connector, members []discovery.Member, o StatusOptions, probes []memberProbe) clusterRound {
	timeout := o.Timeout
	r := clusterRound{need: make([]ask, len(members))}
	first := clusterAsker(members)
	r.asker = first
	if first < 0 || !transport.ReadsCluster(conn) {
		return r
	}
	cctx, cancel := context.WithTimeout(ctx, max(timeout/clusterRoundShare, min(timeout, 2*time.Second)))
	defer cancel()
	s, err := conn.Connect(cctx, &members[first])
	if err != nil {
		return r
	}
	cr, ok := s.(transport.ClusterReader)
	if !ok {
		_ = s.Close()
		return r
	}
	var (
		wg       sync.WaitGroup
		statuses []transport.EndpointStatus
		healths  []transport.EndpointHealth
		mlist    *clientv3.MemberListResponse
		mlErr    error
	)
	wg.Add(2)
	go func() { defer wg.Done(); statuses, _ = cr.ClusterStatus(cctx) }()
	go func() { defer wg.Done(); mlist, mlErr = s.MemberList(cctx) }()
	if o.ProbeHealth {
		wg.Add(1)
		go func() { defer wg.Done(); healths, _ = cr.ClusterHealth(cctx) }()
	}
	wg.Wait()
	byID := map[uint64]*clientv3.StatusResponse{}
	withErrors := false
	for _, st := range statuses {
		if st.Status != nil && st.Status.Header != nil {
			byID[st.Status.Header.MemberId] = st.Status
			withErrors = withErrors || len(st.Status.Errors) > 0
		}
	}
	if mlErr != nil || mlist == nil || len(byID) == 0 {
		_ = s.Close()
		return r
	}
	leader := roundLeader(byID)
	alarms := &clientv3.AlarmResponse{Header: mlist.Header}
	if withErrors || leader == nil {
		if alarms, err = s.AlarmList(cctx); err != nil {
			_ = s.Close()
			return r
		}
	}
	r.mlist, r.alarms = mlist, alarms
	healthByURL := map[string]*transport.Health{}
	for i := range healths {
		healthByURL[strings.TrimRight(healths[i].Endpoint, "/")] = &healths[i].Health
	}
	used := map[int]bool{}
	noStatus := func(int) *clientv3.StatusResponse { return nil }
	for i := range r.need {
		r.need[i] = askStatusAndHealth
	}
	for _, mm := range mlist.Members {
		i := matchPod(mm, members, noStatus, used)
		if i < 0 {
			continue
		}
		used[i] = true
		st := byID[mm.ID]
		if st == nil {
			continue
		}
		if i == first {
			probes[i].session = s
		} else if probes[i].session, err = conn.Connect(cctx, &members[i]); err != nil {
			continue
		}
		probes[i].status = st
		r.need[i] = askHealth
		switch h := healthOf(mm, healthByURL); {
		case o.ProbeHealth:
			if h != nil && (h.Healthy || strings.HasPrefix(h.Error, "Active Alarm")) {
				probes[i].health, r.need[i] = h, askNothing
			}
		case statusShowsHealthy(st, leader):
			probes[i].health, probes[i].healthInferred = &transport.Health{Healthy: true}, true
			r.need[i] = askNothing
		}
	}
	if probes[first].session != s {
		_ = s.Close()
	}
	return r
}

// roundLeader is the status of the member that reports itself leader, in the highest term
// when two do (a former leader cut off from the others); nil when none does.
func roundLeader(byID map[uint64]*clientv3.StatusResponse) *clientv3.StatusResponse {
	var l *clientv3.StatusResponse
	for id, st := range byID {
		if st.Leader == id && id != 0 && (l == nil || st.RaftTerm > l.RaftTerm) {
			l = st
		}
	}
	return l
}

// statusShowsHealthy says whether a member's status, read in the same round as the leader's,
// shows it serving linearizable reads without asking it one: no error in its status (etcd adds
// every active alarm and "no leader" there), a voter (a learner refuses linearizable reads), the
// same leader and term as the leader's own status, and its applied index within maxApplyGap of
// the leader's commit index.
func statusShowsHealthy(st, leader *clientv3.StatusResponse) bool {
	if st == nil || leader == nil || st.Header == nil || leader.Header == nil {
		return false
	}
	if len(st.Errors) > 0 || st.IsLearner || st.Leader == 0 {
		return false
	}
	if leader.Leader != leader.Header.MemberId || st.Leader != leader.Header.MemberId || st.RaftTerm != leader.RaftTerm {
		return false
	}
	return st.RaftAppliedIndex+maxApplyGap >= leader.RaftIndex && st.RaftAppliedIndex+maxApplyGap >= st.RaftIndex
}

// clusterAsker picks the pod to read the cluster through: the first running and ready one,
// else the first running one; -1 when none runs.
func clusterAsker(members []discovery.Member) int {
	running := -1
	for i := range members {
		if !members[i].Running() {
			continue
		}
		if members[i].Ready {
			return i
		}
		if running < 0 {
			running = i
		}
	}
	return running
}

// healthOf finds the health result of member mm by its client URLs.
func healthOf(mm *etcdserverpb.Member, byURL map[string]*transport.Health) *transport.Health {
	for _, u := range mm.ClientURLs {
		if h := byURL[strings.TrimRight(u, "/")]; h != nil {
			return h
		}
	}
	return nil
}

// probeMember connects to one member and asks, in parallel, what a says (its health always;
// its status, member list and alarms as a says) and, where the transport can tell, its serving
// certificate.
func probeMember(ctx context.Context, conn transport.Connector, m *discovery.Member, timeout time.Duration, p *memberProbe, a ask) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := p.session
	if s == nil {
		var err error
		if s, err = conn.Connect(cctx, m); err != nil {
			p.errs = append(p.errs, "connect: "+oneLine(err))
			p.timedOut = deadlineHit(ctx, cctx)
			return
		}
		p.session = s
	}
	var inner sync.WaitGroup
	var mu sync.Mutex
	note := func(op string, err error) {
		mu.Lock()
		p.errs = append(p.errs, op+": "+oneLine(err))
		mu.Unlock()
	}
	if ci, ok := s.(transport.CertInspector); ok {
		inner.Add(1)
		go func() {
			defer inner.Done()
			if c, err := ci.ServerCertificate(cctx); err == nil {
				p.cert = c
			}
		}()
	}
	inner.Add(1)
	go func() {
		defer inner.Done()
		h, err := s.Health(cctx)
		if err != nil {
			note("health", err)
		}
		p.health = h
	}()
	if a <= askStatusAndHealth {
		inner.Add(1)
		go func() {
			defer inner.Done()
			st, err := s.Status(cctx)
			if err != nil {
				note("status", err)
			}
			p.status = st
		}()
	}
	if a == askEverything {
		inner.Add(2)
		go func() {
			defer inner.Done()
			ml, err := s.MemberList(cctx)
			if err == nil {
				p.mlist = ml
			}
		}()
		go func() {
			defer inner.Done()
			al, err := s.AlarmList(cctx)
			if err == nil {
				p.alarms = al
			}
		}()
	}
	inner.Wait()
	p.timedOut = len(p.errs) > 0 && deadlineHit(ctx, cctx)
}

// deadlineHit tells a call context ended by its own deadline from one whose parent (Ctrl-C)
// ended it.
func deadlineHit(parent, call context.Context) bool {
	return parent.Err() == nil && errors.Is(call.Err(), context.DeadlineExceeded)
}

// allTimedOut: every member was asked, none answered its status, and every one failed because
// the deadline passed.
func allTimedOut(probes []memberProbe) bool {
	for _, p := range probes {
		if !p.timedOut || p.status != nil {
			return false
		}
	}
	return len(probes) > 0
}

// closeProbes closes the sessions the probes opened.
func closeProbes(probes []memberProbe) {
	for _, p := range probes {
		if p.session != nil {
			_ = p.session.Close()
		}
	}
}
