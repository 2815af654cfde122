// Package member wires "kubectl etcd member ..."; pkg/etcd does the work.
package member

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

// NewCmdMember builds "kubectl etcd member" and its subcommands.
func NewCmdMember(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member",
		Short: "List and change the cluster's members",
		Long: templates.LongDesc(`
			Work with the cluster's member list: see which pod and node each member is, which
			members are learners and which have no pod; add a member (as a learner), remove one
			after a quorum check, and rebuild one whose data is broken.`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(NewCmdList(g, streams), NewCmdAdd(g, streams), NewCmdRemove(g, streams), NewCmdRebuild(g, streams))
	return cmd
}

var (
	listLong = templates.LongDesc(`
		List the cluster's members joined to their pods and nodes.

		The member list is read from the first member that answers. Each member is paired with
		its etcd pod by member name, then by its URLs; members without a pod (for example after a
		node died or was reset) and members that were added but never started are flagged in the
		PROBLEMS column. Member IDs are hex, as "etcdctl member remove" takes them.`)

	listExample = templates.Examples(`
		# List the members
		kubectl etcd member list

		# As JSON, with IDs as hex strings
		kubectl etcd member list -o json`)
)

// ListOptions are the options of "member list".
type ListOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams
}

// NewCmdList builds "kubectl etcd member list".
func NewCmdList(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ListOptions{GlobalOptions: g, IOStreams: streams}
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List members with their pods, nodes and learner state",
		Long:    listLong,
		Example: listExample,
		Args:    cobra.NoArgs,
		RunE:    cmdutil.RunE(o),
	}
}

// Complete fills in the clients and formats.
func (o *ListOptions) Complete(cmd *cobra.Command, _ []string) error {
	return o.GlobalOptions.Complete(cmd.CommandPath())
}

// Validate checks the options.
func (o *ListOptions) Validate() error { return nil }

// Run lists the members.
func (o *ListOptions) Run(ctx context.Context) error {
	members, err := o.Discover(ctx)
	if err != nil {
		return err
	}
	conn, err := o.Connector(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	list, err := etcd.ListMembers(ctx, conn, members, o.Timeout())
	if err != nil {
		return err
	}
	if err := printers.PrintMemberList(o.Out, o.Format, list); err != nil {
		return err
	}
	for _, p := range list.PodsWithoutMember {
		fmt.Fprintf(o.ErrOut, "warning: pod %s runs no member of this cluster's member list\n", p)
	}
	return nil
}
