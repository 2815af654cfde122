package snapshot

import (
	"context"
	"fmt"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

// RestorePlanOptions are the options of "snapshot restore-plan".
type RestorePlanOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams
	File         string
	OnNodePath   string
	BumpRevision int64
	// Identity is --identity, for an encrypted FILE.
	Identity   string
	identities []age.Identity
	// CheckDB runs the database checks of File; Complete defaults it to CheckDBInChild.
	CheckDB func(ctx context.Context, path string) (snap.DBCheck, error)

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
			back. Nothing is changed.

			The plan is built from what can be read: the member list of the live cluster when
			it answers within --request-timeout, else the member list recorded in the snapshot
			file itself (with quorum lost the cluster cannot answer, and that is when a restore
			is needed); the nodes and data directories from the etcd pods when the API server
			lists them, else guessed (kubeadm names members after their nodes, and keeps the
			data in /var/lib/etcd). The plan says which part comes from where. The snapshot is
			checked as "snapshot status" does; a corrupt one is named in a warning.

			A compressed or encrypted FILE (see "snapshot status") gets a step that turns it
			into the plain snapshot etcdutl reads, with the standard tools (zstd, gzip, age).`),
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
	AddIdentityFlag(cmd, &o.Identity)
	return cmd
}

// Complete reads FILE and fills in the clients.
func (o *RestorePlanOptions) Complete(cmd *cobra.Command, args []string) error {
	o.File = args[0]
	o.cmdPath = cmd.CommandPath()
	if o.CheckDB == nil {
		o.CheckDB = CheckDBInChild
	}
	ids, err := LoadIdentity(o.Identity)
	if err != nil {
		return err
	}
	o.identities = ids
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

// Run reads the snapshot's member list and what the cluster still answers, and prints the plan;
// its warnings go to stderr.
func (o *RestorePlanOptions) Run(ctx context.Context) error {
	in := etcd.RestoreInputs{}
	rep, err := snap.Inspect(ctx, o.File, snap.InspectOptions{CheckDB: o.CheckDB, Identities: o.identities})
	switch {
	case ctx.Err() != nil:
		return err
	case err != nil:
		in.FileErr = err
	default:
		in.File = rep.Members
	}
	o.readCluster(ctx, &in)
	ro := etcd.RestorePlanOptions{Snapshot: o.File, SnapshotOnNode: o.OnNodePath, BumpRevision: o.BumpRevision, Identity: o.Identity}
	if rep != nil {
		ro.Layers = rep.Layers
	} else if l := snap.LayersFromName(o.File); !l.Plain() {
		ro.Layers = l // unreadable: the name is all there is to go by
	}
	plan, err := etcd.PlanRestoreFrom(in, ro)
	if err != nil {
		return err
	}
	if rep != nil && rep.Verdict != snap.VerdictOK {
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("snapshot status finds %s corrupt (%s): do not restore it", o.File, strings.Join(rep.Problems, "; ")))
	}
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

// readCluster asks the API server for the etcd pods and the cluster for its member list, each
// within --request-timeout: with quorum lost both may hang, and the plan is still wanted.
func (o *RestorePlanOptions) readCluster(ctx context.Context, in *etcd.RestoreInputs) {
	cctx, cancel := context.WithTimeout(ctx, o.GlobalOptions.Timeout())
	defer cancel()
	in.Pods, in.PodsErr = o.Discover(cctx)
	if in.PodsErr != nil {
		in.LiveErr = in.PodsErr
		return
	}
	conn, err := o.Connector(cctx)
	if err != nil {
		in.LiveErr = err
		return
	}
	defer conn.Close()
	in.Live, in.LiveErr = etcd.ListMembers(cctx, conn, in.Pods, o.GlobalOptions.Timeout())
}
