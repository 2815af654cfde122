package cmdutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// StopSignals end a command the way Ctrl-C does: the terminal closing sends SIGHUP, a
// supervisor or timeout(1) sends SIGTERM.
var StopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// ErrSignal is the cause of a context cancelled by a stop signal.
type ErrSignal struct{ Signal os.Signal }

func (e *ErrSignal) Error() string { return "received " + e.Signal.String() }

// NotifyContext returns a context that the first stop signal cancels, so that the command
// cleans up (removes what it half-wrote, releases its locks) and exits. A second signal does
// not wait for that: it calls quit, which is expected to exit at once. When errOut is a
// terminal the first signal says so there. stop unregisters the handler.
func NotifyContext(parent context.Context, errOut io.Writer, quit func(os.Signal)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, StopSignals...)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			if IsTerminal(errOut) {
				fmt.Fprintf(errOut, "\n%s: cleaning up; send it again to quit at once\n", sig)
			}
			cancel(&ErrSignal{Signal: sig})
		case <-done:
			return
		}
		select {
		case sig := <-ch:
			quit(sig)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		select {
		case <-done:
		default:
			close(done)
		}
		cancel(context.Canceled)
	}
}

// SignalExitCode is the shell's code for a process ended by sig: 128 + its number.
func SignalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}
