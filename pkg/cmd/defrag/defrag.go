// Package defrag wires "kubectl etcd defrag"; pkg/etcd does the work.
package defrag

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

var (
	defragLong = templates.LongDesc(`
		Defragment the members that need it, one at a time, without an outage.

		A defrag rewrites a member's database file and blocks that member meanwhile; on the
		leader it stalls every write of the cluster. So: every voting member must be healthy
		first (a NOSPACE alarm does not count against it, CORRUPT does); followers go first, the
		leader last, and before its turn leadership is moved to an already defragmented healthy
		follower (--move-leader, on by default). After each member the command waits until it is
		healthy and has caught up with the leader before touching the next. If anything fails or
		the cluster becomes unhealthy, it stops at once and says which members were done. It
		also stops, with exit 9, when it cannot read the cluster before a member (no member
		list, a voting member that does not answer, no leader): a member it cannot see could
		be the leader.

		Which members need it: at least --min-fragmentation percent of the file unused and a file
		of at least --min-size bytes, or every member with --force. Learners are skipped.
		--dry-run prints the plan (order, sizes, expected reclaim) and changes nothing.
		Defragmenting the leader in place (--move-leader=false, or a one-member cluster) stalls
		every write, so the command shows the plan and asks first; --yes skips the question.
		--disarm disarms the alarms afterwards when every member answers and is below its quota
		by a margin (never a CORRUPT alarm; see "kubectl etcd alarm disarm -h"): the NOSPACE
		runbook in one command.

		Each member's defrag takes that member's lock, shared with snapshot save; a member
		whose lock another run holds stops the run, and it is reported as not touched. Under
		NOSPACE the lock cannot be written and the defrag goes on without it, with a warning.`)

	defragExample = templates.Examples(`
		# See what would be done
		kubectl etcd defrag --dry-run

		# Defragment the members that need it
		kubectl etcd defrag

		# Recover from NOSPACE: compact, defragment every member, then disarm the alarm
		kubectl etcd defrag --compact --force --disarm

		# Only one member
		kubectl etcd defrag --member cp-2 --force

		# Defragment the leader in place too, without the question
		kubectl etcd defrag --force --move-leader=false --yes`)
)

// Options are the options of "defrag".
type Options struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	etcd.DefragOptions
	Yes     bool
	cmdPath string
	// confirm asks the operator; cmdutil.Confirm unless a test replaces it.
	confirm func(question string) error
}

// NewCmdDefrag builds "kubectl etcd defrag".
func NewCmdDefrag(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{GlobalOptions: g, IOStreams: streams}
	o.MinFragmentation = etcd.DefaultMinFragmentation
	o.MinSize = etcd.DefaultMinDefragSize
	o.MoveLeader = true
	cmd := &cobra.Command{
		Use:     "defrag",
		Short:   "Defragment members one at a time, followers first, leader last, with a health gate",
		Long:    defragLong,
		Example: defragExample,
		Args:    cobra.NoArgs,
		RunE:    cmdutil.RunE(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.Member, "member", "", "Only this member (name, pod, node or hex ID)")
	_ = cmd.RegisterFlagCompletionFunc("member", g.CompleteMemberFlag)
	f.Float64Var(&o.MinFragmentation, "min-fragmentation", o.MinFragmentation, "Defragment members with at least this share (percent) of their file unused")
	f.Int64Var(&o.MinSize, "min-size", o.MinSize, "... and a database file of at least this many bytes")
	f.BoolVar(&o.Force, "force", false, "Defragment every member regardless of fragmentation and size")
	f.BoolVar(&o.DryRun, "dry-run", false, "Print the plan and change nothing")
	f.BoolVarP(&o.Yes, "yes", "y", false, "Do not ask before defragmenting the leader in place")
	f.BoolVar(&o.MoveLeader, "move-leader", o.MoveLeader, "Move leadership to a defragmented follower before defragmenting the leader")
	f.BoolVar(&o.Compact, "compact", false, "Compact the keyspace at the current revision first (kube-apiserver compacts by itself every 5 minutes)")
	f.BoolVar(&o.Disarm, "disarm", false, "Disarm the alarms afterwards if every member answers and is below its quota by a margin (never CORRUPT)")
	f.DurationVar(&o.DefragOptions.Timeout, "defrag-timeout", 0, "Timeout for one member's defrag (default: 30s plus 1s per 10 MiB of database)")
	return cmd
}

// Complete fills in the clients; defrag takes no arguments (cobra.NoArgs).
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the flags.
func (o *Options) Validate() error {
	// NaN compares false with everything: test for the range, not against it.
	if !(o.MinFragmentation >= 0 && o.MinFragmentation <= 100) {
		return cmdutil.Usagef(o.cmdPath, "--min-fragmentation must be between 0 and 100")
	}
	if o.MinSize < 0 {
		return cmdutil.Usagef(o.cmdPath, "--min-size must not be negative")
	}
	if o.DefragOptions.Timeout < 0 {
		return cmdutil.Usagef(o.cmdPath, "--defrag-timeout must not be negative (0: scale with the database size)")
	}
	return nil
}

// Run plans and defragments.
func (o *Options) Run(ctx context.Context) error {
	pods, conn, err := o.OpenCluster(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	o.CallTimeout = o.GlobalOptions.Timeout()
	// --pod picks the members to defragment; every member is still asked and gated on.
	o.PodSelected = o.GlobalOptions.Selected
	o.Event = func(e etcd.DefragEvent) {
		fmt.Fprintf(o.ErrOut, "%s %s\n", time.Now().Format("15:04:05"), e.Message)
	}
	if !o.Yes {
		o.Confirm = func(plan *etcd.DefragReport, leader *etcd.DefragTarget) error {
			fmt.Fprintln(o.ErrOut, "The plan:")
			_ = printers.PrintDefragReport(o.ErrOut, printers.Table, plan)
			question := fmt.Sprintf("Defragment the leader %s (%s, database %s) in place? Every write of the cluster waits while it runs",
				leader.Name, leader.ID, printers.Bytes(leader.DBSize))
			if o.confirm != nil {
				return o.confirm(question)
			}
			return cmdutil.Confirm(ctx, o.In, o.ErrOut, question)
		}
	}
	r, err := etcd.Defrag(ctx, conn, pods, o.DefragOptions)
	if r != nil {
		// A report is printed even when the run failed, to say what was done; as before, a
		// failed write to the output does not change the outcome of a defrag that ran.
		_ = printers.PrintDefragReport(o.Out, o.Format, r)
	}
	if err != nil {
		return err
	}
	if r.DryRun {
		fmt.Fprintln(o.ErrOut, "dry run: nothing was changed")
	}
	return nil
}
