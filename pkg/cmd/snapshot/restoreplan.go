package snapshot

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

// RestorePlanOptions are the options of "snapshot restore-plan".
type RestorePlanOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams
	File         string
	OnNodePath   string
	BumpRevision int64

	cmdPath string
}

// NewCmdRestorePlan builds "kubectl etcd snapshot restore-plan FILE".
func NewCmdRestorePlan(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RestorePlanOptions{GlobalOptions: g, IOStreams: streams, BumpRevision: 1000000000}
	cmd := &cobra.Command{
		Use:   "restore-plan FILE",
		Short: "Print the exact per-node restore commands and steps for the current members (runs nothing)",
		Long: templates.LongDesc(`
			Print how to restore FILE onto the current cluster: for every voting member, the exact
			etcdutl snapshot restore command (name, initial cluster, peer URLs, a new data
			directory, and --bump-revision with --mark-compacted so that Kubernetes clients do
			not miss changes), and the steps around it: stop the API servers and etcd by moving
			their static-pod manifests out, restore, swap the data directories, move the manifests
			back. Only the member list is read; nothing is changed.`),
		Example: templates.Examples(`
			# The plan as text
			kubectl etcd snapshot restore-plan /backup/etcd.db

			# As JSON, with the snapshot copied to /root on the nodes
			kubectl etcd snapshot restore-plan /backup/etcd.db --snapshot-on-node /root/etcd.db -o json`),
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(o),
	}
	cmd.Flags().StringVar(&o.OnNodePath, "snapshot-on-node", "", "Where the snapshot will be on each node (default /var/tmp/<file name>)")
	cmd.Flags().Int64Var(&o.BumpRevision, "bump-revision", o.BumpRevision, "Revision bump for the restored data (etcdutl --bump-revision)")
	return cmd
}

// Complete reads FILE and fills in the clients.
func (o *RestorePlanOptions) Complete(cmd *cobra.Command, args []string) error {
	o.File = args[0]
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the flags. etcdutl's --bump-revision is unsigned: a negative one would make
// every printed restore command fail. (Zero means the default, see etcd.PlanRestore.)
func (o *RestorePlanOptions) Validate() error {
	if o.BumpRevision < 0 {
		return cmdutil.Usagef(o.cmdPath, "--bump-revision must not be negative")
	}
	return nil
}

// Run reads the member list and prints the plan; its warnings go to stderr.
func (o *RestorePlanOptions) Run(ctx context.Context) error {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ml, err := etcd.ListMembers(ctx, conn, pods, o.GlobalOptions.Timeout())
	if err != nil {
		return err
	}
	plan := etcd.PlanRestore(ml, pods, etcd.RestorePlanOptions{Snapshot: o.File, SnapshotOnNode: o.OnNodePath, BumpRevision: o.BumpRevision})
	if err := printers.PrintRestorePlan(o.Out, o.Format, plan); err != nil {
		return err
	}
	if o.Format.Structured() {
		return nil
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	return nil
}
