// Package upgradecheck wires "kubectl etcd upgrade-check"; pkg/etcd applies the version rules.
package upgradecheck

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
	upgradeCheckLong = templates.LongDesc(`
		Check whether upgrading etcd to a version is safe now, and print the plan. Read-only.

		For every member it shows the server version, the storage version and the image of its
		pod. The target is safe when: every member is healthy and answers; no downgrade is
		enabled; every member is at most one minor version below the target (etcd upgrades one
		minor at a time); all members run the same version before a new minor step starts (a
		step under way may be finished); and 3.5 members run 3.5.26 or later before 3.6
		(etcd-io/etcd#19557 and #20793). The cluster version, and the storage version, follow
		the lowest member. kubeadm 1.36 and later pair every Kubernetes version with etcd 3.6 or
		newer, so a kubeadm upgrade to 1.36+ is a 3.5 -> 3.6 step for etcd.

		Without --to the target is the next minor version (or, with members on two minor
		versions, the one the step under way goes to). The plan takes one member at a time,
		followers first and the leader last, with a health gate between members.

		Exit codes: 0 safe; 5 a precondition fails (the reasons are printed); 3 no member
		reachable; 4 no etcd pods; 1 usage and other errors.`)

	upgradeCheckExample = templates.Examples(`
		# Is the next minor version safe, and in what order?
		kubectl etcd upgrade-check

		# Before a kubeadm upgrade that moves etcd to 3.6
		kubectl etcd upgrade-check --to 3.6

		# For scripts: the verdict, blockers and plan as JSON
		kubectl etcd upgrade-check --to 3.7.3 -o json`)
)

// Options are the options of "upgrade-check".
type Options struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	// To is the --to flag; target is its parsed value (nil: the next step).
	To      string
	target  *etcd.Version
	cmdPath string
}

// NewCmdUpgradeCheck builds "kubectl etcd upgrade-check".
func NewCmdUpgradeCheck(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{GlobalOptions: g, IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "upgrade-check [--to VERSION]",
		Short:   "Check whether an etcd upgrade is safe now and print the per-member plan",
		Long:    upgradeCheckLong,
		Example: upgradeCheckExample,
		Args:    cobra.NoArgs,
		RunE:    cmdutil.RunE(o),
	}
	cmd.Flags().StringVar(&o.To, "to", "", "Target etcd version: MAJOR.MINOR or MAJOR.MINOR.PATCH (default: the next minor version)")
	return cmd
}

// Complete fills in the clients and formats.
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks --to.
func (o *Options) Validate() error {
	o.target = nil
	if strings.TrimSpace(o.To) == "" {
		if o.To != "" {
			return cmdutil.Usagef(o.cmdPath, "--to is empty; give a version such as 3.6 or 3.6.16, or leave it out")
		}
		return nil
	}
	v, err := etcd.ParseVersion(o.To)
	if err != nil {
		return cmdutil.Usagef(o.cmdPath, "--to: %v", err)
	}
	if v.Major != 3 {
		return cmdutil.Usagef(o.cmdPath, "--to %s: only etcd 3.x versions are known", o.To)
	}
	o.target = &v
	return nil
}

// Run reads the cluster, applies the rules and prints the report; an unsafe target exits 5.
func (o *Options) Run(ctx context.Context) error {
	pods, conn, err := o.OpenCluster(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	st := etcd.Status(ctx, conn, pods, etcd.StatusOptions{Timeout: o.GlobalOptions.Timeout()})
	if err := st.AccessError(); err != nil {
		return err
	}
	target := o.target
	if target == nil {
		t, ok := etcd.DefaultUpgradeTarget(etcd.MemberVersions(st))
		if !ok {
			return fmt.Errorf("%w: no member reported its version: %s", etcd.ErrNoMemberReachable, strings.Join(st.Errors(), "; "))
		}
		target = &t
	}
	r := etcd.CheckUpgradeStatus(st, *target)
	if err := printers.PrintUpgradeReport(o.Out, o.Format, r); err != nil {
		return err
	}
	for _, e := range st.Errors() {
		fmt.Fprintf(o.ErrOut, "error: %s\n", e)
	}
	if !r.Safe {
		return fmt.Errorf("%w: upgrading etcd to %s is not safe now: %d blocker(s)", etcd.ErrRefused, r.Target, len(r.Blockers))
	}
	return nil
}
