package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/nodehelper"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/procmem"
	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	transportexec "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/exec"
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

		With nothing but a kubeconfig (no etcd client certificate, so the transport is exec or
		metrics-only) the snapshot is taken by a short-lived helper pod on the member's node:
		etcdctl from the member's own image, with the node's etcd CA and client pair mounted
		read-only, so no key leaves the node. The file comes back through the kubelet's log
		server (--helper-route logs; get nodes/proxy) or through cat exec'd in a shell image
		(--helper-route exec; the kube-proxy image on the node, or --helper-image), into the same
		FILE.part with the same checks. The pod is deleted when the command ends, Ctrl-C
		included. --helper=never refuses instead; --helper=always uses it even with certificates.

		With --on-node PATH the snapshot is instead written by etcdctl inside the etcd pod to PATH
		on the node's disk, through exec; no local certificates are needed. PATH must lie in the
		data directory's hostPath mount (kubeadm: /var/lib/etcd) outside its member directory;
		an existing PATH is refused, even with --force: etcdctl would rename the new snapshot
		over it before it could be verified, and the image has no mv to replace it only
		afterwards. The member's lock is held meanwhile, and the
		sha256 trailer of the result is proved with etcdutl snapshot restore into a scratch
		directory next to it (it needs as much free space as the snapshot, briefly), which is
		removed again. etcdutl then reports on the file.

		A member named with --member that has a CORRUPT alarm or is a learner (it may lag
		behind the leader) is refused (exit 5); --force takes the snapshot from it anyway,
		with a warning.

		FILE ending in .zst or .gz (or --compress zstd|gzip, which adds the suffix) is
		compressed; --encrypt-to RECIPIENT (age1... or an SSH public key, repeatable) and
		--encrypt-to-file FILE encrypt it with age, adding .age. The sha256 trailer is checked
		on the stream as etcd sent it, before compression and encryption: the plaintext never
		reaches the disk, and FILE.json records the plain snapshot's size and sha256 with the
		stored file's. Every command that reads snapshots accepts these files (--identity
		decrypts); zstd -d and age -d give back the plain .db that etcdutl reads.

		With a directory as FILE (an existing one, or ending in /) the snapshot is named
		etcd-<cluster id>-<UTC time>.db[.zst|.gz][.age] in it; --keep N then removes the
		cluster's oldest snapshots there beyond N, once the new one is verified. Only files
		with that name and a FILE.json sidecar of the same cluster count; nothing else is
		touched.`)

	saveExample = templates.Examples(`
		# Save a verified snapshot (a default name with cluster ID and time)
		kubectl etcd snapshot save

		# The short form that runbooks use
		kubectl etcd snapshot /backup/etcd.db

		# From a chosen member, replacing an existing file
		kubectl etcd snapshot save /backup/etcd.db --member cp-2 --force

		# Only a kubeconfig, no nodes/proxy: the helper hands the file over through exec
		kubectl etcd snapshot save ./etcd.db --helper-route exec --helper-image registry.k8s.io/kube-proxy:v1.37.2

		# Save it on the node of etcd-cp-1 instead, through exec
		kubectl etcd snapshot save --on-node /var/lib/etcd/snapshot.db --pod etcd-cp-1

		# Compressed with zstd and encrypted with age
		kubectl etcd snapshot save /backup/etcd.db.zst --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p

		# Cron: keep the last 7 compressed, encrypted snapshots in /backup
		kubectl etcd snapshot save /backup/ --compress zstd --encrypt-to-file /etc/etcd-backup/recipients.txt --keep 7`)
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
	// Helper: auto (a helper pod when the transport cannot stream), never, always.
	Helper      string
	HelperRoute string
	HelperImage string
	// Compress is --compress (empty: from FILE's suffix); EncryptTo and EncryptToFile the
	// recipients; Keep the number of snapshots to keep in a directory.
	Compress      string
	EncryptTo     []string
	EncryptToFile []string
	Keep          int
	cmdPath       string

	dir        string
	layers     snap.Layers
	recipients []age.Recipient
	recipNames []string
}

// Values of --helper.
const (
	HelperAuto   = "auto"
	HelperNever  = "never"
	HelperAlways = "always"
)

func (o *SaveOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.Member, "member", "", "Member to take the snapshot from (name, pod, node or hex ID); default: a healthy follower")
	_ = cmd.RegisterFlagCompletionFunc("member", o.CompleteMemberFlag)
	cmd.Flags().BoolVar(&o.Force, "force", false, "Replace FILE and FILE.json if they exist (never a --on-node PATH, nor a leftover FILE.part); take the snapshot from a --member that is CORRUPT or a learner")
	cmd.Flags().StringVar(&o.OnNode, "on-node", "", "Save through exec to this path on the node (in the etcd data directory's hostPath mount, outside member/)")
	cmd.Flags().StringVar(&o.Helper, "helper", HelperAuto, "Take the snapshot with a short-lived helper pod on the member's node: auto (when no etcd client certificate is at hand), never, always")
	cmd.Flags().StringVar(&o.HelperRoute, "helper-route", string(nodehelper.RouteAuto), "How the helper hands the snapshot over: auto, logs (the kubelet's log server; get nodes/proxy) or exec (cat in a shell image; create pods/exec)")
	cmd.Flags().StringVar(&o.HelperImage, "helper-image", "", "Image with sleep, cat and wc for --helper-route exec (default: the kube-proxy image on the node)")
	_ = cmd.RegisterFlagCompletionFunc("helper", cobra.FixedCompletions([]string{HelperAuto, HelperNever, HelperAlways}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("helper-route", cobra.FixedCompletions([]string{"auto", "logs", "exec"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.Flags().StringVar(&o.Compress, "compress", "", "Compress the file: zstd, gzip or none (default: from FILE's suffix .zst or .gz, else none)")
	_ = cmd.RegisterFlagCompletionFunc("compress", cobra.FixedCompletions(snap.Compressions, cobra.ShellCompDirectiveNoFileComp))
	cmd.Flags().StringArrayVar(&o.EncryptTo, "encrypt-to", nil, "Encrypt the file with age to this recipient (age1... or an SSH public key); repeatable")
	cmd.Flags().StringArrayVar(&o.EncryptToFile, "encrypt-to-file", nil, "Encrypt the file with age to every recipient in this file (one per line); repeatable")
	cmd.Flags().IntVar(&o.Keep, "keep", 0, "With a directory as FILE: keep the newest N snapshots of the cluster the plugin saved there, remove older ones")
	cmd.Flags().DurationVar(&o.SaveTimeout, "timeout", 0, "Give up if the snapshot takes longer (default: no limit; with --on-node 10m plus 1s per MiB of the database)")
}

// Complete reads FILE and fills in the clients.
func (o *SaveOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.Path = args[0]
	}
	o.cmdPath = cmd.CommandPath()
	if o.Path != "" && (strings.HasSuffix(o.Path, "/") || strings.HasSuffix(o.Path, string(filepath.Separator)) || isDir(o.Path)) {
		o.dir, o.Path = filepath.Clean(o.Path), ""
	}
	if len(o.EncryptTo) > 0 || len(o.EncryptToFile) > 0 {
		rs, names, err := snap.ParseRecipients(o.EncryptTo, o.EncryptToFile)
		if err != nil {
			return &cmdutil.UsageError{Cmd: o.cmdPath, Err: err}
		}
		o.recipients, o.recipNames = rs, names
	}
	return o.GlobalOptions.Complete(o.cmdPath)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// resolveLayers decides how the file is stored from --compress, the recipients and FILE's
// suffixes, and adds the suffixes FILE lacks (.zst, .gz, then .age).
func (o *SaveOptions) resolveLayers() error {
	named := snap.LayersFromName(o.Path)
	l := snap.Layers{Compression: named.Compression}
	switch o.Compress {
	case "":
	case snap.CompressNone:
		if named.Compression != "" {
			return cmdutil.Usagef(o.cmdPath, "%s names a %s file, but --compress is none; drop the suffix or the flag", o.Path, named.Compression)
		}
		l.Compression = ""
	case snap.CompressZstd, snap.CompressGzip:
		if named.Compression != "" && named.Compression != o.Compress {
			return cmdutil.Usagef(o.cmdPath, "%s names a %s file, but --compress is %s", o.Path, named.Compression, o.Compress)
		}
		l.Compression = o.Compress
	default:
		return cmdutil.Usagef(o.cmdPath, "invalid --compress %q: want zstd, gzip or none", o.Compress)
	}
	if len(o.recipients) > 0 {
		l.Encryption = snap.EncryptAge
	} else if named.Encryption != "" {
		return cmdutil.Usagef(o.cmdPath, "%s names an age-encrypted file; give --encrypt-to or --encrypt-to-file", o.Path)
	}
	if o.Path != "" {
		base := strings.TrimSuffix(o.Path, snap.SuffixAge)
		if l.Compression != "" && named.Compression == "" {
			base += snap.Layers{Compression: l.Compression}.Suffix()
		}
		if l.Encryption != "" {
			base += snap.SuffixAge
		}
		o.Path = base
	}
	o.layers = l
	return nil
}

// Validate checks the flag combinations.
func (o *SaveOptions) Validate() error {
	if o.OnNode != "" && o.Path != "" {
		return cmdutil.Usagef(o.cmdPath, "give either FILE or --on-node PATH, not both")
	}
	if o.SaveTimeout < 0 {
		return cmdutil.Usagef(o.cmdPath, "--timeout must not be negative")
	}
	switch o.Helper {
	case HelperAuto, HelperNever, HelperAlways:
	default:
		return cmdutil.Usagef(o.cmdPath, "invalid --helper %q: want auto, never or always", o.Helper)
	}
	if !slices.Contains(nodehelper.Routes, nodehelper.Route(o.HelperRoute)) {
		return cmdutil.Usagef(o.cmdPath, "invalid --helper-route %q: want auto, logs or exec", o.HelperRoute)
	}
	if o.OnNode != "" && o.Helper == HelperAlways {
		return cmdutil.Usagef(o.cmdPath, "--on-node saves through exec in the etcd pod; it does not take --helper=always")
	}
	if o.OnNode != "" && (o.Compress != "" || len(o.recipients) > 0 || o.Keep != 0) {
		return cmdutil.Usagef(o.cmdPath, "--on-node writes a plain snapshot on the node; --compress, --encrypt-to and --keep are for a local FILE")
	}
	if o.Keep < 0 {
		return cmdutil.Usagef(o.cmdPath, "--keep must not be negative")
	}
	if o.Keep > 0 && o.dir == "" {
		return cmdutil.Usagef(o.cmdPath, "--keep needs a directory as FILE (end it with /), where the plugin names the snapshots etcd-<cluster id>-<UTC time>.db")
	}
	return o.resolveLayers()
}

// Run saves the snapshot.
func (o *SaveOptions) Run(ctx context.Context) error {
	// On an external etcd the one helper pod of the run takes the snapshot (a shell container
	// beside etcdctl hands it over); --on-node writes on an etcd node, which it cannot reach.
	if o.OnNode != "" {
		o.NodeSide = "snapshot save --on-node"
	} else {
		o.ExternalSnapshots, o.ExternalShellImage = true, o.HelperImage
	}
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
	tty := cmdutil.IsTerminal(o.ErrOut)
	bar := printers.NewProgress(o.ErrOut, tty)
	if o.useHelper(conn) {
		conn = o.helperConnector(conn, bar, tty)
	}
	if err := etcd.CheckStreamTransport(conn); err != nil {
		return err
	}
	restoreLimit := func() {}
	defer func() { restoreLimit() }()
	md, err := etcd.SaveSnapshot(ctx, conn, pods, etcd.SnapshotOptions{
		Path: o.Path, Dir: o.dir, Keep: o.Keep, Layers: o.layers, Recipients: o.recipients, RecipientNames: o.recipNames,
		Member: o.Member, Force: o.Force, Timeout: o.SaveTimeout, CallTimeout: o.GlobalOptions.Timeout(),
		KubernetesVersion: o.KubernetesVersion(), PluginVersion: version.Version,
		Warn: func(w string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", w) },
		Chosen: func(m etcd.MemberStatus) {
			o.Logf(1, "taking the snapshot from member %s (%s) in pod %s", m.Name, m.ID, m.Pod)
		},
		// Start-up and the survey are over: keep the stream's memory flat and small.
		BeforeStream: func() {
			restoreLimit = procmem.LimitForStream()
		},
		Progress: func(n, total int64) {
			if tty {
				bar.UpdateBytes("snapshot", uint64(n), uint64(total))
			}
		},
	})
	bar.Done()
	if err != nil {
		return err
	}
	return printers.PrintSnapshotSaved(o.Out, o.Format, md)
}

// useHelper says whether the snapshot is taken by a helper pod: always with --helper=always;
// with auto when the transport cannot stream a snapshot here (no client certificate) and the
// user did not ask for port-forward.
func (o *SaveOptions) useHelper(conn transport.Connector) bool {
	switch o.Helper {
	case HelperAlways:
		return true
	case HelperAuto:
		return !transport.CanStream(conn)
	}
	return false
}

// helperConnector wraps conn so that the snapshot is taken on the member's node.
func (o *SaveOptions) helperConnector(conn transport.Connector, bar *printers.Progress, tty bool) transport.Connector {
	why := "--helper=always"
	if o.Helper == HelperAuto {
		why = fmt.Sprintf("transport %s cannot stream a snapshot", conn.Mode())
		if o.Transport == string(transport.ModeAuto) {
			why = "no etcd client certificate here"
		}
	}
	h := &nodehelper.SnapshotHelper{
		Why:    why,
		Runner: &nodehelper.Runner{Client: o.Client, Notify: func(s string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", s) }},
		Config: o.RESTConfig,
		Exec:   &transportexec.APIExecutor{Config: o.RESTConfig, Client: o.Client},
		Route:  nodehelper.Route(o.HelperRoute), Image: o.HelperImage, Etcdctl: o.Etcdctl,
		Notify: func(s string) { fmt.Fprintln(o.ErrOut, s) },
	}
	if tty {
		h.SaveProgress = func(n, total int64) { bar.UpdateBytes("saving on the node", uint64(n), uint64(total)) }
	}
	return &nodehelper.Connector{Connector: conn, Snapshots: h}
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
	return printers.PrintSnapshotOnNode(o.Out, o.Format, res)
}
