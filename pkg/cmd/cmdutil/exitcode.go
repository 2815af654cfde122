// Package cmdutil holds what every kubectl-etcd command shares: the global flags, the connection
// to the members and the mapping of failures to documented exit codes.
package cmdutil

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/rebuild"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

// Exit codes. They are documented in the README; keep both in step.
const (
	// ExitOK: the command did what was asked; for status, every member is healthy.
	ExitOK = 0
	// ExitError: bad usage, the Kubernetes API unreachable, RBAC denied, or another failure.
	ExitError = 1
	// ExitDegraded: the cluster has quorum but some member is unhealthy or unreachable.
	ExitDegraded = 2
	// ExitQuorumLost: fewer healthy voters than a quorum, or no member could be reached.
	ExitQuorumLost = 3
	// ExitNoPods: no etcd pods match the namespace and selector.
	ExitNoPods = 4
	// ExitRefused: a safety check refused the change (quorum, health, learner limit), or the
	// operator declined the confirmation; nothing was changed.
	ExitRefused = 5
	// ExitNotReady: waited for a learner (or the cluster) and it did not become ready in time.
	ExitNotReady = 6
	// ExitNotFound: the named member does not exist.
	ExitNotFound = 7
	// ExitIntegrity: data failed an integrity check (a corrupt snapshot, members whose data differ).
	ExitIntegrity = 8
	// ExitUnreadable: a run (defrag) stopped because it could not read the cluster between its
	// steps (no member list, a voting member that did not answer, no leader, the next member
	// gone); the message lists what was done.
	ExitUnreadable = 9
	// ExitPartial: a multi-step change (member rebuild) changed the cluster and then stopped;
	// the message says what it undid, what is left and the command that finishes it.
	ExitPartial = 10
)

// CodeError carries an exit code chosen by a command. A nil Err with a non-zero code means the
// command already printed everything and only the code remains to be returned.
type CodeError struct {
	Code int
	Err  error
}

func (e *CodeError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return e.Err.Error()
}
func (e *CodeError) Unwrap() error { return e.Err }

// WithCode wraps err so that main exits with code.
func WithCode(code int, err error) error { return &CodeError{Code: code, Err: err} }

// UsageError is a problem with the command line; main appends the help hint to it.
type UsageError struct {
	Cmd string
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef builds a UsageError for the command path cmd (e.g. "kubectl etcd status").
func Usagef(cmd, format string, args ...any) error {
	return &UsageError{Cmd: cmd, Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ce *CodeError
	if errors.As(err, &ce) {
		return ce.Code
	}
	var np *discovery.NoPodsError
	if errors.As(err, &np) {
		return ExitNoPods
	}
	switch {
	case errors.Is(err, etcd.ErrAccess):
		return ExitError
	case errors.Is(err, rebuild.ErrPartial):
		return ExitPartial
	case errors.Is(err, etcd.ErrUnreadable):
		return ExitUnreadable
	case errors.Is(err, etcd.ErrNoMemberReachable):
		return ExitQuorumLost
	case errors.Is(err, etcd.ErrRefused):
		return ExitRefused
	case errors.Is(err, etcd.ErrNotReady):
		return ExitNotReady
	case errors.Is(err, etcd.ErrNotFound):
		return ExitNotFound
	case errors.Is(err, snapshot.ErrIntegrity):
		return ExitIntegrity
	case errors.Is(err, snapshot.ErrExists), errors.Is(err, snapshot.ErrLocked):
		return ExitRefused
	}
	return ExitError
}

// Message renders an error for stderr the way kubectl does: "error: ...", and for usage errors
// a hint to the command's help.
func Message(err error) string {
	var ce *CodeError
	if errors.As(err, &ce) && ce.Err == nil {
		return ""
	}
	msg := "error: " + err.Error()
	var ue *UsageError
	if errors.As(err, &ue) && ue.Cmd != "" {
		msg += fmt.Sprintf("\nSee '%s -h' for help and examples", ue.Cmd)
	}
	return msg
}

// Refusal is the error of a plan that cannot go ahead: its blocks always, its refusals unless
// force. what names the change ("rebuilding cp-3"); forceHint says what --force would do and is
// shown only when nothing but refusals stands in the way. nil when the plan may go ahead.
func Refusal(what string, blocked, refusals []string, force bool, forceHint string) error {
	why := append([]string(nil), blocked...)
	if !force {
		why = append(why, refusals...)
	}
	if len(why) == 0 {
		return nil
	}
	hint := ""
	if len(blocked) == 0 {
		hint = "; " + forceHint
	}
	return fmt.Errorf("%w: %s: %s%s", etcd.ErrRefused, what, strings.Join(why, "; "), hint)
}
