// Package cmd builds the kubectl-etcd command tree.
package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/alarm"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/check"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/defrag"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/doctor"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/downgrade"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/member"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/moveleader"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/perf"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/promote"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/status"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/upgradecheck"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/usage"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/version"
)

// NewCmdRoot builds "kubectl etcd" with its global flags and subcommands.
func NewCmdRoot(streams genericiooptions.IOStreams) *cobra.Command {
	return NewCmdRootWithOptions(cmdutil.NewGlobalOptions(), streams)
}

// NewCmdRootWithOptions is NewCmdRoot with the shared options given (tests inject clients).
func NewCmdRootWithOptions(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-etcd",
		Short: "Operate the etcd of a kubeadm cluster through the Kubernetes API",
		Long: templates.LongDesc(`
			kubectl etcd finds the etcd static pods of a cluster (kubeadm's layout and others),
			and reaches each member through the Kubernetes API: by running etcdctl in the etcd
			pod (exec) with the pod's own certificates. It shows status and members, and takes
			the care that the operations on a cluster's etcd need.`),
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl etcd",
		},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.LogOut = streams.ErrOut
	g.AddFlags(root)
	g.RouteKlog()
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)

	root.AddGroup(&cobra.Group{ID: "inspect", Title: "Inspect the cluster:"},
		&cobra.Group{ID: "change", Title: "Change and back up the cluster:"},
		&cobra.Group{ID: "other", Title: "Other commands:"})
	st := status.NewCmdStatus(g, streams)
	st.GroupID = "inspect"
	mem := member.NewCmdMember(g, streams)
	mem.GroupID = "inspect"
	pro := promote.NewCmdPromote(g, streams)
	pro.GroupID = "change"
	snp := snapshot.NewCmdSnapshot(g, streams)
	snp.GroupID = "change"
	dfr := defrag.NewCmdDefrag(g, streams)
	dfr.GroupID = "change"
	alm := alarm.NewCmdAlarm(g, streams)
	alm.GroupID = "change"
	mvl := moveleader.NewCmdMoveLeader(g, streams)
	mvl.GroupID = "change"
	chk := check.NewCmdCheck(g, streams)
	chk.GroupID = "inspect"
	doc := doctor.NewCmdDoctor(g, streams)
	doc.GroupID = "inspect"
	prf := perf.NewCmdPerf(g, streams)
	prf.GroupID = "inspect"
	use := usage.NewCmdUsage(g, streams)
	use.GroupID = "inspect"
	dwn := downgrade.NewCmdDowngrade(g, streams)
	dwn.GroupID = "change"
	upc := upgradecheck.NewCmdUpgradeCheck(g, streams)
	upc.GroupID = "inspect"
	ver := version.NewCmdVersion(g, streams)
	ver.GroupID = "other"
	root.AddCommand(st, mem, chk, doc, prf, use, upc, pro, snp, dfr, alm, mvl, dwn, ver, snapshot.NewCmdCheckDB(streams), usage.NewCmdUsageFile(streams))
	_ = root.RegisterFlagCompletionFunc("pod", func(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return g.CompletePods(cmd), cobra.ShellCompDirectiveNoFileComp
	})
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"table", "wide", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("transport", cobra.FixedCompletions([]cobra.Completion{"auto", "exec", "port-forward", "metrics-only"}, cobra.ShellCompDirectiveNoFileComp))
	root.SetHelpCommandGroupID("other")
	root.SetCompletionCommandGroupID("other")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cmdutil.UsageError{Cmd: c.CommandPath(), Err: err}
	})
	return root
}
