// Package doctor wires "kubectl etcd doctor".
package doctor

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// NewCmdDoctor builds "kubectl etcd doctor".
func NewCmdDoctor(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Report what needs fixing: stale members, unstarted learners, skew, expiry, alarms, quota",
		Long: templates.LongDesc(`
			One read-only report of what an operator should fix, each finding with its fix:
			members without a pod (stale after a dead or reset node), learners that never started,
			unhealthy or unreachable members, an even number of voters, version skew between
			members, etcd older than the recommended minimum (3.5.6, 3.4.22), serving certificates
			expiring within 30 days, NOSPACE and CORRUPT alarms, databases over 80% of their quota,
			high fragmentation, and kubeadm annotations that disagree with the member list.

			Exit codes: 0 nothing to fix; 2 findings that need attention; 3 quorum lost or no
			member reachable.`),
		Example: templates.Examples(`
			# What needs fixing?
			kubectl etcd doctor

			# For monitoring scripts
			kubectl etcd doctor -o json`),
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
			st := etcd.Status(ctx, conn, pods, etcd.StatusOptions{Timeout: g.Timeout()})
			if err := st.AccessError(); err != nil {
				return err
			}
			r := etcd.Doctor(st, pods, etcd.DoctorOptions{})
			if g.Format.Structured() {
				if err := printers.PrintStructured(streams.Out, g.Format, r); err != nil {
					return err
				}
			} else if len(r.Findings) == 0 {
				fmt.Fprintf(streams.Out, "no findings: %s\n", printers.StatusSummary(st))
			} else {
				var rows [][]string
				for _, f := range r.Findings {
					rows = append(rows, []string{f.Severity, f.Check, printers.OrDash(f.Member), f.Finding, f.Fix})
				}
				if err := printers.PrintTable(streams.Out, []string{"SEVERITY", "CHECK", "MEMBER", "FINDING", "FIX"}, rows); err != nil {
					return err
				}
			}
			for _, s := range r.Skipped {
				fmt.Fprintf(streams.ErrOut, "warning: transport %s skipped %s\n", r.Transport, s)
			}
			switch {
			case st.State == etcd.StateQuorumLost:
				return cmdutil.WithCode(cmdutil.ExitQuorumLost, nil)
			case len(r.Findings) > 0:
				return cmdutil.WithCode(cmdutil.ExitDegraded, nil)
			}
			return nil
		},
	}
}
