package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/rebuild"
)

// ErrPartial marks a restore that changed the nodes and did not finish (exit 10, as for
// member rebuild): the message says what is where and how to finish or roll back.
var ErrPartial = rebuild.ErrPartial

// Stage does, on every node at once, everything that can be done while the cluster runs:
// upload, etcdutl snapshot restore into the new data directory, the manifest copies and the
// restored manifest. nodes are in the order of p.Nodes; open gives a reader of the plain
// snapshot for each upload. Any failure is returned naming the node; nothing was changed
// outside the new data directories and the kept copies.
func Stage(ctx context.Context, p *Plan, nodes []Node, open func() (io.ReadCloser, error), log func(string)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stageNode(ctx, &p.Nodes[i], n, p.Snapshot.Size, open, log); err != nil {
				errs[i] = fmt.Errorf("node %s: %w", p.Nodes[i].Node, err)
				cancel(errs[i])
			}
		}()
	}
	wg.Wait()
	// The first real failure, not the cancellations it caused on the other nodes.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

func stageNode(ctx context.Context, np *NodePlan, n Node, size int64, open func() (io.ReadCloser, error), log func(string)) error {
	etcdFile, original, comps, err := n.Manifests(ctx, strings.TrimSuffix(np.Pod, "-"+np.Node))
	if err != nil {
		return err
	}
	np.EtcdFile, np.Components = etcdFile, comps
	if err := CheckManifest(original, *np); err != nil {
		return fmt.Errorf("manifest %s: %w", etcdFile, err)
	}
	restored, err := RestoredManifest(original, np.RestoreDir)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", etcdFile, err)
	}
	cport, pport, err := EtcdPorts(original)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", etcdFile, err)
	}
	if !hasAPIServer(comps) {
		return fmt.Errorf("no kube-apiserver manifest in %s: not a kubeadm control-plane node", np.ManifestDir)
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	log(fmt.Sprintf("node %s: uploading the snapshot and restoring member %s into %s", np.Node, np.Member, np.RestoreDir))
	if err := n.Upload(ctx, r, size); err != nil {
		return err
	}
	return n.Prepare(ctx, etcdFile, original, restored, comps, [2]int{cport, pport})
}

func hasAPIServer(comps []Component) bool {
	for _, c := range comps {
		if c.Name == "kube-apiserver" {
			return true
		}
	}
	return false
}

// CheckManifest checks that the node's etcd manifest runs the member the plan restores, from
// the data directory the plan names.
func CheckManifest(data []byte, np NodePlan) error {
	pod, err := rebuild.ManifestPod(data)
	if err != nil {
		return err
	}
	if name, _ := rebuild.Flag(pod, "name"); name != np.Member {
		return fmt.Errorf("it runs member %q, not %q", name, np.Member)
	}
	if dir, _ := rebuild.Flag(pod, "data-dir"); strings.TrimSuffix(dir, "/") != strings.TrimSuffix(np.DataDir, "/") {
		return fmt.Errorf("its --data-dir is %q, not %q", dir, np.DataDir)
	}
	return nil
}

// TriggerTimeout bounds each trigger and abort: together they must fit in the helpers' delay.
var TriggerTimeout = 5 * time.Second

// Cutover triggers every node at once. If a trigger fails, every node is told to abort within
// the helpers' delay, and the error says whether that worked (nothing changed) or not
// (ErrPartial: some helper may be cutting its node over; it must be left to finish).
func Cutover(ctx context.Context, p *Plan, nodes []Node, delay time.Duration, now func() time.Time) error {
	start := now()
	each := func(f func(context.Context, Node) error) []error {
		errs := make([]error, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tctx, cancel := context.WithTimeout(ctx, TriggerTimeout)
				defer cancel()
				errs[i] = f(tctx, n)
			}()
		}
		wg.Wait()
		return errs
	}
	var failed []error
	for i, err := range each(func(c context.Context, n Node) error { return n.Trigger(c) }) {
		if err != nil {
			failed = append(failed, fmt.Errorf("node %s: %w", p.Nodes[i].Node, err))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	cause := fmt.Errorf("triggering the cutover: %w", errors.Join(failed...))
	ctx = context.WithoutCancel(ctx)
	var late []string
	for i, err := range each(func(c context.Context, n Node) error { return n.Abort(c) }) {
		if err != nil || now().Sub(start) >= delay {
			late = append(late, p.Nodes[i].Node)
		}
	}
	if len(late) == 0 {
		return fmt.Errorf("%w; every node was told to abort in time: nothing was changed", cause)
	}
	return fmt.Errorf("%w: %w; the abort may have come too late on %s, whose helper then cuts it over by itself: wait until %s there ends in \"done\" or \"failed\"",
		ErrPartial, cause, strings.Join(late, ", "), p.Nodes[0].Log())
}

// Verify checks the restored cluster: every restored member a healthy voter, one cluster ID
// other than the old one, at least the plan's minimum revision, and every etcd pod ready with
// the restored manifest (so that "status" right after shows a healthy cluster). It returns
// what is not so yet ("" when all is).
func Verify(p *Plan, st *etcd.ClusterStatus) string {
	if st.ClusterID == "" {
		return "no member answered yet"
	}
	if st.ClusterID == p.ClusterID {
		return fmt.Sprintf("the members still report the old cluster ID %s", p.ClusterID)
	}
	byName := map[string]etcd.MemberStatus{}
	for _, m := range st.Members {
		byName[m.Name] = m
	}
	var why []string
	for _, n := range p.Nodes {
		m, ok := byName[n.Member]
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("member %s is not in the member list", n.Member))
		case m.Learner:
			why = append(why, fmt.Sprintf("member %s is a learner", n.Member))
		case !m.ServingVoter():
			why = append(why, fmt.Sprintf("member %s is not a healthy voter yet", n.Member))
		case m.ClusterID != "" && m.ClusterID != st.ClusterID:
			why = append(why, fmt.Sprintf("member %s reports cluster %s", n.Member, m.ClusterID))
		case m.Revision < p.MinRevision:
			why = append(why, fmt.Sprintf("member %s is at revision %d, below the restored %d", n.Member, m.Revision, p.MinRevision))
		case m.DataDir != n.RestoreDir:
			// The restored API first lists the mirror pod of the snapshot's time; the kubelet
			// replaces it with the one of the manifest that runs.
			why = append(why, fmt.Sprintf("pod %s does not show the restored manifest yet (its kubelet replaces the mirror pod)", m.Pod))
		case !m.PodReady:
			why = append(why, fmt.Sprintf("pod %s is not ready yet", m.Pod))
		}
	}
	if len(st.Members) != len(p.Nodes) {
		why = append(why, fmt.Sprintf("%d members, want %d", len(st.Members), len(p.Nodes)))
	}
	return strings.Join(why, "; ")
}

// FinishCommands are what the user runs on node n when the restored cluster did not verify in
// time: what the progress file says, how to finish, and how to roll back. comps are the
// control-plane manifests the helper stops and starts (kubeadm's when unknown).
func FinishCommands(n NodePlan, etcdFile string, comps []string) []string {
	if etcdFile == "" {
		etcdFile = "etcd.yaml"
	}
	if len(comps) == 0 {
		comps = []string{"kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"}
	}
	var back []string
	for _, f := range comps {
		back = append(back, fmt.Sprintf("cp %s %s", n.Kept(f), path.Join(n.ManifestDir, f)))
	}
	return []string{
		fmt.Sprintf("cat %s    # what the helper did; wait until it ends in \"done\" or \"failed\" before changing anything", n.Log()),
		fmt.Sprintf("# finish: cp %s %s; once etcd listens, put the control plane back: %s",
			n.Kept("restored-"+etcdFile), path.Join(n.ManifestDir, etcdFile), strings.Join(back, "; ")),
		fmt.Sprintf("# roll back: cp %s %s, then put the control plane back as above (%s is untouched)", n.Kept(etcdFile), path.Join(n.ManifestDir, etcdFile), n.DataDir),
	}
}
