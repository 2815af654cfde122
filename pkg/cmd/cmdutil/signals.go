package cmdutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
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
// not wait for that: it calls quit, which is expected to exit at once (inside a Critical
// stretch only a third one does). When errOut is a
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
		for warned := false; ; {
			select {
			case sig := <-ch:
				if why := critical.Load(); why != nil && !warned {
					warned = true
					fmt.Fprintf(errOut, "%s: %s, and quitting now would leave it half-done: it stops after the current step; send it again to quit anyway\n", sig, *why)
					continue
				}
				quit(sig)
				return
			case <-done:
				return
			}
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

// critical, when set, says why a second stop signal should not quit at once.
var critical atomic.Pointer[string]

// Critical marks a stretch in which quitting at once (the second stop signal) would leave the
// cluster half-changed with nobody to finish it (member rebuild between stopping etcd and
// starting it again): the second signal then only warns, and a third one quits. The returned
// function ends the stretch.
func Critical(why string) (end func()) {
	critical.Store(&why)
	return func() { critical.Store(nil) }
}

// SignalExitCode is the shell's code for a process ended by sig: 128 + its number.
func SignalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}
