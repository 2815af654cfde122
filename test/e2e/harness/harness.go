package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
)

// Options configures a cluster. The zero value is a 3-member cluster of the default etcd version in
// the default mode.
type Options struct {
	// EtcdVersion is "v3.6.16" or "v3.7.3"; default: $E2E_ETCD_VERSION, else v3.6.16.
	EtcdVersion string
	// Members is the number of initial voting members; default 3.
	Members int
	// QuotaBackendBytes, when > 0, is passed to every member as --quota-backend-bytes (and so
	// appears in the pod spec).
	QuotaBackendBytes int64
	// Mode is ModeNetns or ModeLoopback; default: $E2E_MODE, else netns when running as root with a
	// working `ip netns`, else loopback.
	Mode string
	// NoSignalHandler disables the harness' SIGINT/SIGTERM handler (which tears down every live
	// cluster and exits). For programs that handle signals themselves, like e2e-up.
	NoSignalHandler bool
	// Keep keeps Dir after Stop even on success (also $E2E_KEEP=1).
	Keep bool
	// MemberVersions overrides EtcdVersion for single members by node name ("cp-3": "v3.7.3"):
	// that member's etcd binary and its pod's image tag. etcdctl (exec) and the storage etcd
	// stay at EtcdVersion. Only versions that can form one cluster make sense (3.6 with 3.7).
	MemberVersions map[string]string
}

const runDirPrefix = "kubectl-etcd-e2e-"

const (
	ModeNetns    = "netns"
	ModeLoopback = "loopback"

	DefaultEtcdVersion = "v3.6.16"
	K8sVersion         = "v1.37.2"
	KwokVersion        = "v0.8.0"
)

// Cluster is a running kubeadm-like control plane: N etcd members with kwok-backed Nodes and etcd
// mirror pods, a kube-apiserver with its own storage etcd, and an admin kubeconfig.
type Cluster struct {
	Dir         string // run dir holding pki/, nodes/, logs/, kubeconfig; removed by Stop unless a test failed
	Kubeconfig  string // admin kubeconfig (system:masters), certificates embedded
	Namespace   string // "kube-system"
	EtcdBin     string // dir holding etcd, etcdctl, etcdutl of EtcdVersion
	KubectlBin  string // path to kubectl
	PKIDir      string // like /etc/kubernetes/pki/etcd: ca.crt, ca.key, healthcheck-client.{crt,key}; apiserver-etcd-client.* is in its parent
	Mode        string // ModeNetns or ModeLoopback
	EtcdVersion string
	APIServer   string // https://IP:PORT

	storageURL string // the API server's own storage etcd (CopyAPIObjects)

	opts         Options
	tb           testing.TB
	kwokBin      string
	stagesFile   string
	apiserverBin string
	pki          *pki
	net          *network
	kube         kubernetes.Interface
	etcd         *clientv3.Client // internal client, endpoints of all members
	tlsConfig    *tls.Config

	mu          sync.Mutex
	procs       []*proc
	nodes       map[string]*node
	order       []string
	nextOrdinal int
	kwok        *proc // loopback mode: the single kwok
	kubeletPort int   // loopback mode: kwok's kubelet port
	clients     []*clientv3.Client
	stopOnce    sync.Once
	stopped     bool
}

// Start starts a cluster for a test and registers its teardown with t.Cleanup. It builds nothing:
// binaries come from the cache filled by hack/e2e-tools.sh.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := newCluster(opts, t)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// New starts a cluster outside of a test (see cmd/e2e-up). The caller must call Stop.
func New(opts Options) (*Cluster, error) { return newCluster(opts, nil) }

// CacheDir is where hack/e2e-tools.sh puts the binaries.
func CacheDir() string {
	if d := os.Getenv("E2E_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "kubectl-etcd", "e2e")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "kubectl-etcd", "e2e")
}

func findTools(c *Cluster) error {
	cache := CacheDir()
	c.EtcdBin = filepath.Join(cache, "etcd-"+c.EtcdVersion)
	k8s := filepath.Join(cache, "k8s-"+K8sVersion)
	kwok := filepath.Join(cache, "kwok-"+KwokVersion)
	c.KubectlBin = filepath.Join(k8s, "kubectl")
	c.apiserverBin = filepath.Join(k8s, "kube-apiserver")
	c.kwokBin = filepath.Join(kwok, "kwok")
	c.stagesFile = filepath.Join(kwok, "stages.yaml")
	var missing []string
	dirs := []string{c.EtcdBin, k8s, kwok}
	for _, v := range c.opts.MemberVersions {
		dirs = append(dirs, filepath.Join(cache, "etcd-"+v))
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, ".complete")); err != nil {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("e2e binaries missing (no .complete marker in %s); build them with: hack/e2e-tools.sh  (ETCD_VERSIONS=%q; E2E_CACHE=%s)",
			strings.Join(missing, ", "), c.EtcdVersion, cache)
	}
	return nil
}

func newCluster(opts Options, tb testing.TB) (_ *Cluster, err error) {
	if opts.EtcdVersion == "" {
		opts.EtcdVersion = os.Getenv("E2E_ETCD_VERSION")
	}
	if opts.EtcdVersion == "" {
		opts.EtcdVersion = DefaultEtcdVersion
	}
	if opts.Members == 0 {
		opts.Members = 3
	}
	if m := os.Getenv("E2E_MODE"); m != "" {
		opts.Mode = m
	}
	if opts.Mode == "" {
		opts.Mode = ModeLoopback
		if netnsUsable() {
			opts.Mode = ModeNetns
		}
	}
	if opts.Mode != ModeNetns && opts.Mode != ModeLoopback {
		return nil, fmt.Errorf("unknown mode %q (want %s or %s)", opts.Mode, ModeNetns, ModeLoopback)
	}
	if os.Getenv("E2E_KEEP") == "1" {
		opts.Keep = true
	}
	c := &Cluster{opts: opts, tb: tb, Namespace: "kube-system", Mode: opts.Mode, EtcdVersion: opts.EtcdVersion, nodes: map[string]*node{}}
	if err := findTools(c); err != nil {
		return nil, err
	}
	if c.Dir, err = os.MkdirTemp("", runDirPrefix); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	register(c)
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n(run dir kept: %s)", err, c.Dir)
			c.opts.Keep = true
			c.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	c.logf("harness: %s cluster (%d members, etcd %s) up in %.1fs, dir %s", c.Mode, opts.Members, c.EtcdVersion, time.Since(t0).Seconds(), c.Dir)
	return c, nil
}

func (c *Cluster) logf(format string, args ...any) {
	if c.tb != nil {
		c.tb.Helper()
		c.tb.Logf(format, args...)
		return
	}
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func (c *Cluster) logPath(name string) string { return filepath.Join(c.Dir, "logs", name+".log") }

func (c *Cluster) start(ctx context.Context) error {
	apiIP := net.IPv4(127, 0, 0, 1).To4()
	if c.Mode == ModeNetns {
		n, err := setupNetwork(ctx, c.Dir)
		if err != nil {
			return fmt.Errorf("network: %w", err)
		}
		c.net = n
		apiIP = n.hostIP
	}
	var err error
	pkiDir := filepath.Join(c.Dir, "pki")
	if c.pki, err = generatePKI(pkiDir, apiIP); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	c.PKIDir = filepath.Join(pkiDir, "etcd")
	if c.tlsConfig, err = c.clientTLS(); err != nil {
		return err
	}

	// The API server (with its storage etcd) and the etcd members start concurrently.
	apiErr := make(chan error, 1)
	go func() { apiErr <- c.startAPIServer(ctx, apiIP) }()

	names := make([]string, c.opts.Members)
	for i := range names {
		names[i] = fmt.Sprintf("cp-%d", i+1)
	}
	var initial []*node
	for _, name := range names {
		n, err := c.newNode(ctx, name)
		if err != nil {
			return err
		}
		initial = append(initial, n)
	}
	var ic []string
	for _, n := range initial {
		ic = append(ic, n.name+"="+n.peerURL())
	}
	for _, n := range initial {
		n.argv = c.etcdArgv(n, "new", strings.Join(ic, ","))
		if err := c.startEtcd(n); err != nil {
			return err
		}
	}
	if c.etcd, err = clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), TLS: c.tlsConfig, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}); err != nil {
		return err
	}
	if err := c.waitEtcdHealthy(ctx, initial); err != nil {
		return err
	}
	if err := <-apiErr; err != nil {
		return err
	}
	if c.Mode == ModeLoopback {
		if err := c.restartLoopbackKwok(ctx); err != nil {
			return err
		}
	}
	if c.Mode == ModeNetns {
		for _, n := range initial {
			if err := c.startNodeKwok(n); err != nil {
				return err
			}
		}
	}
	if err := c.startObjects(ctx, initial); err != nil {
		return err
	}
	return c.writeEnvFile()
}

func (c *Cluster) clientTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.PKIDir, "healthcheck-client.crt"), filepath.Join(c.PKIDir, "healthcheck-client.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.pki.etcdCA.cert)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Stop tears everything down: every process group the harness started, the network namespaces and
// bridge, and Dir (kept when the test failed or Keep is set). It is idempotent and safe to call
// concurrently.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		c.mu.Lock()
		c.stopped = true
		clients := c.clients
		procs := slices.Clone(c.procs)
		c.mu.Unlock()
		for _, cl := range clients {
			_ = cl.Close()
		}
		if c.etcd != nil {
			_ = c.etcd.Close()
		}
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Add(1)
			go func() { defer wg.Done(); p.stop(syscall.SIGKILL, 5*time.Second) }() // nothing needs a graceful exit
		}
		wg.Wait()
		if c.net != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			c.net.teardown(ctx, c.order)
			cancel()
		}
		unregister(c)
		failed := c.tb != nil && c.tb.Failed()
		if failed || c.opts.Keep || interrupted.Load() {
			c.logf("harness: kept run dir %s (logs in %s)", c.Dir, filepath.Join(c.Dir, "logs"))
			return
		}
		_ = os.RemoveAll(c.Dir)
	})
}

// Signal handling: SIGINT/SIGTERM tear down every live cluster, then exit.
var (
	liveMu      sync.Mutex
	live        = map[*Cluster]bool{}
	sigOnce     sync.Once
	interrupted atomic.Bool // set by the signal handler: keep run dirs for post-mortem
)

func register(c *Cluster) {
	liveMu.Lock()
	live[c] = true
	liveMu.Unlock()
	if c.opts.NoSignalHandler {
		return
	}
	sigOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-ch
			interrupted.Store(true)
			fmt.Fprintf(os.Stderr, "harness: %v: tearing down live clusters\n", sig)
			liveMu.Lock()
			cs := make([]*Cluster, 0, len(live))
			for c := range live {
				cs = append(cs, c)
			}
			liveMu.Unlock()
			var wg sync.WaitGroup
			for _, c := range cs {
				wg.Add(1)
				go func() { defer wg.Done(); c.Stop() }()
			}
			wg.Wait()
			os.Exit(130)
		}()
	})
}

func unregister(c *Cluster) {
	liveMu.Lock()
	delete(live, c)
	liveMu.Unlock()
}
