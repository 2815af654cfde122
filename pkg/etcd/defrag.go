package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// ErrInconsistent marks members whose data differ.
var ErrInconsistent = errors.New("members are inconsistent")

// Defaults for deciding which members need a defrag (OpenShift's etcd operator uses 45 %).
const (
	DefaultMinFragmentation = 45.0
	DefaultMinDefragSize    = 100 * 1000 * 1000
)

// DefragOptions tune Defrag.
type DefragOptions struct {
	// Member limits the run to one member (name, pod, node or hex ID).
	Member string
	// PodSelected, when set, limits the run to the members whose pod it says yes to (--pod); the
	// checks and gates still look at every member.
	PodSelected func(pod string) bool
	// MinFragmentation and MinSize decide which members need it; Force defrags regardless.
	MinFragmentation float64
	MinSize          int64
	Force            bool
	DryRun           bool
	// MoveLeader hands leadership to an already defragmented follower before the leader's turn.
	MoveLeader bool
	// Compact compacts the keyspace at the current revision first.
	Compact bool
	// Disarm disarms the alarms at the end, when PlanDisarm allows it without force.
	Disarm bool
	// Timeout bounds one member's defrag; zero scales it with the database size.
	Timeout     time.Duration
	CallTimeout time.Duration
	// Event is told what happens, step by step.
	Event func(DefragEvent)
	// Confirm, when set, is asked before the leader is defragmented in place (every write of the
	// cluster stalls meanwhile): once after planning when the plan does it (--move-leader=false,
	// or no other serving voter to hand leadership to), and again during the run if leadership
	// cannot be moved after all. leader is the plan's target in question. An error stops the
	// run before that member; nil goes ahead. Unset means confirmed (--yes).
	Confirm func(plan *DefragReport, leader *DefragTarget) error
}

// DefragEvent is one step of a run, for progress output.
type DefragEvent struct {
	Member  string `json:"member"`
	Step    string `json:"step"`
	Message string `json:"message"`
}

// DefragTarget is one member in the plan.
type DefragTarget struct {
	Name             string  `json:"name"`
	ID               string  `json:"id"`
	Pod              string  `json:"pod"`
	Leader           bool    `json:"leader"`
	DBSize           int64   `json:"dbSize"`
	DBSizeInUse      int64   `json:"dbSizeInUse"`
	FragmentationPct float64 `json:"fragmentationPercent"`
	ExpectedReclaim  int64   `json:"expectedReclaim"`
	Needed           bool    `json:"needed"`
	Reason           string  `json:"reason"`
	// After the run: Started once its defrag call was made (its lock taken), Done once it
	// completed.
	Started    bool   `json:"started"`
	Done       bool   `json:"done"`
	SizeAfter  int64  `json:"dbSizeAfter,omitempty"`
	Took       string `json:"took,omitempty"`
	LeaderMove string `json:"leaderMovedTo,omitempty"`
	Error      string `json:"error,omitempty"`
}

// DefragReport is the plan and, unless it was a dry run, what was done.
type DefragReport struct {
	DryRun    bool           `json:"dryRun"`
	Order     []DefragTarget `json:"order"`
	Skipped   []string       `json:"skipped,omitempty"`
	Compacted int64          `json:"compactedRevision,omitempty"`
	Disarmed  []string       `json:"disarmed,omitempty"`
	Reclaimed int64          `json:"reclaimed"`
}

// Done lists the members defragmented.
func (r *DefragReport) Done() []string {
	var out []string
	for _, t := range r.Order {
		if t.Done {
			out = append(out, t.Name)
		}
	}
	return out
}

// Defrag plans and runs a rolling defrag: one member at a time, followers first, leadership
// moved off the leader before its turn, and after each member a gate that waits until it is
// healthy and caught up with the leader. It stops at the first failure and says what was done.
func Defrag(ctx context.Context, conn transport.Connector, pods []discovery.Member, o DefragOptions) (*DefragReport, error) {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	event := func(member, step, format string, args ...any) {
		if o.Event != nil {
			o.Event(DefragEvent{Member: member, Step: step, Message: fmt.Sprintf(format, args...)})
		}
	}
	st := Status(ctx, conn, pods, StatusOptions{Timeout: o.CallTimeout, ProbeHealth: true})
	serving := 0
	for _, m := range st.Members {
		if !m.Learner && m.ID != "" && healthyForDefrag(m) {
			serving++
		}
	}
	if st.Quorum.Voters == 0 || serving < st.Quorum.Needed {
		return nil, fmt.Errorf("%w: quorum is lost (%s)", ErrRefused, strings.Join(st.Errors(), "; "))
	}
	r, err := PlanDefrag(st, o)
	if err != nil {
		return r, err
	}
	if why := unreadable(st); why != "" {
		return nil, fmt.Errorf("%w: %s; no member was defragmented", ErrUnreadable, why)
	}
	if o.DryRun {
		return r, nil
	}
	confirmed := o.Confirm == nil
	if t := LeaderInPlace(st, r, o.MoveLeader); t != nil && !confirmed {
		if err := o.Confirm(r, t); err != nil {
			return nil, err
		}
		confirmed = true
	}
	podOfMember := func(pod, name string) *discovery.Member {
		for i := range pods {
			if pods[i].Is(pod, name) {
				return &pods[i]
			}
		}
		return nil
	}
	if o.Compact && len(r.Order) > 0 {
		rev := int64(0)
		for _, m := range st.Members {
			if m.Revision > rev {
				rev = m.Revision
			}
		}
		if err := withSession(ctx, conn, podOfMember(r.Order[0].Pod, r.Order[0].Name), o.CallTimeout, func(ctx context.Context, s transport.Session) error {
			return s.Compact(ctx, rev)
		}); err != nil && !strings.Contains(err.Error(), "compacted") {
			return r, fmt.Errorf("compaction at revision %d: %w", rev, err)
		}
		event("", "compact", "compacted the keyspace at revision %d", rev)
		// Plan again: the compaction freed pages, which is what the rules look at.
		st = Status(ctx, conn, pods, StatusOptions{Timeout: o.CallTimeout, ProbeHealth: true})
		if why := unreadable(st); why != "" {
			return r, fmt.Errorf("%w after the compaction at revision %d: %s; no member was defragmented", ErrUnreadable, rev, why)
		}
		if r, err = PlanDefrag(st, o); err != nil {
			return r, err
		}
		r.Compacted = rev
	}
	for i := range r.Order {
		t := &r.Order[i]
		if !t.Needed {
			event(t.Name, "skip", "%s: skipped: %s", t.Name, t.Reason)
			continue
		}
		pod := podOfMember(t.Pod, t.Name)
		if pod == nil {
			return r, stopErr(r, t, fmt.Errorf("pod %s vanished", t.Pod))
		}
		// Is it (still) the leader? Leadership may have moved during the run. What cannot be
		// read stops the run: a member not seen could be the leader.
		cur := Status(ctx, conn, pods, StatusOptions{Timeout: o.CallTimeout, ProbeHealth: true})
		if why := unreadable(cur); why != "" {
			return r, stopErr(r, t, fmt.Errorf("%w before defragmenting %s: %s", ErrUnreadable, t.Name, why))
		}
		if err := gate(cur); err != nil {
			return r, stopErr(r, t, fmt.Errorf("the cluster is not healthy before defragmenting %s: %w", t.Name, err))
		}
		self := findByID(cur, t.ID)
		if self == nil {
			return r, stopErr(r, t, fmt.Errorf("%w before defragmenting %s: member %s is not in the member list", ErrUnreadable, t.Name, t.ID))
		}
		if self.Leader {
			var to *MemberStatus
			if o.MoveLeader {
				if to = pickTransferee(cur, r, t.ID); to == nil {
					event(t.Name, "move-leader", "no healthy follower to take the leadership; defragmenting the leader in place")
				}
			}
			if to == nil && !confirmed {
				if err := o.Confirm(r, t); err != nil {
					return r, stopErr(r, t, err)
				}
				confirmed = true
			}
			if to != nil {
				event(t.Name, "move-leader", "moving leadership from %s to %s (%s)", t.Name, to.Name, to.ID)
				if err := moveLeader(ctx, conn, pods, cur, to.ID, o.CallTimeout); err != nil {
					return r, stopErr(r, t, fmt.Errorf("moving leadership off %s: %w", t.Name, err))
				}
				t.LeaderMove = to.Name
			}
		}
		timeout := defragTimeout(t.DBSize, o.Timeout)
		event(t.Name, "defrag", "defragmenting %s (%s, timeout %s)", t.Name, t.Pod, timeout)
		start := time.Now()
		err := withSession(ctx, conn, pod, timeout+time.Minute, func(ctx context.Context, s transport.Session) error {
			release, warning, err := lockMember(ctx, s, t.ID, t.Name, "defrag", timeout+time.Minute)
			if err != nil {
				return err
			}
			defer release()
			if warning != "" {
				event(t.Name, "warning", "warning: %s", warning)
			}
			dctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			t.Started = true
			return s.Defragment(dctx)
		})
		if err != nil && !t.Started {
			// The lock is busy or could not be asked for: the member was not touched.
			return r, stopErr(r, t, fmt.Errorf("%s was not defragmented: %w", t.Name, err))
		}
		if err != nil {
			return r, stopErr(r, t, fmt.Errorf("defragmenting %s: %w", t.Name, err), true)
		}
		t.Took = time.Since(start).Round(time.Millisecond).String()
		// Gate: the member is healthy again and has caught up with the leader.
		after, err := waitCaughtUp(ctx, conn, pods, t.ID, timeout, o.CallTimeout)
		if err != nil {
			t.Done = true
			return r, stopErr(r, t, fmt.Errorf("%s did not come back healthy after its defrag: %w", t.Name, err), true)
		}
		t.Done = true
		t.SizeAfter = after.DBSize
		if after.DBSize < t.DBSize {
			r.Reclaimed += t.DBSize - after.DBSize
		}
		event(t.Name, "done", "%s: %d -> %d bytes in %s", t.Name, t.DBSize, t.SizeAfter, t.Took)
	}
	if o.Disarm {
		disarmed, warnings, err := DisarmAlarms(ctx, conn, pods, false, o.CallTimeout)
		for _, w := range warnings {
			event("", "warning", "warning: %s", w)
		}
		r.Disarmed = disarmed
		if err != nil {
			return r, fmt.Errorf("the defragmentation finished, the alarms stay: %w", err)
		}
	}
	return r, nil
}

// stopErr records why the run stopped at t and says what was done and what was not touched
// (t itself counts as untouched unless its defrag had started).
func stopErr(r *DefragReport, t *DefragTarget, err error, started ...bool) error {
	t.Error = err.Error()
	done := r.Done()
	var untouched []string
	for _, x := range r.Order {
		if x.ID == t.ID && len(started) > 0 && started[0] {
			continue
		}
		if !x.Done && x.Needed {
			untouched = append(untouched, x.Name)
		}
	}
	msg := "stopped"
	if len(done) > 0 {
		msg += "; defragmented: " + strings.Join(done, ", ")
	} else {
		msg += "; no member was defragmented"
	}
	if len(untouched) > 0 {
		msg += "; not touched: " + strings.Join(untouched, ", ")
	}
	return fmt.Errorf("%w (%s)", err, msg)
}

func withSession(ctx context.Context, conn transport.Connector, pod *discovery.Member, timeout time.Duration, f func(context.Context, transport.Session) error) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := conn.Connect(cctx, pod)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(cctx, s)
}

// waitCaughtUp polls until the member answers healthy and has applied what the leader had
// committed when the wait began (the first time a leader was seen: the member is not taken as
// caught up before). Still unable to read the cluster at the deadline is ErrUnreadable.
func waitCaughtUp(ctx context.Context, conn transport.Connector, pods []discovery.Member, id string, timeout, call time.Duration) (*MemberStatus, error) {
	deadline := time.Now().Add(timeout)
	var target uint64
	leaderSeen := false
	for {
		var last error
		st := Status(ctx, conn, pods, StatusOptions{Timeout: call, ProbeHealth: true})
		if !leaderSeen {
			for _, m := range st.Members {
				if m.Leader {
					target, leaderSeen = m.RaftIndex, true
				}
			}
		}
		m := findByID(st, id)
		switch {
		case !leaderSeen || m == nil:
			why := unreadable(st)
			if why == "" {
				why = "member " + id + " is not in the member list"
			}
			last = fmt.Errorf("%w: %s", ErrUnreadable, why)
		case !healthyForDefrag(*m):
			last = errors.New("unhealthy: " + strings.Join(m.Problems, "; "))
		case m.RaftAppliedIndex < target:
			last = fmt.Errorf("applied index %d, leader was at %d", m.RaftAppliedIndex, target)
		default:
			return m, nil
		}
		if time.Now().After(deadline) {
			return nil, last
		}
		if err := Sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// ---- leadership ----

// MoveLeaderTo transfers leadership to the member an argument names, or to the healthiest
// follower when arg is empty.
func MoveLeaderTo(ctx context.Context, conn transport.Connector, pods []discovery.Member, arg string, timeout time.Duration) (from, to *MemberStatus, err error) {
	st := Status(ctx, conn, pods, StatusOptions{Timeout: timeout, ProbeHealth: true})
	if st.Quorum.Voters < 2 {
		return nil, nil, fmt.Errorf("%w: a cluster of %d voting member(s) has nobody to hand leadership to", ErrRefused, st.Quorum.Voters)
	}
	for i := range st.Members {
		if st.Members[i].Leader {
			from = &st.Members[i]
		}
	}
	if from == nil {
		return nil, nil, fmt.Errorf("%w: no member reports a leader", ErrRefused)
	}
	if arg == "" {
		to = pickTransferee(st, &DefragReport{}, from.ID)
		if to == nil {
			return from, nil, fmt.Errorf("%w: no serving voting follower to take the leadership (%s)", ErrRefused, strings.Join(st.Errors(), "; "))
		}
	} else {
		to, err = FindStatusMember(st, arg)
		if err != nil {
			return from, nil, err
		}
		switch {
		case to.Learner:
			return from, to, fmt.Errorf("%w: %s (%s) is a learner; learners cannot lead (promote it first)", ErrRefused, nameOrUnstarted(to.Name), to.ID)
		case to.ID == from.ID:
			return from, to, nil
		case !to.ServingVoter():
			return from, to, fmt.Errorf("%w: %s (%s) does not serve: %s", ErrRefused, nameOrUnstarted(to.Name), to.ID, strings.Join(to.Problems, "; "))
		}
	}
	if to.ID == from.ID {
		return from, to, nil
	}
	if err := moveLeader(ctx, conn, pods, st, to.ID, timeout); err != nil {
		return from, to, err
	}
	return from, to, nil
}

// moveLeader asks the current leader to hand over and waits until the new leader is seen.
func moveLeader(ctx context.Context, conn transport.Connector, pods []discovery.Member, st *ClusterStatus, toHex string, timeout time.Duration) error {
	toID, err := ParseID(toHex)
	if err != nil {
		return err
	}
	var leaderPod *discovery.Member
	for _, m := range st.Members {
		if m.Leader {
			for i := range pods {
				if pods[i].Is(m.Pod, m.Name) {
					leaderPod = &pods[i]
				}
			}
		}
	}
	if leaderPod == nil {
		return errors.New("the leader has no etcd pod to ask")
	}
	if err := withSession(ctx, conn, leaderPod, timeout, func(ctx context.Context, s transport.Session) error {
		return s.MoveLeader(ctx, toID)
	}); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		cur := Status(ctx, conn, pods, StatusOptions{Timeout: timeout, ProbeHealth: true})
		if cur.Leader == toHex {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leadership did not move to %s within %s (leader now %s)", toHex, timeout, orUnknown(cur.Leader))
		}
		if err := Sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("waiting for %s to take the leadership: %w (leader now %s)", toHex, err, orUnknown(cur.Leader))
		}
	}
}
