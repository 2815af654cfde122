package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
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

// ---- promote ----

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

// ---- member add ----

// AddOptions describe a new member.
type AddOptions struct {
	Name     string
	PeerURLs []string
	Learner  bool
	// Force skips the health check (never the learner limit: etcd enforces that itself).
	Force       bool
	CallTimeout time.Duration
}

// AddResult is the result of "member add", with the settings the new member must start with.
type AddResult struct {
	ClusterID      string       `json:"clusterID"`
	ID             string       `json:"id"`
	Name           string       `json:"name"`
	Learner        bool         `json:"learner"`
	PeerURLs       []string     `json:"peerURLs"`
	InitialCluster string       `json:"initialCluster"`
	Members        []MemberInfo `json:"members"`
}

// ValidatePeerURLs checks that every URL is an absolute http(s) URL with a port.
func ValidatePeerURLs(urls []string) error {
	if len(urls) == 0 {
		return errors.New("member peer urls not provided (--peer-urls)")
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" {
			return fmt.Errorf("invalid peer URL %q: want http(s)://HOST:PORT, e.g. https://10.0.0.14:2380", raw)
		}
	}
	return nil
}

// AddMember adds a member after checking that the cluster is healthy and has room for a learner.
func AddMember(ctx context.Context, conn transport.Connector, pods []discovery.Member, o AddOptions) (*AddResult, error) {
	if err := ValidatePeerURLs(o.PeerURLs); err != nil {
		return nil, err
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	st := Status(ctx, conn, pods, StatusOptions{Timeout: o.CallTimeout})
	if st.Quorum.Voters == 0 {
		return nil, fmt.Errorf("%w: no member answered with the member list; cannot add a member to a cluster it cannot see", ErrRefused)
	}
	if st.Quorum.HealthyVoters < st.Quorum.Voters && !o.Force {
		return nil, fmt.Errorf("%w: the cluster is not healthy (%d of %d voting members healthy); adding a member now can cost quorum — fix the cluster first or pass --force",
			ErrRefused, st.Quorum.HealthyVoters, st.Quorum.Voters)
	}
	maxLearners := 1
	for _, p := range pods {
		if p.MaxLearners > maxLearners {
			maxLearners = p.MaxLearners
		}
	}
	var learners []string
	for _, m := range st.Members {
		if m.Name == o.Name && o.Name != "" {
			return nil, fmt.Errorf("%w: a member named %q already exists (%s)", ErrRefused, o.Name, m.ID)
		}
		if overlaps(m.PeerURLs, o.PeerURLs) {
			return nil, fmt.Errorf("%w: peer URL %s already belongs to member %s (%s)", ErrRefused, strings.Join(o.PeerURLs, ","), nameOrUnstarted(m.Name), m.ID)
		}
		if m.Learner && m.ID != "" {
			learners = append(learners, fmt.Sprintf("%s (%s)", nameOrUnstarted(m.Name), m.ID))
		}
	}
	if o.Learner && len(learners) >= maxLearners {
		return nil, fmt.Errorf("%w: too many learners: %s already a learner and the cluster allows %d (etcd --max-learners); promote or remove it first",
			ErrRefused, strings.Join(learners, ", "), maxLearners)
	}
	s, err := voterSession(ctx, conn, pods, 0, o.CallTimeout)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var resp *clientv3.MemberAddResponse
	err = retryUnhealthy(ctx, 15*time.Second, func() error {
		cctx, cancel := context.WithTimeout(ctx, o.CallTimeout)
		defer cancel()
		var err error
		resp, err = s.MemberAdd(cctx, o.Name, o.PeerURLs, o.Learner)
		return err
	})
	switch {
	case errHas(err, msgTooManyLearners):
		return nil, fmt.Errorf("%w: too many learners: etcd refuses another learner (%s); promote or remove the existing one first", ErrRefused, oneLine(err))
	case errHas(err, msgPeerURLExists):
		return nil, fmt.Errorf("%w: %s", ErrRefused, oneLine(err))
	case errHas(err, msgUnhealthy):
		return nil, fmt.Errorf("%w: etcd refuses the change: %s (a member that started within the last few seconds makes etcd wait; retry shortly)", ErrRefused, oneLine(err))
	case err != nil:
		return nil, fmt.Errorf("member add: %w", err)
	}
	res := &AddResult{Name: o.Name, Learner: o.Learner, PeerURLs: o.PeerURLs}
	if resp.Header != nil {
		res.ClusterID = FormatID(resp.Header.ClusterId)
	}
	if resp.Member != nil {
		res.ID = FormatID(resp.Member.ID)
	}
	var ic []string
	for _, m := range resp.Members {
		name := m.Name
		if resp.Member != nil && m.ID == resp.Member.ID {
			name = o.Name
		}
		if name == "" {
			continue // a member that never started has no name to list
		}
		for _, u := range m.PeerURLs {
			ic = append(ic, name+"="+u)
		}
	}
	res.InitialCluster = strings.Join(ic, ",")
	res.Members = JoinMembers(&clientv3.MemberListResponse{Header: resp.Header, Members: resp.Members}, pods, string(conn.Mode()), "").Members
	return res, nil
}

// ---- member remove ----

// RemovePlan is the preview of a removal: the member, and the quorum before and after.
type RemovePlan struct {
	Member  MemberStatus `json:"member"`
	Before  Quorum       `json:"before"`
	After   Quorum       `json:"after"`
	Learner bool         `json:"learner"`
	// Refusals are the reasons the removal needs --force; empty means it is safe.
	Refusals []string `json:"refusals,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// PlanRemove works out what removing the member would do to the quorum. Serving voters are
// counted as status counts them (MemberStatus.ServingVoter: a NOSPACE member serves, a down or
// CORRUPT one does not); the target is subtracted from them when it serves itself. The quorum
// after is (voters-1)/2+1, and the removal needs --force when fewer voters than that would serve.
func PlanRemove(st *ClusterStatus, target MemberStatus) *RemovePlan {
	p := &RemovePlan{Member: target, Before: st.Quorum, Learner: target.Learner}
	if target.Learner {
		p.After = st.Quorum
		p.After.Learners--
		return p
	}
	servingAfter := st.Quorum.HealthyVoters
	if target.ServingVoter() {
		servingAfter--
	}
	p.After = NewQuorum(st.Quorum.Voters-1, servingAfter, st.Quorum.Learners)
	switch {
	case p.After.Voters == 0:
		p.Refusals = append(p.Refusals, "it is the last voting member: removing it destroys the cluster")
	case !p.After.HasQuorum():
		p.Refusals = append(p.Refusals, fmt.Sprintf("the cluster would lose quorum: %d serving of %d voters left, %d needed",
			p.After.HealthyVoters, p.After.Voters, p.After.Needed))
	case p.After.FailuresLeft < p.Before.FailuresLeft:
		p.Refusals = append(p.Refusals, fmt.Sprintf("the cluster could lose %d more member(s) now and only %d after",
			p.Before.FailuresLeft, p.After.FailuresLeft))
	case p.After.Voters == 1 && p.Before.Voters == 2:
		p.Refusals = append(p.Refusals, "a single voting member would be left: no redundancy at all")
	}
	if p.After.Voters > 0 && p.After.Voters%2 == 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d voting members would remain: an even count tolerates no more failures than %d; etcd recommends 3 or 5",
			p.After.Voters, p.After.Voters-1))
	}
	if target.Leader {
		p.Warnings = append(p.Warnings, "it is the leader: the cluster elects a new one, a short write pause")
	}
	return p
}

// Worse compares the plan made again right before the removal with the plan the operator saw
// and confirmed. It returns what changed for the worse, one line each; none means the removal
// may go ahead as confirmed.
func (p *RemovePlan) Worse(confirmed *RemovePlan) []string {
	if p.Learner && confirmed.Learner {
		return nil // a learner does not vote: the quorum is the same with or without it
	}
	var out []string
	if p.Learner != confirmed.Learner {
		out = append(out, fmt.Sprintf("the member is now a %s", map[bool]string{true: "learner", false: "voter"}[p.Learner]))
	}
	if p.Before.Voters != confirmed.Before.Voters {
		out = append(out, fmt.Sprintf("voting members: %d, was %d", p.Before.Voters, confirmed.Before.Voters))
	}
	if p.Before.HealthyVoters < confirmed.Before.HealthyVoters {
		out = append(out, fmt.Sprintf("serving voters: %d, was %d", p.Before.HealthyVoters, confirmed.Before.HealthyVoters))
	}
	if p.After.FailuresLeft < confirmed.After.FailuresLeft {
		out = append(out, fmt.Sprintf("after the removal %d of %d voters would serve (quorum %d), was %d of %d",
			p.After.HealthyVoters, p.After.Voters, p.After.Needed, confirmed.After.HealthyVoters, confirmed.After.Voters))
	}
	seen := map[string]bool{}
	for _, r := range confirmed.Refusals {
		seen[r] = true
	}
	for _, r := range p.Refusals {
		if !seen[r] {
			out = append(out, "now "+r)
		}
	}
	return out
}

// RemoveMember removes a member through another healthy voter.
func RemoveMember(ctx context.Context, conn transport.Connector, pods []discovery.Member, id uint64, timeout time.Duration) error {
	s, err := voterSession(ctx, conn, pods, id, timeout)
	if err != nil {
		return err
	}
	defer s.Close()
	err = retryUnhealthy(ctx, 15*time.Second, func() error {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := s.MemberRemove(cctx, id)
		return err
	})
	switch {
	case errHas(err, msgMemberNotFound):
		return fmt.Errorf("%w: member %s is not in the cluster (already removed?)", ErrNotFound, FormatID(id))
	case errHas(err, msgUnhealthy):
		return fmt.Errorf("%w: etcd refuses the change: %s", ErrRefused, oneLine(err))
	case err != nil:
		return fmt.Errorf("member remove: %w", err)
	}
	return nil
}

func nameOrUnstarted(name string) string {
	if name == "" {
		return "(unstarted)"
	}
	return name
}
