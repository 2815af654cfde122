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
		Short: "Disarm the alarms, only when every member is below its quota",
		Long: templates.LongDesc(`
			Disarm every active alarm. A NOSPACE alarm comes straight back while a member's
			database is still at its quota, so the command refuses until every member is below it
			(compact and defragment first, or use "kubectl etcd defrag --disarm"). --force
			disarms anyway.`),
		Example: templates.Examples(`
			# After freeing space
			kubectl etcd alarm disarm`),
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
			done, err := etcd.DisarmAlarms(ctx, conn, pods, force, g.Timeout())
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
	disarm.Flags().BoolVar(&force, "force", false, "Disarm even if a member is still at its quota")
	cmd.AddCommand(list, disarm)
	return cmd
}
