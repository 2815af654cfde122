// Command kubectl-etcd is the kubectl plugin "kubectl etcd".
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // cloud and OIDC credential plugins in kubeconfigs

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/nodehelper"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

func main() {
	// The first Ctrl-C (or SIGTERM, SIGHUP) cancels the command, which cleans up; a second one
	// quits at once, removing only the snapshot files still being written
	// and the helper pods still running (for a few seconds at most).
	ctx, stop := cmdutil.NotifyContext(context.Background(), os.Stderr, func(sig os.Signal) {
		snapshot.RemovePartials()
		nodehelper.DeleteLive(3 * time.Second)
		fmt.Fprintf(os.Stderr, "error: %s again: quit without waiting for the cleanup\n", sig)
		os.Exit(cmdutil.SignalExitCode(sig))
	})
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	err := cmd.NewCmdRoot(streams).ExecuteContext(ctx)
	stop()
	// Commands delete their helper pods themselves; this catches one a failure path left.
	nodehelper.DeleteLive(10 * time.Second)
	if err != nil {
		if msg := cmdutil.Message(err); msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
	}
	os.Exit(cmdutil.ExitCode(err))
}
