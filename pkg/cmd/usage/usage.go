// Package usage wires "kubectl etcd usage"; pkg/usage does the work.
package usage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/usage"
)

var (
	usageLong = templates.LongDesc(`
		Show what fills the etcd database, by Kubernetes resource, namespace and object, and
		how much of the file is live data, history that a compaction frees, and free pages that
		a defrag returns.

		Live (the default), the keyspace of one member is read: a healthy follower (the leader
		is spared; --member to choose), in pages of --page-size keys with values, serializable
		(the member answers from its own store without the leader), at most --rate pages per
		second. A page too large for the transport (large values such as Helm release Secrets
		against gRPC's 64 MiB receive limit or exec's 64 MiB output cap) is asked again with
		half as many keys, and the walk goes on with the smaller page. Nothing is written. Only
		the current page and the totals are held in memory. A
		live walk sees only the latest revisions: the history is shown as the part of the
		database in use beyond the live data.

		With --file, a snapshot (or a copy of a member's db file) is read instead, offline, in
		a child process: a damaged file gets the verdict of "snapshot status" (exit 8), not a
		crash. The file shows every revision still stored, so the history is measured per
		resource. Knowing which revision of a key is the latest needs one entry per distinct
		key (its name and size, never its value) while the file is read.

		Keys under /registry/ are grouped the way kube-apiserver lays them out:
		/registry/<resource>/[<namespace>/]<name>, and /registry/<group>/<resource>/... when the
		first element contains a dot (apiregistration.k8s.io, apiextensions.k8s.io, custom
		resources). Other keys are grouped by their first path element.`)

	usageExample = templates.Examples(`
		# What fills the database, by resource (live, from a healthy follower)
		kubectl etcd usage

		# The same from last night's snapshot, with the history a compaction would free
		kubectl etcd usage --file /backup/etcd.db

		# The 20 largest objects
		kubectl etcd usage --by object --top 20

		# Namespaces by bytes, events only, gently
		kubectl etcd usage --by namespace --prefix /registry/events/ --rate 2`)
)

// Options are the options of "usage".
type Options struct {
	*cmdutil.GlobalOptions
	genericiooptions.IOStreams

	File     string
	Identity string
	Prefix   string
	By       string
	Top      int
	Member   string
	PageSize int64
	Rate     float64

	cmdPath string
	// liveOnly names the live-walk flags given on the command line.
	liveOnly []string
	// ReadFile, when set, replaces the child process that reads a file (tests).
	ReadFile func(ctx context.Context, path string, o usage.FileOptions) (*usage.Report, error)
}

// NewCmdUsage builds "kubectl etcd usage".
func NewCmdUsage(g *cmdutil.GlobalOptions, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{GlobalOptions: g, IOStreams: streams, By: printers.ByResource, Top: 10, PageSize: usage.DefaultPageSize, Rate: usage.DefaultRate}
	cmd := &cobra.Command{
		Use:     "usage",
		Short:   "Show what fills the database: by resource, namespace and object, live or from a snapshot file",
		Long:    usageLong,
		Example: usageExample,
		Args:    cobra.NoArgs,
		RunE:    cmdutil.RunE(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.File, "file", "", "Read this snapshot file (or copy of a db file; plain, zstd, gzip or age) instead of a member, offline")
	snapshot.AddIdentityFlag(cmd, &o.Identity)
	f.StringVar(&o.Prefix, "prefix", "", "Only keys that start with this prefix (e.g. /registry/events/)")
	f.StringVar(&o.By, "by", o.By, "Table to show: resource, namespace or object (json and yaml hold all)")
	f.IntVar(&o.Top, "top", o.Top, "How many namespaces and largest objects to show")
	f.StringVar(&o.Member, "member", "", "Member to read (name, pod, node or hex ID); default: a healthy follower")
	_ = cmd.RegisterFlagCompletionFunc("member", o.CompleteMemberFlag)
	_ = cmd.RegisterFlagCompletionFunc("by", cobra.FixedCompletions(printers.UsageViews, cobra.ShellCompDirectiveNoFileComp))
	f.Int64Var(&o.PageSize, "page-size", o.PageSize, "Keys per range request of a live walk")
	f.Float64Var(&o.Rate, "rate", o.Rate, "Most range requests per second of a live walk (0: no limit)")
	return cmd
}

// Complete fills in the clients (not needed for --file).
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	o.cmdPath = cmd.CommandPath()
	for _, n := range []string{"member", "page-size", "rate"} {
		if cmd.Flags().Changed(n) {
			o.liveOnly = append(o.liveOnly, "--"+n)
		}
	}
	if o.File != "" {
		f, err := printers.ParseFormat(o.Output)
		if err != nil {
			return &cmdutil.UsageError{Cmd: o.cmdPath, Err: err}
		}
		o.Format = f
		return nil
	}
	return o.GlobalOptions.Complete(o.cmdPath)
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if !slices.Contains(printers.UsageViews, o.By) {
		return cmdutil.Usagef(o.cmdPath, "invalid --by %q: want %s", o.By, strings.Join(printers.UsageViews, ", "))
	}
	if o.Top < 1 || o.Top > 10000 {
		return cmdutil.Usagef(o.cmdPath, "--top must be between 1 and 10000")
	}
	if o.File != "" && len(o.liveOnly) > 0 {
		return cmdutil.Usagef(o.cmdPath, "%s: only for a live walk, not with --file", strings.Join(o.liveOnly, ", "))
	}
	if o.PageSize < 1 || o.PageSize > 10000 {
		return cmdutil.Usagef(o.cmdPath, "--page-size must be between 1 and 10000")
	}
	if o.Rate < 0 {
		return cmdutil.Usagef(o.cmdPath, "--rate must not be negative")
	}
	return nil
}

// Run measures and prints.
func (o *Options) Run(ctx context.Context) error {
	var r *usage.Report
	var err error
	if o.File != "" {
		r, err = o.runFile(ctx)
	} else {
		r, err = o.runLive(ctx)
	}
	if err != nil {
		return err
	}
	if err := printers.PrintUsage(o.Out, o.Format, o.By, r); err != nil {
		return err
	}
	if !o.Format.Structured() {
		for _, u := range r.Unavailable {
			fmt.Fprintf(o.ErrOut, "note: a live walk cannot show the %s\n", u)
		}
	}
	return nil
}

func (o *Options) runLive(ctx context.Context) (*usage.Report, error) {
	pods, conn, err := o.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	tty := cmdutil.IsTerminal(o.ErrOut)
	bar := printers.NewProgress(o.ErrOut, tty)
	defer bar.Done()
	lo := usage.LiveOptions{Prefix: o.Prefix, Top: o.Top, PageSize: o.PageSize, Rate: o.Rate, CallTimeout: o.GlobalOptions.Timeout(),
		Shrunk: func(n int64) {
			o.Logf(1, "a page of keys was too large for the transport; reading %d keys per page", n)
		}}
	if tty {
		lo.Progress = func(keys, n int64) { bar.Update("usage", uint64(keys), 0, "keys, "+printers.Bytes(n)) }
	}
	return usage.Live(ctx, conn, pods, o.Member, lo, func(m etcd.MemberStatus) {
		o.Logf(1, "reading the keyspace of member %s (%s) in pod %s", m.Name, m.ID, m.Pod)
	})
}

func (o *Options) runFile(ctx context.Context) (*usage.Report, error) {
	fo := usage.FileOptions{Prefix: o.Prefix, Top: o.Top}
	read := o.ReadFile
	if read == nil {
		read = readFileInChild
	}
	ids, err := snapshot.LoadIdentity(o.Identity)
	if err != nil {
		return nil, err
	}
	// bbolt reads a file: a compressed or encrypted snapshot is decoded into a private
	// temporary copy, removed on the way out.
	plain, _, cleanup, err := snap.PlainFile(ctx, o.File, ids)
	if errors.Is(err, snap.ErrIntegrity) && ctx.Err() == nil {
		fmt.Fprintf(o.ErrOut, "error: cannot measure %s: it is damaged\n", o.File)
		fmt.Fprintf(o.ErrOut, "error: %v\n", err)
		return nil, cmdutil.WithCode(cmdutil.ExitIntegrity, nil)
	}
	if err != nil {
		return nil, err
	}
	defer cleanup()
	r, err := read(ctx, plain, fo)
	if err == nil {
		r.File = o.File
		return r, nil
	}
	// Interrupted, or a file another process holds locked (a running etcd's db): there is
	// nothing to inspect, and the inspection would only wait for the lock again.
	if ctx.Err() != nil || errors.Is(err, snap.ErrLocked) {
		return nil, err
	}
	// The walk failed: if the file is damaged, say so as "snapshot status" does.
	rep, ierr := snap.Inspect(ctx, plain, snap.InspectOptions{CheckDB: snapshot.CheckDBInChild})
	if ierr != nil {
		return nil, ierr
	}
	if rep.Verdict != snap.VerdictOK {
		fmt.Fprintf(o.ErrOut, "error: cannot measure %s: it is damaged (snapshot status verdict %s)\n", o.File, rep.Verdict)
		for _, p := range rep.Problems {
			fmt.Fprintf(o.ErrOut, "error: %s\n", p)
		}
		return nil, cmdutil.WithCode(cmdutil.ExitIntegrity, nil)
	}
	return nil, err
}

// FileCommand is the hidden command that reads a file for "usage --file" in a child process:
// bbolt can crash beyond recovery on a damaged file.
const FileCommand = "__usage-file"

// FileCmdOptions are the options of the hidden FileCommand: the file and what "usage --file"
// passes on of its flags.
type FileCmdOptions struct {
	genericiooptions.IOStreams

	File string
	Read usage.FileOptions
}

// NewCmdUsageFile builds the hidden child-process command.
func NewCmdUsageFile(streams genericiooptions.IOStreams) *cobra.Command {
	o := &FileCmdOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:    FileCommand + " FILE",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE:   cmdutil.RunE(o),
	}
	cmd.Flags().StringVar(&o.Read.Prefix, "prefix", "", "")
	cmd.Flags().IntVar(&o.Read.Top, "top", 10, "")
	return cmd
}

// Complete reads FILE.
func (o *FileCmdOptions) Complete(_ *cobra.Command, args []string) error {
	o.File = args[0]
	return nil
}

// Validate checks --top as "usage" does before it starts the child.
func (o *FileCmdOptions) Validate() error {
	if o.Read.Top < 1 || o.Read.Top > 10000 {
		return errors.New("--top must be between 1 and 10000")
	}
	return nil
}

// Run reads the file and writes the report as JSON for the parent.
func (o *FileCmdOptions) Run(_ context.Context) error {
	r, err := usage.ReadFile(o.File, o.Read)
	if err != nil {
		return err
	}
	return json.NewEncoder(o.Out).Encode(r)
}

// readFileInChild runs usage.ReadFile in a child process of this binary, started with ctx so
// that Ctrl-C or SIGTERM kills it. The child exits with ExitRefused for a locked file.
func readFileInChild(ctx context.Context, path string, fo usage.FileOptions) (*usage.Report, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find this binary to read %s in a child process: %w", path, err)
	}
	start := time.Now()
	var stdout, stderr bytes.Buffer
	// "--" so that a file name starting with "-" is not taken for a flag.
	cmd := exec.CommandContext(ctx, self, FileCommand, "--prefix="+fo.Prefix, "--top="+strconv.Itoa(fo.Top), "--", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("reading %s: %w", path, ctx.Err())
	}
	if ee, ok := errors.AsType[*exec.ExitError](runErr); ok && ee.ExitCode() == cmdutil.ExitRefused {
		return nil, snap.LockedError(path)
	}
	var r usage.Report
	if runErr == nil {
		if err := json.Unmarshal(stdout.Bytes(), &r); err == nil {
			r.Took = time.Since(start).Round(time.Millisecond).String()
			return &r, nil
		}
	}
	msg := strings.TrimSpace(stderr.String())
	if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg = msg[:i]
	}
	msg = strings.TrimPrefix(msg, "error: ")
	if msg == "" && runErr != nil {
		msg = runErr.Error()
	}
	if msg == "" {
		msg = "no report"
	}
	return nil, errors.New(msg)
}
