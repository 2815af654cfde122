// Package alarm wires "kubectl etcd alarm list|disarm".
package alarm

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// NewCmdAlarm builds "kubectl etcd alarm".
func NewCmdAlarm(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alarm",
		Short: "List and disarm the cluster's alarms (NOSPACE, CORRUPT)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the active alarms with the member, its database size and quota",
		Example: templates.Examples(`
			# Which member raised which alarm
			kubectl etcd alarm list`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.Complete(cmd.CommandPath()); err != nil {
				return err
			}
			ctx := cmd.Context()
			pods, conn, err := g.Open(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			alarms, _, err := etcd.ListAlarms(ctx, conn, pods, g.Timeout())
			if err != nil {
				return err
			}
			if g.Format.Structured() {
				return printers.PrintStructured(streams.Out, g.Format, alarms)
			}
			if len(alarms) == 0 {
				fmt.Fprintln(streams.ErrOut, "no active alarms")
				return nil
			}
			var rows [][]string
			for _, a := range alarms {
				quota := "-"
				if a.Quota > 0 {
					quota = printers.Bytes(a.Quota)
				}
				rows = append(rows, []string{a.MemberID, printers.OrDash(a.Name), printers.OrDash(a.Pod), a.Alarm, printers.Bytes(a.DBSize), quota})
			}
			return printers.PrintTable(streams.Out, []string{"MEMBER-ID", "NAME", "POD", "ALARM", "DB", "QUOTA"}, rows)
		},
	}
	var force bool
	disarm := &cobra.Command{
		Use:   "disarm",
		Short: "Disarm the alarms, only when every member was reached and is below its quota",
		Long: templates.LongDesc(`
			Disarm every active alarm (etcd disarms them all at once).

			A NOSPACE alarm comes straight back with the next write while a member's database is
			near its quota, so with NOSPACE active the command refuses unless every member was
			reached and its database is below its quota by a margin (10 % of the quota, at least
			2 MiB): compact and defragment first, or use "kubectl etcd defrag --compact --force
			--disarm". A member that could not be reached blocks the disarm: it may be the one at
			its quota.

			A CORRUPT alarm means a member's data differ from the others'; it is never disarmed
			without --force. --force disarms anyway and prints a warning naming each member whose
			check it overrode.`),
		Example: templates.Examples(`
			# After freeing space
			kubectl etcd alarm disarm

			# Disarm although a check refuses (names what it overrides on stderr)
			kubectl etcd alarm disarm --force`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.Complete(cmd.CommandPath()); err != nil {
				return err
			}
			ctx := cmd.Context()
			pods, conn, err := g.Open(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			done, warnings, err := etcd.DisarmAlarms(ctx, conn, pods, force, g.Timeout())
			for _, w := range warnings {
				fmt.Fprintf(streams.ErrOut, "warning: %s\n", w)
			}
			if err != nil {
				return err
			}
			if len(done) == 0 {
				fmt.Fprintln(streams.ErrOut, "no active alarms")
				return nil
			}
			for _, d := range done {
				fmt.Fprintf(streams.Out, "disarmed %s\n", d)
			}
			return nil
		},
	}
	disarm.Flags().BoolVar(&force, "force", false, "Disarm even a CORRUPT alarm, or NOSPACE with a member at its quota or not reached (with a warning per member)")
	cmd.AddCommand(list, disarm)
	return cmd
}
