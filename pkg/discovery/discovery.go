// Package discovery finds the etcd members of a cluster through the Kubernetes API: it lists the
// etcd static pods and reads, from each pod's own etcd command line, where the member listens and
// which certificates it uses, so that kubeadm's layout and other static-pod layouts both work.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

const (
	// DefaultNamespace is where kubeadm puts its static pods.
	DefaultNamespace = "kube-system"
	// DefaultSelector matches kubeadm's etcd static pods.
	DefaultSelector = "component=etcd"
	// AdvertiseClientURLsAnnotation is set by kubeadm on its etcd static pods.
	AdvertiseClientURLsAnnotation = "kubeadm.kubernetes.io/etcd.advertise-client-urls"
)

// DefaultHeartbeatIntervalMS is etcd's (and kubeadm's) --heartbeat-interval default.
const DefaultHeartbeatIntervalMS = 100

// HeartbeatInterval is the member's heartbeat interval: its flag, else etcd's default.
func (m *Member) HeartbeatInterval() time.Duration {
	if m.HeartbeatIntervalMS > 0 {
		return time.Duration(m.HeartbeatIntervalMS) * time.Millisecond
	}
	return DefaultHeartbeatIntervalMS * time.Millisecond
}

// Member is one etcd static pod and what its etcd command line says about the member in it.
type Member struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Node      string `json:"node,omitempty"`
	Container string `json:"container"`
	Image     string `json:"image,omitempty"`
	PodIP     string `json:"podIP,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Ready     bool   `json:"ready"`

	// Name is the member name (--name).
	Name                     string   `json:"name,omitempty"`
	ListenClientURLs         []string `json:"listenClientURLs,omitempty"`
	AdvertiseClientURLs      []string `json:"advertiseClientURLs,omitempty"`
	AnnotationClientURLs     []string `json:"annotationClientURLs,omitempty"`
	ListenMetricsURLs        []string `json:"listenMetricsURLs,omitempty"`
	ListenPeerURLs           []string `json:"listenPeerURLs,omitempty"`
	InitialAdvertisePeerURLs []string `json:"initialAdvertisePeerURLs,omitempty"`
	InitialCluster           string   `json:"initialCluster,omitempty"`

	TrustedCAFile     string `json:"trustedCAFile,omitempty"`
	CertFile          string `json:"certFile,omitempty"`
	KeyFile           string `json:"keyFile,omitempty"`
	ClientCertAuth    bool   `json:"clientCertAuth"`
	PeerTrustedCAFile string `json:"peerTrustedCAFile,omitempty"`
	PeerCertFile      string `json:"peerCertFile,omitempty"`
	PeerKeyFile       string `json:"peerKeyFile,omitempty"`
	DataDir           string `json:"dataDir,omitempty"`
	QuotaBackendBytes int64  `json:"quotaBackendBytes,omitempty"`
	// MaxLearners is --max-learners (etcd's default is 1).
	MaxLearners int `json:"maxLearners,omitempty"`
	// HeartbeatIntervalMS is --heartbeat-interval in milliseconds (0: not given, etcd's default
	// DefaultHeartbeatIntervalMS).
	HeartbeatIntervalMS int `json:"heartbeatIntervalMS,omitempty"`

	// LocalClientURL is the client URL to use from inside the pod's network namespace (exec) or as
	// the target of a port-forward: a loopback listener when there is one.
	LocalClientURL string `json:"localClientURL,omitempty"`
	// MetricsURL is the plain-HTTP metrics/health listener, if the member has one.
	MetricsURL string `json:"metricsURL,omitempty"`
	// HostPaths lists the hostPath volumes mounted into the etcd container: container path -> host path.
	HostPaths map[string]string `json:"hostPaths,omitempty"`
	// Warnings are problems found in the pod spec that do not stop discovery.
	Warnings []string `json:"warnings,omitempty"`
	// External marks a member with no pod in the API (an external etcd): Pod is empty, Node is
	// set only when its host is also a Kubernetes node, and it is reached at LocalClientURL
	// through a helper pod (Namespace, Container are the helper's).
	External bool `json:"external,omitempty"`
}

// String names the member for messages: "pod etcd-cp-1 (node cp-1)", or for an external
// member "member etcd-1 (https://10.0.0.21:2379)".
func (m *Member) String() string {
	if m.External {
		return fmt.Sprintf("member %s (%s)", m.Name, m.LocalClientURL)
	}
	if m.Node != "" {
		return fmt.Sprintf("pod %s (node %s)", m.Pod, m.Node)
	}
	return "pod " + m.Pod
}

// Is says whether m is the member that a result row names by pod and member name: by its pod,
// or, for an external member (it has none), by its member name.
func (m *Member) Is(pod, name string) bool {
	if m.External {
		return pod == "" && name == m.Name
	}
	return pod != "" && m.Pod == pod
}

// Running reports whether the pod is in phase Running.
func (m *Member) Running() bool { return m.Phase == string(corev1.PodRunning) }

// ClientURLs returns every client URL known for the member: advertised, annotated and listened on.
func (m *Member) ClientURLs() []string {
	return dedupe(append(append(append([]string{}, m.AdvertiseClientURLs...), m.AnnotationClientURLs...), m.ListenClientURLs...))
}

// Options selects which pods are etcd members.
type Options struct {
	Namespace string
	Selector  string
	// Pods, when set, restricts discovery to these pod names (they must still be etcd pods).
	Pods []string
	// WholeCluster returns every etcd pod even when Pods is set; Pods is then only checked (each
	// must be an etcd pod). For the commands that judge the whole cluster and narrow only what
	// they show or touch to the pods named.
	WholeCluster bool
}

// NoPodsError says that no etcd pods were found, and where the search looked.
type NoPodsError struct {
	Namespace string
	Selector  string
	Pods      []string
}

func (e *NoPodsError) Error() string {
	if len(e.Pods) > 0 {
		return fmt.Sprintf("no etcd pods named %s in namespace %q match %q; check --pod, --selector and -n",
			strings.Join(e.Pods, ","), e.Namespace, e.Selector)
	}
	return fmt.Sprintf("no etcd pods in namespace %q match %q; use --selector, --pod or -n to say where etcd runs",
		e.Namespace, e.Selector)
}

// Discover lists the etcd pods and reads each one's member configuration, sorted by pod name.
func Discover(ctx context.Context, client kubernetes.Interface, o Options) ([]Member, error) {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Selector == "" {
		o.Selector = DefaultSelector
	}
	if _, err := labels.Parse(o.Selector); err != nil {
		return nil, fmt.Errorf("invalid --selector %q: %w", o.Selector, err)
	}
	list, err := client.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
	if err != nil {
		return nil, describeAPIError(err, "list", "pods", o.Namespace)
	}
	want := map[string]bool{}
	for _, p := range o.Pods {
		want[p] = true
	}
	var members []Member
	for i := range list.Items {
		p := &list.Items[i]
		if len(want) > 0 && !want[p.Name] && !o.WholeCluster {
			continue
		}
		if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodRunning {
			continue
		}
		m, err := FromPod(p)
		if err != nil {
			return nil, err
		}
		members = append(members, *m)
	}
	if len(want) > 0 {
		var missing []string
		found := map[string]bool{}
		for _, m := range members {
			found[m.Pod] = true
		}
		for _, p := range o.Pods {
			if !found[p] {
				missing = append(missing, p)
			}
		}
		if len(missing) == len(o.Pods) {
			return nil, &NoPodsError{Namespace: o.Namespace, Selector: o.Selector, Pods: o.Pods}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("pod %s is not an etcd pod in namespace %q matching %q",
				strings.Join(missing, ","), o.Namespace, o.Selector)
		}
	}
	if len(members) == 0 {
		return nil, &NoPodsError{Namespace: o.Namespace, Selector: o.Selector, Pods: o.Pods}
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Pod < members[j].Pod })
	return members, nil
}

// describeAPIError turns API failures into one line that names the verb and resource involved.
func describeAPIError(err error, verb, resource, ns string) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("RBAC denied %s %s in namespace %q (the plugin needs get/list on pods): %w", verb, resource, ns, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the API server rejected the credentials while trying to %s %s: %w", verb, resource, err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("cannot reach the Kubernetes API to %s %s: %w", verb, resource, err)
	}
	return fmt.Errorf("cannot %s %s in namespace %q: %w", verb, resource, ns, err)
}

// FromPod reads the member configuration from an etcd pod.
func FromPod(p *corev1.Pod) (*Member, error) {
	c := etcdContainer(p)
	if c == nil {
		return nil, fmt.Errorf("pod %s/%s has no etcd container (none is named \"etcd\" or runs the etcd binary)", p.Namespace, p.Name)
	}
	a := parseEtcdArgs(c)
	m := &Member{
		Namespace:                p.Namespace,
		Pod:                      p.Name,
		Node:                     p.Spec.NodeName,
		Container:                c.Name,
		Image:                    c.Image,
		PodIP:                    p.Status.PodIP,
		Phase:                    string(p.Status.Phase),
		Ready:                    podReady(p),
		Name:                     a.get("name"),
		ListenClientURLs:         a.list("listen-client-urls"),
		AdvertiseClientURLs:      a.list("advertise-client-urls"),
		AnnotationClientURLs:     splitList(p.Annotations[AdvertiseClientURLsAnnotation]),
		ListenMetricsURLs:        a.list("listen-metrics-urls"),
		ListenPeerURLs:           a.list("listen-peer-urls"),
		InitialAdvertisePeerURLs: a.list("initial-advertise-peer-urls"),
		InitialCluster:           a.get("initial-cluster"),
		TrustedCAFile:            a.get("trusted-ca-file"),
		CertFile:                 a.get("cert-file"),
		KeyFile:                  a.get("key-file"),
		ClientCertAuth:           a.boolean("client-cert-auth"),
		PeerTrustedCAFile:        a.get("peer-trusted-ca-file"),
		PeerCertFile:             a.get("peer-cert-file"),
		PeerKeyFile:              a.get("peer-key-file"),
		DataDir:                  a.get("data-dir"),
		HostPaths:                hostPathMounts(p, c),
	}
	if q := a.get("quota-backend-bytes"); q != "" {
		if n, err := strconv.ParseInt(q, 10, 64); err == nil {
			m.QuotaBackendBytes = n
		}
	}
	if v := a.get("max-learners"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			m.MaxLearners = n
		}
	}
	if v := a.get("heartbeat-interval"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			m.HeartbeatIntervalMS = n
		}
	}
	if m.Name == "" {
		m.Name = "default" // etcd's own default member name
		if a.get("config-file") != "" {
			m.Warnings = append(m.Warnings, fmt.Sprintf("etcd reads its settings from --config-file=%s, which the plugin cannot see; values shown are defaults", a.get("config-file")))
		}
	}
	if len(m.ListenClientURLs) == 0 {
		m.ListenClientURLs = []string{"http://localhost:2379"} // etcd's default
	}
	m.LocalClientURL = pickLocalURL(m.ListenClientURLs, append(m.AdvertiseClientURLs, m.AnnotationClientURLs...))
	m.MetricsURL = pickMetricsURL(m.ListenMetricsURLs)
	if strings.HasPrefix(m.LocalClientURL, "https://") && (m.TrustedCAFile == "" || m.CertFile == "" || m.KeyFile == "") && m.ClientCertAuth {
		m.Warnings = append(m.Warnings, "the etcd command line requires client certificates but names no --trusted-ca-file/--cert-file/--key-file")
	}
	return m, nil
}

// etcdContainer picks the container named "etcd", or else the first one that runs the etcd binary.
func etcdContainer(p *corev1.Pod) *corev1.Container {
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == "etcd" {
			return &p.Spec.Containers[i]
		}
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		argv := append(append([]string{}, c.Command...), c.Args...)
		if len(argv) > 0 && path.Base(argv[0]) == "etcd" {
			return c
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func hostPathMounts(p *corev1.Pod, c *corev1.Container) map[string]string {
	hp := map[string]string{}
	for _, v := range p.Spec.Volumes {
		if v.HostPath != nil {
			hp[v.Name] = v.HostPath.Path
		}
	}
	out := map[string]string{}
	for _, vm := range c.VolumeMounts {
		if h, ok := hp[vm.Name]; ok {
			out[vm.MountPath] = path.Join(h, vm.SubPath)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// pickLocalURL chooses the client URL to use from inside the member's own network namespace:
// a loopback listener first, then a wildcard listener reached through loopback, then any
// listener, then the advertised URLs.
func pickLocalURL(listen, advertise []string) string {
	var firstListen string
	for _, raw := range listen {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		if firstListen == "" {
			firstListen = raw
		}
		if isLoopback(u.Hostname()) {
			return raw
		}
	}
	for _, raw := range listen {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		if h := u.Hostname(); h == "0.0.0.0" || h == "::" || h == "" {
			return u.Scheme + "://" + net.JoinHostPort("127.0.0.1", portOf(u)) + u.Path
		}
	}
	if firstListen != "" {
		return firstListen
	}
	if len(advertise) > 0 {
		return advertise[0]
	}
	return ""
}

func pickMetricsURL(listen []string) string {
	for _, raw := range listen {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		if h := u.Hostname(); h == "0.0.0.0" || h == "::" {
			return u.Scheme + "://" + net.JoinHostPort("127.0.0.1", portOf(u))
		}
		if isLoopback(u.Hostname()) {
			return raw
		}
	}
	if len(listen) > 0 {
		return listen[0]
	}
	return ""
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// URLPort returns the port of a URL string, with the scheme's default when none is written.
func URLPort(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(portOf(u))
}
