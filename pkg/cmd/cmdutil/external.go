package cmdutil

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/nodehelper"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	transportexec "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/exec"
)

// externalRun is the external etcd of this command run: its settings, the one helper pod that
// reaches it, the members read from its member list, and the connector over the helper.
type externalRun struct {
	ext     *discovery.External
	helper  *nodehelper.External
	members []discovery.Member
	conn    *externalConnector
}

// nodeSideInstead says, per node-side command, what to do instead on an external etcd.
var nodeSideInstead = map[string]string{
	"member rebuild": "replace the member on its host by hand: kubectl etcd member remove ID, wipe its data directory, " +
		"then kubectl etcd member add NAME --peer-urls URL prints the flags it must start with; " +
		"to restore the whole cluster, kubectl etcd snapshot restore-plan FILE prints the per-host commands",
	"snapshot save --on-node": "save the snapshot here instead (kubectl etcd snapshot save FILE): the helper pod streams it back",
	"snapshot restore": "restore on the etcd hosts themselves: kubectl etcd snapshot restore-plan FILE prints the per-host commands " +
		"(etcdutl snapshot restore into a new data directory, then the manifests' data directory)",
}

// KubeadmEtcdImage is the etcd image kubeadm uses for a Kubernetes version, under repo
// (kubeadm-config's imageRepository; default registry.k8s.io). The tags are those of kubeadm
// v1.37's table (constants.SupportedEtcdVersion), which pairs 1.34 and later with 3.7.0-0.
func KubeadmEtcdImage(repo, kubernetesVersion string) (string, error) {
	if repo == "" {
		repo = "registry.k8s.io"
	}
	v := strings.TrimPrefix(kubernetesVersion, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return "", fmt.Errorf("unknown Kubernetes version %q, so kubeadm's etcd image is unknown; name an image with etcdctl with --helper-etcd-image", kubernetesVersion)
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil || parts[0] != "1" {
		return "", fmt.Errorf("unknown Kubernetes version %q, so kubeadm's etcd image is unknown; name an image with etcdctl with --helper-etcd-image", kubernetesVersion)
	}
	if minor < 34 {
		return "", fmt.Errorf("the plugin does not know kubeadm's etcd image for Kubernetes %s (it knows 1.34 and later); name an image with etcdctl with --helper-etcd-image", kubernetesVersion)
	}
	return strings.TrimSuffix(repo, "/") + "/etcd:3.7.0-0", nil
}

// discoverExternal is the fall-back of discovery when no etcd pod matches: the external etcd
// that the kube-apiserver pods and kubeadm-config name. It returns notFound unchanged when
// there is none, or when the user narrowed the search (--pod, --selector) and meant pods.
func (g *GlobalOptions) discoverExternal(ctx context.Context, notFound error) ([]discovery.Member, error) {
	if g.external != nil {
		return g.external.members, nil
	}
	if len(g.Pods) > 0 || (g.Selector != "" && g.Selector != discovery.DefaultSelector) {
		return nil, notFound
	}
	ext, err := discovery.DiscoverExternal(ctx, g.Client, g.Namespace)
	if err != nil {
		return nil, fmt.Errorf("%w; and looking for an external etcd: %w", notFound, err)
	}
	if ext == nil {
		return nil, notFound
	}
	fmt.Fprintf(g.LogOut, "no etcd pods: etcd is external, at %s (read from %s)\n", strings.Join(ext.Endpoints, ","), ext.Source)
	for _, w := range ext.Warnings {
		fmt.Fprintf(g.LogOut, "warning: %s\n", w)
	}
	if g.NodeSide != "" {
		instead := nodeSideInstead[g.NodeSide]
		if instead == "" {
			instead = "kubectl etcd snapshot restore-plan FILE prints the commands to run on each etcd host"
		}
		return nil, fmt.Errorf("%w: %s works on the etcd members' nodes, and this etcd is external (%s: hosts the plugin cannot reach); %s",
			etcd.ErrRefused, g.NodeSide, strings.Join(ext.Endpoints, ","), instead)
	}
	switch g.Mode {
	case transport.ModePortForward, transport.ModeMetricsOnly:
		return nil, fmt.Errorf("--transport=%s cannot reach an external etcd: a port-forward reaches only a pod's own loopback; use --transport=auto or exec, which run etcdctl in a helper pod on a control-plane node", g.Mode)
	}
	run, err := g.startExternal(ctx, ext)
	if err != nil {
		return nil, err
	}
	g.external = run
	return run.members, nil
}

// startExternal starts the helper pod and reads the member list through it.
func (g *GlobalOptions) startExternal(ctx context.Context, ext *discovery.External) (*externalRun, error) {
	node, err := g.externalNode(ctx, ext)
	if err != nil {
		return nil, err
	}
	image := g.HelperEtcdImage
	if image == "" {
		kv := ext.KubernetesVersion
		if kv == "" {
			kv = g.KubernetesVersion()
		}
		if image, err = KubeadmEtcdImage(ext.ImageRepository, kv); err != nil {
			return nil, err
		}
	}
	if miss := nodehelper.Missing(ctx, g.Client,
		nodehelper.Permission{Verb: "create", Resource: "pods", Namespace: g.Namespace},
		nodehelper.Permission{Verb: "delete", Resource: "pods", Namespace: g.Namespace},
		nodehelper.Permission{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: g.Namespace}); len(miss) > 0 {
		var names []string
		for _, p := range miss {
			names = append(names, p.String())
		}
		return nil, fmt.Errorf("%w: RBAC denied %s (an external etcd is reached through a helper pod: create, get and delete on pods and create on pods/exec)",
			nodehelper.ErrNotStarted, strings.Join(names, " and "))
	}
	spec := nodehelper.ExternalSpec{Namespace: g.Namespace, Node: node, Image: image, ShellImage: g.ExternalShellImage,
		Endpoints: ext.Endpoints, CAFile: ext.CAFile, CertFile: ext.CertFile, KeyFile: ext.KeyFile, Etcdctl: g.Etcdctl}
	if g.ExternalSnapshots && spec.ShellImage == "" {
		runner := &nodehelper.Runner{Client: g.Client}
		if spec.ShellImage, err = nodehelper.ShellImage(ctx, runner, node, ""); err != nil {
			return nil, err
		}
	}
	runner := &nodehelper.Runner{Client: g.Client, Notify: func(s string) { fmt.Fprintf(g.LogOut, "warning: %s\n", s) }}
	exec := &transportexec.APIExecutor{Config: g.RESTConfig, Client: g.Client}
	helper, err := runner.StartExternal(ctx, exec, spec)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(g.LogOut, "reaching it with etcdctl in helper pod %s on node %s (image %s; deleted on exit)\n", helper.Pod, node, image)
	run := &externalRun{ext: ext, helper: helper}
	run.conn = &externalConnector{
		Connector: &transportexec.Connector{Executor: exec, Etcdctl: g.Etcdctl,
			Via: &transportexec.Target{Namespace: helper.Pod.Namespace, Pod: helper.Pod.Name, Container: nodehelper.EtcdctlContainer}},
		run: run,
	}
	members, err := g.externalMembers(ctx, run)
	if err != nil {
		helper.Close(ctx)
		return nil, err
	}
	run.members = members
	return run, nil
}

// externalNode is the control-plane node for the helper: the one whose API server the settings
// came from, else a Ready control-plane node.
func (g *GlobalOptions) externalNode(ctx context.Context, ext *discovery.External) (string, error) {
	if ext.Node != "" {
		return ext.Node, nil
	}
	list, err := g.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "node-role.kubernetes.io/control-plane"})
	if err != nil {
		return "", fmt.Errorf("no kube-apiserver pod names the etcd settings, and the control-plane nodes cannot be listed to place the helper pod: %w", err)
	}
	for _, n := range list.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return n.Name, nil
			}
		}
	}
	if len(list.Items) > 0 {
		return list.Items[0].Name, nil
	}
	return "", fmt.Errorf("no control-plane node (label node-role.kubernetes.io/control-plane) to run the helper pod on")
}

// externalMembers reads the member list from the first endpoint that answers and makes one
// member per started etcd member: its name, its client URL (what etcdctl is pointed at), the
// API server's certificate files, and the Kubernetes node whose address is the member's host.
func (g *GlobalOptions) externalMembers(ctx context.Context, run *externalRun) ([]discovery.Member, error) {
	ext := run.ext
	var ml *clientv3.MemberListResponse
	var errs []string
	for _, ep := range ext.Endpoints {
		m := run.member("", ep)
		s, err := run.conn.Connect(ctx, &m)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, g.Timeout())
		ml, err = s.MemberList(cctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		errs = append(errs, fmt.Sprintf("%s: %v", ep, err))
	}
	if ml == nil {
		return nil, fmt.Errorf("%w: no external etcd endpoint answered the member list from node %s: %s", etcd.ErrNoMemberReachable, run.helper.Pod.Node, strings.Join(errs, "; "))
	}
	nodes := g.nodesByAddress(ctx)
	var out []discovery.Member
	for _, mm := range ml.Members {
		if mm.Name == "" || len(mm.ClientURLs) == 0 {
			continue // not started: nothing to reach
		}
		m := run.member(mm.Name, mm.ClientURLs[0])
		m.AdvertiseClientURLs = mm.ClientURLs
		m.ListenClientURLs = mm.ClientURLs
		m.ListenPeerURLs = mm.PeerURLs
		if u, err := url.Parse(mm.ClientURLs[0]); err == nil {
			m.Node = nodes[u.Hostname()]
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the external etcd's member list has no started member")
	}
	return out, nil
}

// member is an external member reached at endpoint through the helper.
func (r *externalRun) member(name, endpoint string) discovery.Member {
	return discovery.Member{Namespace: r.helper.Pod.Namespace, Container: nodehelper.EtcdctlContainer, External: true,
		Name: name, Phase: string(corev1.PodRunning), Ready: true, LocalClientURL: endpoint,
		TrustedCAFile: r.ext.CAFile, CertFile: r.ext.CertFile, KeyFile: r.ext.KeyFile, ClientCertAuth: true}
}

// nodesByAddress maps the nodes' addresses to their names (empty when nodes cannot be listed:
// the node is only shown when known).
func (g *GlobalOptions) nodesByAddress(ctx context.Context) map[string]string {
	out := map[string]string{}
	list, err := g.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return out
	}
	for _, n := range list.Items {
		for _, a := range n.Status.Addresses {
			if ip := net.ParseIP(a.Address); ip != nil || a.Type == corev1.NodeHostName {
				out[a.Address] = n.Name
			}
		}
	}
	return out
}

// externalConnector is the exec transport pointed at the helper pod. Closing it deletes the
// helper. Its sessions stream snapshots when the helper has a shell container.
type externalConnector struct {
	*transportexec.Connector
	run *externalRun
	// Snapshots gives the progress callback of snapshot downloads (may be nil).
	Snapshots *nodehelper.SnapshotHelper
}

var (
	_ transport.Connector        = (*externalConnector)(nil)
	_ transport.SnapshotStreamer = (*externalConnector)(nil)
	_ transport.ClusterReading   = (*externalConnector)(nil)
)

// StreamsSnapshots implements transport.SnapshotStreamer.
func (c *externalConnector) StreamsSnapshots() bool { return c.run.helper.HasShell() }

// Connect opens an exec session in the helper, with snapshots through its shell container.
func (c *externalConnector) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	s, err := c.Connector.Connect(ctx, m)
	if err != nil {
		return nil, err
	}
	return &externalSession{Session: s, c: c}, nil
}

// Close deletes the helper pod.
func (c *externalConnector) Close() error {
	c.run.helper.Close(context.Background())
	return nil
}

type externalSession struct {
	transport.Session
	c *externalConnector
}

var _ transport.SnapshotRouter = (*externalSession)(nil)

// ClusterStatus and ClusterHealth pass the exec session's cluster-wide reads through.
func (s *externalSession) ClusterStatus(ctx context.Context) ([]transport.EndpointStatus, error) {
	cr, ok := s.Session.(transport.ClusterReader)
	if !ok {
		return nil, transport.ErrUnsupported
	}
	return cr.ClusterStatus(ctx)
}

func (s *externalSession) ClusterHealth(ctx context.Context) ([]transport.EndpointHealth, error) {
	cr, ok := s.Session.(transport.ClusterReader)
	if !ok {
		return nil, transport.ErrUnsupported
	}
	return cr.ClusterHealth(ctx)
}

// Snapshot saves the snapshot in the helper's emptyDir and streams it back.
func (s *externalSession) Snapshot(ctx context.Context) (*clientv3.SnapshotResponse, error) {
	if !s.c.run.helper.HasShell() {
		return nil, fmt.Errorf("%w: the helper pod was started without a shell container", transport.ErrUnsupported)
	}
	var size int64
	sctx, cancel := context.WithTimeout(ctx, transport.CleanupTimeout)
	if st, err := s.Session.Status(sctx); err == nil {
		size = st.DbSize
	}
	cancel()
	h := s.c.Snapshots
	if h == nil {
		h = &nodehelper.SnapshotHelper{}
	}
	h.Exec = s.c.run.helper.Exec
	rc, err := s.c.run.helper.OpenSnapshot(ctx, h, s.Member().LocalClientURL, size)
	if err != nil {
		return nil, err
	}
	return &clientv3.SnapshotResponse{Snapshot: rc}, nil
}

// SnapshotRoute implements transport.SnapshotRouter.
func (s *externalSession) SnapshotRoute() (route, via string) {
	return "helper-" + string(nodehelper.RouteExec), s.c.run.helper.Pod.String()
}

// IsExternal reports whether this run found an external etcd (no etcd pods).
func (g *GlobalOptions) IsExternal() bool { return g.external != nil }

// OwnHelper is the name of this run's helper pod for an external etcd ("" when there is none).
func (g *GlobalOptions) OwnHelper() string {
	if g.external == nil {
		return ""
	}
	return g.external.helper.Pod.Name
}
