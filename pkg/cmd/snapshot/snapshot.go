// Package snapshot wires "kubectl etcd snapshot ..."; pkg/etcd and pkg/snapshot do the work.
package snapshot

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
)

// NewCmdSnapshot builds "kubectl etcd snapshot" (which saves, given a FILE) and its subcommands.
func NewCmdSnapshot(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SaveOptions{GlobalOptions: g, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "snapshot [FILE]",
		Short: "Save, inspect and plan the restore of snapshots",
		Long: templates.LongDesc(`
			Save a verified snapshot of the etcd database ("snapshot [FILE]" is "snapshot save
			[FILE]"), check a snapshot file, or print the commands to restore one.`),
		Example: saveExample,
		Args:    cobra.MaximumNArgs(1),
		RunE:    cmdutil.RunE(o),
	}
	o.addFlags(cmd)
	save := &cobra.Command{
		Use:     "save [FILE]",
		Short:   "Stream a snapshot into a verified local file (or save it on the node with --on-node)",
		Long:    saveLong,
		Example: saveExample,
		Args:    cobra.MaximumNArgs(1),
		RunE:    cmdutil.RunE(o),
	}
	o.addFlags(save)
	cmd.AddCommand(save, NewCmdStatus(g, streams), NewCmdRestorePlan(g, streams), NewCmdRestore(g, streams))
	return cmd
}
