// Package moveleader wires "kubectl etcd move-leader".
package moveleader

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// Options are the options of "move-leader".
type Options struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	ToHealthiest bool
	Target       string // MEMBER, empty with --to-healthiest
	nargs        int
	cmdPath      string
}

// NewOptions returns the options of "move-leader" with their defaults.
func NewOptions(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *Options {
	return &Options{GlobalOptions: g, IOStreams: streams}
}

// NewCmdMoveLeader builds "kubectl etcd move-leader".
func NewCmdMoveLeader(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(g, streams)
	cmd := &cobra.Command{
		Use:   "move-leader [MEMBER | --to-healthiest]",
		Short: "Hand leadership to another voting member (a planned change, no election)",
		Long: templates.LongDesc(`
			Ask the leader to hand leadership to MEMBER (a name, pod, node or hex ID), or with
			--to-healthiest to the serving follower furthest along. A member serves when it
			answers and is healthy, or unhealthy only because of a NOSPACE alarm; a member that
			is down or CORRUPT does not. A planned transfer avoids an election; use it before
			maintenance on the leader's node. Refused on a single-member cluster, for learners
			and for members that do not serve. It waits until the new leader is seen; Ctrl-C
			stops the wait.`),
		Example: templates.Examples(`
			# Move leadership to cp-2
			kubectl etcd move-leader cp-2

			# Move it to the healthiest follower
			kubectl etcd move-leader --to-healthiest`),
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.CompleteMembers(false),
		RunE:              cmdutil.RunE(o),
	}
	cmd.Flags().BoolVar(&o.ToHealthiest, "to-healthiest", false, "Pick the serving follower furthest along (NOSPACE does not disqualify it)")
	return cmd
}

// Complete records the target and fills in the clients.
func (o *Options) Complete(cmd *cobra.Command, args []string) error {
	o.cmdPath = cmd.CommandPath()
	o.nargs = len(args)
	if len(args) == 1 {
		o.Target = args[0]
	}
	if o.Validate() != nil {
		return nil // Validate reports the usage error before the -o/--transport/kubeconfig ones, as it always has
	}
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks that exactly one of MEMBER and --to-healthiest is given.
func (o *Options) Validate() error {
	if (o.nargs == 1) == o.ToHealthiest {
		return cmdutil.Usagef(o.cmdPath, "give either MEMBER or --to-healthiest")
	}
	return nil
}

// Run moves leadership and says where it went.
func (o *Options) Run(ctx context.Context) error {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	from, to, err := etcd.MoveLeaderTo(ctx, conn, pods, o.Target, o.Timeout())
	if err != nil {
		return err
	}
	return printers.PrintLeaderMove(o.Out, from, to)
}
