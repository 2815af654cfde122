// Package check wires "kubectl etcd check consistency".
package check

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// NewCmdCheck builds "kubectl etcd check".
func NewCmdCheck(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the cluster's data (consistency between members)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cons := &cobra.Command{
		Use:   "consistency",
		Short: "Hash the keyspace at one revision on every member and compare (exit 8 on mismatch)",
		Long: templates.LongDesc(`
			Compute etcd's HashKV at the same revision on every voting member and compare the
			hashes. Members whose data differ are reported as an error (exit code 8): that is
			data corruption, and the member concerned should be replaced from a healthy one.`),
		Example: templates.Examples(`
			# Compare the members' data
			kubectl etcd check consistency`),
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
			r, err := etcd.CheckConsistency(ctx, conn, pods, g.Timeout())
			if err != nil {
				return err
			}
			if g.Format.Structured() {
				if err := printers.PrintStructured(streams.Out, g.Format, r); err != nil {
					return err
				}
			} else {
				var rows [][]string
				for _, m := range r.Members {
					hash := fmt.Sprintf("%08x", m.Hash)
					if m.Error != "" {
						hash = "error"
					}
					rows = append(rows, []string{m.Name, m.ID, m.Pod, hash, fmt.Sprint(m.HashRevision), fmt.Sprint(m.CompactRevision)})
				}
				if err := printers.PrintTable(streams.Out, []string{"MEMBER", "ID", "POD", "HASH", "REVISION", "COMPACTED"}, rows); err != nil {
					return err
				}
			}
			for _, p := range r.Problems {
				fmt.Fprintf(streams.ErrOut, "error: %s\n", p)
			}
			switch {
			case !r.Consistent:
				return cmdutil.WithCode(cmdutil.ExitIntegrity, nil)
			case len(r.Problems) > 0:
				return cmdutil.WithCode(cmdutil.ExitDegraded, nil)
			}
			if !g.Format.Structured() {
				fmt.Fprintf(streams.Out, "consistent: %d members agree at revision %d\n", len(r.Members), r.Revision)
			}
			return nil
		},
	}
	cmd.AddCommand(cons)
	return cmd
}
