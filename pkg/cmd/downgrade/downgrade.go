// Package downgrade wires "kubectl etcd downgrade validate|enable|cancel"; pkg/etcd does the work.
package downgrade

import (
	"context"
	"fmt"
	"strings"

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
	downgradeLong = templates.LongDesc(`
		Validate, enable or cancel a downgrade of the etcd cluster version (etcd 3.6 and later).

		A downgrade goes one minor version down from a cluster whose members all run one minor
		version: "validate VERSION" checks that (and asks etcd); "enable VERSION" tells etcd to
		lower the cluster and storage version to VERSION so that members can then be replaced,
		one at a time, by the older binary; "cancel" stops a downgrade that was enabled. enable
		and cancel change the cluster: they print a preview, ask for confirmation unless --yes
		is given, read the cluster again after the answer, and --dry-run only previews.
		"kubectl etcd status -o wide" shows the downgrade state.

		Exit codes: 0 done (validate: the target is valid); 5 refused by a check or by etcd, or
		not confirmed (nothing changed); 3 no member reachable; 4 no etcd pods; 1 other errors.`)

	downgradeExample = templates.Examples(`
		# Can the 3.7 cluster go back to 3.6?
		kubectl etcd downgrade validate 3.6

		# Start the downgrade (preview, then confirm)
		kubectl etcd downgrade enable 3.6

		# Stop it again
		kubectl etcd downgrade cancel --yes`)
)

// Options are the options of "downgrade validate|enable|cancel".
type Options struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	Action  string
	Version string
	Yes     bool
	DryRun  bool

	target  etcd.Version
	cmdPath string
	// confirm asks the operator; cmdutil.Confirm unless a test replaces it.
	confirm func(question string) error
}

// NewCmdDowngrade builds "kubectl etcd downgrade" and its subcommands.
func NewCmdDowngrade(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "downgrade validate|enable VERSION | cancel",
		Short:   "Validate, enable or cancel an etcd cluster downgrade",
		Long:    downgradeLong,
		Example: downgradeExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmdutil.Usagef(cmd.CommandPath(), "name an action: validate VERSION, enable VERSION or cancel")
		},
	}
	for _, a := range []struct{ action, use, short string }{
		{etcd.DowngradeValidate, "validate VERSION", "Check whether the cluster can be downgraded to VERSION (read-only)"},
		{etcd.DowngradeEnable, "enable VERSION", "Start a downgrade of the cluster version to VERSION"},
		{etcd.DowngradeCancel, "cancel", "Cancel an enabled downgrade"},
	} {
		o := &Options{GlobalOptions: g, IOStreams: streams, Action: a.action}
		// Argument counts are checked by Validate, so that the message is ours and the same for
		// every way in.
		args := cobra.MaximumNArgs(1)
		sub := &cobra.Command{
			Use:     a.use,
			Short:   a.short,
			Long:    downgradeLong,
			Example: downgradeExample,
			Args:    args,
			RunE:    cmdutil.RunE(o),
		}
		if a.action != etcd.DowngradeValidate {
			sub.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
			sub.Flags().BoolVar(&o.DryRun, "dry-run", false, "Print the preview and change nothing")
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

// Complete reads the argument and fills in the clients.
func (o *Options) Complete(cmd *cobra.Command, args []string) error {
	o.cmdPath = cmd.CommandPath()
	if len(args) > 0 {
		o.Version = args[0]
	}
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the action and VERSION.
func (o *Options) Validate() error {
	switch o.Action {
	case etcd.DowngradeCancel:
		if o.Version != "" {
			return cmdutil.Usagef(o.cmdPath, "cancel takes no VERSION")
		}
		return nil
	case etcd.DowngradeValidate, etcd.DowngradeEnable:
	default:
		return cmdutil.Usagef(o.cmdPath, "unknown downgrade action %q", o.Action)
	}
	if o.Version == "" {
		return cmdutil.Usagef(o.cmdPath, "VERSION is required (the minor version to go to, e.g. 3.6)")
	}
	v, err := etcd.ParseVersion(o.Version)
	if err != nil {
		return cmdutil.Usagef(o.cmdPath, "%v", err)
	}
	if v.Patch > 0 {
		return cmdutil.Usagef(o.cmdPath, "a downgrade goes to a minor version: give %s, not %s", v.MinorString(), o.Version)
	}
	o.target = v
	return nil
}

// Run previews, checks and, for enable and cancel, confirms and applies.
func (o *Options) Run(ctx context.Context) error {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	plan, err := o.plan(ctx, conn, pods)
	if err != nil {
		return err
	}
	if err := o.refused(plan); err != nil {
		o.print(plan)
		return err
	}
	if o.Action == etcd.DowngradeValidate || plan.Nothing || o.DryRun {
		o.print(plan)
		switch {
		case plan.Nothing:
			fmt.Fprintln(o.ErrOut, "no downgrade is enabled: nothing to cancel")
		case o.DryRun:
			fmt.Fprintln(o.ErrOut, "dry run: nothing was changed")
		}
		return nil
	}
	if !o.Yes {
		if !o.Format.Structured() {
			o.print(plan) // the preview; structured output prints the result only
		}
		confirm := o.confirm
		if confirm == nil {
			confirm = func(q string) error { return cmdutil.Confirm(ctx, o.In, o.ErrOut, q) }
		}
		if err := confirm(o.question()); err != nil {
			return err
		}
		again, err := o.plan(ctx, conn, pods)
		if err != nil {
			return fmt.Errorf("reading the cluster again after the confirmation: %w; nothing was changed", err)
		}
		if worse := again.Worse(plan); len(worse) > 0 {
			return fmt.Errorf("%w: the cluster changed while waiting for the confirmation: %s; nothing was changed",
				etcd.ErrRefused, strings.Join(worse, "; "))
		}
		plan = again
	}
	if err := etcd.ApplyDowngrade(ctx, conn, pods, plan, o.GlobalOptions.Timeout()); err != nil {
		return err
	}
	// Read the state back, so that the output shows what etcd now reports.
	st := etcd.Status(ctx, conn, pods, etcd.StatusOptions{Timeout: o.GlobalOptions.Timeout(), ProbeHealth: true})
	plan.Downgrade = nil
	if t, ok := st.DowngradeEnabled(); ok {
		plan.Downgrade = &etcd.DowngradeState{Enabled: true, TargetVersion: t}
	}
	if o.Format.Structured() || o.Yes {
		o.print(plan)
	}
	if o.Action == etcd.DowngradeEnable {
		fmt.Fprintf(o.ErrOut, "Downgrade to %s enabled. Next: replace the members one at a time (followers first, the leader last) with etcd %s, waiting for 'kubectl etcd status' to exit 0 between them; 'kubectl etcd downgrade cancel' stops it.\n",
			plan.Target, plan.Target)
	} else {
		fmt.Fprintln(o.ErrOut, "Downgrade cancelled.")
	}
	return nil
}

func (o *Options) plan(ctx context.Context, conn transport.Connector, pods []discovery.Member) (*etcd.DowngradePlan, error) {
	st := etcd.Status(ctx, conn, pods, etcd.StatusOptions{Timeout: o.GlobalOptions.Timeout(), ProbeHealth: true})
	if err := st.AccessError(); err != nil {
		return nil, err
	}
	if st.Quorum.Voters == 0 || len(st.Members) == 0 {
		return nil, fmt.Errorf("%w: cannot read the member list from any member", etcd.ErrNoMemberReachable)
	}
	return etcd.PlanDowngrade(ctx, conn, pods, st, o.Action, o.target, o.GlobalOptions.Timeout()), nil
}

func (o *Options) refused(p *etcd.DowngradePlan) error {
	if len(p.Refusals) == 0 {
		return nil
	}
	var why []string
	for _, r := range p.Refusals {
		if r.Member != "" {
			why = append(why, r.Member+": "+r.Reason)
		} else {
			why = append(why, r.Reason)
		}
	}
	what := "downgrade " + o.Action
	if p.Target != "" {
		what += " " + p.Target
	}
	return fmt.Errorf("%w: %s: %s; nothing was changed", etcd.ErrRefused, what, strings.Join(why, "; "))
}

func (o *Options) question() string {
	if o.Action == etcd.DowngradeEnable {
		return fmt.Sprintf("Enable the downgrade of the etcd cluster to %s?", o.target.MinorString())
	}
	return "Cancel the enabled etcd downgrade?"
}

func (o *Options) print(p *etcd.DowngradePlan) {
	if err := printers.PrintDowngradePlan(o.Out, o.Format, p); err != nil {
		fmt.Fprintf(o.ErrOut, "error: %v\n", err)
	}
}
