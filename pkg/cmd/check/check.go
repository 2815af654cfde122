// Package check wires "kubectl etcd check consistency".
package check

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// ConsistencyOptions are the options of "check consistency".
type ConsistencyOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams
	cmdPath string
}

// NewConsistencyOptions returns the options of "check consistency".
func NewConsistencyOptions(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *ConsistencyOptions {
	return &ConsistencyOptions{GlobalOptions: g, IOStreams: streams}
}

// NewCmdCheck builds "kubectl etcd check".
func NewCmdCheck(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewConsistencyOptions(g, streams)
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
		RunE: cmdutil.RunE(o),
	}
	cmd.AddCommand(cons)
	return cmd
}

// Complete fills in the clients and formats.
func (o *ConsistencyOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the options; "check consistency" has no flags of its own.
func (o *ConsistencyOptions) Validate() error { return nil }

// Run compares the members' hashes, prints them, and returns an error carrying the exit code.
func (o *ConsistencyOptions) Run(ctx context.Context) error {
	pods, conn, err := o.OpenCluster(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	r, err := etcd.CheckConsistency(ctx, conn, pods, o.Timeout())
	if err != nil {
		return err
	}
	// The printer ends the table with a "consistent:" line only when there are no problems,
	// so nothing is printed to stderr between the two.
	if err := printers.PrintConsistency(o.Out, o.Format, r); err != nil {
		return err
	}
	for _, p := range r.Problems {
		fmt.Fprintf(o.ErrOut, "error: %s\n", p)
	}
	switch {
	case !r.Consistent:
		return cmdutil.WithCode(cmdutil.ExitIntegrity, nil)
	case len(r.Problems) > 0:
		return cmdutil.WithCode(cmdutil.ExitDegraded, nil)
	}
	return nil
}
