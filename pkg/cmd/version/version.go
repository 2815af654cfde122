// Package version wires "kubectl etcd version".
package version

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/version"
)

// Options are the options of "version".
type Options struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	cmdPath string
}

// NewCmdVersion builds "kubectl etcd version". It talks to no cluster.
func NewCmdVersion(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{GlobalOptions: g, IOStreams: streams}
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Example: templates.Examples(`
			# Print the version
			kubectl etcd version

			# As JSON
			kubectl etcd version -o json`),
		Args: cobra.NoArgs,
		RunE: cmdutil.RunE(o),
	}
}

// Complete reads the output format. It needs no cluster.
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	o.cmdPath = cmd.CommandPath()
	o.Format = printers.Format(o.Output)
	if o.Format == "" {
		o.Format = printers.Table
	}
	return nil
}

// Validate checks the output format.
func (o *Options) Validate() error {
	if _, err := printers.ParseFormat(string(o.Format)); err != nil {
		return &cmdutil.UsageError{Cmd: o.cmdPath, Err: err}
	}
	return nil
}

// Run prints the version.
func (o *Options) Run(_ context.Context) error {
	return printers.PrintVersion(o.Out, o.Format, version.Get())
}
