package cmdutil

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

// CompleteMembers offers member names, hex IDs, pods and nodes for shell completion. It asks
// the cluster, briefly: a completion must never hang the shell.
func (g *GlobalOptions) CompleteMembers(learnersOnly bool) func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && cmd.Flags().NArg() > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return g.memberCompletions(cmd, learnersOnly), cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteMemberFlag is CompleteMembers for a --member flag.
func (g *GlobalOptions) CompleteMemberFlag(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return g.memberCompletions(cmd, false), cobra.ShellCompDirectiveNoFileComp
}

func (g *GlobalOptions) memberCompletions(cmd *cobra.Command, learnersOnly bool) []cobra.Completion {
	if err := g.Complete(cmd.CommandPath()); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
	defer cancel()
	pods, err := g.Discover(ctx)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	conn, err := g.Connector(ctx)
	if err == nil {
		defer conn.Close()
		if l, err := etcd.ListMembers(ctx, conn, pods, 3*time.Second); err == nil {
			for _, m := range l.Members {
				if learnersOnly && !m.Learner {
					continue
				}
				kind := "member"
				if m.Learner {
					kind = "learner"
				}
				if m.Name != "" {
					out = append(out, cobra.CompletionWithDesc(m.Name, kind+" "+m.ID))
				}
				out = append(out, cobra.CompletionWithDesc(m.ID, kind+" "+m.Name))
				if m.Pod != "" {
					out = append(out, cobra.CompletionWithDesc(m.Pod, "pod of "+kind+" "+m.Name))
				}
			}
			return out
		}
	}
	for _, p := range pods {
		out = append(out, cobra.CompletionWithDesc(p.Pod, "etcd pod on "+p.Node))
	}
	return out
}

// CompletePods offers the etcd pods.
func (g *GlobalOptions) CompletePods(cmd *cobra.Command) []cobra.Completion {
	if err := g.Complete(cmd.CommandPath()); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
	defer cancel()
	pods, err := g.Discover(ctx)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, p := range pods {
		out = append(out, cobra.CompletionWithDesc(p.Pod, "etcd pod on "+p.Node))
	}
	return out
}
