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
}

// probeMembers asks every member, each bounded by timeout, and returns one probe per member, in
// the order of members. The caller closes the sessions with closeProbes.
//
// Where the transport reads the whole cluster from one member for less than it costs to ask
// each (exec: every call is a process started through the API server and the kubelet), one
// member is asked first, in one round of concurrent calls, for every member's status and
// health (probeCluster). Only the pods that round leaves unsettled (no status, unhealthy for
// another reason than an alarm, or the round failed) are then asked themselves, in parallel, as
// every pod is on the other transports: the row of a member in trouble is always its own answer,
// and one member failing never hides the others.
func probeMembers(ctx context.Context, conn transport.Connector, members []discovery.Member, timeout time.Duration) []memberProbe {
	probes := make([]memberProbe, len(members))
	settled := probeCluster(ctx, conn, members, timeout, probes)
	var wg sync.WaitGroup
	for i := range members {
		if settled[i] {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			probes[i] = memberProbe{}
			probeMember(ctx, conn, &members[i], timeout, &probes[i])
		}(i)
	}
	wg.Wait()
	return probes
}

// clusterRoundShare is the share of the per-call timeout the cluster-wide round may take (at
// least 2s, which one exec through a busy kubelet needs) before every member is asked itself: a
// member that hangs costs a third of the timeout more, not a whole one.
const clusterRoundShare = 3

// probeCluster fills probes from one member's cluster-wide reads when the transport has them
// (transport.ClusterReader): its member list and alarms, and every member's status and health,
// concurrently. It returns which probes are settled; none when the transport cannot, no pod
// runs, or the round failed.
func probeCluster(ctx context.Context, conn transport.Connector, members []discovery.Member, timeout time.Duration, probes []memberProbe) []bool {
	settled := make([]bool, len(members))
	first := clusterAsker(members)
	if first < 0 || !transport.ReadsCluster(conn) {
		return settled
	}
	cctx, cancel := context.WithTimeout(ctx, max(timeout/clusterRoundShare, min(timeout, 2*time.Second)))
	defer cancel()
	s, err := conn.Connect(cctx, &members[first])
	if err != nil {
		return settled
	}
	cr, ok := s.(transport.ClusterReader)
	if !ok {
		_ = s.Close()
		return settled
	}
	var (
		wg       sync.WaitGroup
		statuses []transport.EndpointStatus
		healths  []transport.EndpointHealth
		mlist    *clientv3.MemberListResponse
		alarms   *clientv3.AlarmResponse
		mlErr    error
	)
	wg.Add(4)
	go func() { defer wg.Done(); statuses, _ = cr.ClusterStatus(cctx) }()
	go func() { defer wg.Done(); healths, _ = cr.ClusterHealth(cctx) }()
	go func() { defer wg.Done(); mlist, mlErr = s.MemberList(cctx) }()
	go func() { defer wg.Done(); alarms, _ = s.AlarmList(cctx) }()
	wg.Wait()
	if mlErr != nil || mlist == nil {
		_ = s.Close()
		return settled
	}
	byID := map[uint64]*clientv3.StatusResponse{}
	for _, st := range statuses {
		if st.Status != nil && st.Status.Header != nil {
			byID[st.Status.Header.MemberId] = st.Status
		}
	}
	healthByURL := map[string]*transport.Health{}
	for i := range healths {
		healthByURL[strings.TrimRight(healths[i].Endpoint, "/")] = &healths[i].Health
	}
	used := map[int]bool{}
	noStatus := func(int) *clientv3.StatusResponse { return nil }
	for _, mm := range mlist.Members {
		i := matchPod(mm, members, noStatus, used)
		if i < 0 {
			continue
		}
		used[i] = true
		st, h := byID[mm.ID], healthOf(mm, healthByURL)
		if st == nil || h == nil || (!h.Healthy && !strings.HasPrefix(h.Error, "Active Alarm")) {
			continue
		}
		if i == first {
			probes[i].session = s
		} else if probes[i].session, err = conn.Connect(cctx, &members[i]); err != nil {
			continue
		}
		probes[i].status, probes[i].health, settled[i] = st, h, true
	}
	if !settled[first] {
		_ = s.Close()
	}
	// The member list and alarms go with one settled probe (clusterViews reads them from there).
	for i := range probes {
		if settled[i] {
			probes[i].mlist, probes[i].alarms = mlist, alarms
			break
		}
	}
	return settled
}

// clusterAsker picks the pod that answers for the cluster: the first running and ready one,
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

// probeMember connects to one member and asks, in parallel, for its status, health, member
// list, alarms and (where the transport can tell) serving certificate.
func probeMember(ctx context.Context, conn transport.Connector, m *discovery.Member, timeout time.Duration, p *memberProbe) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := conn.Connect(cctx, m)
	if err != nil {
		p.errs = append(p.errs, "connect: "+oneLine(err))
		p.timedOut = deadlineHit(ctx, cctx)
		return
	}
	p.session = s
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
	inner.Add(4)
	go func() {
		defer inner.Done()
		st, err := s.Status(cctx)
		if err != nil {
			note("status", err)
		}
		p.status = st
	}()
	go func() {
		defer inner.Done()
		h, err := s.Health(cctx)
		if err != nil {
			note("health", err)
		}
		p.health = h
	}()
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
