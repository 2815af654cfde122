package member

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/nodehelper"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/rebuild"
	transportexec "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/exec"
)

var (
	rebuildLong = templates.LongDesc(`
		Replace a member's data in place: etcd's recovery for a member whose data is broken (a
		CORRUPT alarm, a crash loop on a damaged WAL or database, a disk that filled, or a member
		so far behind that a fresh copy is faster), done through the Kubernetes API with a
		helper pod on the member's node. No SSH.

		The steps: stop etcd on the node (its static manifest is moved out of the manifest
		directory; a byte-for-byte copy is kept in /etc/kubernetes/tmp), remove the member, set
		its old data aside inside the data directory (hard links, no copy; or delete it with
		--discard-old-data), add it back as a learner with the same name and peer URLs, start
		it with --initial-cluster naming every member and --initial-cluster-state=existing, put
		kubeadm's original manifest back once the new data directory holds the member (etcd
		ignores those flags from then on, so the manifest and kubeadm-config stay as kubeadm
		wrote them), and promote the learner once it is in sync.

		The preview shows the member, why it may need the rebuild, the quorum while it is out,
		and each step with its paths. Like "member remove" it refuses, without --force, a
		rebuild that would lose quorum or fault tolerance, and it always refuses to rebuild the
		only healthy voter (its data is the only good copy), a learner, or a member whose node
		is not known. It asks for confirmation unless --yes is given; --dry-run reads the node's
		manifest with a read-only helper and changes nothing.

		A failure before the member is removed puts the original manifest back and changes
		nothing. After the removal there is no useful way back (the old data belongs to a
		member the cluster no longer has, and with etcd down the node's kubelet cannot start
		another helper), so the run only goes forward: a failure leaves the node as it is and
		exits 10, saying where everything is and how to finish. Ctrl-C while the learner
		catches up leaves a running learner with the new data and the original manifest:
		"kubectl etcd promote MEMBER" finishes it. A second Ctrl-C during the node steps only
		warns; a third quits.

		The helper pod runs kubeadm's kube-proxy image (it has /bin/sh, cat, ln and rm), or
		--helper-image, and mounts only the manifest directory, /etc/kubernetes/tmp and the
		member's data directory. It is deleted on every path.`)

	rebuildExample = templates.Examples(`
		# Preview the rebuild of the member on node cp-3
		kubectl etcd member rebuild cp-3 --dry-run

		# Rebuild it without the prompt
		kubectl etcd member rebuild cp-3 --yes

		# Delete the old data instead of keeping it beside the new
		kubectl etcd member rebuild cp-3 --yes --discard-old-data`)
)

// RebuildOptions are the options of "member rebuild".
type RebuildOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	Target      string
	Force       bool
	Yes         bool
	DryRun      bool
	Discard     bool
	HelperImage string
	ManifestDir string
	Timeout     time.Duration

	cmdPath string
	confirm func(question string) error
	now     func() time.Time
}

// Defaults of "member rebuild".
const (
	defaultManifestDir = "/etc/kubernetes/manifests"
	// keepDir is where the original manifest is kept (kubeadm keeps its backups there too).
	keepDir = "/etc/kubernetes/tmp"
	// kubeletSilenceLimit: a kubelet renews its lease every 10s; four missed renewals mean it
	// cannot reach the API.
	kubeletSilenceLimit = 40 * time.Second
)

// NewCmdRebuild builds "kubectl etcd member rebuild".
func NewCmdRebuild(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RebuildOptions{GlobalOptions: g, IOStreams: streams, ManifestDir: defaultManifestDir, Timeout: 5 * time.Minute}
	cmd := &cobra.Command{
		Use:               "rebuild MEMBER",
		Short:             "Replace a member's broken data in place (stop, remove, re-add as learner, promote)",
		Long:              rebuildLong,
		Example:           rebuildExample,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.CompleteMembers(false),
		RunE:              cmdutil.RunE(o),
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "Rebuild even if the cluster loses fault tolerance while the member is out")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "Print the plan after checking the node's manifest and data directory (read-only); change nothing")
	cmd.Flags().BoolVar(&o.Discard, "discard-old-data", false, "Delete the old data instead of setting it aside in the data directory")
	cmd.Flags().StringVar(&o.HelperImage, "helper-image", "", "Shell image of the helper pod (default: the image of the node's kube-proxy pod); needs /bin/sh, cat, chmod, ln and rm")
	cmd.Flags().StringVar(&o.ManifestDir, "manifest-dir", o.ManifestDir, "The kubelet's static pod directory on the node")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the new member to start and again for it to catch up")
	return cmd
}

// Complete reads the argument and fills in the clients.
func (o *RebuildOptions) Complete(cmd *cobra.Command, args []string) error {
	o.Target = args[0]
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the argument and flags.
func (o *RebuildOptions) Validate() error {
	switch {
	case strings.TrimSpace(o.Target) == "":
		return cmdutil.Usagef(o.cmdPath, "the member to rebuild must not be empty: give its name, pod, node or hex ID")
	case !path.IsAbs(o.ManifestDir) || path.Clean(o.ManifestDir) == "/":
		return cmdutil.Usagef(o.cmdPath, "--manifest-dir must be an absolute directory other than /, got %q", o.ManifestDir)
	case o.Timeout <= 0:
		return cmdutil.Usagef(o.cmdPath, "--timeout must be positive, got %s", o.Timeout)
	}
	return nil
}

// Run previews, checks, confirms and rebuilds.
func (o *RebuildOptions) Run(ctx context.Context) error {
	o.NodeSide = "member rebuild" // refused on an external etcd, before any helper starts
	pods, conn, err := o.OpenCluster(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	now := time.Now
	if o.now != nil {
		now = o.now
	}
	layout := func(m *discovery.Member) (rebuild.Layout, error) {
		data, err := nodehelper.HostPathOf(m, orDefault(m.DataDir, "/var/lib/etcd"))
		if err != nil {
			return rebuild.Layout{}, err
		}
		if !path.IsAbs(data) || path.Clean(data) == "/" {
			return rebuild.Layout{}, fmt.Errorf("the data directory of %s is %q on the node: not a directory a rebuild may work in", m, data)
		}
		return rebuild.NewLayout(path.Clean(o.ManifestDir), keepDir, path.Clean(data), o.Discard, now()), nil
	}
	plan := func() (*rebuild.Plan, *discovery.Member, error) {
		st := etcd.Status(ctx, conn, pods, etcd.StatusOptions{Timeout: o.GlobalOptions.Timeout(), ProbeHealth: true})
		return rebuild.PlanRebuild(st, pods, o.Target, layout)
	}
	p, pod, err := plan()
	if err != nil {
		return err
	}
	if err := o.refuse(p); err != nil {
		_ = printers.PrintRebuildPlan(o.Out, o.Format, p)
		return err
	}

	if silent, ok := nodehelper.KubeletSilence(ctx, o.Client, pod.Node); ok && silent > kubeletSilenceLimit {
		return fmt.Errorf("%w: the kubelet of node %s has not reached the API for %s, so no helper pod can start there: on kubeadm control-plane nodes the kubelet talks to the node's own API server, which needs the node's etcd member. "+
			"With etcd down on %s, remove the member (kubectl etcd member remove %s) and rejoin the node (README: Replace a failed member); nothing was changed",
			etcd.ErrRefused, pod.Node, silent.Round(time.Second), pod.Node, p.Member.Name)
	}
	runner := &nodehelper.Runner{Client: o.Client, Notify: func(s string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", s) }}
	image, err := nodehelper.ShellImage(ctx, runner, pod.Node, o.HelperImage)
	if err != nil {
		return err
	}
	helperDeadline, helperStart := 15*time.Minute+o.worstCase(), time.Now()
	sh, err := runner.StartShell(ctx, &transportexec.APIExecutor{Config: o.RESTConfig, Client: o.Client}, nodehelper.ShellSpec{
		Namespace: pod.Namespace, Node: pod.Node, Image: image, Purpose: "rebuild", Member: p.Member.Name,
		Describe: fmt.Sprintf("kubectl etcd member rebuild %s", p.Member.Name),
		Deadline: helperDeadline, Dirs: rebuild.ShellDirs(p.Layout, o.DryRun)})
	if err != nil {
		return err
	}
	node := &rebuild.ShellNode{Shell: sh, KeepFile: p.Layout.KeepFile, Aside: p.Layout.Aside}
	started := false
	defer func() {
		if !started && !o.DryRun {
			_ = node.DropAside(context.WithoutCancel(ctx))
		}
		node.Close(ctx)
	}()
	fmt.Fprintf(o.ErrOut, "helper pod %s on node %s reads the etcd manifest (deleted on exit)\n", sh.Pod, pod.Node)
	file, original, err := node.Manifest(ctx, strings.TrimSuffix(pod.Pod, "-"+pod.Node))
	if err != nil {
		return fmt.Errorf("%w: on node %s: %w", etcd.ErrRefused, pod.Node, err)
	}
	p.ManifestFile = file
	if err := checkManifest(original, p, pod); err != nil {
		return fmt.Errorf("%w: manifest %s on node %s: %w; nothing was changed", etcd.ErrRefused, path.Join(p.Layout.ManifestDir, file), pod.Node, err)
	}
	if err := node.CheckData(ctx); err != nil {
		return fmt.Errorf("%w: data directory %s on node %s: %w; nothing was changed", etcd.ErrRefused, p.Layout.DataDir, pod.Node, err)
	}
	// -o json|yaml prints one document: the plan for --dry-run, else the result (which holds
	// the plan).
	if !o.Format.Structured() || o.DryRun {
		if err := printers.PrintRebuildPlan(o.Out, o.Format, p); err != nil {
			return err
		}
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	if o.DryRun {
		fmt.Fprintln(o.ErrOut, "dry run: nothing was changed")
		return nil
	}
	if !o.Yes {
		confirm := o.confirm
		if confirm == nil {
			confirm = func(q string) error { return cmdutil.Confirm(ctx, o.In, o.ErrOut, q) }
		}
		if err := confirm(fmt.Sprintf("Rebuild %s on node %s?", p.Member.Name, p.Member.Node)); err != nil {
			return err
		}
		again, _, err := plan()
		if err != nil {
			return fmt.Errorf("reading the cluster again after the confirmation: %w; nothing was changed", err)
		}
		if worse := worseRebuild(again, p); len(worse) > 0 || o.refuse(again) != nil {
			if err := o.refuse(again); err != nil {
				return fmt.Errorf("the cluster changed while waiting for the confirmation: %w; nothing was changed", err)
			}
			return fmt.Errorf("%w: the cluster changed while waiting for the confirmation: %s; nothing was changed, run the command again to see the new plan",
				etcd.ErrRefused, strings.Join(worse, "; "))
		}
	}
	// The helper dies at its deadline whatever it is doing: after a long wait for the answer
	// there may not be enough of it left for the run.
	if left := helperDeadline - time.Since(helperStart); left < o.worstCase() {
		return fmt.Errorf("%w: the helper pod has %s of its life left, less than the run may need (%s): the confirmation took too long; nothing was changed, run the command again",
			etcd.ErrRefused, left.Round(time.Second), o.worstCase())
	}
	started = true
	endCritical := cmdutil.Critical(fmt.Sprintf("member rebuild is changing node %s", p.Member.Node))
	defer endCritical()
	bar := printers.NewProgress(o.ErrOut, cmdutil.IsTerminal(o.ErrOut))
	res, err := rebuild.Run(ctx, p, rebuild.Options{
		Conn: conn, Pods: pods, Node: node, Original: original,
		StartTimeout: o.Timeout, PromoteTimeout: o.Timeout, CallTimeout: o.GlobalOptions.Timeout(),
		Progress: func(pp etcd.PromoteProgress) { printers.ShowPromoteProgress(bar, pp) },
		Log:      func(s string) { bar.Done(); fmt.Fprintln(o.ErrOut, s) },
	})
	bar.Done()
	if err != nil {
		return err
	}
	return printers.PrintRebuildResult(o.Out, o.Format, res)
}

// worstCase bounds how long the node steps of a run may take: the stop (2m and the settle
// time), the learner's add and first start, its restart with the original manifest, and its
// catch-up, with a margin.
func (o *RebuildOptions) worstCase() time.Duration { return 3*o.Timeout + 8*time.Minute }

// refuse turns the plan's blocks, and its refusals without --force, into the error of the run.
func (o *RebuildOptions) refuse(p *rebuild.Plan) error {
	return cmdutil.Refusal("rebuilding "+printers.DescribeMember(p.Member), p.Blocked, p.Refusals, o.Force, "pass --force to rebuild it anyway")
}

// worseRebuild lists how the plan made again after the confirmation differs, for the worse,
// from the confirmed one.
func worseRebuild(now, confirmed *rebuild.Plan) []string {
	var out []string
	if now.Member.ID != confirmed.Member.ID || now.InList != confirmed.InList {
		out = append(out, fmt.Sprintf("the member is now %s", orDefault(now.Member.ID, "not in the member list")))
	}
	if now.Before.HealthyVoters < confirmed.Before.HealthyVoters {
		out = append(out, fmt.Sprintf("serving voters: %d, was %d", now.Before.HealthyVoters, confirmed.Before.HealthyVoters))
	}
	if now.During.FailuresLeft < confirmed.During.FailuresLeft {
		out = append(out, fmt.Sprintf("while the member is out the cluster could lose %d more, was %d", now.During.FailuresLeft, confirmed.During.FailuresLeft))
	}
	return out
}

// checkManifest checks that the node's manifest is the member's: its --name, --data-dir and
// peer URL agree with the pod and the plan, and the join edit applies to it.
func checkManifest(data []byte, p *rebuild.Plan, pod *discovery.Member) error {
	mp, err := rebuild.ManifestPod(data)
	if err != nil {
		return err
	}
	if name, _ := rebuild.Flag(mp, "name"); name != p.Member.Name {
		return fmt.Errorf("it runs member %q, not %q", name, p.Member.Name)
	}
	if dd, _ := rebuild.Flag(mp, "data-dir"); pod.DataDir != "" && dd != pod.DataDir {
		return fmt.Errorf("its --data-dir is %q but the running pod's is %q (changed since the pod started?)", dd, pod.DataDir)
	}
	if peer, _ := rebuild.Flag(mp, "initial-advertise-peer-urls"); peer != strings.Join(p.PeerURLs, ",") {
		return fmt.Errorf("its --initial-advertise-peer-urls is %q but the member's peer URLs are %q", peer, strings.Join(p.PeerURLs, ","))
	}
	if _, err := rebuild.JoinManifest(data, p.InitialCluster); err != nil {
		return err
	}
	return nil
}
