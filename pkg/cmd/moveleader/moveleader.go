// Package moveleader wires "kubectl etcd move-leader".
package moveleader

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

// NewCmdMoveLeader builds "kubectl etcd move-leader".
func NewCmdMoveLeader(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	var healthiest bool
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
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 1) == healthiest {
				return cmdutil.Usagef(cmd.CommandPath(), "give either MEMBER or --to-healthiest")
			}
			if err := g.Complete(cmd.CommandPath()); err != nil {
				return err
			}
			ctx := cmd.Context()
			pods, conn, err := g.Open(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			from, to, err := etcd.MoveLeaderTo(ctx, conn, pods, target, g.Timeout())
			if err != nil {
				return err
			}
			if from.ID == to.ID {
				fmt.Fprintf(streams.Out, "%s (%s) is already the leader\n", to.Name, to.ID)
				return nil
			}
			fmt.Fprintf(streams.Out, "leadership moved from %s (%s) to %s (%s)\n", from.Name, from.ID, to.Name, to.ID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&healthiest, "to-healthiest", false, "Pick the serving follower furthest along (NOSPACE does not disqualify it)")
	return cmd
}
