// Command kubeadm benchmarks the routes of "kubectl etcd snapshot save" on the kubeadm-made
// cluster (make kubeadm-up: real kubelet, containerd, distroless etcd), against a direct
// "etcdctl snapshot save" on the member's own node, all to the same member, alternating, in one
// run:
//
//	cd test && go run ./bench/kubeadm -dir /tmp/kubectl-etcd-kubeadm [-mib 500] [-rounds 3] [-member cp-2] [-status-rounds 5] [-status-also OLD]
//
// With -rounds 0 only the status comparison runs, and it needs nothing but DIR/kubeconfig: it
// runs on an e2e harness cluster too (-dir the harness's run dir, -member cp-1).
//
// It first times "kubectl etcd status --transport exec" against the one kubectl exec of
// "etcdctl endpoint status --cluster -w json" it replaces (ratio and peak RSS), then the
// snapshot routes:
//
//   - direct: etcdctl on the node (in its namespaces), with the node's healthcheck-client pair;
//   - port-forward: the plugin with certificates (--transport port-forward);
//   - helper-logs: the plugin with nothing but the kubeconfig (a helper pod; the kubelet's log
//     server brings the bytes back);
//   - helper-exec: the same through cat in a shell image (-shell-image; skipped when empty);
//   - kubectl-pf: what users do today through the API, "kubectl port-forward" to the member's pod
//     and etcdctl on this machine with the node's healthcheck-client pair (its CPU is both
//     processes', its peak RSS the sum of both peaks: they run at once).
//
// It fills the cluster with -mib MiB of incompressible values under /bench/ first (and deletes
// them at the end), then prints per sample the wall time (process start to exit), MB/s, CPU and
// peak RSS (getrusage of the child: for direct, of etcdctl under nsenter), the medians, and the
// ratios (speed: higher is faster; CPU per MiB; peak RSS against the 64 MiB target). It never
// fails on timing; it exits non-zero only when a snapshot fails.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

type sample struct {
	route    string
	bytes    int64
	wall     time.Duration
	user     time.Duration
	sys      time.Duration
	maxRSSKB int64
}

func (s sample) mbps() float64 { return float64(s.bytes) / s.wall.Seconds() / 1e6 }

func (s sample) cpuPerMiB() float64 {
	return float64((s.user + s.sys).Milliseconds()) / (float64(s.bytes) / (1 << 20))
}

var (
	dir, member, plugin, script, cache, shellImage string
	statusRounds                                   int
	statusAlso                                     string
)

func main() {
	flag.StringVar(&dir, "dir", os.Getenv("KUBEADM_DIR"), "directory of the running kubeadm cluster (make kubeadm-up)")
	flag.StringVar(&member, "member", "cp-2", "member (and node) to take the snapshots from")
	flag.StringVar(&shellImage, "shell-image", "", "shell image on the nodes for the helper's exec route (empty: skip that route)")
	mib := flag.Int("mib", 500, "MiB of data to fill the cluster with")
	rounds := flag.Int("rounds", 3, "rounds of the snapshot comparison; each runs every route once, in an order that rotates; 0 skips it")
	flag.IntVar(&statusRounds, "status-rounds", 5, "rounds of the status comparison (plugin over exec vs one kubectl exec of etcdctl --cluster); 0 skips it")
	flag.StringVar(&statusAlso, "status-also", "", "comma-separated other plugin binaries (an older build) timed in the same status rounds")
	flag.Parse()
	plugin = os.Getenv("KUBECTL_ETCD")
	root, _ := filepath.Abs("..")
	script = filepath.Join(root, "hack", "kubeadm-cluster.sh")
	cache = os.Getenv("E2E_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "kubectl-etcd", "e2e")
	}
	if dir == "" || plugin == "" {
		fmt.Fprintln(os.Stderr, "bench: need -dir (a running kubeadm cluster) and KUBECTL_ETCD")
		os.Exit(2)
	}
	t0 := time.Now()
	if err := run(*mib, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("\nbench took %s in all\n", time.Since(t0).Round(time.Second))
}

func pkiDir(node string) string {
	return filepath.Join(dir, "nodes", node, "etc-upper", "kubernetes", "pki", "etcd")
}

func nodeIP(node string) string { return "172.30.250.1" + strings.TrimPrefix(node, "cp-") }

// fill writes mib MiB of random 512 KiB values under /bench/ through the member's node address.
func fill(ctx context.Context, mib int) (func(), error) {
	pki := pkiDir(member)
	pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "healthcheck-client.crt"), filepath.Join(pki, "healthcheck-client.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + nodeIP(member) + ":2379"}, DialTimeout: 10 * time.Second,
		TLS: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}})
	if err != nil {
		return nil, err
	}
	val := make([]byte, 512<<10)
	for i := 0; i < mib*2; i++ {
		_, _ = rand.Read(val)
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := cli.Put(pctx, fmt.Sprintf("/bench/%06d", i), string(val))
		cancel()
		if err != nil {
			cli.Close()
			return nil, fmt.Errorf("filling: %w", err)
		}
	}
	return func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = cli.Delete(dctx, "/bench/", clientv3.WithPrefix())
		cli.Close()
	}, nil
}

func run(mib, rounds int) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "kubectl-etcd-bench-kubeadm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	empty := filepath.Join(work, "no-pki")
	if err := os.Mkdir(empty, 0o700); err != nil {
		return err
	}
	if err := statusBench(statusRounds); err != nil {
		return err
	}
	if rounds <= 0 {
		return nil // -rounds 0: the status comparison only
	}
	fmt.Printf("filling the cluster with %d MiB under /bench/ ...\n", mib)
	cleanup, err := fill(ctx, mib)
	if err != nil {
		return err
	}
	defer cleanup()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	pluginArgs := func(file string, extra ...string) []string {
		return append([]string{"--kubeconfig", kubeconfig, "snapshot", "save", file, "--member", member}, extra...)
	}
	etcdctl := filepath.Join(cache, "etcd-v3.6.16", "etcdctl")
	type route struct {
		name string
		argv func(file string) []string
	}
	routes := []route{
		{"direct", func(file string) []string {
			return []string{script, "exec", dir, member, etcdctl, "--endpoints=https://127.0.0.1:2379",
				"--cacert=/etc/kubernetes/pki/etcd/ca.crt", "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt",
				"--key=/etc/kubernetes/pki/etcd/healthcheck-client.key", "snapshot", "save", file}
		}},
		{"port-forward", func(file string) []string {
			return append([]string{plugin}, pluginArgs(file, "--transport", "port-forward", "--kubeadm-pki-dir", pkiDir(member))...)
		}},
		{"helper-logs", func(file string) []string {
			return append([]string{plugin}, pluginArgs(file, "--kubeadm-pki-dir", empty, "--helper-route", "logs")...)
		}},
		{"kubectl-pf", nil}, // measurePortForward
	}
	if shellImage != "" {
		routes = append(routes, route{"helper-exec", func(file string) []string {
			return append([]string{plugin}, pluginArgs(file, "--kubeadm-pki-dir", empty, "--helper-route", "exec", "--helper-image", shellImage)...)
		}})
	}
	var samples []sample
	for r := 0; r < rounds; r++ {
		for i := range routes {
			rt := routes[(i+r)%len(routes)]
			// direct writes inside the node (its /var/tmp is the host's): the same path works
			file := filepath.Join(work, fmt.Sprintf("%s-%d.db", rt.name, r))
			var s sample
			var err error
			if rt.argv == nil {
				s, err = measurePortForward(rt.name, kubeconfig, etcdctl, file)
			} else {
				s, err = measure(rt.name, rt.argv(file), file)
			}
			if err != nil {
				return err
			}
			samples = append(samples, s)
			fmt.Printf("round %d  %-13s %7.1f MB  wall %6.2fs = %6.1f MB/s  cpu user %5.2fs sys %5.2fs  peak RSS %6.1f MiB\n",
				r+1, s.route, float64(s.bytes)/1e6, s.wall.Seconds(), s.mbps(), s.user.Seconds(), s.sys.Seconds(), float64(s.maxRSSKB)/1024)
			_ = os.Remove(file)
			_ = os.Remove(file + ".json")
		}
	}
	med := map[string]sample{}
	fmt.Println("\nmedians:")
	for _, rt := range routes {
		var xs []sample
		for _, s := range samples {
			if s.route == rt.name {
				xs = append(xs, s)
			}
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i].wall < xs[j].wall })
		m := xs[len(xs)/2]
		peak := int64(0)
		for _, s := range xs {
			peak = max(peak, s.maxRSSKB)
		}
		m.maxRSSKB = peak
		med[rt.name] = m
		fmt.Printf("  %-13s wall %6.2fs = %6.1f MB/s  peak RSS (max of rounds) %6.1f MiB\n", rt.name, m.wall.Seconds(), m.mbps(), float64(peak)/1024)
	}
	fmt.Println("\nratios (speed: > 1 is faster):")
	for _, h := range []string{"helper-logs", "helper-exec"} {
		if s, ok := med[h]; ok {
			fmt.Printf("  %-13s ÷ port-forward %.2fx   ÷ direct etcdctl %.2fx   (targets: >= 1.0x and >= 0.7x)\n",
				h, med["port-forward"].wall.Seconds()/s.wall.Seconds(), med["direct"].wall.Seconds()/s.wall.Seconds())
		}
	}
	pf := med["port-forward"]
	fmt.Printf("  %-13s ÷ direct etcdctl %.2fx   ÷ kubectl port-forward + etcdctl %.2fx\n", "port-forward",
		med["direct"].wall.Seconds()/pf.wall.Seconds(), med["kubectl-pf"].wall.Seconds()/pf.wall.Seconds())
	fmt.Println("\nCPU (user + sys) per MiB, medians; peak RSS, max of rounds:")
	for _, rt := range routes {
		if s, ok := med[rt.name]; ok {
			fmt.Printf("  %-13s %6.1f ms/MiB  ÷ direct etcdctl %.2fx   peak RSS %6.1f MiB\n", rt.name, s.cpuPerMiB(),
				s.cpuPerMiB()/med["direct"].cpuPerMiB(), float64(s.maxRSSKB)/1024)
		}
	}
	fmt.Printf("  port-forward: CPU ÷ direct etcdctl %.2fx (target <= 1.5x), peak RSS %.1f MiB (target <= 64)\n",
		pf.cpuPerMiB()/med["direct"].cpuPerMiB(), float64(pf.maxRSSKB)/1024)
	return nil
}

// statusBench times, alternating, "kubectl etcd status --transport exec" and the one-liner it
// replaces, one kubectl exec of "etcdctl endpoint status --cluster -w json" in the member's pod,
// and prints the medians, their ratio (target <= 1.2x) and the peak RSS of each.
func statusBench(rounds int) error {
	if rounds <= 0 {
		return nil
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kubectl := filepath.Join(cache, "k8s-v1.37.2", "kubectl")
	type command struct {
		name string
		argv []string
	}
	cmds := []command{
		{"plugin status", []string{plugin, "--kubeconfig", kubeconfig, "status", "--transport", "exec"}},
		{"one-liner", []string{kubectl, "--kubeconfig", kubeconfig, "-n", "kube-system", "exec", "etcd-" + member, "--",
			"etcdctl", "--endpoints=https://127.0.0.1:2379", "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
			"--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt", "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key",
			"endpoint", "status", "--cluster", "-w", "json"}},
	}
	for _, p := range strings.Split(statusAlso, ",") {
		if p != "" {
			cmds = append(cmds, command{p, []string{p, "--kubeconfig", kubeconfig, "status", "--transport", "exec"}})
		}
	}
	walls := map[string][]time.Duration{}
	peak := map[string]int64{}
	for r := 0; r < rounds; r++ {
		for i := range cmds {
			c := cmds[(i+r)%len(cmds)]
			cmd := exec.Command(c.argv[0], c.argv[1:]...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w: %s", c.name, err, out.String())
			}
			walls[c.name] = append(walls[c.name], time.Since(start))
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				peak[c.name] = max(peak[c.name], ru.Maxrss)
			}
		}
	}
	median := func(xs []time.Duration) time.Duration {
		sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
		return xs[len(xs)/2]
	}
	fmt.Printf("status over exec, %d rounds, alternating (medians):\n", rounds)
	for _, c := range cmds {
		fmt.Printf("  %-13s wall %6.3fs  peak RSS %6.1f MiB  ÷ one-liner %.2fx\n", c.name, median(walls[c.name]).Seconds(),
			float64(peak[c.name])/1024, median(walls[c.name]).Seconds()/median(walls["one-liner"]).Seconds())
	}
	fmt.Printf("  plugin status ÷ one-liner %.2fx (target <= 1.2x)\n\n",
		median(walls["plugin status"]).Seconds()/median(walls["one-liner"]).Seconds())
	return nil
}

// measure runs argv, checks that it wrote file, and returns its wall time and rusage.
func measure(route string, argv []string, file string) (sample, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	err := cmd.Run()
	s := sample{route: route, wall: time.Since(start)}
	if err != nil {
		return s, fmt.Errorf("%s: %w: %s", route, err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.user, s.sys, s.maxRSSKB = time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), ru.Maxrss
	}
	st, err := os.Stat(file)
	if err != nil {
		return s, fmt.Errorf("%s wrote no %s: %w: %s", route, file, err, stderr.String())
	}
	s.bytes = st.Size()
	if route != "direct" {
		var md struct{ Route string }
		if data, err := os.ReadFile(file + ".json"); err == nil && json.Unmarshal(data, &md) == nil && md.Route != route {
			return s, fmt.Errorf("%s: the plugin took route %q", route, md.Route)
		}
	}
	return s, nil
}

// measurePortForward takes the snapshot the way users do through the API without the plugin:
// "kubectl port-forward" to the member's pod in the background, then etcdctl on this machine
// against the forwarded port with the node's healthcheck-client pair (the member's serving
// certificate names 127.0.0.1). The wall time runs from starting kubectl to etcdctl's exit.
func measurePortForward(route, kubeconfig, etcdctl, file string) (sample, error) {
	kubectl := filepath.Join(cache, "k8s-v1.37.2", "kubectl")
	start := time.Now()
	pf := exec.Command(kubectl, "--kubeconfig", kubeconfig, "-n", "kube-system", "port-forward", "pod/etcd-"+member, ":2379")
	out, err := pf.StdoutPipe()
	if err != nil {
		return sample{route: route}, err
	}
	var pfErr bytes.Buffer
	pf.Stderr = &pfErr
	if err := pf.Start(); err != nil {
		return sample{route: route}, err
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = pf.Process.Signal(syscall.SIGTERM)
			_ = pf.Wait()
		}
	}
	defer stop()
	port := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		// "Forwarding from 127.0.0.1:40123 -> 2379"
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "Forwarding" && strings.HasPrefix(f[2], "127.0.0.1:") {
			port = strings.TrimPrefix(f[2], "127.0.0.1:")
			break
		}
	}
	if port == "" {
		return sample{route: route}, fmt.Errorf("%s: kubectl port-forward printed no local port: %s", route, pfErr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	pki := pkiDir(member)
	s, err := measure(route, []string{etcdctl, "--endpoints=https://127.0.0.1:" + port,
		"--cacert=" + filepath.Join(pki, "ca.crt"), "--cert=" + filepath.Join(pki, "healthcheck-client.crt"),
		"--key=" + filepath.Join(pki, "healthcheck-client.key"), "snapshot", "save", file}, file)
	s.wall = time.Since(start)
	stop()
	if err != nil {
		return s, err
	}
	if ru, ok := pf.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.user += time.Duration(ru.Utime.Nano())
		s.sys += time.Duration(ru.Stime.Nano())
		s.maxRSSKB += ru.Maxrss
	}
	return s, nil
}
