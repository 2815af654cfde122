package cmdutil

import (
	"context"

	"github.com/spf13/cobra"
)

// Command is the shape of every kubectl-etcd command, as in kubectl: Complete reads the
// arguments and does the I/O set-up (clients, namespace, output format), Validate only checks
// fields, Run does the work.
type Command interface {
	Complete(cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// RunE is the cobra RunE of a command: Complete, then Validate, then Run, stopping at the first
// error.
func RunE(o Command) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
}
