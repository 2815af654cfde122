package member

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

var (
	removeLong = templates.LongDesc(`
		Remove a member from the cluster, after a preview and a quorum check.

		MEMBER is a member name, an etcd pod, a node or a hex member ID. The preview shows the
		member, its pod, node and health, and what the removal does to the quorum: voting members,
		how many of them serve, and fault tolerance before and after. A member serves when it
		answers and is healthy, or unhealthy only because of a NOSPACE alarm (it still serves
		reads and votes); a member that is down, unreachable or CORRUPT does not. Without --force
		the command refuses a removal that would lose quorum or leave the cluster able to survive
		fewer failures than now (for example removing a serving member of three while another is
		down). Learners do not vote and are removed without that check.

		It asks for confirmation unless --yes is given; after the answer the cluster is read and
		the plan made again, and if it got worse meanwhile (a member went down) the removal is
		refused and the change named. --dry-run prints the plan and changes nothing. After the
		removal, stop etcd on that node and wipe its data directory before it ever joins again.`)

	removeExample = templates.Examples(`
		# Preview the removal of the member on node cp-3
		kubectl etcd member remove cp-3 --dry-run

		# Remove a failed member by its hex ID, without the prompt
		kubectl etcd member remove fd422379fda50e48 --yes

		# Remove even though the cluster loses fault tolerance
		kubectl etcd member remove cp-3 --force --yes`)
)

// RemoveOptions are the options of "member remove".
type RemoveOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	Target string
	Force  bool
	Yes    bool
	DryRun bool

	cmdPath string
	// confirm asks the operator; cmdutil.Confirm unless a test replaces it.
	confirm func(question string) error
}

// NewCmdRemove builds "kubectl etcd member remove".
func NewCmdRemove(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RemoveOptions{GlobalOptions: g, IOStreams: streams}
	cmd := &cobra.Command{
		Use:               "remove MEMBER",
		Aliases:           []string{"rm"},
		Short:             "Remove a member after a preview and a quorum check",
		Long:              removeLong,
		Example:           removeExample,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.CompleteMembers(false),
		RunE:              cmdutil.RunE(o),
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "Remove even if the cluster loses quorum or fault tolerance")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "Print the plan and change nothing")
	return cmd
}

// Complete reads the argument and fills in the clients.
func (o *RemoveOptions) Complete(cmd *cobra.Command, args []string) error {
	o.Target = args[0]
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the argument.
func (o *RemoveOptions) Validate() error {
	if strings.TrimSpace(o.Target) == "" {
		return cmdutil.Usagef(o.cmdPath, "the member to remove must not be empty: give its name, pod, node or hex ID")
	}
	return nil
}

// Run previews, checks, confirms and removes.
func (o *RemoveOptions) Run(ctx context.Context) error {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	plan, err := o.plan(ctx, conn, pods, o.Target)
	if err != nil {
		return err
	}
	target := &plan.Member
	if err := printers.PrintRemovePlan(o.Out, o.Format, plan); err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	if len(plan.Refusals) > 0 && !o.Force {
		return fmt.Errorf("%w: removing %s: %s; pass --force to remove it anyway", etcd.ErrRefused, describe(*target), strings.Join(plan.Refusals, "; "))
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
		if err := confirm(fmt.Sprintf("Remove %s from the cluster?", describe(*target))); err != nil {
			return err
		}
		// The answer may have taken minutes: look again right before the change.
		again, err := o.plan(ctx, conn, pods, target.ID)
		if errors.Is(err, etcd.ErrNotFound) {
			return fmt.Errorf("%w: %s left the cluster while waiting for the confirmation; nothing was changed", etcd.ErrNotFound, describe(*target))
		}
		if err != nil {
			return fmt.Errorf("reading the cluster again after the confirmation: %w; nothing was changed", err)
		}
		if worse := again.Worse(plan); len(worse) > 0 {
			return fmt.Errorf("%w: the cluster changed while waiting for the confirmation: %s; nothing was changed, run the command again to see the new plan",
				etcd.ErrRefused, strings.Join(worse, "; "))
		}
	}
	id, err := etcd.ParseID(target.ID)
	if err != nil {
		return err
	}
	if err := etcd.RemoveMember(ctx, conn, pods, id, o.GlobalOptions.Timeout()); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "Removed %s.\n", describe(*target))
	if target.Node != "" {
		fmt.Fprintf(o.ErrOut, "Next: on node %s stop etcd (move /etc/kubernetes/manifests/etcd.yaml away) and wipe its data directory %s before it joins again.\n",
			target.Node, orDefault(target.DataDir, "/var/lib/etcd"))
	}
	return nil
}

// plan reads the cluster and plans the removal of the member arg names.
func (o *RemoveOptions) plan(ctx context.Context, conn transport.Connector, pods []discovery.Member, arg string) (*etcd.RemovePlan, error) {
	st := etcd.Status(ctx, conn, pods, etcd.StatusOptions{Timeout: o.GlobalOptions.Timeout(), ProbeHealth: true})
	if st.Quorum.Voters == 0 || len(st.Members) == 0 {
		return nil, fmt.Errorf("%w: cannot read the member list from any member", etcd.ErrNoMemberReachable)
	}
	target, err := etcd.FindStatusMember(st, arg)
	if err != nil {
		return nil, err
	}
	return etcd.PlanRemove(st, *target), nil
}

// describe names the member as the plan printed it.
func describe(m etcd.MemberStatus) string { return printers.DescribeMember(m) }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
