package cmdutil

import (
	"bufio"
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
// --yes rather than read from a pipe that a script did not mean as an answer.
func Confirm(in io.Reader, out io.Writer, question string) error {
	if !IsTerminal(in) {
		return fmt.Errorf("%w: confirmation needed and standard input is not a terminal; pass --yes to confirm (or --dry-run to only preview)", etcd.ErrRefused)
	}
	fmt.Fprintf(out, "%s [y/N]: ", question)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("%w: no answer (%v)", etcd.ErrRefused, err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return fmt.Errorf("%w: not confirmed; nothing was changed", etcd.ErrRefused)
}
