package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

// CheckDBCommand is the hidden command that runs the database checks for "snapshot status" in a
// child process: a damaged file can crash bbolt beyond recovery, and the verdict must survive.
const CheckDBCommand = "__check-snapshot-db"

// CheckDBOptions are the options of the hidden child-process command.
type CheckDBOptions struct {
	genericiooptions.IOStreams
	File string
}

// NewCmdCheckDB builds the hidden child-process command.
func NewCmdCheckDB(streams genericiooptions.IOStreams) *cobra.Command {
	o := &CheckDBOptions{IOStreams: streams}
	return &cobra.Command{
		Use:    CheckDBCommand + " FILE",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE:   cmdutil.RunE(o),
	}
}

// Complete reads FILE.
func (o *CheckDBOptions) Complete(_ *cobra.Command, args []string) error {
	o.File = args[0]
	return nil
}

// Validate checks that a file was named.
func (o *CheckDBOptions) Validate() error {
	if o.File == "" {
		return errors.New("no snapshot file named")
	}
	return nil
}

// Run checks the database and writes the verdict as JSON for the parent process.
func (o *CheckDBOptions) Run(context.Context) error {
	return json.NewEncoder(o.Out).Encode(snap.CheckDB(o.File))
}

// CheckDBInChild runs the database checks in a child process of this binary (usage --file uses
// it too, for the verdict on a file its walk could not read).
// The child is started with ctx: Ctrl-C or SIGTERM kills it.
func CheckDBInChild(ctx context.Context, path string) (snap.DBCheck, error) {
	var c snap.DBCheck
	self, err := os.Executable()
	if err != nil {
		return snap.CheckDB(path), nil
	}
	var stdout, stderr bytes.Buffer
	// "--" so that a file name starting with "-" is not taken for a flag.
	cmd := exec.CommandContext(ctx, self, CheckDBCommand, "--", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return c, fmt.Errorf("checking %s: %w", path, ctx.Err())
	}
	if err := json.Unmarshal(stdout.Bytes(), &c); err == nil && runErr == nil {
		return c, nil
	}
	// The child crashed: its first line says how (a fault on a truncated file, a bbolt assertion).
	msg := strings.TrimSpace(stderr.String())
	if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg = msg[:i]
	}
	if msg == "" && runErr != nil {
		msg = runErr.Error()
	}
	for _, p := range []string{"panic: ", "fatal error: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return c, errors.New("bbolt gave up on it: " + msg)
}
