package etcd

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// Errors that commands map to exit codes.
var (
	// ErrNotFound: the named member does not exist.
	ErrNotFound = errors.New("member not found")
	// ErrRefused: a safety check refused the change.
	ErrRefused = errors.New("refused")
	// ErrNotReady: a learner did not become promotable in time.
	ErrNotReady = errors.New("not ready")
)

// etcd's error texts, the same through etcdctl (exec) and gRPC (port-forward).
const (
	msgNotInSync       = "can only promote a learner member which is in sync with leader"
	msgNotLearner      = "can only promote a learner member"
	msgTooManyLearners = "too many learner members in cluster"
	msgMemberNotFound  = "member not found"
	msgPeerURLExists   = "peerURL exists"
	msgUnhealthy       = "unhealthy cluster"
)

func errHas(err error, msg string) bool { return err != nil && strings.Contains(err.Error(), msg) }

// isNotLearner tells "already promoted" from "not in sync", whose text contains it.
func isNotLearner(err error) bool { return errHas(err, msgNotLearner) && !errHas(err, msgNotInSync) }

// podOf returns the pod that runs member m, if any.
func podOf(m *etcdserverpb.Member, pods []discovery.Member) *discovery.Member {
	if i := matchPod(m, pods, func(int) *clientv3.StatusResponse { return nil }, map[int]bool{}); i >= 0 {
		return &pods[i]
	}
	return nil
}

// voterSession connects to a member that can take a membership change: the leader's pod when
// known, else any pod whose member answers and is a voter. exclude skips one member ID. All pods
// are asked at once, so a silent member costs one timeout, not one each.
func voterSession(ctx context.Context, conn transport.Connector, pods []discovery.Member, exclude uint64, timeout time.Duration) (transport.Session, error) {
	type cand struct {
		s      transport.Session
		leader bool
		reason string
	}
	cands := make([]cand, len(pods))
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			s, err := conn.Connect(cctx, &pods[i])
			if err != nil {
				cands[i].reason = pods[i].Pod + ": " + oneLine(err)
				return
			}
			st, err := s.Status(cctx)
			if err != nil || st.IsLearner || (st.Header != nil && st.Header.MemberId == exclude) {
				if err != nil {
					cands[i].reason = pods[i].Pod + ": " + oneLine(err)
				}
				_ = s.Close()
				return
			}
			cands[i] = cand{s: s, leader: st.Leader != 0 && st.Header != nil && st.Leader == st.Header.MemberId}
		}(i)
	}
	wg.Wait()
	best := -1
	var reasons []string
	for i, c := range cands {
		if c.s == nil {
			if c.reason != "" {
				reasons = append(reasons, c.reason)
			}
			continue
		}
		if best < 0 || (c.leader && !cands[best].leader) {
			best = i
		}
	}
	for i, c := range cands {
		if c.s != nil && i != best {
			_ = c.s.Close()
		}
	}
	if best < 0 {
		return nil, &UnreachableError{Op: "membership change", PerPod: reasons, Timeout: timeout}
	}
	return cands[best].s, nil
}

// Sleep waits for d or until ctx is done, whichever comes first; it returns ctx.Err() when the
// wait was cut short (Ctrl-C), so every polling loop stops at once.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryUnhealthy repeats a membership change that etcd refuses with "unhealthy cluster": etcd
// does so for a few seconds after any member starts (kubeadm retries the same way).
func retryUnhealthy(ctx context.Context, within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if !errHas(err, msgUnhealthy) || time.Now().After(deadline) {
			return err
		}
		if Sleep(ctx, time.Second) != nil {
			return err
		}
	}
}
