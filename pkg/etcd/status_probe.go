package etcd

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"time"

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

// probeMembers asks every member in parallel, each bounded by timeout, and returns one probe
// per member, in the order of members. The caller closes the sessions with closeProbes.
func probeMembers(ctx context.Context, conn transport.Connector, members []discovery.Member, timeout time.Duration) []memberProbe {
	probes := make([]memberProbe, len(members))
	var wg sync.WaitGroup
	for i := range members {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			probeMember(ctx, conn, &members[i], timeout, &probes[i])
		}(i)
	}
	wg.Wait()
	return probes
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
