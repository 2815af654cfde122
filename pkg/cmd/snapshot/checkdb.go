package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

// CheckDBCommand is the hidden command that runs the database checks for "snapshot status" in a
// child process: a damaged file can crash bbolt beyond recovery, and the verdict must survive.
const CheckDBCommand = "__check-snapshot-db"

// NewCmdCheckDB builds the hidden child-process command.
func NewCmdCheckDB(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:    CheckDBCommand + " FILE",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return json.NewEncoder(streams.Out).Encode(snap.CheckDB(args[0]))
		},
	}
}

// CheckDBInChild runs the database checks in a child process of this binary (usage --file uses
// it too, for the verdict on a file its walk could not read).
func CheckDBInChild(path string) (snap.DBCheck, error) {
	var c snap.DBCheck
	self, err := os.Executable()
	if err != nil {
		return snap.CheckDB(path), nil
	}
	var stdout, stderr bytes.Buffer
	// "--" so that a file name starting with "-" is not taken for a flag.
	cmd := exec.Command(self, CheckDBCommand, "--", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
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
