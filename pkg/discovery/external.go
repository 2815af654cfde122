package discovery

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

const (
	// APIServerSelector matches kubeadm's kube-apiserver static pods.
	APIServerSelector = "component=kube-apiserver"
	// KubeadmConfigMap is the ConfigMap in kube-system where kubeadm keeps its ClusterConfiguration.
	KubeadmConfigMap = "kubeadm-config"
)

// External is an etcd cluster that runs outside the Kubernetes API (kubeadm's "external etcd"
// topology: dedicated hosts whose kubelet runs standalone): what the control plane says about
// it. The certificate paths are files on the control-plane nodes, where the API server reads them.
type External struct {
	Endpoints []string `json:"endpoints"`
	CAFile    string   `json:"caFile,omitempty"`
	CertFile  string   `json:"certFile,omitempty"`
	KeyFile   string   `json:"keyFile,omitempty"`
	// Source says where the settings were read, for the message on stderr.
	Source string `json:"source"`
	// Node is a control-plane node whose API server uses these settings (empty when they come
	// from kubeadm-config alone): where the certificate files are.
	Node string `json:"node,omitempty"`
	// ImageRepository and KubernetesVersion come from kubeadm-config (may be empty).
	ImageRepository   string `json:"imageRepository,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	// Warnings are disagreements between the sources; the API server's flags win.
	Warnings []string `json:"warnings,omitempty"`
}

// kubeadmClusterConfig is the part of kubeadm's ClusterConfiguration read here.
type kubeadmClusterConfig struct {
	KubernetesVersion string `json:"kubernetesVersion"`
	ImageRepository   string `json:"imageRepository"`
	Etcd              struct {
		Local    *struct{} `json:"local"`
		External *struct {
			Endpoints []string `json:"endpoints"`
			CAFile    string   `json:"caFile"`
			CertFile  string   `json:"certFile"`
			KeyFile   string   `json:"keyFile"`
		} `json:"external"`
	} `json:"etcd"`
}

// DiscoverExternal reads the external etcd settings of the control plane in namespace ns: the
// kube-apiserver static pods' --etcd-servers, --etcd-cafile, --etcd-certfile and --etcd-keyfile,
// and kubeadm-config's ClusterConfiguration etcd.external. The flags win where both say
// something and disagree (they are what the API server runs with), with a warning. It returns
// nil, nil when neither names an etcd endpoint.
func DiscoverExternal(ctx context.Context, client kubernetes.Interface, ns string) (*External, error) {
	if ns == "" {
		ns = DefaultNamespace
	}
	flags, ferr := externalFromAPIServers(ctx, client, ns)
	cfg, local, cerr := externalFromKubeadmConfig(ctx, client, ns)
	if local {
		return nil, nil // kubeadm made a stacked etcd: its pods are the members
	}
	if flags != nil && allLoopback(flags.Endpoints) {
		flags = nil // the API server's own node: a stacked member, not an external etcd
	}
	if flags == nil && cfg == nil {
		// Report why nothing was found only when a source could not be read at all.
		for _, err := range []error{ferr, cerr} {
			if err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	if flags == nil {
		return cfg, nil
	}
	if cfg != nil {
		flags.ImageRepository, flags.KubernetesVersion = cfg.ImageRepository, cfg.KubernetesVersion
		flags.Warnings = append(flags.Warnings, disagreements(flags, cfg)...)
		flags.Source += " and " + cfg.Source
	}
	return flags, nil
}

// externalFromAPIServers reads the etcd flags of the kube-apiserver pods (nil when no pod
// names --etcd-servers). Pods are read in name order; the first one's settings are used and
// a pod that differs is a warning.
func externalFromAPIServers(ctx context.Context, client kubernetes.Interface, ns string) (*External, error) {
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: APIServerSelector})
	if err != nil {
		return nil, describeAPIError(err, "list", "pods", ns)
	}
	pods := list.Items
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var ext *External
	for i := range pods {
		p := &pods[i]
		c := apiServerContainer(p)
		if c == nil {
			continue
		}
		a := parseEtcdArgs(c)
		e := &External{Endpoints: a.list("etcd-servers"), CAFile: a.get("etcd-cafile"), CertFile: a.get("etcd-certfile"),
			KeyFile: a.get("etcd-keyfile"), Node: p.Spec.NodeName, Source: "the flags of kube-apiserver pod " + p.Name}
		if len(e.Endpoints) == 0 {
			continue
		}
		if ext == nil {
			ext = e
			continue
		}
		if d := disagreements(ext, e); len(d) > 0 {
			ext.Warnings = append(ext.Warnings, d...)
		}
	}
	return ext, nil
}

func apiServerContainer(p *corev1.Pod) *corev1.Container {
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == "kube-apiserver" {
			return &p.Spec.Containers[i]
		}
	}
	if len(p.Spec.Containers) == 1 {
		return &p.Spec.Containers[0]
	}
	return nil
}

// externalFromKubeadmConfig reads etcd.external of kubeadm's ClusterConfiguration (nil when the
// ConfigMap is absent or has no external etcd); local is set when it says etcd.local.
func externalFromKubeadmConfig(ctx context.Context, client kubernetes.Interface, ns string) (ext *External, local bool, err error) {
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, KubeadmConfigMap, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		if apierrors.IsForbidden(err) {
			return nil, false, fmt.Errorf("RBAC denied get configmaps %q in namespace %q (external etcd is read from it and from the kube-apiserver pods): %w", KubeadmConfigMap, ns, err)
		}
		return nil, false, fmt.Errorf("cannot read ConfigMap %s/%s: %w", ns, KubeadmConfigMap, err)
	}
	raw := cm.Data["ClusterConfiguration"]
	if raw == "" {
		return nil, false, nil
	}
	var cc kubeadmClusterConfig
	if err := yaml.Unmarshal([]byte(raw), &cc); err != nil {
		return nil, false, fmt.Errorf("ConfigMap %s/%s: cannot read its ClusterConfiguration: %w", ns, KubeadmConfigMap, err)
	}
	x := cc.Etcd.External
	if x == nil || len(x.Endpoints) == 0 {
		return nil, cc.Etcd.Local != nil, nil
	}
	return &External{Endpoints: x.Endpoints, CAFile: x.CAFile, CertFile: x.CertFile, KeyFile: x.KeyFile,
		ImageRepository: cc.ImageRepository, KubernetesVersion: cc.KubernetesVersion,
		Source: fmt.Sprintf("ConfigMap %s/%s (etcd.external)", ns, KubeadmConfigMap)}, false, nil
}

// allLoopback says whether every endpoint is a loopback address.
func allLoopback(endpoints []string) bool {
	for _, ep := range endpoints {
		u, err := url.Parse(ep)
		if err != nil || !isLoopback(u.Hostname()) {
			return false
		}
	}
	return len(endpoints) > 0
}

// disagreements lists, as warnings, the settings in which b differs from a (a wins).
func disagreements(a, b *External) []string {
	var out []string
	differ := func(what, av, bv string) {
		if av != "" && bv != "" && av != bv {
			out = append(out, fmt.Sprintf("%s says %s %s, %s says %s; using %s", a.Source, what, av, b.Source, bv, av))
		}
	}
	ae, be := slices.Clone(a.Endpoints), slices.Clone(b.Endpoints)
	slices.Sort(ae)
	slices.Sort(be)
	differ("etcd endpoints", strings.Join(ae, ","), strings.Join(be, ","))
	differ("etcd CA file", a.CAFile, b.CAFile)
	differ("etcd client certificate", a.CertFile, b.CertFile)
	differ("etcd client key", a.KeyFile, b.KeyFile)
	return out
}
