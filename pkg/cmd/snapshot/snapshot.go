// Package snapshot wires "kubectl etcd snapshot ..."; pkg/etcd and pkg/snapshot do the work.
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
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/version"
)

var (
	saveLong = templates.LongDesc(`
		Save a snapshot of the etcd database to a local file, verified, or fail with nothing left.

		The snapshot is streamed from one member over a port-forward (a healthy follower by
		default, so the leader is spared; --member to choose) into FILE.part, created exclusively
		with mode 0600. At the end the sha256 that etcd sends after the data is checked against
		the data received, the file is fsynced and renamed to FILE. On any failure — the forward
		drops, the member restarts, the disk fills, Ctrl-C — FILE.part is removed, FILE is not
		created, and the exit code is non-zero. FILE.json records where and when the snapshot was
		taken, its revision, versions and sha256.

		The default FILE is etcd-snapshot-<cluster id>-<UTC time>.db. "kubectl etcd snapshot FILE"
		is the same as "kubectl etcd snapshot save FILE".

		With --on-node PATH the snapshot is instead written by etcdctl inside the etcd pod to PATH
		on the node's disk, through exec; no local certificates are needed. PATH must lie in the
		data directory's hostPath mount (kubeadm: /var/lib/etcd) outside its member directory;
		an existing PATH is refused unless --force. The member's lock is held meanwhile, and the
		sha256 trailer of the result is proved with etcdutl snapshot restore into a scratch
		directory next to it (it needs as much free space as the snapshot, briefly), which is
		removed again. etcdutl then reports on the file.`)

	saveExample = templates.Examples(`
		# Save a verified snapshot (a default name with cluster ID and time)
		kubectl etcd snapshot save

		# The short form that runbooks use
		kubectl etcd snapshot /backup/etcd.db

		# From a chosen member, replacing an existing file
		kubectl etcd snapshot save /backup/etcd.db --member cp-2 --force

		# Save it on the node of etcd-cp-1 instead, through exec
		kubectl etcd snapshot save --on-node /var/lib/etcd/snapshot.db --pod etcd-cp-1`)
)

// SaveOptions are the options of "snapshot save".
type SaveOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	Path        string
	Member      string
	Force       bool
	OnNode      string
	SaveTimeout time.Duration
	cmdPath     string
}

// NewCmdSnapshot builds "kubectl etcd snapshot" (which saves, given a FILE) and its subcommands.
func NewCmdSnapshot(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SaveOptions{GlobalOptions: g, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "snapshot [FILE]",
		Short: "Save, inspect and plan the restore of snapshots",
		Long: templates.LongDesc(`
			Save a verified snapshot of the etcd database ("snapshot [FILE]" is "snapshot save
			[FILE]"), check a snapshot file, or print the commands to restore one.`),
		Example: saveExample,
		Args:    cobra.MaximumNArgs(1),
		RunE:    o.runE,
	}
	o.addFlags(cmd)
	save := &cobra.Command{
		Use:     "save [FILE]",
		Short:   "Stream a snapshot into a verified local file (or save it on the node with --on-node)",
		Long:    saveLong,
		Example: saveExample,
		Args:    cobra.MaximumNArgs(1),
		RunE:    o.runE,
	}
	o.addFlags(save)
	cmd.AddCommand(save, NewCmdStatus(g, streams), NewCmdRestorePlan(g, streams))
	return cmd
}

func (o *SaveOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.Member, "member", "", "Member to take the snapshot from (name, pod, node or hex ID); default: a healthy follower")
	_ = cmd.RegisterFlagCompletionFunc("member", o.CompleteMemberFlag)
	cmd.Flags().BoolVar(&o.Force, "force", false, "Replace FILE and FILE.json (or the --on-node PATH) if they exist; a leftover FILE.part is never removed")
	cmd.Flags().StringVar(&o.OnNode, "on-node", "", "Save through exec to this path on the node (in the etcd data directory's hostPath mount, outside member/)")
	cmd.Flags().DurationVar(&o.SaveTimeout, "timeout", 0, "Give up if the snapshot takes longer (default: no limit; with --on-node 10m plus 1s per MiB of the database)")
}

func (o *SaveOptions) runE(cmd *cobra.Command, args []string) error {
	if err := o.Complete(cmd, args); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return o.Run(cmd.Context())
}

// Complete reads FILE and fills in the clients.
func (o *SaveOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Path = args[0]
	}
	o.cmdPath = cmd.CommandPath()
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the flag combinations.
func (o *SaveOptions) Validate() error {
	if o.OnNode != "" && o.Path != "" {
		return cmdutil.Usagef(o.cmdPath, "give either FILE or --on-node PATH, not both")
	}
	if o.SaveTimeout < 0 {
		return cmdutil.Usagef(o.cmdPath, "--timeout must not be negative")
	}
	return nil
}

// Run saves the snapshot.
func (o *SaveOptions) Run(ctx context.Context) error {
	pods, err := o.Discover(ctx)
	if err != nil {
		return err
	}
	if o.OnNode != "" {
		return o.runOnNode(ctx, pods)
	}
	conn, err := o.Connector(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if conn.Mode() != transport.ModePortForward {
		return fmt.Errorf("streaming a snapshot needs the port-forward transport and etcd client certificates (--cacert/--cert/--key or --cert-secret); transport %s was chosen. Use --on-node PATH to save it on a node through exec instead", conn.Mode())
	}
	tty := cmdutil.IsTerminal(o.ErrOut)
	bar := printers.NewProgress(o.ErrOut, tty)
	start := time.Now()
	md, err := etcd.SaveSnapshot(ctx, conn, pods, etcd.SnapshotOptions{
		Path: o.Path, Member: o.Member, Force: o.Force, Timeout: o.SaveTimeout, CallTimeout: o.GlobalOptions.Timeout(),
		KubernetesVersion: o.KubernetesVersion(), PluginVersion: version.Version,
		Warn: func(w string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", w) },
		Chosen: func(m etcd.MemberStatus) {
			o.Logf(1, "taking the snapshot from member %s (%s) in pod %s", m.Name, m.ID, m.Pod)
		},
		Progress: func(n, total int64) {
			if tty {
				rate := float64(n) / time.Since(start).Seconds() / (1 << 20)
				bar.Update("snapshot", uint64(n), uint64(total), fmt.Sprintf("bytes %.1f MiB/s", rate))
			}
		},
	})
	bar.Done()
	if err != nil {
		return err
	}
	if o.Format.Structured() {
		return printers.PrintStructured(o.Out, o.Format, md)
	}
	fmt.Fprintf(o.Out, "Snapshot saved to %s (%s, revision %d, etcd %s) from member %s (%s, pod %s) in %s\n",
		md.File, printers.Bytes(md.Size), md.Revision, md.EtcdVersion, md.MemberName, md.MemberID, md.Pod, md.Took)
	fmt.Fprintf(o.Out, "sha256 %s (database sha256 %s verified)\nmetadata %s.json\n", md.SHA256, md.DBSHA256, md.File)
	return nil
}

func (o *SaveOptions) runOnNode(ctx context.Context, pods []discovery.Member) error {
	conn := o.ExecConnector()
	defer conn.Close()
	res, err := etcd.SaveSnapshotOnNode(ctx, conn, pods, etcd.OnNodeOptions{
		Path: o.OnNode, Member: o.Member, Force: o.Force, Timeout: o.SaveTimeout, CallTimeout: o.GlobalOptions.Timeout(),
		Warn: func(w string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", w) },
		Chosen: func(m etcd.MemberStatus) {
			o.Logf(1, "saving the snapshot on node %s through member %s (%s) in pod %s", m.Node, m.Name, m.ID, m.Pod)
		},
	})
	if errors.Is(err, etcd.ErrBadPath) {
		return &cmdutil.UsageError{Cmd: o.cmdPath, Err: err}
	}
	if err != nil {
		return err
	}
	if o.Format.Structured() {
		return printers.PrintStructured(o.Out, o.Format, res)
	}
	fmt.Fprintf(o.Out, "Snapshot saved on node %s at %s (%s in pod %s): %s, revision %d, %d keys, etcdutl hash %08x, sha256 trailer verified\n",
		res.Node, res.HostPath, res.Path, res.Pod, printers.Bytes(res.TotalSize), res.Revision, res.TotalKeys, res.Hash)
	return nil
}

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

// RestorePlanOptions are the options of "snapshot restore-plan".
type RestorePlanOptions struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams
	File         string
	OnNodePath   string
	BumpRevision int64
}

// NewCmdRestorePlan builds "kubectl etcd snapshot restore-plan FILE".
func NewCmdRestorePlan(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RestorePlanOptions{GlobalOptions: g, IOStreams: streams, BumpRevision: 1000000000}
	cmd := &cobra.Command{
		Use:   "restore-plan FILE",
		Short: "Print the exact per-node restore commands and steps for the current members (runs nothing)",
		Long: templates.LongDesc(`
			Print how to restore FILE onto the current cluster: for every voting member, the exact
			etcdutl snapshot restore command (name, initial cluster, peer URLs, a new data
			directory, and --bump-revision with --mark-compacted so that Kubernetes clients do
			not miss changes), and the steps around it: stop the API servers and etcd by moving
			their static-pod manifests out, restore, swap the data directories, move the manifests
			back. Only the member list is read; nothing is changed.`),
		Example: templates.Examples(`
			# The plan as text
			kubectl etcd snapshot restore-plan /backup/etcd.db

			# As JSON, with the snapshot copied to /root on the nodes
			kubectl etcd snapshot restore-plan /backup/etcd.db --snapshot-on-node /root/etcd.db -o json`),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.File = args[0]
			if err := o.GlobalOptions.Complete(cmd.CommandPath()); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.OnNodePath, "snapshot-on-node", "", "Where the snapshot will be on each node (default /var/tmp/<file name>)")
	cmd.Flags().Int64Var(&o.BumpRevision, "bump-revision", o.BumpRevision, "Revision bump for the restored data (etcdutl --bump-revision)")
	return cmd
}

// Run prints the plan.
func (o *RestorePlanOptions) Run(ctx context.Context) error {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ml, err := etcd.ListMembers(ctx, conn, pods, o.GlobalOptions.Timeout())
	if err != nil {
		return err
	}
	plan := etcd.PlanRestore(ml, pods, etcd.RestorePlanOptions{Snapshot: o.File, SnapshotOnNode: o.OnNodePath, BumpRevision: o.BumpRevision})
	if o.Format.Structured() {
		return printers.PrintStructured(o.Out, o.Format, plan)
	}
	fmt.Fprintf(o.Out, "Restore plan for %s onto %d member(s); initial cluster %s\n\n", plan.Snapshot, len(plan.Nodes), plan.InitialCluster)
	for i, s := range plan.Steps {
		fmt.Fprintf(o.Out, "%2d. %s\n", i+1, s)
		if i == 4 {
			for _, n := range plan.Nodes {
				fmt.Fprintf(o.Out, "      node %s (member %s, data dir %s):\n        %s\n", n.Node, n.Name, n.DataDir, n.CommandLine)
			}
		}
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	return nil
}

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
