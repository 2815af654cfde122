package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MemberNames returns the names of the nodes the harness knows, in creation order (cp-1, cp-2, ...).
func (c *Cluster) MemberNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

func (c *Cluster) node(name string) (*node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	if !ok {
		return nil, fmt.Errorf("harness: no node %q (have %v)", name, c.order)
	}
	return n, nil
}

// ClientURL is the member's client URL as reachable from the test process:
// https://<node IP>:2379 (netns) or https://127.0.0.1:<port> (loopback). It is also the member's
// advertised client URL. Empty for an unknown name.
func (c *Cluster) ClientURL(name string) string {
	n, err := c.node(name)
	if err != nil {
		return ""
	}
	return n.clientURL()
}

// MetricsURL is the member's metrics URL as the member itself (and an exec'd command) sees it;
// in loopback mode the test process can use it too.
func (c *Cluster) MetricsURL(name string) string {
	n, err := c.node(name)
	if err != nil {
		return ""
	}
	return n.metricsURL()
}

// Endpoints returns the client URLs of all known members.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, name := range c.MemberNames() {
		eps = append(eps, c.ClientURL(name))
	}
	return eps
}

// MemberID returns the member ID of the node (0 until known).
func (c *Cluster) MemberID(name string) uint64 {
	n, err := c.node(name)
	if err != nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.memberID
}

// PodEtcdctlFlags are the etcdctl connection flags that work inside the pod etcd-<name> (through
// kubectl exec): the member's own endpoint and the cert paths as the pod sees them.
// netns: --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt ...
func (c *Cluster) PodEtcdctlFlags(name string) []string {
	n, err := c.node(name)
	if err != nil {
		return nil
	}
	ep := n.clientURL()
	if c.Mode == ModeNetns {
		ep = "https://127.0.0.1:2379"
	}
	p := c.podPKIDir(n)
	return []string{"--endpoints=" + ep, "--cacert=" + p + "/ca.crt", "--cert=" + p + "/healthcheck-client.crt", "--key=" + p + "/healthcheck-client.key"}
}

// Client returns a clientv3 client to all members (healthcheck-client cert), closed at t's cleanup.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), TLS: c.tlsConfig.Clone(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("harness: etcd client: %v", err)
	}
	c.mu.Lock()
	c.clients = append(c.clients, cl)
	c.mu.Unlock()
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

func runCapture(ctx context.Context, env []string, name string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// Etcdctl runs the cluster's etcdctl on the host with the host-side healthcheck-client cert and
// --endpoints of all members (unless args contain --endpoints).
func (c *Cluster) Etcdctl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	full := []string{"--cacert=" + filepath.Join(c.PKIDir, "ca.crt"),
		"--cert=" + filepath.Join(c.PKIDir, "healthcheck-client.crt"), "--key=" + filepath.Join(c.PKIDir, "healthcheck-client.key")}
	if !hasFlag(args, "--endpoints") {
		full = append(full, "--endpoints="+strings.Join(c.Endpoints(), ","))
	}
	return runCapture(ctx, c.Env(), filepath.Join(c.EtcdBin, "etcdctl"), append(full, args...)...)
}

// Kubectl runs kubectl with KUBECONFIG set to the admin kubeconfig.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	return runCapture(ctx, c.Env(), c.KubectlBin, args...)
}

// Env is os.Environ() with KUBECONFIG set to the admin kubeconfig and the etcd binaries and
// kubectl first on PATH; for running the plugin binary.
func (c *Cluster) Env() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KUBECONFIG=") && !strings.HasPrefix(e, "PATH=") {
			env = append(env, e)
		}
	}
	return append(env, "KUBECONFIG="+c.Kubeconfig,
		"PATH="+c.EtcdBin+":"+filepath.Dir(c.KubectlBin)+":"+os.Getenv("PATH"))
}

// StopMember stops the member's etcd with SIGTERM and waits for it to exit. Node and pod stay
// (like the gap while a kubelet restarts a static pod).
func (c *Cluster) StopMember(name string) error { return c.stopMember(name, syscall.SIGTERM) }

// KillMember is StopMember with SIGKILL.
func (c *Cluster) KillMember(name string) error { return c.stopMember(name, syscall.SIGKILL) }

func (c *Cluster) stopMember(name string, sig syscall.Signal) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	p := n.etcd
	c.mu.Unlock()
	if p == nil || p.exited() {
		return fmt.Errorf("harness: etcd of %s is not running", name)
	}
	p.stop(sig, 20*time.Second)
	return nil
}

// StartMember starts the member's etcd again with the same argv (its data dir is kept; a member
// added with NoStart starts for the first time) and waits until its client URL answers Status.
func (c *Cluster) StartMember(name string) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	p := n.etcd
	c.mu.Unlock()
	if p != nil && !p.exited() {
		return fmt.Errorf("harness: etcd of %s is already running (pid %d)", name, p.pid())
	}
	if err := c.startEtcd(n); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.waitMemberUp(ctx, n, false)
}

// MemberRunning reports whether the member's etcd process is running.
func (c *Cluster) MemberRunning(name string) bool {
	n, err := c.node(name)
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.etcd != nil && !n.etcd.exited()
}

// AddOptions tunes AddMember.
type AddOptions struct {
	// Voter adds a voting member (member add without --learner).
	Voter bool
	// NoStart does everything except starting etcd: the member exists in the cluster but was
	// never started (member list shows it without name and client URLs), while its Node and pod
	// exist (and are Ready, kwok does not probe). StartMember starts it later.
	NoStart bool
	// Add, when set, performs the "member add" instead of the harness (e.g. the plugin under
	// test): it gets the new member's peer URL and returns its ID.
	Add func(ctx context.Context, peerURL string) (uint64, error)
}

// AddLearner adds node name as a learner the way kubeadm join does: member add --learner (retried
// while etcd says the cluster is unhealthy), Node + etcd pod, etcd started with
// --initial-cluster-state=existing; it waits for the member to answer and the pod to be Ready.
func (c *Cluster) AddLearner(ctx context.Context, name string) (memberID uint64, err error) {
	return c.AddMember(ctx, name, AddOptions{})
}

// AddMember is AddLearner with options.
func (c *Cluster) AddMember(ctx context.Context, name string, o AddOptions) (memberID uint64, err error) {
	n, err := c.newNode(ctx, name)
	if err != nil {
		return 0, err
	}
	var resp *clientv3.MemberAddResponse
	if o.Add != nil {
		id, err := o.Add(ctx, n.peerURL())
		if err != nil {
			return 0, fmt.Errorf("member add %s (by the caller): %w", name, err)
		}
		ml, err := c.etcd.MemberList(ctx)
		if err != nil {
			return id, fmt.Errorf("member list after adding %s: %w", name, err)
		}
		resp = &clientv3.MemberAddResponse{Header: ml.Header, Members: ml.Members}
		for _, m := range ml.Members {
			if m.ID == id {
				resp.Member = m
			}
		}
		if resp.Member == nil {
			return id, fmt.Errorf("member %x added for %s is not in the member list", id, name)
		}
	}
	err = poll(ctx, "member add "+name, nil, 500*time.Millisecond, func(ctx context.Context) error {
		if resp != nil {
			return nil
		}
		var err error
		if o.Voter {
			resp, err = c.etcd.MemberAdd(ctx, []string{n.peerURL()})
		} else {
			resp, err = c.etcd.MemberAddAsLearner(ctx, []string{n.peerURL()})
		}
		if err != nil && !errors.Is(err, rpctypes.ErrUnhealthy) && !errors.Is(err, rpctypes.ErrGRPCUnhealthy) &&
			!strings.Contains(err.Error(), "unhealthy cluster") && !errors.Is(err, context.DeadlineExceeded) {
			return permanent{err}
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("member add %s: %w", name, err)
	}
	memberID = resp.Member.ID
	c.mu.Lock()
	n.memberID = memberID
	byPeer := map[string]string{}
	for _, other := range c.nodes {
		byPeer[other.peerURL()] = other.name
	}
	c.mu.Unlock()
	// --initial-cluster as `etcdctl member add` prints it, with names for members not started yet.
	var ic []string
	for _, m := range resp.Members {
		for _, u := range m.PeerURLs {
			mn := m.Name
			if m.ID == memberID || mn == "" {
				mn = byPeer[u]
			}
			ic = append(ic, mn+"="+u)
		}
	}
	n.argv = c.etcdArgv(n, "existing", strings.Join(ic, ","))
	c.etcd.SetEndpoints(c.Endpoints()...)
	if c.Mode == ModeNetns {
		if err := c.startNodeKwok(n); err != nil {
			return memberID, err
		}
	} else if err := c.restartLoopbackKwok(ctx); err != nil {
		return memberID, err
	}
	if err := c.createNode(ctx, n); err != nil {
		return memberID, err
	}
	if !o.NoStart {
		if err := c.startEtcd(n); err != nil {
			return memberID, err
		}
	}
	if err := c.waitNodeReady(ctx, n); err != nil {
		return memberID, err
	}
	if err := c.createPod(ctx, n); err != nil {
		return memberID, err
	}
	if !o.NoStart {
		if err := c.waitMemberUp(ctx, n, false); err != nil {
			return memberID, err
		}
	}
	return memberID, c.waitPodReady(ctx, n)
}

// DeletePod deletes the pod etcd-<name> (grace period 0) and waits until it is gone; the member
// keeps running ("member without pod").
func (c *Cluster) DeletePod(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods := c.kube.CoreV1().Pods(c.Namespace)
	if err := pods.Delete(ctx, "etcd-"+name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		return err
	}
	return poll(ctx, "pod etcd-"+name+" deleted", nil, 100*time.Millisecond, func(ctx context.Context) error {
		_, err := pods.Get(ctx, "etcd-"+name, metav1.GetOptions{})
		if err == nil {
			return errors.New("still there")
		}
		if strings.Contains(err.Error(), "not found") {
			return nil
		}
		return err
	})
}

// Fill writes about mib MiB of incompressible values under /fill/ (64 KiB values, 8 concurrent
// writers). It stops at the first error (e.g. etcdserver: mvcc: database space exceeded).
func (c *Cluster) Fill(ctx context.Context, mib int) error {
	const valueSize, writers = 64 << 10, 8
	total := mib * (1 << 20) / valueSize
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cl, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), TLS: c.tlsConfig.Clone(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cl.Close()
	next := make(chan int)
	go func() {
		defer close(next)
		for i := 0; i < total; i++ {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, valueSize)
			for i := range next {
				_, _ = rand.Read(buf)
				if _, err := cl.Put(ctx, fmt.Sprintf("/fill/%08d", i), string(buf)); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("fill: put %d: %w", i, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// writeEnvFile writes Dir/env: shell exports for poking at the cluster by hand.
func (c *Cluster) writeEnvFile() error {
	var b strings.Builder
	fmt.Fprintf(&b, "export KUBECONFIG=%s\n", c.Kubeconfig)
	fmt.Fprintf(&b, "export PATH=%s:%s:$PATH\n", c.EtcdBin, filepath.Dir(c.KubectlBin))
	fmt.Fprintf(&b, "export ETCDCTL_ENDPOINTS=%s\n", strings.Join(c.Endpoints(), ","))
	fmt.Fprintf(&b, "export ETCDCTL_CACERT=%s\n", filepath.Join(c.PKIDir, "ca.crt"))
	fmt.Fprintf(&b, "export ETCDCTL_CERT=%s\n", filepath.Join(c.PKIDir, "healthcheck-client.crt"))
	fmt.Fprintf(&b, "export ETCDCTL_KEY=%s\n", filepath.Join(c.PKIDir, "healthcheck-client.key"))
	return os.WriteFile(filepath.Join(c.Dir, "env"), []byte(b.String()), 0o644)
}

// FreezeNode stops the node's kubelet (its kwok) with SIGSTOP: a node that died without closing
// its connections, so the API server's exec and port-forward calls to it hang instead of
// failing. In loopback mode one kwok serves every node, so every node freezes. ThawNode resumes.
func (c *Cluster) FreezeNode(name string) error { return c.signalKubelet(name, syscall.SIGSTOP) }

// ThawNode resumes a kubelet stopped by FreezeNode.
func (c *Cluster) ThawNode(name string) error { return c.signalKubelet(name, syscall.SIGCONT) }

func (c *Cluster) signalKubelet(name string, sig syscall.Signal) error {
	n, err := c.node(name)
	if err != nil {
		return err
	}
	c.mu.Lock()
	p := c.kwokOf(n)
	c.mu.Unlock()
	if p == nil || p.exited() {
		return fmt.Errorf("harness: the kubelet (kwok) of %s is not running", name)
	}
	p.signal(sig)
	return nil
}

// CopyAPIObjects copies every key the API server stored under /registry/ in its own storage
// etcd into the members, byte for byte as kube-apiserver encoded them, so that a member's
// database holds real Kubernetes objects. It returns the number of keys and of key+value bytes.
func (c *Cluster) CopyAPIObjects(ctx context.Context) (int, int64, error) {
	src, err := clientv3.New(clientv3.Config{Endpoints: []string{c.storageURL}, TLS: c.tlsConfig.Clone(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return 0, 0, fmt.Errorf("harness: storage etcd client: %w", err)
	}
	defer src.Close()
	const prefix = "/registry/"
	end := clientv3.GetPrefixRangeEnd(prefix)
	var n int
	var size int64
	for key := prefix; ; {
		resp, err := src.Get(ctx, key, clientv3.WithRange(end), clientv3.WithLimit(500))
		if err != nil {
			return n, size, fmt.Errorf("harness: reading the storage etcd: %w", err)
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(4)
		for _, kv := range resp.Kvs {
			g.Go(func() error {
				_, err := c.etcd.Put(gctx, string(kv.Key), string(kv.Value))
				return err
			})
			n++
			size += int64(len(kv.Key) + len(kv.Value))
		}
		if err := g.Wait(); err != nil {
			return n, size, fmt.Errorf("harness: writing to the members: %w", err)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return n, size, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
