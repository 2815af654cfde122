//go:build !windows

package cmdutil

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
)

// SIGHUP and SIGTERM cancel the command like Ctrl-C; the second signal quits without waiting.
func TestNotifyContextFirstCancelsSecondQuits(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		quit := make(chan os.Signal, 1)
		ctx, stop := NotifyContext(context.Background(), io.Discard, func(s os.Signal) { quit <- s })
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		<-ctx.Done() // a signal left unhandled would have ended the test binary instead
		var es *ErrSignal
		if !errors.As(context.Cause(ctx), &es) || es.Signal != sig {
			t.Errorf("%v: cause %v", sig, context.Cause(ctx))
		}
		select {
		case s := <-quit:
			t.Fatalf("%v: quit called after one signal (%v)", sig, s)
		default:
		}
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		if s := <-quit; s != sig {
			t.Errorf("%v: quit got %v", sig, s)
		}
		stop()
	}
	if c := SignalExitCode(syscall.SIGTERM); c != 143 {
		t.Errorf("SIGTERM exit code %d, want 143", c)
	}
}

// stop cancels the context and ends the watcher; the command is over.
func TestNotifyContextStop(t *testing.T) {
	ctx, stop := NotifyContext(context.Background(), io.Discard, func(os.Signal) { t.Error("quit called") })
	stop()
	if ctx.Err() == nil {
		t.Error("stop did not cancel the context")
	}
	stop() // idempotent
}
