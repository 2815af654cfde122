// Package perf wires "kubectl etcd perf"; pkg/etcd judges the metrics.
package perf

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
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// DefaultWindow is how long perf watches by default.
const DefaultWindow = 30 * time.Second

// MaxWindow bounds --window: the forwards stay open meanwhile.
const MaxWindow = time.Hour

// Options are the options of "perf".
type Options struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	Window time.Duration
	// wait, when set, replaces the timer between the two scrapes (tests).
	wait    func(ctx context.Context, d time.Duration) error
	cmdPath string
}

// NewCmdPerf builds "kubectl etcd perf".
func NewCmdPerf(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{GlobalOptions: g, IOStreams: streams, Window: DefaultWindow}
	cmd := &cobra.Command{
		Use:   "perf",
		Short: "Tell, per member and with numbers, whether a slow disk, a slow network or leader churn slows etcd down",
		Long: templates.LongDesc(`
			Read every member's own /metrics twice, --window apart, and judge each member by
			what happened in between: WAL fsync p50/p99 and backend commit p99 against etcd's
			limits (10 ms, 25 ms), the round trip to each peer against the heartbeat interval
			of the pod's flags, failed peer messages, leader changes, late heartbeats, slow
			applies and read indexes, failed proposals and the apply lag; the request rate by
			gRPC method, watchers and database growth; the process's memory and open files.
			Each member gets a verdict (ok, slow disk, slow network, unstable leader,
			unreachable, restarted) with the numbers behind it and the fix. -o wide and -o json
			add the values over the member's lifetime.

			perf is read-only: it writes nothing to the cluster (unlike "etcdctl check perf",
			which writes load into it). It reads the plain-HTTP metrics port (2381 under
			kubeadm) through a port-forward, whatever --transport says: no certificates are
			needed, only get/create on pods/portforward.

			Exit codes: 0 every member ok; 2 some member is slow, unstable, restarted or did
			not answer; 3 no member could be read.`),
		Example: templates.Examples(`
			# Watch the members for 30 seconds and say what slows them down
			kubectl etcd perf

			# A longer window, with lifetime values and per-member details
			kubectl etcd perf --window 2m -o wide

			# For monitoring scripts
			kubectl etcd perf -o json`),
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(o),
	}
	cmd.Flags().DurationVar(&o.Window, "window", o.Window, "How long to watch between the two reads of /metrics")
	return cmd
}

// Complete fills in the clients and formats.
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.Window < time.Second || o.Window > MaxWindow {
		return cmdutil.Usagef(o.cmdPath, "--window must be between 1s and %s", MaxWindow)
	}
	return nil
}

// Run watches the members, prints the report, and returns an error carrying the exit code.
func (o *Options) Run(ctx context.Context) error {
	pods, err := o.Discover(ctx)
	if err != nil {
		return err
	}
	if o.Mode == transport.ModeExec || o.Mode == transport.ModePortForward {
		fmt.Fprintf(o.ErrOut, "note: perf reads /metrics through a port-forward to each member's metrics port, whatever --transport says (the etcd image has no HTTP client to exec)\n")
	}
	reader, err := o.MetricsReader()
	if err != nil {
		return err
	}
	defer reader.Close()
	r, err := Watch(ctx, o.GlobalOptions, o.ErrOut, reader, pods, o.Window, o.wait)
	if err != nil {
		return err
	}
	if err := printers.PrintPerf(o.Out, o.Format, r); err != nil {
		return err
	}
	reachable := 0
	for _, m := range r.Members {
		if m.Reachable {
			reachable++
		}
	}
	switch {
	case reachable == 0:
		return cmdutil.WithCode(cmdutil.ExitQuorumLost, nil)
	case r.Verdict != etcd.VerdictOK:
		return cmdutil.WithCode(cmdutil.ExitDegraded, nil)
	}
	return nil
}
