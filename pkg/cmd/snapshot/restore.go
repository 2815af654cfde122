package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/nodehelper"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/rebuild"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/restore"
	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	transportexec "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/exec"
)

var (
	restoreLong = templates.LongDesc(`
		Take a kubeadm control plane back to a snapshot, through the Kubernetes API: the
		runbook of "Back up and restore" in one command, with nothing but a kubeconfig.

		It checks the file (sha256 trailer, bbolt check), shows how far back it goes against
		the live cluster and the plan per node, checks on every node (read-only) its etcd
		manifest and the free space staging needs, asks you to type the cluster's ID or name
		(--yes for scripts), and saves the current state first (--no-pre-snapshot to skip). Then, while
		the cluster still runs, a helper pod on every control-plane node receives the file and
		runs etcdutl snapshot restore into a new data directory beside the old one, with the
		member's name and peer URLs, every member in --initial-cluster, a new cluster token and
		--bump-revision with --mark-compacted. A failure up to here changes nothing.

		Then every helper cuts its node over by itself (the API server is gone while they do):
		it stops kube-apiserver, kube-controller-manager and kube-scheduler (their manifests
		leave the manifest directory; copies are kept in /etc/kubernetes/tmp), stops etcd,
		starts it from the restored data directory (the manifest's --data-dir and hostPath point
		there), and starts the control plane again. The plugin waits for the API server, checks
		that every member is a healthy voter of one new cluster at the restored revision or
		later, and sets etcd.local.dataDir in kubeadm-config so that kubeadm upgrade and join
		write the same manifest. The old data directory is never modified or deleted.

		Only kubeadm's stacked etcd with an API server that answers: for external etcd or a
		cluster whose API is down, "kubectl etcd snapshot restore-plan" prints the commands to
		run on each node.`)

	restoreExample = templates.Examples(`
		# See the plan and check every node, changing nothing
		kubectl etcd snapshot restore /backup/etcd.db --dry-run

		# Restore; the current state is saved beside the file first
		kubectl etcd snapshot restore /backup/etcd.db

		# In a runbook
		kubectl etcd snapshot restore /backup/etcd.db.zst.age --identity ~/.config/etcd-backup.key --yes`)
)

// RestoreOptions are the options of "snapshot restore".
type RestoreOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	File           string
	Identity       string
	Yes            bool
	DryRun         bool
	Force          bool
	NoPreSnapshot  bool
	PreSnapshotDir string
	BumpRevision   int64
	HelperImage    string
	ManifestDir    string
	Timeout        time.Duration

	cmdPath    string
	identities []age.Identity
	now        func() time.Time

	// Test seams, nil in the command: checkNode does the read-only check of one node and
	// returns its warnings (o.checkNodeHelper); stageNode starts one node's staging helper
	// (o.startStageNode); confirm asks for the typed answer (cmdutil.ConfirmTyped).
	checkNode func(ctx context.Context, n restore.NodePlan, size int64) ([]string, error)
	stageNode func(ctx context.Context, n restore.NodePlan, size int64, life time.Duration) (restore.Node, error)
	confirm   func(ctx context.Context, question string, accepted ...string) error
}

// restoreKeepDir is where the restore keeps manifests and its progress file on the nodes
// (kubeadm keeps its own backups there too).
const restoreKeepDir = "/etc/kubernetes/tmp"

// NewCmdRestore builds "kubectl etcd snapshot restore".
func NewCmdRestore(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RestoreOptions{GlobalOptions: g, IOStreams: streams, BumpRevision: 1000000000,
		ManifestDir: "/etc/kubernetes/manifests", Timeout: 20 * time.Minute}
	cmd := &cobra.Command{
		Use:     "restore FILE",
		Short:   "Restore the whole control plane from a snapshot file, through helper pods (no SSH)",
		Long:    restoreLong,
		Example: restoreExample,
		Args:    cobra.ExactArgs(1),
		RunE:    cmdutil.RunE(o),
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "Check the file, the cluster, every node's manifests and free space (read-only), print the plan; change nothing")
	cmd.Flags().BoolVar(&o.Force, "force", false, "Restore onto the members that have a node even if some member has none (rejoin those afterwards)")
	cmd.Flags().BoolVar(&o.NoPreSnapshot, "no-pre-snapshot", false, "Do not save the current state before restoring")
	cmd.Flags().StringVar(&o.PreSnapshotDir, "pre-snapshot-dir", "", "Where the snapshot of the current state goes (default: FILE's directory)")
	cmd.Flags().Int64Var(&o.BumpRevision, "bump-revision", o.BumpRevision, "Revision bump for the restored data (etcdutl --bump-revision, with --mark-compacted)")
	cmd.Flags().StringVar(&o.HelperImage, "helper-image", "", "Shell image of the helper pods (default: the image of each node's kube-proxy pod); needs /bin/sh, cat, chmod, grep, ln, rm, sleep and wc (and df or stat measure the free space)")
	cmd.Flags().StringVar(&o.ManifestDir, "manifest-dir", o.ManifestDir, "The kubelet's static pod directory on the nodes")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the API server and the restored cluster after the cutover (the helpers' own waits add up to about 16m at worst)")
	AddIdentityFlag(cmd, &o.Identity)
	return cmd
}

// Complete reads FILE and fills in the clients.
func (o *RestoreOptions) Complete(cmd *cobra.Command, args []string) error {
	o.File = args[0]
	o.cmdPath = cmd.CommandPath()
	if o.Identity != "" {
		ids, err := LoadIdentity(o.Identity)
		if err != nil {
			return &cmdutil.UsageError{Cmd: o.cmdPath, Err: err}
		}
		o.identities = ids
	}
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the flags.
func (o *RestoreOptions) Validate() error {
	switch {
	case o.BumpRevision < 0:
		return cmdutil.Usagef(o.cmdPath, "--bump-revision must not be negative")
	case !path.IsAbs(o.ManifestDir) || path.Clean(o.ManifestDir) == "/":
		return cmdutil.Usagef(o.cmdPath, "--manifest-dir must be an absolute directory other than /, got %q", o.ManifestDir)
	case o.Timeout <= 0:
		return cmdutil.Usagef(o.cmdPath, "--timeout must be positive, got %s", o.Timeout)
	case o.NoPreSnapshot && o.PreSnapshotDir != "":
		return cmdutil.Usagef(o.cmdPath, "--pre-snapshot-dir and --no-pre-snapshot contradict each other")
	}
	return nil
}

func (o *RestoreOptions) warn(format string, args ...any) {
	fmt.Fprintf(o.ErrOut, "warning: "+format+"\n", args...)
}

// Run checks, plans, confirms, stages, cuts over and verifies.
func (o *RestoreOptions) Run(ctx context.Context) error {
	now := time.Now
	if o.now != nil {
		now = o.now
	}
	start := now()
	o.NodeSide = "snapshot restore" // refused on an external etcd, before any helper starts
	pods, conn, err := o.OpenCluster(ctx)
	if err != nil {
		var np *discovery.NoPodsError
		if errors.As(err, &np) {
			return fmt.Errorf("%w; snapshot restore needs kubeadm's stacked etcd (etcd static pods): for external etcd run kubectl etcd snapshot restore-plan %s and the commands it prints on each etcd host", err, o.File)
		}
		return err
	}
	// FILE is read only once the cluster is one a restore can work on: on an external etcd the
	// refusal above, not a missing file, is what the user needs to see.
	if _, err := os.Stat(o.File); err != nil {
		conn.Close()
		return fmt.Errorf("%w: snapshot file %s: %w", etcd.ErrRefused, o.File, errors.Unwrap(err))
	}
	report, err := snap.Inspect(ctx, o.File, snap.InspectOptions{CheckDB: CheckDBInChild, Identities: o.identities})
	if err != nil {
		conn.Close()
		return err
	}
	if report.Verdict != snap.VerdictOK {
		conn.Close()
		return fmt.Errorf("%w: %s: %s; nothing was changed", snap.ErrIntegrity, o.File, strings.Join(report.Problems, "; "))
	}
	fi, _ := os.Stat(o.File)
	st := etcd.Status(ctx, conn, pods, etcd.StatusOptions{Timeout: o.GlobalOptions.Timeout()})
	ml, mlErr := etcd.ListMembers(ctx, conn, pods, o.GlobalOptions.Timeout())
	conn.Close()
	if mlErr != nil || st.ClusterID == "" {
		return fmt.Errorf("%w: the cluster does not answer (%v): a restore through the API needs a running API server and etcd; run kubectl etcd snapshot restore-plan %s and the commands it prints on each node",
			etcd.ErrRefused, errors.Join(mlErr, errors.New(string(st.State))), o.File)
	}
	clusterConfig, clusterName := o.kubeadmConfig(ctx, pods)
	p := restore.NewPlan(restore.Inputs{Report: report, ModTime: modTime(fi), Now: now(), Status: st, Members: ml, Pods: pods,
		ClusterConfig: clusterConfig, ClusterName: clusterName, ManifestDir: path.Clean(o.ManifestDir), KeepDir: restoreKeepDir,
		BumpRevision: o.BumpRevision, Force: o.Force})
	for _, n := range p.Nodes {
		if silent, ok := nodehelper.KubeletSilence(ctx, o.Client, n.Node); ok && silent > 40*time.Second {
			p.Blocked = append(p.Blocked, fmt.Sprintf("the kubelet of node %s has not reached the API for %s: no helper pod can start there", n.Node, silent.Round(time.Second)))
		}
	}
	if !o.NoPreSnapshot {
		dir := o.PreSnapshotDir
		if dir == "" {
			dir = filepath.Dir(o.File)
		}
		p.PreSnapshot = filepath.Join(dir, fmt.Sprintf("etcd-%s-pre-restore-%s.db", p.ClusterID, restore.Stamp(now())))
	}
	if err := o.refuse(p); err != nil {
		_ = printers.PrintRestore(o.Out, o.Format, p)
		return err
	}
	// Before anything is written on any node (the pre-snapshot, the staging helpers): every
	// node's manifest, and its free space for what staging writes.
	if err := o.checkNodes(ctx, p); err != nil {
		return err
	}
	if o.DryRun {
		if err := printers.PrintRestore(o.Out, o.Format, p); err != nil {
			return err
		}
		o.warnings(p)
		fmt.Fprintln(o.ErrOut, "dry run: every node's manifests and free space were checked; nothing was changed")
		return nil
	}
	if !o.Format.Structured() {
		if err := printers.PrintRestore(o.Out, o.Format, p); err != nil {
			return err
		}
	}
	o.warnings(p)
	if !o.Yes {
		// kubeadm names every cluster "kubernetes" unless told otherwise: that name proves
		// nothing about the kubeconfig's context, the ID does.
		accepted := []string{p.ClusterID}
		if p.ClusterName != "" && p.ClusterName != "kubernetes" {
			accepted = []string{p.ClusterName, p.ClusterID}
		}
		q := fmt.Sprintf("This replaces everything in cluster %s with the snapshot (%d revisions back).", p.ClusterID, p.GoesBack)
		confirm := o.confirm
		if confirm == nil {
			confirm = func(ctx context.Context, q string, accepted ...string) error {
				return cmdutil.ConfirmTyped(ctx, o.In, o.ErrOut, q, accepted...)
			}
		}
		if err := confirm(ctx, q, accepted...); err != nil {
			return err
		}
	}
	if p.PreSnapshot != "" {
		if err := o.preSnapshot(ctx, p.PreSnapshot); err != nil {
			return fmt.Errorf("saving the current state first: %w; nothing was changed (--no-pre-snapshot skips it)", err)
		}
		fmt.Fprintf(o.ErrOut, "the current state is saved in %s\n", p.PreSnapshot)
	}
	res, err := o.restore(ctx, p, start, now)
	if err != nil {
		return err
	}
	return printers.PrintRestoreResult(o.Out, o.Format, res)
}

func (o *RestoreOptions) warnings(p *restore.Plan) {
	for _, w := range p.Warnings {
		o.warn("%s", w)
	}
}

// refuse turns the plan's blocks, and its refusals without --force, into the error of the run.
func (o *RestoreOptions) refuse(p *restore.Plan) error {
	err := cmdutil.Refusal("restoring "+o.File, p.Blocked, p.Refusals, o.Force, "--force restores onto the members that have a node")
	if err != nil {
		return fmt.Errorf("%w; nothing was changed", err)
	}
	return nil
}

func modTime(fi os.FileInfo) time.Time {
	if fi == nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// kubeadmConfig reads kubeadm-config's ClusterConfiguration and clusterName ("" when absent).
func (o *RestoreOptions) kubeadmConfig(ctx context.Context, pods []discovery.Member) (string, string) {
	ns := discovery.DefaultNamespace
	if len(pods) > 0 {
		ns = pods[0].Namespace
	}
	cm, err := o.Client.CoreV1().ConfigMaps(ns).Get(ctx, "kubeadm-config", metav1.GetOptions{})
	if err != nil {
		if !apierrors.IsNotFound(err) {
			o.warn("cannot read ConfigMap %s/kubeadm-config: %v", ns, err)
		}
		return "", ""
	}
	text := cm.Data["ClusterConfiguration"]
	var name struct {
		ClusterName string `json:"clusterName"`
	}
	_ = yaml.Unmarshal([]byte(text), &name)
	return text, name.ClusterName
}

// checkNodes is the check before anything is written: a read-only helper on every node reads
// the etcd manifest, checks that the restore can rewrite it, and measures the free space where
// staging writes. What could not be measured becomes a warning of the plan.
func (o *RestoreOptions) checkNodes(ctx context.Context, p *restore.Plan) error {
	check := o.checkNode
	if check == nil {
		check = o.checkNodeHelper
	}
	errs := make([]error, len(p.Nodes))
	warnings := make([][]string, len(p.Nodes))
	var wg sync.WaitGroup
	for i, n := range p.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			warnings[i], errs[i] = check(ctx, n, p.Snapshot.Size)
		}()
	}
	wg.Wait()
	for _, w := range warnings {
		p.Warnings = append(p.Warnings, w...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", etcd.ErrRefused, err)
	}
	return nil
}

// checkNodeHelper is checkNode with a shell helper on the node: the manifest directory and the
// parent of the new data directory mounted read-only, and a small emptyDir of its own (which
// lies on the filesystem the staging helper's emptyDir will).
func (o *RestoreOptions) checkNodeHelper(ctx context.Context, n restore.NodePlan, size int64) ([]string, error) {
	fss, err := o.readNode(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Node, err)
	}
	return spaceVerdict(n, size, fss, func() (int64, error) { return nodehelper.KubeletFree(ctx, o.Client, n.Node) })
}

// spaceVerdict turns what a node's check measured into the refusal (one line per filesystem
// short of room) or the warnings of what could not be measured. The kubelet's figure is asked
// for only when the helper's image could not measure its emptyDir.
func spaceVerdict(n restore.NodePlan, size int64, fss map[string]restore.FS, kubeletFree func() (int64, error)) ([]string, error) {
	kubelet := int64(-1)
	if !fss[restore.SpaceScratchMount].Known {
		if free, err := kubeletFree(); err == nil {
			kubelet = free
		}
	}
	sc := restore.CheckSpace(n, size, fss, kubelet)
	if len(sc.Short) > 0 {
		return nil, errors.New(strings.Join(sc.Short, "; "))
	}
	return sc.Unknown, nil
}

// readNode checks node n's etcd manifest and measures its free space from a shell helper.
func (o *RestoreOptions) readNode(ctx context.Context, n restore.NodePlan) (map[string]restore.FS, error) {
	runner := o.runner()
	image, err := nodehelper.ShellImage(ctx, runner, n.Node, o.HelperImage)
	if err != nil {
		return nil, err
	}
	exec := &transportexec.APIExecutor{Config: o.RESTConfig, Client: o.Client}
	sh, err := runner.StartShell(ctx, exec, nodehelper.ShellSpec{Namespace: n.Namespace, Node: n.Node, Image: image,
		Purpose: "restore", Member: n.Member, Describe: "kubectl etcd snapshot restore: reads the etcd manifest and the free space (read-only)",
		Deadline: 5 * time.Minute, Scratch: restore.SpaceScratchMount, Dirs: []nodehelper.HostDir{
			{Name: "manifests", HostPath: n.ManifestDir, MountPath: "/host/manifests", ReadOnly: true},
			{Name: "data-parent", HostPath: path.Dir(n.RestoreDir), MountPath: restore.SpaceParentMount, ReadOnly: true}}})
	if err != nil {
		return nil, err
	}
	defer sh.Close(ctx)
	node := &rebuild.ShellNode{Shell: sh}
	file, data, err := node.Manifest(ctx, strings.TrimSuffix(n.Pod, "-"+n.Node))
	if err != nil {
		return nil, err
	}
	if err := restore.CheckManifest(data, n); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", file, err)
	}
	if _, err := restore.RestoredManifest(data, n.RestoreDir); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", file, err)
	}
	out, err := sh.Script(ctx, nil, restore.FreeSpaceScript, restore.SpaceParentMount, restore.SpaceScratchMount)
	if err != nil {
		return nil, fmt.Errorf("measuring the free space: %w", err)
	}
	return restore.ParseFreeSpace(out)
}

func (o *RestoreOptions) runner() *nodehelper.Runner {
	return &nodehelper.Runner{Client: o.Client, Notify: func(s string) { o.warn("%s", s) }}
}

// preSnapshot saves the current state with "snapshot save"'s own code.
func (o *RestoreOptions) preSnapshot(ctx context.Context, file string) error {
	s := &SaveOptions{GlobalOptions: o.GlobalOptions, IOStreams: genericiooptions.IOStreams{In: o.In, Out: io.Discard, ErrOut: o.ErrOut},
		Path: file, Helper: HelperAuto, HelperRoute: string(nodehelper.RouteAuto), HelperImage: o.HelperImage, cmdPath: o.cmdPath}
	if err := s.Validate(); err != nil {
		return err
	}
	return s.Run(ctx)
}

// helperLife bounds the helpers' life: staging (the upload at a slow 1 MiB/s), the confirmation
// is already behind, the cutover's waits, with a margin.
func (o *RestoreOptions) helperLife(size int64) time.Duration {
	return 30*time.Minute + time.Duration(size>>20)*time.Second
}

// startStageNode starts node n's staging helper (see restore.StageSpec).
func (o *RestoreOptions) startStageNode(ctx context.Context, n restore.NodePlan, size int64, life time.Duration) (restore.Node, error) {
	runner := o.runner()
	image, err := nodehelper.ShellImage(ctx, runner, n.Node, o.HelperImage)
	if err != nil {
		return nil, err
	}
	spec := restore.StageSpec(n.Namespace, n.Layout, n.Member, image, n.Image, n.Command, size, restore.DefaultTiming, life)
	pod, err := runner.Start(ctx, spec, "stage", true)
	if err != nil {
		return nil, err
	}
	exec := &transportexec.APIExecutor{Config: o.RESTConfig, Client: o.Client}
	return &restore.StageNode{Pod: pod, Exec: exec, Layout: n.Layout, Warn: func(err error) { o.warn("%v", err) }}, nil
}

// restore stages every node, cuts them over and waits for the restored cluster.
func (o *RestoreOptions) restore(ctx context.Context, p *restore.Plan, start time.Time, now func() time.Time) (*printers.RestoreResult, error) {
	plain, _, cleanup, err := snap.PlainFile(ctx, o.File, o.identities)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	timing := restore.DefaultTiming
	life := o.helperLife(p.Snapshot.Size)
	startNode := o.stageNode
	if startNode == nil {
		startNode = o.startStageNode
	}
	nodes := make([]restore.Node, len(p.Nodes))
	errs := make([]error, len(p.Nodes))
	var wg sync.WaitGroup
	// The helpers' deadlines count from their start, which is after this.
	helpersStarted := now()
	fmt.Fprintf(o.ErrOut, "starting a helper pod on each of %d nodes\n", len(p.Nodes))
	for i, n := range p.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node, err := startNode(ctx, n, p.Snapshot.Size, life)
			if err != nil {
				errs[i] = fmt.Errorf("node %s: %w", n.Node, err)
				return
			}
			nodes[i] = node
		}()
	}
	wg.Wait()
	cutover := false
	defer func() {
		if cutover {
			return // the helpers finish the cutover on their own; the restored API does not know them
		}
		for _, n := range nodes {
			if n != nil {
				n.Close(ctx)
			}
		}
	}()
	// leftovers removes what staging wrote on the nodes and names what stays: the (empty)
	// new data directories, which the kubelet made, and whatever could not be removed.
	leftovers := func() string {
		dctx := context.WithoutCancel(ctx)
		var dirs, failed []string
		for i, n := range p.Nodes {
			dirs = append(dirs, n.Node+":"+n.RestoreDir)
			if nodes[i] == nil {
				continue
			}
			if err := nodes[i].Discard(dctx); err != nil {
				failed = append(failed, err.Error())
			}
		}
		msg := "nothing was changed in the cluster; the empty new data directories (" + strings.Join(dirs, ", ") + ") may be removed"
		if len(failed) > 0 {
			msg += "; staged data left: " + strings.Join(failed, "; ")
		}
		return msg
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w; %s", err, leftovers())
	}
	open := func() (io.ReadCloser, error) { return os.Open(plain) }
	var logMu sync.Mutex // the nodes log at once; ErrOut need not be an *os.File
	log := func(s string) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintln(o.ErrOut, s)
	}
	if err := restore.Stage(ctx, p, nodes, open, log); err != nil {
		return nil, fmt.Errorf("staging: %w; %s", err, leftovers())
	}
	if left := life - now().Sub(helpersStarted); left < 20*time.Minute {
		return nil, fmt.Errorf("%w: the helper pods have %s of their life left, not enough for the cutover; nothing was changed, run the command again", etcd.ErrRefused, left.Round(time.Second))
	}
	endCritical := cmdutil.Critical("snapshot restore is cutting the nodes over")
	defer endCritical()
	if err := restore.Cutover(ctx, p, nodes, timing.Delay, now); err != nil {
		if errors.Is(err, restore.ErrPartial) {
			// A helper may be cutting its node over: deleting it now would stop it half-way.
			cutover = true
			for _, n := range nodes {
				n.Release()
			}
			return nil, err
		}
		return nil, fmt.Errorf("%w; %s", err, leftovers())
	}
	cutover = true
	for _, n := range nodes {
		n.Release()
	}
	fmt.Fprintf(o.ErrOut, "every node is staged and triggered: in %s the helpers stop the control plane and etcd and start them from the restored data; the API server is away meanwhile\n", timing.Delay)
	res := &printers.RestoreResult{Plan: p, Cleanup: map[string]string{}}
	// Every helper has its trigger and goes on by itself: Ctrl-C from here on only stops the
	// wait (with the commands that finish by hand), so the critical section ends.
	endCritical()
	st, err := o.waitRestored(ctx, p, timing, func() { res.StaleHelpers = o.deleteStaleHelpers(ctx, p) })
	if err != nil {
		return nil, err
	}
	res.ClusterID = st.ClusterID
	for _, m := range st.Members {
		res.Revision = max(res.Revision, m.Revision)
	}
	if err := o.updateKubeadmConfig(ctx, p); err != nil {
		o.warn("the cluster is restored, but kubeadm-config was not updated: %v; set etcd.local.dataDir to %s in its ClusterConfiguration", err, p.KubeadmDataDir[1])
	}
	for _, n := range p.Nodes {
		res.Cleanup[n.Node] = fmt.Sprintf("rm -rf %s %s-* %s", n.DataDir, path.Join(n.KeepDir, n.Prefix), n.Log())
	}
	res.Took = now().Sub(start).Round(time.Second).String()
	return res, nil
}

// waitRestored polls the cluster until the restore verifies or the timeout passes; then it
// says, per node, how to finish or roll back. As soon as the restored cluster answers, before
// it is complete, restored calls back once: the helper pods the snapshot holds go first, before
// their kubelets run them again.
func (o *RestoreOptions) waitRestored(ctx context.Context, p *restore.Plan, t restore.Timing, restored func()) (*etcd.ClusterStatus, error) {
	deadline := time.Now().Add(t.Delay + o.Timeout)
	last := ""
	pause := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	interrupted := !pause(t.Delay)
	for !interrupted {
		st, why := o.probe(ctx, p)
		if restored != nil && st != nil && st.ClusterID != "" && st.ClusterID != p.ClusterID {
			restored()
			restored = nil
		}
		if why == "" {
			fmt.Fprintln(o.ErrOut, "the restored cluster answers: every member is a healthy voter")
			return st, nil
		}
		if why != last {
			fmt.Fprintf(o.ErrOut, "waiting for the restored cluster: %s\n", why)
			last = why
		}
		if time.Now().After(deadline) {
			return nil, o.unfinished(p, fmt.Sprintf("the restored cluster did not verify within %s (%s)", o.Timeout, why))
		}
		interrupted = !pause(5 * time.Second)
	}
	return nil, o.unfinished(p, fmt.Sprintf("the wait was interrupted (%v); the helpers go on by themselves", context.Cause(ctx)))
}

// unfinished is the error of a restore whose cutover was triggered but not verified: per node,
// the progress file and the commands to finish or roll back.
func (o *RestoreOptions) unfinished(p *restore.Plan, why string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s. On each node:", why)
	for _, n := range p.Nodes {
		fmt.Fprintf(&b, "\n  %s:", n.Node)
		for _, c := range restore.FinishCommands(n, n.EtcdFile, n.ComponentFiles()) {
			fmt.Fprintf(&b, "\n    %s", c)
		}
	}
	return fmt.Errorf("%w: %s", restore.ErrPartial, b.String())
}

// probe reads the cluster afresh (pods, connections) and verifies it against the plan.
func (o *RestoreOptions) probe(ctx context.Context, p *restore.Plan) (*etcd.ClusterStatus, string) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pods, err := o.Discover(pctx)
	if err != nil {
		return nil, "the API server does not answer yet: " + firstLine(err.Error())
	}
	conn, err := o.Connector(pctx)
	if err != nil {
		return nil, firstLine(err.Error())
	}
	defer conn.Close()
	st := etcd.Status(pctx, conn, pods, etcd.StatusOptions{Timeout: o.GlobalOptions.Timeout()})
	return st, restore.Verify(p, st)
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// updateKubeadmConfig sets etcd.local.dataDir in kubeadm-config to the restored directory.
func (o *RestoreOptions) updateKubeadmConfig(ctx context.Context, p *restore.Plan) error {
	if p.KubeadmDataDir[1] == "" {
		return nil
	}
	ns := p.Nodes[0].Namespace
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := o.Client.CoreV1().ConfigMaps(ns).Get(ctx, "kubeadm-config", metav1.GetOptions{})
		if err != nil {
			return err
		}
		text, _, err := restore.SetKubeadmDataDir(cm.Data["ClusterConfiguration"], p.KubeadmDataDir[1])
		if err != nil {
			return err
		}
		cm.Data["ClusterConfiguration"] = text
		_, err = o.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
}

// deleteStaleHelpers deletes the helper pods the restored API lists: they come from the
// snapshot (a snapshot saved through a helper holds that helper), and no process owns them.
func (o *RestoreOptions) deleteStaleHelpers(ctx context.Context, p *restore.Plan) []string {
	ns := p.Nodes[0].Namespace
	pods, err := nodehelper.List(ctx, o.Client, ns)
	if err != nil {
		o.warn("cannot list helper pods the snapshot may hold: %v", err)
		return nil
	}
	var out []string
	for _, pod := range pods {
		err := o.Client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		if err != nil && !apierrors.IsNotFound(err) {
			o.warn("could not delete helper pod %s/%s that the snapshot held (kubectl -n %s delete pod %s): %v", ns, pod.Name, ns, pod.Name, err)
			continue
		}
		out = append(out, pod.Name)
	}
	if len(out) > 0 {
		fmt.Fprintf(o.ErrOut, "deleted %d helper pod(s) the snapshot held: %s\n", len(out), strings.Join(out, ", "))
	}
	return out
}
