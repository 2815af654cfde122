package exec

import (
	"bytes"
	"fmt"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// Output limits for one command: far above what etcdctl prints for any cluster (a member list or
// status is kilobytes), low enough that a runaway or hostile command cannot exhaust memory.
const (
	MaxStdout = 64 << 20
	MaxStderr = 1 << 20
)

// limitedBuffer keeps at most max bytes; a write beyond fails, which ends the command's stream.
// The buffer is a field, not embedded: its WriteString and ReadFrom would bypass the limit.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	name     string
	exceeded bool
}

func newLimitedBuffer(name string, limit int) *limitedBuffer {
	return &limitedBuffer{name: name, max: limit}
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.exceeded = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return max(room, 0), b.limitError()
	}
	return b.buf.Write(p)
}

// Bytes returns what was kept.
func (b *limitedBuffer) Bytes() []byte { return b.buf.Bytes() }

// String returns what was kept.
func (b *limitedBuffer) String() string { return b.buf.String() }

func (b *limitedBuffer) limitError() error {
	err := fmt.Errorf("the command printed more than %d MiB on %s; gave up reading it", b.max>>20, b.name)
	if b.name == "stdout" {
		return &tooLargeError{err}
	}
	return err
}

// tooLargeError is a stdout over its limit: the answer was too large (transport.ErrTooLarge).
type tooLargeError struct{ error }

func (e *tooLargeError) Unwrap() []error { return []error{e.error, transport.ErrTooLarge} }

// outputs is the stdout and stderr of one command.
type outputs struct{ stdout, stderr *limitedBuffer }

func newOutputs() outputs {
	return outputs{newLimitedBuffer("stdout", MaxStdout), newLimitedBuffer("stderr", MaxStderr)}
}

// overflow is the error of whichever stream went over its limit, or nil.
func (o outputs) overflow() error {
	for _, b := range []*limitedBuffer{o.stdout, o.stderr} {
		if b.exceeded {
			return b.limitError()
		}
	}
	return nil
}
