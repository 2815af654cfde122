// Command kubectl-etcd is the kubectl plugin "kubectl etcd".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // cloud and OIDC credential plugins in kubeconfigs

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := cmd.NewCmdRoot(streams).ExecuteContext(ctx)
	stop()
	if err != nil {
		if msg := cmdutil.Message(err); msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
	}
	os.Exit(cmdutil.ExitCode(err))
}
