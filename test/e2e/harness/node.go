package harness

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// node is one control-plane node: an etcd member, its Node object and its etcd mirror pod.
type node struct {
	name    string
	ordinal int
	ip      net.IP // netns: the node's address on the bridge; loopback: 127.0.0.1
	dir     string // Dir/nodes/<name>
	pkiDir  string // dir/pki; bind-mounted at /etc/kubernetes/pki in netns mode
	dataDir string // dir/data; bind-mounted at /var/lib/etcd in netns mode

	clientPort, peerPort, metricsPort int // kubeadm's 2379/2380/2381 in netns mode

	argv     []string // etcd argv exactly as in the pod spec (argv[0] == "etcd")
	holder   *proc    // netns mode: process owning the node's network/mount/UTS namespaces
	kwok     *proc    // netns mode: the node's kwok
	etcd     *proc    // nil while never started
	memberID uint64
}

func (n *node) host() string { return n.ip.String() }
func (n *node) clientURL() string {
	return "https://" + net.JoinHostPort(n.host(), strconv.Itoa(n.clientPort))
}
func (n *node) peerURL() string {
	return "https://" + net.JoinHostPort(n.host(), strconv.Itoa(n.peerPort))
}
func (n *node) metricsURL() string { return "http://127.0.0.1:" + strconv.Itoa(n.metricsPort) }

// podPKIDir and podDataDir are the paths as the etcd process (and an exec'd command) sees them.
func (c *Cluster) podPKIDir(n *node) string {
	if c.Mode == ModeNetns {
		return "/etc/kubernetes/pki/etcd"
	}
	return filepath.Join(n.pkiDir, "etcd")
}

func (c *Cluster) podDataDir(n *node) string {
	if c.Mode == ModeNetns {
		return "/var/lib/etcd"
	}
	return n.dataDir
}

// newNode allocates the node's address/ports, writes its PKI and, in netns mode, creates its
// namespaces. It does not start etcd.
func (c *Cluster) newNode(ctx context.Context, name string) (*node, error) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil, errStopped
	}
	if _, ok := c.nodes[name]; ok {
		c.mu.Unlock()
		return nil, fmt.Errorf("node %s already exists", name)
	}
	c.nextOrdinal++
	n := &node{name: name, ordinal: c.nextOrdinal, dir: filepath.Join(c.Dir, "nodes", name)}
	c.nodes[name] = n
	c.order = append(c.order, name)
	c.mu.Unlock()

	n.pkiDir, n.dataDir = filepath.Join(n.dir, "pki"), filepath.Join(n.dir, "data")
	if c.Mode == ModeNetns {
		n.ip = c.net.nodeIP(n.ordinal)
		n.clientPort, n.peerPort, n.metricsPort = 2379, 2380, 2381
	} else {
		n.ip = net.IPv4(127, 0, 0, 1).To4()
		ports, err := freePorts("127.0.0.1", 3)
		if err != nil {
			return nil, err
		}
		n.clientPort, n.peerPort, n.metricsPort = ports[0], ports[1], ports[2]
	}
	if err := os.MkdirAll(n.dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := c.pki.writeNodePKI(n.pkiDir, name, n.ip); err != nil {
		return nil, fmt.Errorf("pki of %s: %w", name, err)
	}
	if c.Mode == ModeNetns {
		if err := c.net.addNode(ctx, name, n.ordinal); err != nil {
			return nil, err
		}
		if err := c.startHolder(ctx, n); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// startHolder starts the process that owns the node's namespaces (a `sleep` inside
// `ip netns exec <ns> unshare --mount --uts --propagation private`) and lays out the node's
// filesystem view in its mount namespace: overlays on /etc and /var/lib (the host's stay untouched)
// with the node's pki bind-mounted at /etc/kubernetes/pki and its data dir at /var/lib/etcd.
func (c *Cluster) startHolder(ctx context.Context, n *node) error {
	for _, d := range []string{"etc-upper/kubernetes/pki", "etc-work", "var-upper/etcd", "var-work"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			return err
		}
	}
	h, err := c.spawn("node-"+n.name, os.Environ(), "ip", "netns", "exec", c.net.nsName(n.name),
		"unshare", "--mount", "--uts", "--propagation", "private", "sleep", "infinity")
	if err != nil {
		return err
	}
	n.holder = h
	// ip and unshare exec without forking: the pid becomes `sleep` once the namespaces exist.
	if err := poll(ctx, "namespaces of "+n.name, h, 10*time.Millisecond, func(context.Context) error {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", h.pid()))
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(comm)) != "sleep" {
			return fmt.Errorf("pid %d is still %s", h.pid(), strings.TrimSpace(string(comm)))
		}
		return nil
	}); err != nil {
		return err
	}
	t := strconv.Itoa(h.pid())
	for _, argv := range [][]string{
		{"nsenter", "-t", t, "--uts", "hostname", n.name},
		{"nsenter", "-t", t, "--mount", "mount", "-t", "overlay", "overlay", "-o",
			"lowerdir=/etc,upperdir=" + filepath.Join(n.dir, "etc-upper") + ",workdir=" + filepath.Join(n.dir, "etc-work"), "/etc"},
		{"nsenter", "-t", t, "--mount", "mount", "-t", "overlay", "overlay", "-o",
			"lowerdir=/var/lib,upperdir=" + filepath.Join(n.dir, "var-upper") + ",workdir=" + filepath.Join(n.dir, "var-work"), "/var/lib"},
		{"nsenter", "-t", t, "--mount", "mount", "--bind", n.pkiDir, "/etc/kubernetes/pki"},
		{"nsenter", "-t", t, "--mount", "mount", "--bind", n.dataDir, "/var/lib/etcd"},
	} {
		if _, err := run(ctx, argv...); err != nil {
			return fmt.Errorf("node %s: %w", n.name, err)
		}
	}
	return nil
}

// inNode prefixes argv so that it runs in the node's namespaces (netns mode only).
func (c *Cluster) inNode(n *node, argv ...string) []string {
	if c.Mode != ModeNetns {
		return argv
	}
	return append([]string{"nsenter", "-t", strconv.Itoa(n.holder.pid()), "--mount", "--uts", "--net", "--"}, argv...)
}

// etcdArgv is kubeadm's etcd static-pod command for the node (the same argv runs and is shown in
// the pod spec). In netns mode it is kubeadm's verbatim (fixed ports, /etc/kubernetes/pki/etcd,
// /var/lib/etcd); in loopback mode ports are the node's free ports and paths are host paths.
func (c *Cluster) etcdArgv(n *node, state, initialCluster string) []string {
	pki := c.podPKIDir(n)
	listenClient := n.clientURL()
	if c.Mode == ModeNetns {
		listenClient = "https://127.0.0.1:2379," + n.clientURL()
	}
	argv := []string{
		"etcd",
		"--advertise-client-urls=" + n.clientURL(),
		"--cert-file=" + pki + "/server.crt",
		"--client-cert-auth=true",
		"--data-dir=" + c.podDataDir(n),
		"--feature-gates=InitialCorruptCheck=true",
		"--watch-progress-notify-interval=5s",
		"--initial-advertise-peer-urls=" + n.peerURL(),
		"--initial-cluster=" + initialCluster,
		"--initial-cluster-state=" + state,
		"--key-file=" + pki + "/server.key",
		"--listen-client-urls=" + listenClient,
		"--listen-metrics-urls=" + n.metricsURL(),
		"--listen-peer-urls=" + n.peerURL(),
		"--name=" + n.name,
		"--peer-cert-file=" + pki + "/peer.crt",
		"--peer-client-cert-auth=true",
		"--peer-key-file=" + pki + "/peer.key",
		"--peer-trusted-ca-file=" + pki + "/ca.crt",
		"--snapshot-count=10000",
		"--trusted-ca-file=" + pki + "/ca.crt",
	}
	if q := c.opts.QuotaBackendBytes; q > 0 {
		argv = append(argv, "--quota-backend-bytes="+strconv.FormatInt(q, 10))
	}
	return argv
}

func (c *Cluster) startEtcd(n *node) error {
	argv := append([]string{filepath.Join(c.etcdBinFor(n.name), "etcd")}, n.argv[1:]...)
	p, err := c.spawn("etcd-"+n.name, os.Environ(), c.inNode(n, argv...)...)
	if err != nil {
		return err
	}
	c.mu.Lock()
	n.etcd = p
	c.mu.Unlock()
	return nil
}

// waitEtcdHealthy waits until every node answers Status with a leader and raft index agreement
// is not required (members may lag a little).
func (c *Cluster) waitEtcdHealthy(ctx context.Context, nodes []*node) error {
	for _, n := range nodes {
		if err := c.waitMemberUp(ctx, n, true); err != nil {
			return err
		}
	}
	return nil
}

// waitMemberUp waits until the member's client URL answers Status (with a known leader if
// needLeader) and records its member ID.
func (c *Cluster) waitMemberUp(ctx context.Context, n *node, needLeader bool) error {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return poll(wctx, "etcd member "+n.name+" at "+n.clientURL(), n.etcd, 100*time.Millisecond, func(ctx context.Context) error {
		st, err := c.etcd.Status(ctx, n.clientURL())
		if err != nil {
			return err
		}
		if needLeader && st.Leader == 0 {
			return errors.New("no leader yet")
		}
		c.mu.Lock()
		n.memberID = st.Header.MemberId
		c.mu.Unlock()
		return nil
	})
}

// kwokConfig renders a kwok configuration: options, a local ClusterExec (commands run where kwok
// runs, with the etcd binaries first on PATH), port forwarding, and the lifecycle stages.
func (c *Cluster) kwokConfig(path, selectOpt, nodeIP string, port int, certBase string, forwards string) error {
	stages, err := os.ReadFile(c.stagesFile)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  %s
  nodeIP: %s
  nodePort: %d
  serverAddress: %s
  tlsCertFile: %s.crt
  tlsPrivateKeyFile: %s.key
  enableDebuggingHandlers: true
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  nodeLeaseDurationSeconds: 40
  podsOnNodeSyncParallelism: 1
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: local-exec
spec:
  execs:
  - local:
      workDir: /
`, selectOpt, nodeIP, port, net.JoinHostPort(nodeIP, strconv.Itoa(port)), certBase, certBase)
	b.WriteString(forwards)
	b.WriteString("\n")
	b.Write(stages)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func (c *Cluster) kwokEnv() []string {
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PATH=") {
			env = append(env, e)
		}
	}
	return append(env, "PATH="+c.EtcdBin+":"+os.Getenv("PATH"))
}

// startNodeKwok (netns mode) starts the node's own kwok inside its namespaces: it serves the
// kubelet API on NODEIP:10250, runs exec'd commands in the node's namespaces and forwards
// 2379/2381 to the node's loopback and 2380 to NODEIP.
func (c *Cluster) startNodeKwok(n *node) error {
	certBase := filepath.Join(n.dir, "kubelet")
	if err := c.pki.ca.writeIssued(n.dir, "kubelet", certSpec{cn: "system:node:" + n.name, orgs: []string{"system:nodes"},
		usages: serverUsage, dns: []string{n.name, "localhost"}, ips: append([]net.IP{n.ip}, loopbackIPs...)}); err != nil {
		return err
	}
	forwards := fmt.Sprintf(`---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterPortForward
metadata:
  name: host-network
spec:
  forwards:
  - {ports: [2379], target: {address: 127.0.0.1, port: 2379}}
  - {ports: [2381], target: {address: 127.0.0.1, port: 2381}}
  - {ports: [2380], target: {address: %s, port: 2380}}
`, n.host())
	cfg := filepath.Join(n.dir, "kwok.yaml")
	if err := c.kwokConfig(cfg, "manageSingleNode: "+n.name, n.host(), 10250, certBase, forwards); err != nil {
		return err
	}
	p, err := c.spawn("kwok-"+n.name, c.kwokEnv(), c.inNode(n, c.kwokBin, "--kubeconfig="+c.Kubeconfig, "--config="+cfg)...)
	if err != nil {
		return err
	}
	n.kwok = p
	return nil
}

// restartLoopbackKwok (loopback mode) (re)starts the single kwok that plays the kubelet of every
// node on 127.0.0.1:<free port>, with one PortForward per etcd pod mapping kubeadm's ports (and
// the member's real ports) to the member. kwok reads PortForwards only from its config file, so
// adding a node restarts it; pods and nodes stay as they are.
func (c *Cluster) restartLoopbackKwok(ctx context.Context) error {
	if c.kwok != nil {
		c.kwok.stop(syscall.SIGTERM, 5*time.Second)
	}
	certBase := filepath.Join(c.Dir, "kwok", "kubelet")
	if c.kubeletPort == 0 {
		port, err := freePort("127.0.0.1")
		if err != nil {
			return err
		}
		c.kubeletPort = port
		if err := c.pki.ca.writeIssued(filepath.Dir(certBase), "kubelet", certSpec{cn: "kwok-kubelet", usages: serverUsage,
			dns: []string{"localhost"}, ips: loopbackIPs}); err != nil {
			return err
		}
	}
	var fw strings.Builder
	c.mu.Lock()
	for _, name := range c.order {
		n := c.nodes[name]
		fmt.Fprintf(&fw, `---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: PortForward
metadata:
  name: etcd-%s
  namespace: kube-system
spec:
  forwards:
  - {ports: [2379, %d], target: {address: 127.0.0.1, port: %d}}
  - {ports: [2380, %d], target: {address: 127.0.0.1, port: %d}}
  - {ports: [2381, %d], target: {address: 127.0.0.1, port: %d}}
`, n.name, n.clientPort, n.clientPort, n.peerPort, n.peerPort, n.metricsPort, n.metricsPort)
	}
	c.mu.Unlock()
	cfg := filepath.Join(c.Dir, "kwok", "kwok.yaml")
	if err := c.kwokConfig(cfg, "manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake", "127.0.0.1", c.kubeletPort, certBase, fw.String()); err != nil {
		return err
	}
	p, err := c.spawn("kwok", c.kwokEnv(), c.kwokBin, "--kubeconfig="+c.Kubeconfig, "--config="+cfg)
	if err != nil {
		return err
	}
	c.kwok = p
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return poll(wctx, "kwok kubelet port", p, 50*time.Millisecond, func(context.Context) error {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.kubeletPort), time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	})
}

func (c *Cluster) kwokOf(n *node) *proc {
	if c.Mode == ModeNetns {
		return n.kwok
	}
	return c.kwok
}

// createNode creates the Node object of n (kwok then makes it Ready).
func (c *Cluster) createNode(ctx context.Context, n *node) error {
	nodeObj := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.name,
			Annotations: map[string]string{
				"kwok.x-k8s.io/node":                     "fake",
				"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
			},
			Labels: map[string]string{
				"kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"node-role.kubernetes.io/control-plane": "", "type": "kwok",
			},
		},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}},
	}
	if _, err := c.kube.CoreV1().Nodes().Create(ctx, nodeObj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", n.name, err)
	}
	return nil
}

// createPod creates the kubeadm-like etcd mirror pod of n, owned by its Node like a kubelet's.
// The Node must be Ready first: kwok ignores pods bound to a node it does not manage yet.
func (c *Cluster) createPod(ctx context.Context, n *node) error {
	pod := c.etcdPod(n)
	if no, err := c.kube.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{}); err == nil {
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: no.UID, Controller: ptr(true)}}
	}
	if _, err := c.kube.CoreV1().Pods(c.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create pod etcd-%s: %w", n.name, err)
	}
	return nil
}

// startObjects creates the Nodes, waits until they are Ready, then creates the pods and waits
// until they are Ready.
func (c *Cluster) startObjects(ctx context.Context, nodes []*node) error {
	for _, n := range nodes {
		if err := c.createNode(ctx, n); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		if err := c.waitNodeReady(ctx, n); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		if err := c.createPod(ctx, n); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		if err := c.waitPodReady(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// etcdPod is shaped like the mirror pod of kubeadm's etcd static pod.
func (c *Cluster) etcdPod(n *node) *corev1.Pod {
	hash := fmt.Sprintf("%x", md5.Sum([]byte(strings.Join(n.argv, " "))))
	probe := func(path string, failure, initial, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Host: "127.0.0.1", Path: path, Port: intstr.FromInt32(int32(n.metricsPort)), Scheme: corev1.URISchemeHTTP}},
			FailureThreshold: failure, InitialDelaySeconds: initial, PeriodSeconds: period, TimeoutSeconds: 15,
		}
	}
	hostPath := corev1.HostPathDirectoryOrCreate
	image := "registry.k8s.io/etcd:" + strings.TrimPrefix(c.etcdVersionFor(n.name), "v") + "-0"
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "etcd-" + n.name,
			Namespace: c.Namespace,
			Labels:    map[string]string{"component": "etcd", "tier": "control-plane"},
			Annotations: map[string]string{
				"kubeadm.kubernetes.io/etcd.advertise-client-urls": n.clientURL(),
				"kubernetes.io/config.hash":                        hash,
				"kubernetes.io/config.mirror":                      hash,
				"kubernetes.io/config.seen":                        time.Now().UTC().Format(time.RFC3339Nano),
				"kubernetes.io/config.source":                      "file",
			},
		},
		Spec: corev1.PodSpec{
			NodeName:          n.name,
			HostNetwork:       true,
			PriorityClassName: "system-node-critical",
			SecurityContext:   &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Tolerations:       []corev1.Toleration{{Effect: corev1.TaintEffectNoExecute, Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:            "etcd",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         n.argv,
				LivenessProbe:   probe("/livez", 8, 10, 10),
				ReadinessProbe:  probe("/readyz", 3, 0, 1),
				StartupProbe:    probe("/readyz", 24, 10, 10),
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("100Mi")}},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "etcd-data", MountPath: c.podDataDir(n)},
					{Name: "etcd-certs", MountPath: c.podPKIDir(n)},
				},
				TerminationMessagePath:   corev1.TerminationMessagePathDefault,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}},
			Volumes: []corev1.Volume{
				{Name: "etcd-certs", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: c.podPKIDir(n), Type: &hostPath}}},
				{Name: "etcd-data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: c.podDataDir(n), Type: &hostPath}}},
			},
		},
	}
}

func (c *Cluster) waitNodeReady(ctx context.Context, n *node) error {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return poll(wctx, "node "+n.name+" Ready", c.kwokOf(n), 50*time.Millisecond, func(ctx context.Context) error {
		no, err := c.kube.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !nodeReady(no) {
			return fmt.Errorf("node %s not Ready", n.name)
		}
		return nil
	})
}

// waitPodReady waits for pod etcd-<name> to be Ready. Should kwok have missed the pod, an
// annotation update after a few seconds makes it look again.
func (c *Cluster) waitPodReady(ctx context.Context, n *node) error {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	start := time.Now()
	nudged := false
	pods := c.kube.CoreV1().Pods(c.Namespace)
	return poll(wctx, "pod etcd-"+n.name+" Ready", c.kwokOf(n), 50*time.Millisecond, func(ctx context.Context) error {
		pod, err := pods.Get(ctx, "etcd-"+n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if podReady(pod) {
			return nil
		}
		if !nudged && time.Since(start) > 5*time.Second {
			nudged = true
			patch := fmt.Sprintf(`{"metadata":{"annotations":{"e2e.kubectl-etcd/nudge":%q}}}`, time.Now().Format(time.RFC3339Nano))
			_, _ = pods.Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		}
		return fmt.Errorf("pod etcd-%s not Ready (phase %s)", n.name, pod.Status.Phase)
	})
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// etcdVersionFor is the etcd version node name runs: Options.MemberVersions, else EtcdVersion.
func (c *Cluster) etcdVersionFor(name string) string {
	if v, ok := c.opts.MemberVersions[name]; ok && v != "" {
		return v
	}
	return c.EtcdVersion
}

// etcdBinFor is the directory of the etcd binary node name runs.
func (c *Cluster) etcdBinFor(name string) string {
	if v := c.etcdVersionFor(name); v != c.EtcdVersion {
		return filepath.Join(CacheDir(), "etcd-"+v)
	}
	return c.EtcdBin
}
