package cmdutil

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

// IsTerminal reports whether w (or r) is an interactive terminal.
func IsTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Confirm asks question on out and reads the answer from in. Only "y" or "yes" agree. When in is
// not a terminal the question cannot be answered by a person, so it is refused with a pointer to
// --yes rather than read from a pipe that a script did not mean as an answer. The wait for the
// answer ends with ctx: Ctrl-C (or SIGTERM, SIGHUP) at the question refuses at once.
func Confirm(ctx context.Context, in io.Reader, out io.Writer, question string) error {
	if !IsTerminal(in) {
		return fmt.Errorf("%w: confirmation needed and standard input is not a terminal; pass --yes to confirm (or --dry-run to only preview)", etcd.ErrRefused)
	}
	return askYesNo(ctx, in, out, question)
}

// askYesNo asks question with a [y/N] prompt; "y" or "yes" agree.
func askYesNo(ctx context.Context, in io.Reader, out io.Writer, question string) error {
	return ask(ctx, in, out, question+" [y/N]: ", func(a string) bool {
		a = strings.ToLower(a)
		return a == "y" || a == "yes"
	})
}

// ConfirmTyped is Confirm for what cannot be undone: the answer must be one of the accepted
// words (a cluster's name or ID), typed out, not "y".
func ConfirmTyped(ctx context.Context, in io.Reader, out io.Writer, question string, accepted ...string) error {
	if !IsTerminal(in) {
		return fmt.Errorf("%w: confirmation needed and standard input is not a terminal; pass --yes to confirm (or --dry-run to only preview)", etcd.ErrRefused)
	}
	return AskTyped(ctx, in, out, question, accepted...)
}

// AskTyped is ConfirmTyped once in is known to be a person's terminal (tests give it a reader):
// it asks and agrees only to one of the accepted words.
func AskTyped(ctx context.Context, in io.Reader, out io.Writer, question string, accepted ...string) error {
	return ask(ctx, in, out, fmt.Sprintf("%s Type %s to confirm: ", question, strings.Join(accepted, " or ")), func(a string) bool {
		for _, w := range accepted {
			if w != "" && a == w {
				return true
			}
		}
		return false
	})
}

// ask prints question and waits for one line from in, or for ctx to end. A read that ctx
// abandons is left to the process's exit (a read of a terminal cannot be interrupted).
func ask(ctx context.Context, in io.Reader, out io.Writer, prompt string, agrees func(answer string) bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: no answer: %w", etcd.ErrRefused, context.Cause(ctx))
	}
	fmt.Fprint(out, prompt)
	type answer struct {
		line string
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(in).ReadString('\n')
		answers <- answer{line, err}
	}()
	var a answer
	select {
	case <-ctx.Done():
		fmt.Fprintln(out)
		return fmt.Errorf("%w: no answer: %w", etcd.ErrRefused, context.Cause(ctx))
	case a = <-answers:
	}
	if a.err != nil && a.line == "" {
		return fmt.Errorf("%w: no answer (%v)", etcd.ErrRefused, a.err)
	}
	if agrees(strings.TrimSpace(a.line)) {
		return nil
	}
	return fmt.Errorf("%w: not confirmed; nothing was changed", etcd.ErrRefused)
}
