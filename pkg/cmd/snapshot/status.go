package snapshot

import (
	"context"
	"fmt"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

// StatusOptions are the options of "snapshot status".
type StatusOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	File string
	// Identity is --identity: the age identity file or SSH private key that opens an
	// encrypted FILE.
	Identity   string
	identities []age.Identity
	// CheckDB runs the database checks of File; Complete defaults it to CheckDBInChild.
	CheckDB func(ctx context.Context, path string) (snap.DBCheck, error)

	cmdPath string
}

// NewCmdStatus builds "kubectl etcd snapshot status FILE".
func NewCmdStatus(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &StatusOptions{GlobalOptions: g, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "status FILE",
		Short: "Check a snapshot file: sha256 trailer, bbolt consistency, revision, keys, size",
		Long: templates.LongDesc(`
			Inspect a snapshot file with etcd's own code (etcdutl's snapshot status and bbolt's
			consistency check) and give an explicit integrity verdict: the sha256 trailer etcd
			appends must match the data, and the database must pass bbolt's check. It talks to no
			cluster. Exits 8 when the file is corrupt. A file that another process holds locked
			(the db file of a running etcd) is refused after 2 seconds, unchecked.

			FILE may be plain, compressed (zstd, gzip) or encrypted with age (binary or
			armored), as "snapshot save" writes them; the format is read from the content, not
			the name. --identity FILE decrypts (an age identity file or an SSH private key). A
			compression or encryption layer that does not verify makes the file corrupt (exit
			8). The database checks need a plain file: a compressed or encrypted FILE is
			decoded into a temporary copy (mode 0600, in a private directory under $TMPDIR),
			removed when the command ends, Ctrl-C included.`),
		Example: templates.Examples(`
			# Check a snapshot before relying on it
			kubectl etcd snapshot status /backup/etcd.db

			# As JSON
			kubectl etcd snapshot status /backup/etcd.db -o json

			# A compressed, encrypted snapshot
			kubectl etcd snapshot status /backup/etcd.db.zst.age --identity ~/.config/etcd-backup.key`),
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.RunE(o),
	}
	AddIdentityFlag(cmd, &o.Identity)
	return cmd
}

// AddIdentityFlag adds --identity to a command that reads snapshot files.
func AddIdentityFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "identity", "", "Identity file that decrypts an age-encrypted snapshot: an age identity file (age-keygen) or an SSH private key")
}

// LoadIdentity reads the --identity file; none given is no identity.
func LoadIdentity(path string) ([]age.Identity, error) {
	if path == "" {
		return nil, nil
	}
	return snap.LoadIdentities(path)
}

// Complete reads FILE and the output format. It needs no cluster: status talks to none.
func (o *StatusOptions) Complete(cmd *cobra.Command, args []string) error {
	o.File = args[0]
	o.cmdPath = cmd.CommandPath()
	o.Format = printers.Format(o.Output)
	if o.Format == "" {
		o.Format = printers.Table
	}
	if o.CheckDB == nil {
		o.CheckDB = CheckDBInChild
	}
	ids, err := LoadIdentity(o.Identity)
	o.identities = ids
	return err
}

// Validate checks the output format.
func (o *StatusOptions) Validate() error {
	if _, err := printers.ParseFormat(string(o.Format)); err != nil {
		return &cmdutil.UsageError{Cmd: o.cmdPath, Err: err}
	}
	return nil
}

// Run inspects the file and prints the report; a file that is not ok has its problems printed
// to stderr and exits with the integrity code.
func (o *StatusOptions) Run(ctx context.Context) error {
	r, err := snap.Inspect(ctx, o.File, snap.InspectOptions{CheckDB: o.CheckDB, Identities: o.identities})
	if err != nil {
		return err
	}
	if err := printers.PrintSnapshotStatus(o.Out, o.Format, r); err != nil {
		return err
	}
	if r.Verdict != snap.VerdictOK {
		for _, p := range r.Problems {
			fmt.Fprintf(o.ErrOut, "error: %s\n", p)
		}
		return cmdutil.WithCode(cmdutil.ExitIntegrity, nil)
	}
	return nil
}
