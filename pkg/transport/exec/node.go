package exec

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

var _ transport.NodeFiles = (*Session)(nil)

// cleanupTimeout bounds the removal of a verification directory, which runs even after the
// command was interrupted.
const cleanupTimeout = time.Minute

// etcdutlRun runs etcdutl with args in the pod and returns its stdout; a failure carries
// etcdutl's own message.
func (s *Session) etcdutlRun(ctx context.Context, args ...string) ([]byte, error) {
	o := newOutputs()
	argv := append([]string{s.etcdutl()}, args...)
	t := s.target()
	err := s.exec.Exec(ctx, t.Namespace, t.Pod, t.Container, argv, nil, o.stdout, o.stderr)
	if oerr := o.overflow(); oerr != nil {
		return nil, fmt.Errorf("etcdutl %s: %w", strings.Join(args, " "), oerr)
	}
	if err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			msg := etcdctlMessage(o.stderr.String())
			if msg == "" {
				msg = "no message on stderr"
			}
			return o.stdout.Bytes(), &toolError{msg: fmt.Sprintf("etcdutl %s exited with code %d: %s", strings.Join(args, " "), ee.Code, msg), detail: msg}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("etcdutl %s: %w", strings.Join(args, " "), ctx.Err())
		}
		return nil, err
	}
	return o.stdout.Bytes(), nil
}

// toolError is a tool that ran and failed; detail is its own message.
type toolError struct{ msg, detail string }

func (e *toolError) Error() string { return e.msg }

// SnapshotFileStatus implements transport.NodeFiles with "etcdutl snapshot status PATH". etcdutl
// stats the path first, so "no such file or directory" is the answer for an absent file (a
// dangling symlink looks absent too).
func (s *Session) SnapshotFileStatus(ctx context.Context, path string) (*transport.SnapshotFileStatus, error) {
	out, err := s.etcdutlRun(ctx, "snapshot", "status", path, "-w", "json")
	if err != nil {
		var te *toolError
		if errors.As(err, &te) && strings.Contains(te.detail, "no such file or directory") {
			return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
		}
		return nil, err
	}
	var st transport.SnapshotFileStatus
	if err := decodeStrict(out, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// SaveSnapshotFile implements transport.NodeFiles with "etcdctl snapshot save PATH".
func (s *Session) SaveSnapshotFile(ctx context.Context, path string) error {
	_, err := s.run(ctx, "snapshot", "save", path)
	return err
}

// VerifySnapshotFile implements transport.NodeFiles. "etcdutl snapshot restore" is the only
// tool in the image that checks the sha256 trailer; it writes a data directory, and the image
// has no rm. etcdctl removes it: "etcdctl snapshot save X" removes X.part with os.RemoveAll on
// the way out, and when X.part is a directory it fails to open it before contacting anything,
// so "etcdctl snapshot save SCRATCH-without-.part" deletes SCRATCH and writes nothing. That is
// only run when SCRATCH is there (else etcdctl would save a snapshot), and checked afterwards.
func (s *Session) VerifySnapshotFile(ctx context.Context, path, scratch string) (string, error) {
	base, ok := strings.CutSuffix(scratch, ".part")
	if !ok || base == "" || strings.HasSuffix(base, "/") {
		return "", fmt.Errorf("verification directory %q must end in .part", scratch)
	}
	if _, err := s.SnapshotFileStatus(ctx, scratch); !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("verification directory %s already exists; remove it on the node", scratch)
	}
	_, verr := s.etcdutlRun(ctx, "snapshot", "restore", path, "--data-dir", scratch)
	var te *toolError
	if errors.As(verr, &te) && strings.Contains(te.detail, "expected sha256") {
		verr = fmt.Errorf("%w: %s", transport.ErrHashMismatch, te.detail)
	}

	// Clean up even when ctx is over (Ctrl-C): the copy is as large as the snapshot.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	switch s.dirState(cctx, scratch) {
	case absent:
		return "", verr // restore failed before it created anything
	case unknown:
		return scratch, verr // never run etcdctl unless scratch is surely a directory
	}
	_, _ = s.run(cctx, "snapshot", "save", base) // fails on purpose: base.part is a directory
	if s.dirState(cctx, scratch) != absent {
		return scratch, verr
	}
	return "", verr
}

type pathState int

const (
	absent pathState = iota
	isDir
	unknown
)

// dirState tells, through etcdutl, whether p is absent or a directory: etcdutl stats it, then
// fails to open a directory as a database.
func (s *Session) dirState(ctx context.Context, p string) pathState {
	_, err := s.SnapshotFileStatus(ctx, p)
	var te *toolError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return absent
	case errors.As(err, &te) && (strings.Contains(te.detail, "invalid database") || strings.Contains(te.detail, "is a directory")):
		return isDir
	}
	return unknown
}

// ToolFailed marks a tool that ran in the pod and failed (as opposed to exec failing).
func (e *toolError) ToolFailed() bool { return true }
