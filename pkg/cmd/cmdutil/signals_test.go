//go:build !windows

package cmdutil

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// Inside a Critical stretch the second signal only warns; the third quits.
func TestNotifyContextCriticalNeedsAThirdSignal(t *testing.T) {
	quit := make(chan os.Signal, 1)
	var out syncBuffer
	ctx, stop := NotifyContext(context.Background(), &out, func(s os.Signal) { quit <- s })
	defer stop()
	end := Critical("member rebuild is changing node cp-3")
	defer end()
	for i := 0; i < 2; i++ {
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-ctx.Done()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "stops after the current step") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning after the second signal: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case s := <-quit:
		t.Fatalf("quit after the second signal in a critical stretch (%v)", s)
	default:
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if s := <-quit; s != syscall.SIGINT {
		t.Errorf("quit got %v", s)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
