package member

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

var (
	addLong = templates.LongDesc(`
		Add a member to the cluster, as a learner unless --learner=false.

		A learner receives the log but does not vote, so adding it never changes the quorum;
		promote it with "kubectl etcd promote" once it has caught up. The command refuses when the
		cluster is not healthy or when a learner already exists (etcd allows one by default,
		--max-learners on the members). It prints the settings the new member must start with.

		On kubeadm clusters "kubeadm join --control-plane" adds and starts the member itself; use
		this command when replacing a member by hand.`)

	addExample = templates.Examples(`
		# Add cp-4 as a learner
		kubectl etcd member add cp-4 --peer-urls=https://10.0.0.14:2380

		# Add a voting member directly (not recommended: it changes the quorum at once)
		kubectl etcd member add cp-4 --peer-urls=https://10.0.0.14:2380 --learner=false`)
)

// AddOptions are the options of "member add".
type AddOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	Name     string
	PeerURLs []string
	Learner  bool
	Force    bool
	cmdPath  string
}

// NewCmdAdd builds "kubectl etcd member add".
func NewCmdAdd(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &AddOptions{GlobalOptions: g, IOStreams: streams, Learner: true}
	cmd := &cobra.Command{
		Use:     "add NAME --peer-urls=URL[,URL]",
		Short:   "Add a member, as a learner by default",
		Long:    addLong,
		Example: addExample,
		Args:    cobra.ExactArgs(1),
		RunE:    cmdutil.RunE(o),
	}
	cmd.Flags().StringSliceVar(&o.PeerURLs, "peer-urls", nil, "Peer URLs of the new member (comma-separated)")
	cmd.Flags().BoolVar(&o.Learner, "learner", o.Learner, "Add as a learner (non-voting until promoted)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "Add even when some voting member is unhealthy")
	return cmd
}

// Complete reads the name and fills in the clients.
func (o *AddOptions) Complete(cmd *cobra.Command, args []string) error {
	o.Name = args[0]
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the flags.
func (o *AddOptions) Validate() error {
	if strings.TrimSpace(o.Name) == "" {
		return cmdutil.Usagef(o.cmdPath, "member name must not be empty")
	}
	if err := etcd.ValidatePeerURLs(o.PeerURLs); err != nil {
		return &cmdutil.UsageError{Cmd: o.cmdPath, Err: err}
	}
	return nil
}

// Run adds the member and prints the next steps.
func (o *AddOptions) Run(ctx context.Context) error {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if !o.Learner {
		fmt.Fprintln(o.ErrOut, "warning: adding a voting member changes the quorum at once; until it has started and caught up the cluster tolerates fewer failures (a learner would not)")
	}
	res, err := etcd.AddMember(ctx, conn, pods, etcd.AddOptions{Name: o.Name, PeerURLs: o.PeerURLs, Learner: o.Learner,
		Force: o.Force, CallTimeout: o.GlobalOptions.Timeout()})
	if err != nil {
		return err
	}
	return printers.PrintMemberAdded(o.Out, o.Format, res)
}
