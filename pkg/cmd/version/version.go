// Package version wires "kubectl etcd version".
package version

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/version"
)

// NewCmdVersion builds "kubectl etcd version". It talks to no cluster.
func NewCmdVersion(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Example: templates.Examples(`
			# Print the version
			kubectl etcd version

			# As JSON
			kubectl etcd version -o json`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := printers.ParseFormat(g.Output)
			if err != nil {
				return &cmdutil.UsageError{Cmd: cmd.CommandPath(), Err: err}
			}
			info := version.Get()
			if f.Structured() {
				return printers.PrintStructured(streams.Out, f, info)
			}
			_, err = fmt.Fprintf(streams.Out, "kubectl-etcd %s (commit %s, built %s, %s, %s)\n",
				info.Version, info.Commit, info.Date, info.GoVersion, info.Platform)
			return err
		},
	}
}
