package rebuild

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// removal cannot start the old etcd again on the emptied data directory, and than the
	// pod's termination grace period (30s), after which the process is killed for sure.
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

// state is how far a run got.
type state struct {
	stopped, removed, dataGone, joinInstalled bool
	newID                                     uint64
}

// cleanupTimeout bounds the way back after a failure (and after Ctrl-C).
const cleanupTimeout = 2 * time.Minute

// Run carries out plan p.
//
// Until the member is removed (step 2), a failure puts the original manifest back: etcd starts
// again on its own data, and nothing is changed. From the removal on there is no way back that
// helps: the old data belongs to a member the cluster no longer has (its etcd would only exit),
// and the node's kubelet, which talks to its own node's API server, cannot start another helper
// while etcd there is down. So from then on the run only goes forward, and a failure leaves the
// node as it is and says exactly what state it is in and how to finish.
func Run(ctx context.Context, p *Plan, o Options) (*Result, error) {
	start := time.Now()
	o.defaults()
	m := p.Member
	var s state

	o.log("1/6 stopping etcd on %s: manifest kept at %s", m.Node, p.Layout.KeptManifest())
	if err := o.Node.Keep(ctx, o.Original); err != nil {
		return nil, fmt.Errorf("keeping a copy of the manifest at %s: %w; nothing was changed", p.Layout.KeptManifest(), err)
	}
	// Set before the rm: an rm whose answer is lost may still have removed the manifest.
	s.stopped = true
	if err := o.Node.RemoveManifest(ctx); err != nil {
		return nil, o.undoStop(ctx, p, "stopping etcd", err)
	}
	if err := o.waitStopped(ctx, m.Node, p.Ports); err != nil {
		return nil, o.undoStop(ctx, p, "stopping etcd", err)
	}
	if p.InList {
		o.log("2/6 removing member %s", m.ID)
		id, err := etcd.ParseID(m.ID)
		if err != nil {
			return nil, o.undoStop(ctx, p, "removing the member", err)
		}
		if err := etcd.RemoveMember(ctx, o.Conn, o.Pods, id, o.CallTimeout); err != nil && !errors.Is(err, etcd.ErrNotFound) {
			// The removal may have been applied although its answer was lost (a timeout,
			// Ctrl-C): the member list says.
			if o.stillListed(ctx, id) {
				return nil, o.undoStop(ctx, p, "removing the member", err)
			}
			s.removed = true
			if ctx.Err() != nil {
				return nil, o.stuck(p, &s, "removing the member", err)
			}
		}
		s.removed = true
	} else {
		o.log("2/6 member %s is not in the member list: nothing to remove", m.Name)
	}
	if p.Layout.Aside != "" {
		o.log("3/6 setting the old data aside at %s/member", p.Layout.AsidePath())
		s.dataGone = true
		if err := o.Node.SetAside(ctx); err != nil {
			return nil, o.stuck(p, &s, "setting the old data aside", err)
		}
	} else {
		o.log("3/6 deleting the old data in %s/member", p.Layout.DataDir)
		s.dataGone = true
		if err := o.Node.Discard(ctx); err != nil {
			return nil, o.stuck(p, &s, "deleting the old data", err)
		}
	}
	o.log("4/6 adding %s back as a learner with peer URL %s", m.Name, strings.Join(p.PeerURLs, ","))
	initialCluster, err := o.addLearner(ctx, p, &s)
	if err != nil {
		return nil, o.stuck(p, &s, "adding the learner", err)
	}
	newID := etcd.FormatID(s.newID)
	o.log("5/6 starting etcd on %s as new member %s (--initial-cluster-state=existing)", m.Node, newID)
	join, err := JoinManifest(o.Original, initialCluster)
	if err != nil {
		return nil, o.stuck(p, &s, "starting the new member", err)
	}
	if err := o.Node.InstallManifest(ctx, join, false); err != nil {
		// It may be in place although the answer was lost: write it again over itself.
		if err := o.Node.InstallManifest(ctx, join, true); err != nil {
			return nil, o.stuck(p, &s, "starting the new member", err)
		}
	}
	s.joinInstalled = true
	if err := o.waitStarted(ctx, s.newID); err != nil {
		return nil, o.stuck(p, &s, "starting the new member", err)
	}
	// The data directory now holds the member: etcd ignores --initial-cluster* from here on,
	// so kubeadm's own manifest can go back, byte for byte.
	if err := o.Node.InstallManifest(ctx, o.Original, true); err != nil {
		return nil, fmt.Errorf("%w: putting the original manifest back: %w; learner %s of %s runs with the new data from a manifest that differs from kubeadm's only in --initial-cluster and --initial-cluster-state (ignored from now on): finish with kubectl etcd promote %s, then copy %s over %s/%s on node %s",
			ErrPartial, err, newID, m.Name, m.Name, p.Layout.KeptManifest(), p.Layout.ManifestDir, orDefault(p.ManifestFile, "etcd.yaml"), m.Node)
	}
	if err := o.waitListening(ctx, p.Ports); err != nil {
		return nil, fmt.Errorf("%w: %s runs as learner %s, but etcd did not start again on %s after the original manifest was put back: %w; check the pod, then finish with: kubectl etcd promote %s",
			etcd.ErrNotReady, m.Name, newID, m.Node, err, m.Name)
	}
	o.log("6/6 waiting until learner %s is in sync, then promoting it", newID)
	out, err := etcd.PromoteMember(ctx, o.Conn, o.Pods, s.newID, etcd.PromoteOptions{Wait: true, Timeout: o.PromoteTimeout,
		Interval: o.Interval, CallTimeout: o.CallTimeout, Progress: o.Progress})
	if err != nil {
		return nil, fmt.Errorf("%w (learner %s of %s runs with the new data and the original manifest; finish with: kubectl etcd promote %s)", err, newID, m.Name, m.Name)
	}
	return &Result{Name: m.Name, Node: m.Node, OldID: m.ID, NewID: newID, Outcome: out.Outcome,
		KeptManifest: p.Layout.KeptManifest(), OldData: p.Layout.AsidePath(), Took: time.Since(start).Round(time.Second).String(), Plan: p}, nil
}

// addLearner adds the member back as a learner, retrying until StartTimeout: after the removal
// the run cannot go back. An add whose answer was lost is found in the member list by its peer
// URL. It returns the --initial-cluster the new member starts with.
func (o *Options) addLearner(ctx context.Context, p *Plan, s *state) (string, error) {
	deadline := time.Now().Add(o.StartTimeout)
	for {
		res, err := etcd.ApplyAdd(ctx, o.Conn, o.Pods, etcd.AddOptions{Name: p.Member.Name, PeerURLs: p.PeerURLs, Learner: true, CallTimeout: o.CallTimeout})
		if err == nil {
			s.newID, err = etcd.ParseID(res.ID)
			return res.InitialCluster, err
		}
		if id, ic, ok := o.addedByPeerURL(ctx, p); ok {
			s.newID = id
			return ic, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return "", err
		}
		o.log("adding the learner failed (%v); trying again", err)
		if err := etcd.Sleep(ctx, 5*time.Second); err != nil {
			return "", err
		}
	}
}

// addedByPeerURL finds an unstarted learner with the member's peer URL (an add that was applied)
// and the --initial-cluster that starts it.
func (o *Options) addedByPeerURL(ctx context.Context, p *Plan) (uint64, string, bool) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.CallTimeout)
	defer cancel()
	ml, _, err := etcd.FetchMemberList(cctx, o.Conn, o.Pods, o.CallTimeout)
	if err != nil || len(p.PeerURLs) == 0 {
		return 0, "", false
	}
	var id uint64
	var peers []Peer
	for _, mem := range ml.Members {
		if slices.Contains(mem.PeerURLs, p.PeerURLs[0]) && mem.IsLearner {
			id = mem.ID
			peers = append(peers, Peer{Name: p.Member.Name, PeerURLs: mem.PeerURLs})
			continue
		}
		peers = append(peers, Peer{Name: mem.Name, PeerURLs: mem.PeerURLs})
	}
	return id, InitialCluster(peers), id != 0
}

// stillListed says whether member id is still in the member list (true when that cannot be
// read: the caller then assumes nothing happened only if it can put things back).
func (o *Options) stillListed(ctx context.Context, id uint64) bool {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.CallTimeout)
	defer cancel()
	ml, _, err := etcd.FetchMemberList(cctx, o.Conn, o.Pods, o.CallTimeout)
	if err != nil {
		return true
	}
	for _, mem := range ml.Members {
		if mem.ID == id {
			return true
		}
	}
	return false
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
		o.Settle = 35 * time.Second
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

// undoStop puts the original manifest back after a failure before the removal, with a context
// of its own (Ctrl-C ended ctx): etcd starts again on its own data and nothing is changed.
func (o *Options) undoStop(ctx context.Context, p *Plan, step string, cause error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	m := p.Member
	present, err := o.Node.HasManifest(cctx)
	if err == nil && !present {
		err = o.Node.InstallManifest(cctx, o.Original, false)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w; the original manifest could not be put back (%v): etcd on %s stays stopped until %s is copied back to %s/%s on the node",
			ErrPartial, step, cause, err, m.Node, p.Layout.KeptManifest(), p.Layout.ManifestDir, orDefault(p.ManifestFile, "etcd.yaml"))
	}
	_ = o.Node.DropAside(cctx)
	return fmt.Errorf("%s: %w; nothing was changed: the original manifest is back and etcd on %s starts again on its own data", step, cause, m.Node)
}

// stuck words a failure after the removal: what the run did, where everything is, and how to
// finish. Nothing is undone (see Run).
func (o *Options) stuck(p *Plan, s *state, step string, cause error) error {
	m := p.Member
	var st []string
	if s.removed {
		st = append(st, fmt.Sprintf("member %s (%s) is removed", m.Name, m.ID))
	}
	if s.newID != 0 {
		st = append(st, fmt.Sprintf("learner %s is added with peer URL %s", etcd.FormatID(s.newID), strings.Join(p.PeerURLs, ",")))
	}
	switch {
	case s.joinInstalled:
		st = append(st, fmt.Sprintf("etcd on %s runs from the join manifest (kubeadm's is kept at %s)", m.Node, p.Layout.KeptManifest()))
	default:
		st = append(st, fmt.Sprintf("etcd on %s is stopped, its manifest kept at %s", m.Node, p.Layout.KeptManifest()))
	}
	if s.dataGone && p.Layout.Aside != "" {
		st = append(st, fmt.Sprintf("the old data is (partly) at %s/member", p.Layout.AsidePath()))
	}
	next := fmt.Sprintf("the kubelet of %s cannot reach the API while etcd there is down, so finish on the node: README \"Replace a failed member\" (kubectl etcd member remove %s if it is still listed, then kubeadm reset and kubeadm join --control-plane on %s)", m.Node, m.Name, m.Node)
	if s.joinInstalled {
		next = fmt.Sprintf("if the learner starts, kubectl etcd promote %s finishes it (then copy %s back to %s/%s on the node); else %s", m.Name, p.Layout.KeptManifest(), p.Layout.ManifestDir, orDefault(p.ManifestFile, "etcd.yaml"), next)
	}
	return fmt.Errorf("%w: %s: %v; %s; %s", ErrPartial, step, cause, strings.Join(st, "; "), next)
}
