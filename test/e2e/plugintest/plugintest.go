// Package plugintest runs the kubectl-etcd binary as a real process for the e2e packages
// (plugin, membership, snapshot, defrag): it finds or builds the binary once per test binary,
// runs it against a harness cluster and reports stdout, stderr, exit code and duration.
//
// The binary is $KUBECTL_ETCD when set (the Makefile sets it to bin/kubectl-etcd), else it is
// built once per test binary from the repository root (../../.. from the test package's
// directory).
package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
)

// HangLimit is how long any single plugin run may take before the test calls it a hang. A
// package may change it in TestMain, before Main.
var HangLimit = 3 * time.Minute

var (
	// bin is the kubectl-etcd binary under test.
	bin string
	// emptyPKIDir is passed as --kubeadm-pki-dir unless a test names one, so that a real
	// /etc/kubernetes/pki/etcd on the test machine never changes which transport auto picks.
	emptyPKIDir string
)

// Bin is the kubectl-etcd binary under test (set by Setup).
func Bin() string { return bin }

// EmptyPKIDir is the empty directory passed as --kubeadm-pki-dir (set by Setup).
func EmptyPKIDir() string { return emptyPKIDir }

// Main is the whole TestMain of an e2e package: it parses the flags and exits with Setup(m).
func Main(m *testing.M) {
	flag.Parse()
	os.Exit(Setup(m))
}

// Setup locates or builds the plugin, creates the empty PKI directory, runs the tests and
// cleans up; it returns the exit code. Under -short it only runs the tests (they all skip).
func Setup(m *testing.M) int {
	if testing.Short() {
		return m.Run() // every test skips; nothing to build
	}
	tmp, err := os.MkdirTemp("", "kubectl-etcd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	emptyPKIDir = filepath.Join(tmp, "empty-pki")
	if err := os.Mkdir(emptyPKIDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if p := os.Getenv("KUBECTL_ETCD"); p != "" {
		if bin, err = filepath.Abs(p); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := os.Stat(bin); err != nil {
			fmt.Fprintf(os.Stderr, "KUBECTL_ETCD=%s: %v\n", p, err)
			return 1
		}
	} else {
		bin = filepath.Join(tmp, "kubectl-etcd")
		t0 := time.Now()
		build := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-etcd")
		build.Dir = filepath.Join("..", "..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building kubectl-etcd: %v\n%s", err, out)
			return 1
		}
		fmt.Fprintf(os.Stderr, "built %s in %.1fs\n", bin, time.Since(t0).Seconds())
	}
	return m.Run()
}

// SkipShort skips the test under -short: every e2e test needs the harness binaries.
func SkipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: needs a harness cluster (binaries from hack/e2e-tools.sh)")
	}
}

// Result is one run of the plugin.
type Result struct {
	Args           []string
	Dir            string // working directory; "" for the test's own
	Stdout, Stderr string
	Code           int
	Signaled       bool // killed by a signal (a hang); Code is -1
	Dur            time.Duration
}

// String shows everything about the run, for failure messages.
func (r *Result) String() string {
	cmd := "kubectl-etcd " + strings.Join(r.Args, " ")
	if r.Dir != "" {
		cmd = "(cd " + r.Dir + " && " + cmd + ")"
	}
	return fmt.Sprintf("$ %s\nexit code %d after %s\n--- stdout:\n%s--- stderr:\n%s---",
		cmd, r.Code, r.Dur.Round(time.Millisecond), withNL(r.Stdout), withNL(r.Stderr))
}

func withNL(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

// StderrLines returns the non-empty lines of stderr.
func (r *Result) StderrLines() []string {
	var out []string
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// ErrorLines returns the stderr lines starting with "error: ".
func (r *Result) ErrorLines() []string {
	var out []string
	for _, l := range r.StderrLines() {
		if strings.HasPrefix(l, "error: ") {
			out = append(out, l)
		}
	}
	return out
}

// Options are the optional settings of Start.
type Options struct {
	Dir    string    // working directory; "" for the test's own
	Stdin  []byte    // nil: /dev/null, never a terminal
	Stderr io.Writer // when set, stderr is copied here too as it is written
}

// Proc is a running plugin process.
type Proc struct {
	Cmd *exec.Cmd
	T0  time.Time // when it was started
	// Exited is closed when the process has exited and its output was collected.
	Exited         <-chan struct{}
	r              *Result
	stdout, stderr bytes.Buffer
	cancel         context.CancelFunc
	err            error // Wait's error, valid after Exited
}

// Start starts the plugin with args against cluster c (nil: the test's own environment); wait
// for it with Wait. Unless args name --kubeadm-pki-dir, the empty directory is passed so that
// auto never finds host certificates. A run longer than HangLimit is killed.
func Start(t *testing.T, c *harness.Cluster, opts Options, args ...string) *Proc {
	t.Helper()
	full := slices.Clone(args)
	if !slices.ContainsFunc(full, func(a string) bool { return strings.HasPrefix(a, "--kubeadm-pki-dir") }) {
		full = append(full, "--kubeadm-pki-dir", emptyPKIDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), HangLimit)
	p := &Proc{r: &Result{Args: full, Dir: opts.Dir}, cancel: cancel}
	p.Cmd = exec.CommandContext(ctx, bin, full...)
	p.Cmd.Dir = opts.Dir
	if c != nil {
		p.Cmd.Env = c.Env()
	}
	p.Cmd.WaitDelay = 5 * time.Second
	if opts.Stdin != nil {
		p.Cmd.Stdin = bytes.NewReader(opts.Stdin)
	}
	p.Cmd.Stdout, p.Cmd.Stderr = &p.stdout, &p.stderr
	if opts.Stderr != nil {
		p.Cmd.Stderr = io.MultiWriter(&p.stderr, opts.Stderr)
	}
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.T0 = time.Now()
	if err := p.Cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan struct{})
	p.Exited = exited
	go func() {
		p.err = p.Cmd.Wait()
		close(exited)
	}()
	return p
}

// Wait waits for the process and returns its result; a hang (or any end other than an exit)
// is fatal.
func (p *Proc) Wait(t *testing.T) *Result {
	t.Helper()
	defer p.cancel()
	<-p.Exited
	err := p.err
	r := p.r
	r.Dur = time.Since(p.T0)
	r.Stdout, r.Stderr = p.stdout.String(), p.stderr.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.Code = 0
	case errors.As(err, &ee) && ee.Exited():
		r.Code = ee.ExitCode()
	case errors.As(err, &ee):
		r.Code, r.Signaled = -1, true
		t.Fatalf("plugin killed by a signal (hang > %s?): %v\n%s", HangLimit, err, r)
	default:
		r.Code = -1
		t.Fatalf("plugin did not exit normally (hang > %s?): %v\n%s", HangLimit, err, r)
	}
	t.Logf("kubectl-etcd %s -> exit %d in %s", strings.Join(r.Args, " "), r.Code, r.Dur.Round(time.Millisecond))
	return r
}

// Run runs the plugin to completion against cluster c (see Start).
func Run(t *testing.T, c *harness.Cluster, args ...string) *Result {
	t.Helper()
	return Start(t, c, Options{}, args...).Wait(t)
}

// WantCode fails the test (fatally) when the exit code is not want.
func WantCode(t *testing.T, r *Result, want int) {
	t.Helper()
	if r.Code != want {
		t.Fatalf("exit code %d, want %d\n%s", r.Code, want, r)
	}
}

// Decode unmarshals the run's stdout into v (unknown fields are allowed: the plugin's JSON may
// grow).
func Decode(t *testing.T, r *Result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.Stdout), v); err != nil {
		t.Fatalf("decoding stdout as %T: %v\n%s", v, err, r)
	}
}

// DecodeStrict unmarshals the run's stdout into v and fails on a field v does not know, so a
// renamed or added field shows up.
func DecodeStrict(t *testing.T, r *Result, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding stdout as %T: %v\n%s", v, err, r)
	}
}

// PFCertArgs are the port-forward certificate flags for the cluster's healthcheck client pair.
func PFCertArgs(c *harness.Cluster) []string {
	return []string{"--cacert", filepath.Join(c.PKIDir, "ca.crt"),
		"--cert", filepath.Join(c.PKIDir, "healthcheck-client.crt"),
		"--key", filepath.Join(c.PKIDir, "healthcheck-client.key")}
}

// PFArgs select the port-forward transport with the cluster's healthcheck client pair.
func PFArgs(c *harness.Cluster) []string {
	return append([]string{"--transport", "port-forward"}, PFCertArgs(c)...)
}
