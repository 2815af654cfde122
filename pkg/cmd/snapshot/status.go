package snapshot

import (
	"fmt"

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
}

// NewCmdStatus builds "kubectl etcd snapshot status FILE".
func NewCmdStatus(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &StatusOptions{GlobalOptions: g, IOStreams: streams}
	return &cobra.Command{
		Use:   "status FILE",
		Short: "Check a snapshot file: sha256 trailer, bbolt consistency, revision, keys, size",
		Long: templates.LongDesc(`
			Inspect a snapshot file with etcd's own code (etcdutl's snapshot status and bbolt's
			consistency check) and give an explicit integrity verdict: the sha256 trailer etcd
			appends must match the data, and the database must pass bbolt's check. It talks to no
			cluster. Exits 8 when the file is corrupt.`),
		Example: templates.Examples(`
			# Check a snapshot before relying on it
			kubectl etcd snapshot status /backup/etcd.db

			# As JSON
			kubectl etcd snapshot status /backup/etcd.db -o json`),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.File = args[0]
			f, err := printers.ParseFormat(o.Output)
			if err != nil {
				return &cmdutil.UsageError{Cmd: cmd.CommandPath(), Err: err}
			}
			r, err := snap.Inspect(o.File, snap.InspectOptions{CheckDB: CheckDBInChild})
			if err != nil {
				return err
			}
			if f.Structured() {
				if err := printers.PrintStructured(o.Out, f, r); err != nil {
					return err
				}
			} else {
				rows := [][]string{
					{"File", r.File}, {"Size", fmt.Sprintf("%s (%d bytes)", printers.Bytes(r.Size), r.Size)},
					{"SHA256", r.SHA256}, {"Trailer", r.Trailer}, {"Bolt check", r.Bolt},
					{"Hash", fmt.Sprintf("%08x", r.Hash)}, {"Revision", fmt.Sprint(r.Revision)},
					{"Total keys", fmt.Sprint(r.TotalKeys)}, {"Total size", fmt.Sprint(r.TotalSize)},
					{"Storage version", printers.OrDash(r.StorageVersion)}, {"Verdict", r.Verdict},
				}
				for _, row := range rows {
					fmt.Fprintf(o.Out, "%-16s %s\n", row[0]+":", row[1])
				}
			}
			if r.Verdict != snap.VerdictOK {
				for _, p := range r.Problems {
					fmt.Fprintf(o.ErrOut, "error: %s\n", p)
				}
				return cmdutil.WithCode(cmdutil.ExitIntegrity, nil)
			}
			return nil
		},
	}
}
