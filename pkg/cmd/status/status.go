// Package status wires "kubectl etcd status"; pkg/etcd does the work.
package status

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
)

var (
	statusLong = templates.LongDesc(`
		Show the health and state of every etcd member.

		Every member is asked for its status and health; the cluster's member list is joined to
		the pods, so a member without a pod (a dead or reset node) shows too. Over exec a healthy
		cluster is read in two etcdctl calls in one pod, the health taken from the members'
		statuses, and only the members in doubt are asked themselves (see the README). The
		table ends with a summary: how many voting members are healthy, the quorum, and how many
		more failures the cluster can take.

		Exit codes: 0 every member healthy; 2 degraded but quorate; 3 quorum lost or no member
		reachable; 4 no etcd pods found; 1 usage and other errors. Per-member errors are printed
		on stderr after the table.`)

	statusExample = templates.Examples(`
		# Show the status of the etcd members of the current cluster
		kubectl etcd status

		# Show every field, including cluster and leader IDs, the storage version and each
		# member's WAL fsync p99 over its lifetime (read from its metrics port)
		kubectl etcd status -o wide

		# Machine-readable status (member IDs are hex strings)
		kubectl etcd status -o json

		# Only the member on one control-plane node (the verdict and exit code stay the cluster's)
		kubectl etcd status --pod etcd-cp-1`)
)

// Options are the options of "status".
type Options struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams
	cmdPath string
}

// NewCmdStatus builds "kubectl etcd status".
func NewCmdStatus(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{GlobalOptions: g, IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "status",
		Short:   "Show the health, leader, raft state and database size of every member",
		Long:    statusLong,
		Example: statusExample,
		Args:    cobra.NoArgs,
		RunE:    cmdutil.RunE(o),
	}
	return cmd
}

// Complete fills in the clients and formats.
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the options.
func (o *Options) Validate() error { return nil }

// addLifetimeFsync adds each member's lifetime WAL fsync p99 from its /metrics (wide, json and
// yaml): read through the metrics port whatever the transport, and left out, with a -v note,
// where that port cannot be read.
func (o *Options) addLifetimeFsync(ctx context.Context, st *etcd.ClusterStatus, members []discovery.Member) {
	reader, err := o.MetricsReader()
	if err != nil {
		o.Logf(1, "no fsync latency: %v", err)
		return
	}
	defer reader.Close()
	for _, p := range etcd.AddLifetimeFsync(ctx, st, reader, members, o.Timeout()) {
		o.Logf(1, "no fsync latency for %s", p)
	}
}

// Run gathers the status, prints it, and returns an error carrying the exit code.
func (o *Options) Run(ctx context.Context) error {
	// Every member is asked, --pod or not: --pod narrows the rows, never the verdict, and the
	// errors of every member follow the table, so the exit code is always explained.
	members, conn, err := o.OpenCluster(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	st := etcd.Status(ctx, conn, members, etcd.StatusOptions{Timeout: o.Timeout()})
	if o.Format != printers.Table {
		o.addLifetimeFsync(ctx, st, members)
	}
	if err := printers.PrintStatus(o.Out, o.Format, st.Only(o.Selected)); err != nil {
		return err
	}
	for _, m := range members {
		if !o.Selected(m.Pod) {
			continue
		}
		for _, w := range m.Warnings {
			fmt.Fprintf(o.ErrOut, "warning: %s: %s\n", m.Pod, w)
		}
	}
	if len(st.Unavailable) > 0 {
		fmt.Fprintf(o.ErrOut, "warning: transport %s cannot fill: %s; give etcd client certificates (--cacert/--cert/--key or --cert-secret) or allow pods/exec for the full status\n",
			st.Transport, strings.Join(st.Unavailable, ", "))
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	for _, e := range st.Errors() {
		fmt.Fprintf(o.ErrOut, "error: %s\n", e)
	}
	if err := st.AccessError(); err != nil {
		return cmdutil.WithCode(cmdutil.ExitError, nil) // every member refused us: a setup problem, not lost quorum
	}
	switch st.State {
	case etcd.StateHealthy:
		return nil
	case etcd.StateDegraded:
		return cmdutil.WithCode(cmdutil.ExitDegraded, nil)
	default:
		return cmdutil.WithCode(cmdutil.ExitQuorumLost, nil)
	}
}
