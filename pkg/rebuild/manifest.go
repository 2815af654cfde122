package rebuild

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Peer is one member of --initial-cluster.
type Peer struct {
	Name     string
	PeerURLs []string
}

// InitialCluster renders peers as etcd's --initial-cluster value: name=url pairs, one per peer
// URL, sorted by name so that the result does not depend on the member list's order.
func InitialCluster(peers []Peer) string {
	sorted := append([]Peer(nil), peers...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var parts []string
	for _, p := range sorted {
		for _, u := range p.PeerURLs {
			parts = append(parts, p.Name+"="+u)
		}
	}
	return strings.Join(parts, ",")
}

// ManifestPod decodes a static pod manifest.
func ManifestPod(data []byte) (*corev1.Pod, error) {
	var pod corev1.Pod
	if err := yaml.Unmarshal(data, &pod); err != nil {
		return nil, fmt.Errorf("not a pod manifest: %w", err)
	}
	if pod.Kind != "" && pod.Kind != "Pod" {
		return nil, fmt.Errorf("not a pod manifest: kind %q", pod.Kind)
	}
	return &pod, nil
}

// EtcdContainer is the container that runs etcd: the one named etcd, else the one whose command
// starts with etcd.
func EtcdContainer(pod *corev1.Pod) (*corev1.Container, error) {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == "etcd" {
			return &pod.Spec.Containers[i], nil
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if len(c.Command) > 0 && strings.HasSuffix(c.Command[0], "etcd") {
			return c, nil
		}
	}
	return nil, fmt.Errorf("the manifest runs no etcd container")
}

// Flag returns the value of --name in the etcd container's command line ("" and false when absent).
func Flag(pod *corev1.Pod, name string) (string, bool) {
	c, err := EtcdContainer(pod)
	if err != nil {
		return "", false
	}
	for _, list := range [][]string{c.Command, c.Args} {
		for i, a := range list {
			if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
				return v, true
			}
			if a == "--"+name && i+1 < len(list) {
				return list[i+1], true
			}
		}
	}
	return "", false
}

// JoinManifest is the manifest that starts the member with an empty data directory as a new
// member of the running cluster: the original with --initial-cluster set to every member and
// --initial-cluster-state=existing. Everything else (data directory, certificates, URLs) stays
// as kubeadm wrote it. It is used for the first start only: the original goes back once the
// data directory holds the member, since etcd ignores both flags from then on.
func JoinManifest(original []byte, initialCluster string) ([]byte, error) {
	pod, err := ManifestPod(original)
	if err != nil {
		return nil, err
	}
	c, err := EtcdContainer(pod)
	if err != nil {
		return nil, err
	}
	setFlag(c, "initial-cluster", initialCluster)
	setFlag(c, "initial-cluster-state", "existing")
	out, err := yaml.Marshal(pod)
	if err != nil {
		return nil, fmt.Errorf("encoding the edited manifest: %w", err)
	}
	return out, nil
}

// setFlag sets --name=value in the list (command or args) that holds it, or appends it to the
// list that holds the other flags.
func setFlag(c *corev1.Container, name, value string) {
	for _, list := range []*[]string{&c.Command, &c.Args} {
		for i, a := range *list {
			switch {
			case strings.HasPrefix(a, "--"+name+"="):
				(*list)[i] = "--" + name + "=" + value
				return
			case a == "--"+name && i+1 < len(*list):
				(*list)[i+1] = value
				return
			}
		}
	}
	target := &c.Command
	if len(c.Args) > 0 {
		target = &c.Args
	}
	*target = append(*target, "--"+name+"="+value)
}
