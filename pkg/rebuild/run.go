package rebuild

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// ErrPartial marks a rebuild that changed the cluster and then stopped: the message says what
// state it left and the command that finishes it.
var ErrPartial = errors.New("rebuild stopped part-way")

// Options are what Run needs besides the plan.
type Options struct {
	Conn transport.Connector
	Pods []discovery.Member
	Node Node
	// Original is the manifest as read from the node, byte for byte.
	Original []byte
	// StopTimeout bounds the wait for the kubelet to stop etcd; StartTimeout the wait for the
	// new member to start (each start); PromoteTimeout the wait for the learner to catch up.
	StopTimeout, StartTimeout, PromoteTimeout time.Duration
	// Settle is how long etcd's ports must stay closed before its data is touched: longer than
	// the kubelet's re-read of the manifest directory (20s), so that a kubelet that missed the
	// removal cannot start the old etcd again on the emptied data directory.
	Settle                time.Duration
	Interval, CallTimeout time.Duration
	// Progress is told how far the learner has caught up.
	Progress func(etcd.PromoteProgress)
	// Log is told each step as it begins, in one line.
	Log func(string)
}

// Result is what a finished rebuild did.
type Result struct {
	Name  string `json:"name"`
	Node  string `json:"node"`
	OldID string `json:"oldID,omitempty"`
	NewID string `json:"newID"`
	// Outcome is the promotion's.
	Outcome      string `json:"outcome"`
	KeptManifest string `json:"keptManifest"`
	// OldData is where the old member/ is kept ("" when it was deleted).
	OldData string `json:"oldData,omitempty"`
	Took    string `json:"took"`
	// Plan is what was confirmed.
	Plan *Plan `json:"plan"`
}

// state is how far a run got, for the way back.
type state struct {
	kept, stopped, removed, setAside, discarded, joinInstalled, originalBack bool
	newID                                                                    uint64
}

// cleanupTimeout bounds the way back after a failure (and after Ctrl-C).
const cleanupTimeout = 2 * time.Minute

// Run carries out plan p. Every failure after the manifest was set aside undoes what is safe
// to undo — the learner removed, the old data linked back, the original manifest put back — and
// says what is left.
func Run(ctx context.Context, p *Plan, o Options) (*Result, error) {
	start := time.Now()
	o.defaults()
	m := p.Member
	var s state
	fail := func(step string, err error) error { return o.rollBack(ctx, p, &s, step, err) }

	o.log("1/6 stopping etcd on %s: manifest kept at %s", m.Node, p.Layout.KeptManifest())
	if err := o.Node.Keep(ctx, o.Original); err != nil {
		return nil, fmt.Errorf("keeping a copy of the manifest at %s: %w; nothing was changed", p.Layout.KeptManifest(), err)
	}
	s.kept = true
	if err := o.Node.RemoveManifest(ctx); err != nil {
		return nil, fail("stopping etcd", err)
	}
	s.stopped = true
	if err := o.waitStopped(ctx, m.Node, p.Ports); err != nil {
		return nil, fail("stopping etcd", err)
	}
	if p.InList {
		o.log("2/6 removing member %s", m.ID)
		id, err := etcd.ParseID(m.ID)
		if err != nil {
			return nil, fail("removing the member", err)
		}
		if err := etcd.RemoveMember(ctx, o.Conn, o.Pods, id, o.CallTimeout); err != nil && !errors.Is(err, etcd.ErrNotFound) {
			return nil, fail("removing the member", err)
		}
		s.removed = true
	} else {
		o.log("2/6 member %s is not in the member list: nothing to remove", m.Name)
	}
	if p.Layout.Aside != "" {
		o.log("3/6 setting the old data aside at %s/member", p.Layout.AsidePath())
		if err := o.Node.SetAside(ctx); err != nil {
			s.setAside = true // some files may be linked: PutBack sorts it out
			return nil, fail("setting the old data aside", err)
		}
		s.setAside = true
	} else {
		o.log("3/6 deleting the old data in %s/member", p.Layout.DataDir)
		s.discarded = true
		if err := o.Node.Discard(ctx); err != nil {
			return nil, fail("deleting the old data", err)
		}
	}
	o.log("4/6 adding %s back as a learner with peer URL %s", m.Name, strings.Join(p.PeerURLs, ","))
	res, err := etcd.ApplyAdd(ctx, o.Conn, o.Pods, etcd.AddOptions{Name: m.Name, PeerURLs: p.PeerURLs, Learner: true, CallTimeout: o.CallTimeout})
	if err != nil {
		return nil, fail("adding the learner", err)
	}
	if s.newID, err = etcd.ParseID(res.ID); err != nil {
		return nil, fail("adding the learner", err)
	}
	o.log("5/6 starting etcd on %s as new member %s (--initial-cluster-state=existing)", m.Node, res.ID)
	join, err := JoinManifest(o.Original, res.InitialCluster)
	if err != nil {
		return nil, fail("starting the new member", err)
	}
	if err := o.Node.InstallManifest(ctx, join, false); err != nil {
		s.joinInstalled = true // it may be in place: replace it on the way back
		return nil, fail("starting the new member", err)
	}
	s.joinInstalled = true
	if err := o.waitStarted(ctx, s.newID); err != nil {
		return nil, fail("starting the new member", err)
	}
	// The data directory now holds the member: etcd ignores --initial-cluster* from here on,
	// so kubeadm's own manifest can go back, byte for byte.
	if err := o.Node.InstallManifest(ctx, o.Original, true); err != nil {
		return nil, fail("putting the original manifest back", err)
	}
	s.originalBack = true
	if err := o.waitListening(ctx, p.Ports); err != nil {
		return nil, fmt.Errorf("%w: %s runs as learner %s, but etcd did not start again on %s after the original manifest was put back: %w; check the pod, then finish with: kubectl etcd promote %s",
			etcd.ErrNotReady, m.Name, res.ID, m.Node, err, m.Name)
	}
	o.log("6/6 waiting until learner %s is in sync, then promoting it", res.ID)
	out, err := etcd.PromoteMember(ctx, o.Conn, o.Pods, s.newID, etcd.PromoteOptions{Wait: true, Timeout: o.PromoteTimeout,
		Interval: o.Interval, CallTimeout: o.CallTimeout, Progress: o.Progress})
	if err != nil {
		return nil, fmt.Errorf("%w (learner %s of %s runs with the new data and the original manifest; finish with: kubectl etcd promote %s)", err, res.ID, m.Name, m.Name)
	}
	return &Result{Name: m.Name, Node: m.Node, OldID: m.ID, NewID: res.ID, Outcome: out.Outcome,
		KeptManifest: p.Layout.KeptManifest(), OldData: p.Layout.AsidePath(), Took: time.Since(start).Round(time.Second).String(), Plan: p}, nil
}

func (o *Options) defaults() {
	if o.StopTimeout <= 0 {
		o.StopTimeout = 2 * time.Minute
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 5 * time.Minute
	}
	if o.PromoteTimeout <= 0 {
		o.PromoteTimeout = 5 * time.Minute
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 25 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
}

func (o *Options) log(format string, args ...any) {
	if o.Log != nil {
		o.Log(fmt.Sprintf(format, args...))
	}
}

// waitStopped waits until no process on the node listens on etcd's ports, and they stay closed
// for Settle. The mirror pod cannot tell: on kubeadm's control-plane nodes the kubelet talks to
// its own API server, which stops answering with the local etcd, so the mirror pod stays as it
// was until etcd is back.
func (o *Options) waitStopped(ctx context.Context, node string, ports []int) error {
	deadline := time.Now().Add(o.StopTimeout + o.Settle)
	var closedSince time.Time
	for {
		open, err := o.Node.Listening(ctx, ports)
		switch {
		case err != nil:
			closedSince = time.Time{}
		case open:
			closedSince = time.Time{}
		case closedSince.IsZero():
			closedSince = time.Now()
		case time.Since(closedSince) >= o.Settle:
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("cannot tell whether etcd stopped: %w", err)
			}
			return fmt.Errorf("etcd still listens on port %s of node %s %s after its manifest was removed", joinInts(ports), node, o.StopTimeout)
		}
		if err := etcd.Sleep(ctx, o.Interval); err != nil {
			return err
		}
	}
}

// waitListening waits until etcd listens on its ports again.
func (o *Options) waitListening(ctx context.Context, ports []int) error {
	deadline := time.Now().Add(o.StartTimeout)
	for {
		open, err := o.Node.Listening(ctx, ports)
		if err == nil && open {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no listener on port %s after %s", joinInts(ports), o.StartTimeout)
		}
		if err := etcd.Sleep(ctx, o.Interval); err != nil {
			return err
		}
	}
}

func joinInts(v []int) string {
	var s []string
	for _, n := range v {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, ",")
}

// waitStarted waits until the new member has started (it published its name) and its WAL is on
// the node.
func (o *Options) waitStarted(ctx context.Context, id uint64) error {
	deadline := time.Now().Add(o.StartTimeout)
	last := "no answer yet"
	for {
		ml, _, err := etcd.FetchMemberList(ctx, o.Conn, o.Pods, o.CallTimeout)
		switch {
		case err != nil:
			last = err.Error()
		default:
			started := false
			for _, m := range ml.Members {
				if m.ID == id && m.Name != "" {
					started = true
				}
			}
			if !started {
				last = "the member has not started (no name in the member list yet)"
				break
			}
			ok, err := o.Node.HasWAL(ctx)
			if err == nil && ok {
				return nil
			}
			last = "its data directory holds no WAL yet"
			if err != nil {
				last = err.Error()
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the new member did not start within %s: %s", o.StartTimeout, last)
		}
		if err := etcd.Sleep(ctx, o.Interval); err != nil {
			return err
		}
	}
}

// rollBack undoes, after step failed with cause, what is safe to undo, with a context of its
// own (Ctrl-C ends ctx): the learner is removed, the old data linked back, the original manifest
// put back — unless the data directory holds no member and the original flags would bootstrap
// a new cluster from it (kubeadm's first control-plane node: --initial-cluster-state=new).
func (o *Options) rollBack(ctx context.Context, p *Plan, s *state, step string, cause error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	m := p.Member
	var done, left []string
	if s.newID != 0 {
		if err := etcd.RemoveMember(cctx, o.Conn, o.Pods, s.newID, o.CallTimeout); err != nil && !errors.Is(err, etcd.ErrNotFound) {
			left = append(left, fmt.Sprintf("learner %s is still in the member list (remove it: kubectl etcd member remove %s --yes): %v", etcd.FormatID(s.newID), etcd.FormatID(s.newID), err))
		} else {
			done = append(done, "the learner removed")
			s.newID = 0
		}
	}
	if s.setAside {
		if err := o.Node.PutBack(cctx, s.joinInstalled); err != nil {
			left = append(left, fmt.Sprintf("the old data is at %s/member, not back in place: %v", p.Layout.AsidePath(), err))
		} else {
			done = append(done, "the old data put back")
			s.setAside = false
		}
	}
	if s.stopped && !s.originalBack {
		safe, why := o.safeToRestore(cctx, s)
		switch {
		case !safe:
			left = append(left, fmt.Sprintf("etcd on %s stays stopped, its manifest at %s: %s", m.Node, p.Layout.KeptManifest(), why))
		default:
			if err := o.Node.InstallManifest(cctx, o.Original, s.joinInstalled); err != nil {
				left = append(left, fmt.Sprintf("the original manifest is not back (it is kept at %s): %v", p.Layout.KeptManifest(), err))
			} else {
				done = append(done, "the original manifest put back")
				s.stopped = false
			}
		}
	}
	if !s.setAside && !s.stopped && !s.removed && !s.discarded && s.newID == 0 {
		if p.Layout.Aside != "" {
			_ = o.Node.DropAside(cctx)
		}
		return fmt.Errorf("%s: %w; nothing was changed (%s)", step, cause, strings.Join(done, ", "))
	}
	msg := fmt.Sprintf("%s: %v", step, cause)
	if len(done) > 0 {
		msg += "; undone: " + strings.Join(done, ", ")
	}
	if len(left) > 0 {
		msg += "; left: " + strings.Join(left, "; ")
	}
	if s.removed {
		msg += fmt.Sprintf("; member %s is no longer in the member list: run kubectl etcd member rebuild %s again to add it back", m.Name, m.Name)
	}
	return fmt.Errorf("%w: %s", ErrPartial, msg)
}

// safeToRestore says whether the original manifest may start etcd again: yes when the data
// directory holds a member (the flags are then ignored) or when the flags join an existing
// cluster (a new member with them fails to join rather than starting a cluster of its own).
func (o *Options) safeToRestore(ctx context.Context, s *state) (bool, string) {
	if !s.setAside && !s.discarded {
		return true, ""
	}
	if ok, err := o.Node.HasWAL(ctx); err == nil && ok {
		return true, ""
	}
	pod, err := ManifestPod(o.Original)
	if err == nil {
		if v, _ := Flag(pod, "initial-cluster-state"); v == "existing" {
			return true, ""
		}
	}
	return false, "its data directory holds no member and the original flags (--initial-cluster-state=new) would start a new one-member cluster from it"
}
