// Package promote wires "kubectl etcd promote"; pkg/etcd does the work.
package promote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

var (
	promoteLong = templates.LongDesc(`
		Promote a learner to a voting member once it has caught up with the leader.

		This is the last step of kubeadm's learner join: a new control-plane member joins as a
		learner and is promoted only when its log is in sync. MEMBER is a member name, an etcd
		pod, a node or a hex member ID; without it every learner is promoted.

		Before promoting, the learner's pod must be running and its member started; while it
		catches up, its raft index is shown against the leader's with an estimate of the time
		left. With --wait (the default) the command keeps trying until --timeout. A started
		learner whose pod is missing or does not answer (after an interrupted kubeadm join the
		node's API server waits for this very learner, so its kubelet cannot publish the pod) is
		promoted only with --force, which leaves the in-sync check to etcd.

		It is safe to run again: before every attempt the member list is read anew, so a
		promotion the server applied while its answer was lost is reported as done, and a member
		that already votes exits 0 with "already a voting member". When the answer to the last
		attempt (or the only one, with --wait=false) is lost, the member list is read once more
		before giving up, and the command exits 0 if the member now votes. After promoting, it
		waits until the cluster is healthy and prints the member table. Ctrl-C stops every wait
		at once.`)

	promoteExample = templates.Examples(`
		# Promote every learner, waiting up to 2 minutes for each to catch up
		kubectl etcd promote

		# Promote the member on node cp-4
		kubectl etcd promote cp-4

		# Try once, without waiting
		kubectl etcd promote 8e9e05c52164694d --wait=false

		# Give a large database more time to catch up
		kubectl etcd promote cp-4 --timeout 10m

		# A learner left by an interrupted kubeadm join, whose pod cannot be seen
		kubectl etcd promote cp-4 --force`)
)

// Options are the options of "promote".
type Options struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	Target  string
	Wait    bool
	Force   bool
	Timeout time.Duration
	// Interval between polls (hidden; tests shorten it).
	Interval time.Duration

	cmdPath string
}

// Result is what "promote -o json" prints.
type Result = printers.PromoteResult

// NewCmdPromote builds "kubectl etcd promote".
func NewCmdPromote(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{GlobalOptions: g, IOStreams: streams, Wait: true, Timeout: 2 * time.Minute, Interval: time.Second}
	cmd := &cobra.Command{
		Use:               "promote [MEMBER]",
		Short:             "Promote a learner to a voting member once it is in sync (safe to re-run)",
		Long:              promoteLong,
		Example:           promoteExample,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: g.CompleteMembers(true),
		RunE:              cmdutil.RunE(o),
	}
	cmd.Flags().BoolVar(&o.Wait, "wait", o.Wait, "Wait for the learner to catch up (until --timeout) instead of trying once")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for each learner to become promotable")
	cmd.Flags().BoolVar(&o.Force, "force", false, "Promote a started learner whose pod is missing or does not answer, leaving the in-sync check to etcd")
	cmd.Flags().DurationVar(&o.Interval, "poll-interval", o.Interval, "Time between checks while waiting")
	_ = cmd.Flags().MarkHidden("poll-interval")
	return cmd
}

// Complete reads the argument and fills in the clients.
func (o *Options) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Target = args[0]
	}
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.Timeout <= 0 {
		return cmdutil.Usagef(o.cmdPath, "--timeout must be positive, got %s", o.Timeout)
	}
	if o.Interval <= 0 {
		return cmdutil.Usagef(o.cmdPath, "--poll-interval must be positive")
	}
	return nil
}

// Run promotes.
func (o *Options) Run(ctx context.Context) error {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ml, _, err := etcd.FetchMemberList(ctx, conn, pods, o.GlobalOptions.Timeout())
	if err != nil {
		return err
	}
	var targets []uint64
	if o.Target != "" {
		m, err := etcd.ResolveMember(ml, pods, o.Target)
		if err != nil {
			return err
		}
		targets = append(targets, m.ID)
	} else {
		for _, m := range etcd.Learners(ml) {
			targets = append(targets, m.ID)
		}
		if len(targets) == 0 {
			_ = printers.PrintNoLearners(o.ErrOut)
			return o.finish(ctx, conn, pods, nil)
		}
	}
	var outcomes []etcd.PromoteOutcome
	for _, id := range targets {
		bar := printers.NewProgress(o.ErrOut, cmdutil.IsTerminal(o.ErrOut))
		out, err := etcd.PromoteMember(ctx, conn, pods, id, etcd.PromoteOptions{
			Wait: o.Wait, Force: o.Force, Timeout: o.Timeout, Interval: o.Interval, CallTimeout: o.GlobalOptions.Timeout(),
			Progress: func(p etcd.PromoteProgress) { printers.ShowPromoteProgress(bar, p) },
		})
		bar.Done()
		if err != nil {
			return err
		}
		outcomes = append(outcomes, *out)
		if !o.Format.Structured() {
			_ = printers.PrintPromoteOutcome(o.Out, *out)
		}
	}
	return o.finish(ctx, conn, pods, outcomes)
}

// finish waits until the cluster is healthy and prints the member table.
func (o *Options) finish(ctx context.Context, conn transport.Connector, pods []discovery.Member, outcomes []etcd.PromoteOutcome) error {
	var st *etcd.ClusterStatus
	if len(outcomes) == 0 {
		// Nothing was promoted: report the cluster as it is, without waiting.
		st = etcd.Status(ctx, conn, pods, etcd.StatusOptions{Timeout: o.GlobalOptions.Timeout(), ProbeHealth: true})
	} else {
		var err error
		st, err = etcd.WaitHealthy(ctx, conn, pods, etcd.WaitHealthyOptions{
			Timeout: o.Timeout, Interval: o.Interval, CallTimeout: o.GlobalOptions.Timeout(),
		})
		if err != nil && !errors.Is(err, etcd.ErrNotReady) {
			return fmt.Errorf("promoted, but interrupted while waiting for the cluster to become healthy: %w", err)
		}
	}
	list, err := etcd.ListMembers(ctx, conn, pods, o.GlobalOptions.Timeout())
	if err != nil {
		return err
	}
	res := &Result{Promoted: outcomes, State: st.State, Members: list}
	if res.Promoted == nil {
		res.Promoted = []etcd.PromoteOutcome{}
	}
	if err := printers.PrintPromoteResult(o.Out, o.Format, res); err != nil {
		return err
	}
	if st.State != etcd.StateHealthy && len(outcomes) > 0 {
		_ = printers.PrintStatusErrors(o.ErrOut, st)
		return cmdutil.WithCode(cmdutil.ExitDegraded, errors.New(printers.PromoteNotHealthy(st)))
	}
	return nil
}
