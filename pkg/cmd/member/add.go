package member

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

var (
	addLong = templates.LongDesc(`
		Add a member to the cluster, as a learner unless --learner=false.

		A learner receives the log but does not vote, so adding it never changes the quorum;
		promote it with "kubectl etcd promote" once it has caught up. The command refuses when the
		cluster is not healthy or when a learner already exists (etcd allows one by default,
		--max-learners on the members). It prints the settings the new member must start with.

		A voting member (--learner=false) changes the quorum the moment it is added, and serves
		only once it has started and caught up: until then it counts as not serving, as "member
		remove" counts a member that is down. The command previews the quorum before and after,
		asks for confirmation unless --yes is given, and without --force refuses an addition that
		would lose quorum (one member to two: quorum 2 with one running; a wrong peer URL then
		needs --force-new-cluster) or lower the number of failures the cluster survives (three to
		four). After the answer the cluster is read again, and the addition is refused if it got
		worse meanwhile. --dry-run prints the plan and changes nothing. Member names must not
		contain "," or "=" (they separate the entries of ETCD_INITIAL_CLUSTER).

		On kubeadm clusters "kubeadm join --control-plane" adds and starts the member itself; use
		this command when replacing a member by hand.`)

	addExample = templates.Examples(`
		# Add cp-4 as a learner
		kubectl etcd member add cp-4 --peer-urls=https://10.0.0.14:2380

		# Preview adding a voting member directly: the quorum before and after
		kubectl etcd member add cp-4 --peer-urls=https://10.0.0.14:2380 --learner=false --dry-run

		# Add a voting member although the cluster tolerates fewer failures until it runs
		kubectl etcd member add cp-4 --peer-urls=https://10.0.0.14:2380 --learner=false --force --yes`)
)

// AddOptions are the options of "member add".
type AddOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	Name     string
	PeerURLs []string
	Learner  bool
	Force    bool
	Yes      bool
	DryRun   bool
	cmdPath  string
	// confirm asks the operator; cmdutil.Confirm unless a test replaces it.
	confirm func(question string) error
}

// NewCmdAdd builds "kubectl etcd member add".
func NewCmdAdd(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &AddOptions{GlobalOptions: g, IOStreams: streams, Learner: true}
	cmd := &cobra.Command{
		Use:     "add NAME --peer-urls=URL[,URL]",
		Short:   "Add a member, as a learner by default",
		Long:    addLong,
		Example: addExample,
		Args:    cobra.ExactArgs(1),
		RunE:    cmdutil.RunE(o),
	}
	cmd.Flags().StringSliceVar(&o.PeerURLs, "peer-urls", nil, "Peer URLs of the new member (comma-separated)")
	cmd.Flags().BoolVar(&o.Learner, "learner", o.Learner, "Add as a learner (non-voting until promoted)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "Add even when the cluster is unhealthy, or a voting member would cost quorum or fault tolerance")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation (asked only for a voting member)")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "Print the plan and change nothing")
	return cmd
}

// Complete reads the name and fills in the clients.
func (o *AddOptions) Complete(cmd *cobra.Command, args []string) error {
	o.Name = args[0]
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the flags.
func (o *AddOptions) Validate() error {
	if err := etcd.ValidateMemberName(o.Name); err != nil {
		return &cmdutil.UsageError{Cmd: o.cmdPath, Err: err}
	}
	if err := etcd.ValidatePeerURLs(o.PeerURLs); err != nil {
		return &cmdutil.UsageError{Cmd: o.cmdPath, Err: err}
	}
	return nil
}

// Run plans the addition, previews and confirms it for a voting member, adds the member and
// prints the next steps. A learner is added without a question: it does not change the quorum.
func (o *AddOptions) Run(ctx context.Context) error {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	eo := etcd.AddOptions{Name: o.Name, PeerURLs: o.PeerURLs, Learner: o.Learner, Force: o.Force, CallTimeout: o.GlobalOptions.Timeout()}
	plan, err := etcd.PlanAdd(ctx, conn, pods, eo)
	if err != nil {
		return err
	}
	switch {
	case o.DryRun:
		err = printers.PrintAddPlan(o.Out, o.Format, plan)
	case !o.Learner:
		// stdout is for the result; the preview is what the question is about.
		err = printers.PrintAddPlan(o.ErrOut, printers.Table, plan)
	}
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	if len(plan.Refusals) > 0 && !o.Force {
		return fmt.Errorf("%w: adding %s: %s; pass --force to add it anyway", etcd.ErrRefused, o.Name, strings.Join(plan.Refusals, "; "))
	}
	if o.DryRun {
		fmt.Fprintln(o.ErrOut, "dry run: nothing was changed")
		return nil
	}
	if !o.Learner && !o.Yes {
		confirm := o.confirm
		if confirm == nil {
			confirm = func(q string) error { return cmdutil.Confirm(ctx, o.In, o.ErrOut, q) }
		}
		if err := confirm(fmt.Sprintf("Add %s as a voting member?", o.Name)); err != nil {
			return err
		}
		// The answer may have taken minutes: look again right before the change.
		again, err := etcd.PlanAdd(ctx, conn, pods, eo)
		if err != nil {
			return fmt.Errorf("reading the cluster again after the confirmation: %w; nothing was changed", err)
		}
		if worse := again.Worse(plan); len(worse) > 0 {
			return fmt.Errorf("%w: the cluster changed while waiting for the confirmation: %s; nothing was changed, run the command again to see the new plan",
				etcd.ErrRefused, strings.Join(worse, "; "))
		}
	}
	res, err := etcd.ApplyAdd(ctx, conn, pods, eo)
	if err != nil {
		return err
	}
	return printers.PrintMemberAdded(o.Out, o.Format, res)
}
