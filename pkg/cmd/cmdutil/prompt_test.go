package cmdutil

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

func TestAskAnswers(t *testing.T) {
	for in, want := range map[string]error{"y\n": nil, "YES\n": nil, "n\n": etcd.ErrRefused, "\n": etcd.ErrRefused, "": etcd.ErrRefused} {
		var out bytes.Buffer
		err := askYesNo(context.Background(), strings.NewReader(in), &out, "Remove cp-3?")
		if !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("answer %q: %v, want %v", in, err, want)
		}
		if out.String() != "Remove cp-3? [y/N]: " {
			t.Errorf("answer %q: asked %q", in, out.String())
		}
	}
}

// Ctrl-C at the question refuses at once: nobody types an answer, the read never returns, and
// the context the signal cancelled ends the wait with the signal as the cause.
func TestAskReturnsWhenTheContextEnds(t *testing.T) {
	in, w := io.Pipe() // never written: the operator does not answer
	defer w.Close()
	ctx, cancel := context.WithCancelCause(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- askYesNo(ctx, in, &out, "Defragment the leader cp-1 in place?") }()
	cancel(&ErrSignal{Signal: syscall.SIGINT})
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the question still waits for an answer after the context ended")
	}
	var sig *ErrSignal
	if !errors.Is(err, etcd.ErrRefused) || !errors.As(err, &sig) || sig.Signal != os.Signal(syscall.SIGINT) {
		t.Fatalf("err = %v, want a refusal caused by the signal", err)
	}
	if ExitCode(err) != ExitRefused || !strings.Contains(err.Error(), "no answer: received interrupt") {
		t.Errorf("exit %d, message %q", ExitCode(err), err)
	}
	// A context ended before the question: it is not even asked.
	out.Reset()
	if err := askYesNo(ctx, strings.NewReader("y\n"), &out, "Remove cp-3?"); !errors.Is(err, etcd.ErrRefused) || out.Len() != 0 {
		t.Errorf("ended context: %v, printed %q", err, out.String())
	}
}
