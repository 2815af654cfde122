package etcd

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// PromoteOptions tune Promote.
type PromoteOptions struct {
	// Wait keeps polling until the learner can be promoted or Timeout passes.
	Wait bool
	// Timeout bounds the whole wait for one learner (kubeadm waits about 2 minutes).
	Timeout time.Duration
	// Interval between polls.
	Interval time.Duration
	// CallTimeout bounds each call to a member.
	CallTimeout time.Duration
	// Progress, when set, is told how far the learner has caught up at every poll.
	Progress func(PromoteProgress)
	// Force promotes a started learner whose pod is missing, not running or not answering,
	// leaving the in-sync check to etcd (which refuses a learner that is not in sync with its
	// leader). After an interrupted kubeadm join the learner's node has no working API server
	// (it needs the local etcd, which is the learner), so its kubelet cannot publish the pod.
	Force bool
}

// PromoteProgress is one observation of a learner catching up.
type PromoteProgress struct {
	Name         string        `json:"name"`
	ID           string        `json:"id"`
	LearnerIndex uint64        `json:"learnerIndex"`
	LeaderIndex  uint64        `json:"leaderIndex"`
	Percent      float64       `json:"percent"`
	ETA          time.Duration `json:"eta,omitempty"`
	// Waiting says why the learner is not promoted yet.
	Waiting string `json:"waiting,omitempty"`
}

// PromoteOutcome is what happened to one learner.
type PromoteOutcome struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Took    string `json:"took"`
}

// Outcomes.
const (
	OutcomePromoted        = "promoted"
	OutcomeAlreadyVoting   = "already a voting member"
	OutcomePromotedLostAck = "promoted (the server applied it; its answer was lost)"
)

// Learners lists the learner members.
func Learners(ml *clientv3.MemberListResponse) []*etcdserverpb.Member {
	var out []*etcdserverpb.Member
	for _, m := range ml.Members {
		if m.IsLearner {
			out = append(out, m)
		}
	}
	return out
}

// PromoteMember promotes one member, safely to re-run: before every attempt the member list is
// read again, so a promotion that the server applied while the answer was lost is reported as
// done, and a member that already votes is left alone. When a promote call was made and the
// loop is about to give up (--wait=false, or the deadline), the member list is read once more,
// so a promotion whose answer was lost on the last attempt is reported as done too.
func PromoteMember(ctx context.Context, conn transport.Connector, pods []discovery.Member, id uint64, o PromoteOptions) (*PromoteOutcome, error) {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	start := time.Now()
	deadline := start.Add(o.Timeout)
	// outcome is what the last promote call suggests, confirmed by the next member-list read.
	outcome := OutcomeAlreadyVoting
	var lastReason string
	var prev *PromoteProgress
	var prevAt time.Time
	// called is set when a promote call went out whose effect no member-list read has seen yet.
	called := false
	// votes reads the member list once more after a promote call whose answer was not a
	// success, before failure is reported: the server may have applied it.
	votes := func() *PromoteOutcome {
		if !called {
			return nil
		}
		ml, _, err := FetchMemberList(ctx, conn, pods, o.CallTimeout)
		if err != nil {
			lastReason += "; the member list could not be read again to see whether the promotion was applied: " + oneLine(err)
			return nil
		}
		if m := findMember(ml, id); m != nil && !m.IsLearner {
			return &PromoteOutcome{ID: FormatID(id), Name: m.Name, Outcome: outcome, Took: time.Since(start).Round(time.Millisecond).String()}
		}
		return nil
	}
	for {
		ml, _, err := FetchMemberList(ctx, conn, pods, o.CallTimeout)
		called = called && err != nil
		if err != nil {
			lastReason = oneLine(err)
		} else {
			m := findMember(ml, id)
			if m == nil {
				return nil, fmt.Errorf("%w: member %s is not in the member list (removed?)", ErrNotFound, FormatID(id))
			}
			out := &PromoteOutcome{ID: FormatID(id), Name: m.Name, Took: time.Since(start).Round(time.Millisecond).String()}
			if !m.IsLearner {
				out.Outcome = outcome
				return out, nil
			}
			reason, promotable, progress := learnerReadiness(ctx, conn, pods, m, o.CallTimeout, o.Force)
			if progress != nil {
				if prev != nil && progress.LearnerIndex > prev.LearnerIndex && progress.LeaderIndex > progress.LearnerIndex {
					rate := float64(progress.LearnerIndex-prev.LearnerIndex) / time.Since(prevAt).Seconds()
					if rate > 0 {
						progress.ETA = time.Duration(float64(progress.LeaderIndex-progress.LearnerIndex) / rate * float64(time.Second)).Round(time.Second)
					}
				}
				prev, prevAt = progress, time.Now()
				progress.Waiting = reason
				if o.Progress != nil {
					o.Progress(*progress)
				}
			}
			lastReason = reason
			if promotable {
				s, err := voterSession(ctx, conn, pods, id, o.CallTimeout)
				if err != nil {
					lastReason = oneLine(err)
				} else {
					cctx, cancel := context.WithTimeout(ctx, o.CallTimeout)
					_, err = s.MemberPromote(cctx, id)
					cancel()
					_ = s.Close()
					called = true
					switch {
					case err == nil:
						outcome = OutcomePromoted
						continue // the re-check confirms it
					case isNotLearner(err):
						// Promoted between our check and our call (by someone else, or by
						// our own earlier call whose answer was lost). Re-check.
						continue
					case errHas(err, msgNotInSync):
						lastReason = "learner not in sync with the leader" + behind(progress)
					case errHas(err, msgMemberNotFound):
						continue // the re-check reports it
					default:
						// A timeout may have been applied on the server: the re-check will tell.
						outcome = OutcomePromotedLostAck
						lastReason = "promote call failed: " + oneLine(err)
					}
				}
			}
		}
		if !o.Wait {
			if out := votes(); out != nil {
				return out, nil
			}
			return nil, fmt.Errorf("%w: member %s cannot be promoted yet: %s", ErrNotReady, FormatID(id), lastReason)
		}
		if time.Now().Add(o.Interval).After(deadline) {
			if out := votes(); out != nil {
				return out, nil
			}
			return nil, fmt.Errorf("%w: member %s was not promoted within %s: %s", ErrNotReady, FormatID(id), o.Timeout, lastReason)
		}
		if err := Sleep(ctx, o.Interval); err != nil {
			return nil, fmt.Errorf("promote of member %s interrupted: %w (last state: %s)", FormatID(id), err, lastReason)
		}
	}
}

func behind(p *PromoteProgress) string {
	if p == nil || p.LeaderIndex == 0 {
		return ""
	}
	return fmt.Sprintf(" (raft index %d of the leader's %d, %d behind)", p.LearnerIndex, p.LeaderIndex, int64(p.LeaderIndex)-int64(p.LearnerIndex))
}

func findMember(ml *clientv3.MemberListResponse, id uint64) *etcdserverpb.Member {
	for _, m := range ml.Members {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// forceHint ends the reasons that --force overrides.
const forceHint = "; if etcd runs on the node (an interrupted kubeadm join leaves its kubelet without an API server), --force lets etcd judge: it promotes only a learner in sync with its leader"

// learnerReadiness says whether a learner may be promoted now, and if not, why. With force, a
// started learner that cannot be checked through its pod is left to etcd's own in-sync check.
func learnerReadiness(ctx context.Context, conn transport.Connector, pods []discovery.Member, m *etcdserverpb.Member, timeout time.Duration, force bool) (reason string, promotable bool, progress *PromoteProgress) {
	pod := podOf(m, pods)
	unchecked := func(why string) (string, bool, *PromoteProgress) {
		if force {
			return why + " (--force: etcd checks that it is in sync)", true, nil
		}
		return why + forceHint, false, nil
	}
	switch {
	case m.Name == "" || len(m.ClientURLs) == 0:
		if pod == nil {
			return "member has not started (no name or client URLs yet) and no etcd pod runs it", false, nil
		}
		return fmt.Sprintf("member has not started (no name or client URLs yet); is etcd running in %s?", pod), false, nil
	case pod == nil:
		return unchecked("no etcd pod runs this member (pod not running)")
	case !pod.Running():
		return unchecked(fmt.Sprintf("%s is %s, not Running", pod, orUnknown(pod.Phase)))
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	learner, err := statusOf(cctx, conn, pod)
	if err != nil {
		return unchecked(fmt.Sprintf("learner in %s does not answer: %s", pod, oneLine(err)))
	}
	leaderIdx := uint64(0)
	if learner.Leader != 0 {
		for i := range pods {
			if &pods[i] == pod {
				continue
			}
			st, err := statusOf(cctx, conn, &pods[i])
			if err == nil && st.Header != nil && st.Header.MemberId == learner.Leader {
				leaderIdx = st.RaftIndex
				break
			}
		}
	}
	progress = &PromoteProgress{Name: m.Name, ID: FormatID(m.ID), LearnerIndex: learner.RaftIndex, LeaderIndex: leaderIdx}
	if leaderIdx > 0 {
		progress.Percent = float64(learner.RaftIndex) * 100 / float64(leaderIdx)
		if progress.Percent > 100 {
			progress.Percent = 100
		}
	}
	if learner.Leader == 0 {
		return "learner has no leader yet", false, progress
	}
	// etcd promotes a learner whose log is within 90% of the leader's; ask once it looks close.
	if leaderIdx > 0 && float64(learner.RaftIndex) < 0.9*float64(leaderIdx) {
		return "learner not in sync with the leader" + behind(progress), false, progress
	}
	return "", true, progress
}

func statusOf(ctx context.Context, conn transport.Connector, pod *discovery.Member) (*clientv3.StatusResponse, error) {
	s, err := conn.Connect(ctx, pod)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Status(ctx)
}
