// Command snapshot benchmarks "kubectl etcd snapshot save" (streamed through the API server's
// pods/portforward) against a direct "etcdctl snapshot save" to the same member, on one e2e
// harness cluster (real etcd, real kube-apiserver, kwok as the kubelet API).
//
//	cd test && go run ./bench/snapshot [-mib 500] [-rounds 3] [-member cp-1]
//
// It fills the cluster with -mib MiB of incompressible values, then runs -rounds rounds, each
// saving once with the plugin and once with etcdctl (alternating which goes first), and prints
// MB/s (10^6 bytes per second of wall time of the process, start to exit) per round, the means,
// the ratio plugin/direct, CPU time and peak RSS (getrusage of the child). Diagnostics follow:
// the plugin's own stream time (FILE.json "took"), the plugin over SPDY instead of WebSocket
// (KUBECTL_PORT_FORWARD_WEBSOCKETS=false), and etcdctl through "kubectl port-forward", which
// separates the cost of the port-forward path from the plugin's own.
//
// Then (-compression, or alone with -compression-only) it compares plain, .zst, .gz and
// .zst.age saves on a fresh cluster filled with -objects-mib MiB of ConfigMaps and Secrets
// written through the API server: ratio, MB/s and peak RSS per format (compress.go).
//
// It never fails on timing; it exits non-zero only when a snapshot fails. The plugin is
// $KUBECTL_ETCD, else it is built from the repository root. E2E_ETCD_VERSION picks etcd.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
)

type sample struct {
	what     string
	bytes    int64
	wall     time.Duration
	stream   time.Duration // plugin: "took" from FILE.json (stream + verify + fsync)
	user     time.Duration
	sys      time.Duration
	maxRSSKB int64
	note     string
}

func (s sample) mbps() float64 { return float64(s.bytes) / s.wall.Seconds() / 1e6 }

func (s sample) String() string {
	extra := ""
	if s.stream > 0 {
		extra = fmt.Sprintf("  stream %6.2fs = %6.1f MB/s", s.stream.Seconds(), float64(s.bytes)/s.stream.Seconds()/1e6)
	}
	return fmt.Sprintf("%-40s %7.1f MB  wall %6.2fs = %6.1f MB/s  cpu user %5.2fs sys %5.2fs  peak RSS %6.1f MiB%s%s",
		s.what, float64(s.bytes)/1e6, s.wall.Seconds(), s.mbps(), s.user.Seconds(), s.sys.Seconds(), float64(s.maxRSSKB)/1024, extra, s.note)
}

func main() {
	mib := flag.Int("mib", 500, "MiB of data to fill the cluster with")
	rounds := flag.Int("rounds", 3, "rounds of plugin vs direct")
	member := flag.String("member", "cp-1", "member to take the snapshots from")
	members := flag.Int("members", 3, "members in the cluster")
	diag := flag.Bool("diagnostics", true, "also run the SPDY and kubectl port-forward diagnostics")
	diagRounds := flag.Int("diagnostic-rounds", 2, "rounds of each diagnostic")
	perfOut := flag.String("perf", "", "also record one plugin save with `perf record -g` into this file and print the top symbols (needs perf and an unstripped plugin)")
	keep := flag.Bool("keep", false, "keep the harness run dir")
	compress := flag.Bool("compression", true, "also compare plain, zstd, gzip and zstd+age saves on a fresh cluster filled with Kubernetes objects")
	compressOnly := flag.Bool("compression-only", false, "run only the compression comparison")
	objectsMiB := flag.Int("objects-mib", 100, "MiB of ConfigMaps and Secrets to write through the API server for the compression comparison")
	compressRounds := flag.Int("compression-rounds", 2, "rounds of the compression comparison")
	flag.Parse()
	t0 := time.Now()
	if !*compressOnly {
		if err := run(*mib, *rounds, *members, *member, *diag, *diagRounds, *perfOut, *keep); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	if *compress || *compressOnly {
		if err := runCompression(*objectsMiB, *compressRounds, *members, *member, *keep); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("\nbench took %s in all\n", time.Since(t0).Round(time.Second))
}

// benchEnv is what each part of the bench runs in: a work directory, the plugin binary, an
// empty kubeadm PKI directory (the certificates come from flags) and a harness cluster.
type benchEnv struct {
	work, plugin, emptyPKI string
	c                      *harness.Cluster
	// certs are the plugin's flags for the harness's etcd client certificate.
	certs []string
}

// newBenchEnv sets up a benchEnv; stop tears it down.
func newBenchEnv(members int, keep bool) (_ *benchEnv, stop func(), err error) {
	e := &benchEnv{}
	if e.work, err = os.MkdirTemp("", "kubectl-etcd-bench-"); err != nil {
		return nil, nil, err
	}
	stop = func() { _ = os.RemoveAll(e.work) }
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if e.plugin, err = pluginBinary(e.work); err != nil {
		return nil, nil, err
	}
	e.emptyPKI = filepath.Join(e.work, "empty-pki")
	if err = os.Mkdir(e.emptyPKI, 0o755); err != nil {
		return nil, nil, err
	}
	ts := time.Now()
	if e.c, err = harness.New(harness.Options{Members: members, Keep: keep}); err != nil {
		return nil, nil, err
	}
	stop = func() { e.c.Stop(); _ = os.RemoveAll(e.work) }
	c := e.c
	fmt.Printf("cluster: %s mode, %d members, etcd %s, up in %s (run dir %s)\n", c.Mode, members, c.EtcdVersion, time.Since(ts).Round(100*time.Millisecond), c.Dir)
	e.certs = []string{"--cacert", filepath.Join(c.PKIDir, "ca.crt"), "--cert", filepath.Join(c.PKIDir, "healthcheck-client.crt"),
		"--key", filepath.Join(c.PKIDir, "healthcheck-client.key")}
	return e, stop, nil
}

func run(mib, rounds, members int, member string, diag bool, diagRounds int, perfOut string, keep bool) error {
	e, stop, err := newBenchEnv(members, keep)
	if err != nil {
		return err
	}
	defer stop()
	work, plugin, emptyPKI, c, certs := e.work, e.plugin, e.emptyPKI, e.c, e.certs

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	tf := time.Now()
	if err := c.Fill(ctx, mib); err != nil {
		return err
	}
	fmt.Printf("filled %d MiB in %s\n", mib, time.Since(tf).Round(100*time.Millisecond))

	etcdctlCerts := []string{"--cacert=" + filepath.Join(c.PKIDir, "ca.crt"), "--cert=" + filepath.Join(c.PKIDir, "healthcheck-client.crt"),
		"--key=" + filepath.Join(c.PKIDir, "healthcheck-client.key")}
	etcdctl := filepath.Join(c.EtcdBin, "etcdctl")

	pluginSave := func(what string, env []string) (sample, error) {
		f := filepath.Join(work, "plugin.db")
		argv := append([]string{"snapshot", "save", f, "--member", member, "--transport", "port-forward", "--kubeadm-pki-dir", emptyPKI}, certs...)
		s, err := measure(ctx, what, append(c.Env(), env...), f, plugin, argv...)
		if err != nil {
			return s, err
		}
		var md struct {
			Took string `json:"took"`
		}
		if b, err := os.ReadFile(f + ".json"); err == nil && json.Unmarshal(b, &md) == nil {
			s.stream, _ = time.ParseDuration(md.Took)
		}
		_ = os.Remove(f)
		_ = os.Remove(f + ".json")
		return s, nil
	}
	directSave := func(what, endpoint string) (sample, error) {
		f := filepath.Join(work, "direct.db")
		argv := append(append([]string{"--endpoints=" + endpoint}, etcdctlCerts...), "snapshot", "save", f)
		s, err := measure(ctx, what, c.Env(), f, etcdctl, argv...)
		_ = os.Remove(f)
		return s, err
	}

	// Warm-up (not counted): the member's page cache and the forward path.
	if _, err := directSave("warm-up", c.ClientURL(member)); err != nil {
		return err
	}
	var ps, ds []sample
	for i := 1; i <= rounds; i++ {
		first, second := "plugin", "direct"
		if i%2 == 0 {
			first, second = second, first
		}
		for _, which := range []string{first, second} {
			var s sample
			var err error
			if which == "plugin" {
				s, err = pluginSave(fmt.Sprintf("round %d plugin (port-forward, ws)", i), nil)
				ps = append(ps, s)
			} else {
				s, err = directSave(fmt.Sprintf("round %d direct etcdctl", i), c.ClientURL(member))
				ds = append(ds, s)
			}
			if err != nil {
				return err
			}
			fmt.Println(s)
		}
	}
	mp, md := mean(ps), mean(ds)
	fmt.Printf("\nmean plugin %.1f MB/s, direct %.1f MB/s, ratio plugin/direct %.2f\n", mp, md, mp/md)
	fmt.Printf("plugin peak RSS max %.1f MiB, etcdctl peak RSS max %.1f MiB\n", maxRSS(ps), maxRSS(ds))
	if mp/md < 0.8 {
		fmt.Printf("plugin is slower than 0.8x direct\n")
	}

	if diag {
		fmt.Println("\ndiagnostics:")
		type diagnostic struct {
			name string
			run  func() (sample, error)
		}
		kpf := func(ws bool) func() (sample, error) {
			return func() (sample, error) {
				return kubectlForwardSave(ctx, c, member, ws, func(url string) (sample, error) {
					name := "etcdctl via kubectl port-forward (ws)"
					if !ws {
						name = "etcdctl via kubectl port-forward (SPDY)"
					}
					return directSave(name, url)
				})
			}
		}
		diags := []diagnostic{
			{"plugin (ws)", func() (sample, error) { return pluginSave("plugin (ws)", nil) }},
			{"plugin (SPDY)", func() (sample, error) {
				return pluginSave("plugin (SPDY)", []string{"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"})
			}},
			{"etcdctl via kubectl port-forward (ws)", kpf(true)},
			{"etcdctl via kubectl port-forward (SPDY)", kpf(false)},
		}
		results := make([][]sample, len(diags))
		for r := 0; r < diagRounds; r++ {
			for i, d := range diags {
				s, err := d.run()
				if err != nil {
					fmt.Printf("%s failed: %v\n", d.name, err)
					continue
				}
				results[i] = append(results[i], s)
				fmt.Println(s)
			}
		}
		fmt.Println()
		for i, d := range diags {
			if len(results[i]) > 0 {
				fmt.Printf("mean %-40s %6.1f MB/s (%.2fx direct)\n", d.name, mean(results[i]), mean(results[i])/md)
			}
		}
	}
	if perfOut != "" {
		f := filepath.Join(work, "perf.db")
		argv := append([]string{"record", "-F", "999", "-g", "-o", perfOut, "--", plugin, "snapshot", "save", f, "--member", member,
			"--transport", "port-forward", "--kubeadm-pki-dir", emptyPKI}, certs...)
		s, err := measure(ctx, "plugin under perf record", c.Env(), f, "perf", argv...)
		if err != nil {
			return err
		}
		fmt.Println("\n" + s.String())
		_ = os.Remove(f)
		rep, err := exec.Command("perf", "report", "-i", perfOut, "--stdio", "--no-children", "--sort", "symbol", "-g", "none", "--percent-limit", "1").CombinedOutput()
		if err != nil {
			return fmt.Errorf("perf report: %v\n%s", err, rep)
		}
		fmt.Printf("perf report (self time, >= 1%%) of %s:\n%s", perfOut, rep)
	}
	return nil
}

// measure runs argv, checks that it wrote file, and returns its wall time and rusage.
func measure(ctx context.Context, what string, env []string, file string, bin string, argv ...string) (sample, error) {
	s := sample{what: what}
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	err := cmd.Run()
	s.wall = time.Since(t0)
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.maxRSSKB = ru.Maxrss
			s.user = time.Duration(ru.Utime.Nano())
			s.sys = time.Duration(ru.Stime.Nano())
		}
	}
	if err != nil {
		return s, fmt.Errorf("%s: %s %s: %v\n%s", what, bin, strings.Join(argv, " "), err, out.String())
	}
	fi, err := os.Stat(file)
	if err != nil {
		return s, fmt.Errorf("%s: %v\n%s", what, err, out.String())
	}
	s.bytes = fi.Size()
	return s, nil
}

var forwarding = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> 2379`)

// kubectlForwardSave runs save through "kubectl port-forward pod/etcd-<member> :2379".
func kubectlForwardSave(ctx context.Context, c *harness.Cluster, member string, websockets bool, save func(url string) (sample, error)) (sample, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.KubectlBin, "-n", c.Namespace, "port-forward", "pod/etcd-"+member, ":2379")
	cmd.Env = c.Env()
	if !websockets {
		cmd.Env = append(cmd.Env, "KUBECTL_PORT_FORWARD_WEBSOCKETS=false")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return sample{}, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return sample{}, err
	}
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := forwarding.FindStringSubmatch(sc.Text()); m != nil {
				port <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var s sample
	select {
	case p := <-port:
		s, err = save("https://127.0.0.1:" + p)
	case <-time.After(20 * time.Second):
		err = errors.New("kubectl port-forward did not report its port within 20s")
	}
	cancel()
	_ = cmd.Wait()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && err == nil {
		s.note = fmt.Sprintf("  + kubectl cpu user %.2fs sys %.2fs peak RSS %.1f MiB",
			time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(), float64(ru.Maxrss)/1024)
	}
	return s, err
}

func mean(ss []sample) float64 {
	var sum float64
	for _, s := range ss {
		sum += s.mbps()
	}
	return sum / float64(len(ss))
}

func maxRSS(ss []sample) float64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.maxRSSKB)
	}
	return float64(m) / 1024
}

// pluginBinary is $KUBECTL_ETCD, else a fresh build from the repository root.
func pluginBinary(work string) (string, error) {
	if p := os.Getenv("KUBECTL_ETCD"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("KUBECTL_ETCD=%s: %w", p, err)
		}
		return abs, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(work, "kubectl-etcd")
	t0 := time.Now()
	build := exec.Command("go", "build", "-o", bin, "./cmd/kubectl-etcd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building kubectl-etcd: %v\n%s", err, out)
	}
	fmt.Printf("built %s in %.1fs\n", bin, time.Since(t0).Seconds())
	return bin, nil
}

// repoRoot finds the plugin's module root: the parent of the test module (go run's working directory is test/ or below).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/kubectl-etcd/kubectl-etcd\n") {
			return d, nil
		}
	}
	return "", fmt.Errorf("no kubectl-etcd module root above %s; set KUBECTL_ETCD", dir)
}
