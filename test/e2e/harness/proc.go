package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// proc is one process (group) started by the harness. Every process gets its own process group
// (Setpgid) so that teardown can signal the whole group, and Pdeathsig=SIGKILL so that nothing
// survives a test binary that dies without running its cleanups (e.g. a -timeout panic).
type proc struct {
	name    string
	argv    []string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // exit status, valid after done is closed
}

// spawn starts argv with output appended to logs/<name>.log.
func (c *Cluster) spawn(name string, env []string, argv ...string) (*proc, error) {
	logPath := c.logPath(name)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "=== %s harness: starting %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, argv: argv, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(f, "=== %s harness: %s exited: %v\n", time.Now().Format(time.RFC3339Nano), name, p.err)
		f.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process group of p.
func (p *proc) signal(sig syscall.Signal) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), sig)
}

// stop sends sig to the group, waits up to grace, then SIGKILLs the group and waits for exit.
// Signals go to the group only while its leader has not been reaped, so the group id is ours.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	p.signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// tail returns the last n bytes of a log file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// withLog decorates err with the tail of p's log.
func (p *proc) withLog(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w\n--- tail of %s ---\n%s", err, p.logPath, tail(p.logPath, 3000))
}

// poll runs f every interval until it returns nil, ctx ends, or (if p != nil) p exits.
// The error names what was awaited and carries the last error of f.
func poll(ctx context.Context, what string, p *proc, interval time.Duration, f func(context.Context) error) error {
	var last error
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = f(attemptCtx)
		cancel()
		if last == nil {
			return nil
		}
		var perm permanent
		if errors.As(last, &perm) {
			return perm.err
		}
		if p != nil && p.exited() {
			return p.withLog(fmt.Errorf("waiting for %s: %s exited (%v); last error: %v", what, p.name, p.err, last))
		}
		select {
		case <-ctx.Done():
			err := fmt.Errorf("timed out waiting for %s: %v", what, last)
			if p != nil {
				err = p.withLog(err)
			}
			return err
		case <-time.After(interval):
		}
	}
}

// run runs a short command and returns its combined output in the error.
func run(ctx context.Context, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// permanent wraps an error that poll must not retry.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }

var errStopped = errors.New("harness: cluster stopped")
