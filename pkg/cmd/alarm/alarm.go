// Package alarm wires "kubectl etcd alarm list|disarm".
package alarm

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

// ListOptions are the options of "alarm list".
type ListOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams
	cmdPath string
}

// NewListOptions returns the options of "alarm list".
func NewListOptions(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *ListOptions {
	return &ListOptions{GlobalOptions: g, IOStreams: streams}
}

// DisarmOptions are the options of "alarm disarm".
type DisarmOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	Force   bool
	cmdPath string
}

// NewDisarmOptions returns the options of "alarm disarm" with their defaults.
func NewDisarmOptions(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *DisarmOptions {
	return &DisarmOptions{GlobalOptions: g, IOStreams: streams}
}

// NewCmdAlarm builds "kubectl etcd alarm".
func NewCmdAlarm(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	lo := NewListOptions(g, streams)
	do := NewDisarmOptions(g, streams)
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
		RunE: cmdutil.RunE(lo),
	}
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
		RunE: cmdutil.RunE(do),
	}
	disarm.Flags().BoolVar(&do.Force, "force", false, "Disarm even a CORRUPT alarm, or NOSPACE with a member at its quota or not reached (with a warning per member)")
	cmd.AddCommand(list, disarm)
	return cmd
}

// Complete fills in the clients and formats.
func (o *ListOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the options; "alarm list" has no flags of its own.
func (o *ListOptions) Validate() error { return nil }

// Run lists the active alarms.
func (o *ListOptions) Run(ctx context.Context) error {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	alarms, _, err := etcd.ListAlarms(ctx, conn, pods, o.Timeout())
	if err != nil {
		return err
	}
	if !o.Format.Structured() && len(alarms) == 0 {
		fmt.Fprintln(o.ErrOut, "no active alarms")
		return nil
	}
	return printers.PrintAlarms(o.Out, o.Format, alarms)
}

// Complete fills in the clients and formats.
func (o *DisarmOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the options; --force is a boolean, and the checks it overrides need the cluster (Run).
func (o *DisarmOptions) Validate() error { return nil }

// Run disarms the alarms when the checks allow it (or with --force) and prints what was disarmed.
func (o *DisarmOptions) Run(ctx context.Context) error {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	done, warnings, err := etcd.DisarmAlarms(ctx, conn, pods, o.Force, o.Timeout())
	for _, w := range warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	if len(done) == 0 {
		fmt.Fprintln(o.ErrOut, "no active alarms")
		return nil
	}
	return printers.PrintDisarmed(o.Out, done)
}
