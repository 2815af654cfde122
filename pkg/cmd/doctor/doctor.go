// Package doctor wires "kubectl etcd doctor".
package doctor

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/perf"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/nodehelper"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/usage"
)

// Options are the options of "doctor".
type Options struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	Usage bool // walk the keyspace to explain a quota finding
	// PageSize is the number of keys per range request of that walk.
	PageSize int64
	// PerfWindow is how long the perf checks watch the members' metrics (0: no perf checks).
	PerfWindow time.Duration
	// wait, when set, replaces the timer of the perf window (tests).
	wait    func(ctx context.Context, d time.Duration) error
	cmdPath string
}

// DefaultPerfWindow is doctor's perf window: shorter than perf's own, enough for a busy
// cluster's fsyncs and commits.
const DefaultPerfWindow = 5 * time.Second

// NewOptions returns the options of "doctor" with their defaults.
func NewOptions(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *Options {
	return &Options{GlobalOptions: g, IOStreams: streams, Usage: true, PageSize: usage.DefaultPageSize, PerfWindow: DefaultPerfWindow}
}

// NewCmdDoctor builds "kubectl etcd doctor".
func NewCmdDoctor(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(g, streams)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Report what needs fixing: stale members, unstarted learners, skew, expiry, alarms, quota",
		Long: templates.LongDesc(`
			One read-only report of what an operator should fix, each finding with its fix:
			members without a pod (stale after a dead or reset node), learners that never started,
			unhealthy or unreachable members, an even number of voters, version skew between
			members, etcd older than the recommended minimum (3.5.6, 3.4.22), serving certificates
			expiring within 30 days, NOSPACE and CORRUPT alarms, databases over 80% of their quota,
			high fragmentation, kubeadm annotations that disagree with the member list, helper
			pods of kubectl etcd left in the etcd namespace, and the findings of "kubectl etcd
			perf" over a short window (--perf-window, 5s; 0 skips them): slow disks, slow
			networks and leader churn, read from each member's metrics port.

			When a database is over 80% of its quota, doctor reads the keyspace of a healthy
			follower as "kubectl etcd usage" does (serializable pages, rate-limited, read-only)
			and names the resource that holds the most of the data (--usage=false skips it).

			Exit codes: 0 nothing to fix; 2 findings that need attention; 3 quorum lost or no
			member reachable.`),
		Example: templates.Examples(`
			# What needs fixing?
			kubectl etcd doctor

			# For monitoring scripts
			kubectl etcd doctor -o json`),
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(o),
	}
	cmd.Flags().BoolVar(&o.Usage, "usage", o.Usage, "When a database is over 80% of its quota, walk the keyspace to name the resource that fills it")
	cmd.Flags().DurationVar(&o.PerfWindow, "perf-window", o.PerfWindow, "How long the perf checks watch the members' metrics (0 skips them; kubectl etcd perf watches longer)")
	cmd.Flags().Int64Var(&o.PageSize, "page-size", o.PageSize, "Keys per range request of that walk (a page too large for the transport is asked again with fewer)")
	return cmd
}

// Complete fills in the clients and formats.
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.PageSize < 1 || o.PageSize > 10000 {
		return cmdutil.Usagef(o.cmdPath, "--page-size must be between 1 and 10000")
	}
	if o.PerfWindow != 0 && (o.PerfWindow < time.Second || o.PerfWindow > perf.MaxWindow) {
		return cmdutil.Usagef(o.cmdPath, "--perf-window must be 0 (no perf checks) or between 1s and %s", perf.MaxWindow)
	}
	return nil
}

// Run gathers the findings, prints them, and returns an error carrying the exit code.
func (o *Options) Run(ctx context.Context) error {
	pods, conn, err := o.OpenCluster(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	st := etcd.Status(ctx, conn, pods, etcd.StatusOptions{Timeout: o.Timeout()})
	if err := st.AccessError(); err != nil {
		return err
	}
	r := etcd.Doctor(st, pods, etcd.DoctorOptions{})
	r.Findings = append(r.Findings, helperFindings(ctx, o.GlobalOptions, o.ErrOut)...)
	if o.PerfWindow > 0 {
		o.perfChecks(ctx, pods, r)
	}
	if o.Usage {
		explainQuota(ctx, o.GlobalOptions, o.IOStreams, conn, pods, r, o.PageSize)
	}
	if err := printers.PrintDoctorReport(o.Out, o.Format, r, st); err != nil {
		return err
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(o.ErrOut, "warning: transport %s skipped %s\n", r.Transport, s)
	}
	switch {
	case st.State == etcd.StateQuorumLost:
		return cmdutil.WithCode(cmdutil.ExitQuorumLost, nil)
	case len(r.Findings) > 0:
		return cmdutil.WithCode(cmdutil.ExitDegraded, nil)
	}
	return nil
}

// perfChecks adds the findings of perf over PerfWindow. A member whose metrics cannot be read
// is not a finding here (the status checks judge whether it answers): the checks skipped for it
// are named instead.
func (o *Options) perfChecks(ctx context.Context, pods []discovery.Member, r *etcd.DoctorReport) {
	reader, err := o.MetricsReader()
	if err != nil {
		r.Skipped = append(r.Skipped, fmt.Sprintf("perf checks (%v)", err))
		return
	}
	defer reader.Close()
	rep, err := perf.Watch(ctx, o.GlobalOptions, o.ErrOut, reader, pods, o.PerfWindow, o.wait)
	if err != nil {
		r.Skipped = append(r.Skipped, fmt.Sprintf("perf checks (%v)", err))
		return
	}
	for _, m := range rep.Members {
		if !m.Reachable {
			r.Skipped = append(r.Skipped, fmt.Sprintf("perf checks of %s (%s)", m.Pod, m.Error))
		}
	}
	for _, f := range rep.Findings {
		if f.Check != "metrics-unreachable" {
			r.Findings = append(r.Findings, f)
		}
	}
}

// helperFindings lists the plugin's helper pods in the etcd namespace: one still there belongs
// to a run in progress, or to one that was killed before it could delete it, and holds files
// (a snapshot) on its node until it is deleted.
func helperFindings(ctx context.Context, g *cmdutil.GlobalOptions, errOut io.Writer) []etcd.Finding {
	pods, err := nodehelper.List(ctx, g.Client, g.Namespace)
	if err != nil {
		fmt.Fprintf(errOut, "warning: could not look for helper pods in namespace %q: %v\n", g.Namespace, err)
		return nil
	}
	var out []etcd.Finding
	for _, p := range pods {
		if p.Name == g.OwnHelper() || p.DeletionTimestamp != nil {
			continue // this run's own (external etcd), or one already being deleted
		}
		age := time.Since(p.CreationTimestamp.Time).Round(time.Second)
		state := "still running: a kubectl etcd run may be using it"
		if nodehelper.Expired(&p, time.Now()) {
			state = "past its deadline: the run that made it is over"
		}
		out = append(out, etcd.Finding{Severity: etcd.SeverityWarning, Check: "helper-pod", Member: p.Labels[nodehelper.LabelMember],
			Finding: fmt.Sprintf("helper pod %s/%s on node %s (%s, phase %s, created %s ago) is %s", p.Namespace, p.Name, p.Spec.NodeName,
				p.Annotations[nodehelper.AnnotationPurpose], p.Status.Phase, age, state),
			Fix: fmt.Sprintf("if no kubectl etcd command is running, delete it (its files on the node go with it): kubectl -n %s delete pod %s", p.Namespace, p.Name)})
	}
	return out
}

// explainQuota adds to every quota finding what fills the database, from a live usage walk. A
// walk that fails leaves the findings as they are and says why on stderr.
func explainQuota(ctx context.Context, g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams, conn transport.Connector, pods []discovery.Member, r *etcd.DoctorReport, pageSize int64) {
	var quota []int
	for i, f := range r.Findings {
		if f.Check == "quota" {
			quota = append(quota, i)
		}
	}
	if len(quota) == 0 {
		return
	}
	rep, err := usage.Live(ctx, conn, pods, "", usage.LiveOptions{Top: 1, PageSize: pageSize, Rate: usage.DefaultRate, CallTimeout: g.Timeout(),
		Shrunk: func(n int64) {
			g.Logf(1, "a page of keys was too large for the transport; reading %d keys per page", n)
		}}, nil)
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "warning: could not measure what fills the database: %v\n", err)
		return
	}
	h := rep.Headline(printers.Bytes)
	if h == "" {
		return
	}
	for _, i := range quota {
		r.Findings[i].Finding += "; " + h
		r.Findings[i].Fix += " (see kubectl etcd usage)"
	}
}
