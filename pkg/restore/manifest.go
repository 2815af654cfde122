// Package restore takes a kubeadm control plane back to a snapshot through the Kubernetes API:
// the restored data directories are staged on every node by helper pods while the cluster still
// runs, then each helper cuts its node over by itself (the API server is gone while it does).
package restore

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/rebuild"
)

// RestoredManifest is the etcd static pod manifest original pointed at the data directory
// newDir: --data-dir, the hostPath of the volume that holds the data directory and that
// volume's mount all become newDir, which is what kubeadm writes for etcd.local.dataDir newDir.
// Everything else stays as it was. The data directory must be a volume of its own (kubeadm's
// layout): a data directory inside a larger mount is refused.
func RestoredManifest(original []byte, newDir string) ([]byte, error) {
	pod, err := rebuild.ManifestPod(original)
	if err != nil {
		return nil, err
	}
	c, err := rebuild.EtcdContainer(pod)
	if err != nil {
		return nil, err
	}
	dataDir, ok := rebuild.Flag(pod, "data-dir")
	if !ok {
		return nil, fmt.Errorf("the etcd container has no --data-dir flag")
	}
	dataDir = path.Clean(dataDir)
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if path.Clean(c.VolumeMounts[i].MountPath) == dataDir {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		return nil, fmt.Errorf("no volume is mounted at the data directory %s (kubeadm mounts it as a hostPath of its own)", dataDir)
	}
	var vol *corev1.Volume
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == mount.Name {
			vol = &pod.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.HostPath == nil {
		return nil, fmt.Errorf("the volume %q mounted at the data directory %s is not a hostPath", mount.Name, dataDir)
	}
	vol.HostPath.Path = newDir
	mount.MountPath = newDir
	setFlag(c, "data-dir", newDir)
	out, err := yaml.Marshal(pod)
	if err != nil {
		return nil, fmt.Errorf("encoding the edited manifest: %w", err)
	}
	return out, nil
}

// setFlag replaces --name's value where it is (RestoredManifest found it).
func setFlag(c *corev1.Container, name, value string) {
	for _, list := range [][]string{c.Command, c.Args} {
		for i, a := range list {
			switch {
			case strings.HasPrefix(a, "--"+name+"="):
				list[i] = "--" + name + "=" + value
			case a == "--"+name && i+1 < len(list):
				list[i+1] = value
			}
		}
	}
}

// Component is a control-plane static pod that is stopped while etcd is restored and started
// again afterwards.
type Component struct {
	// Name is the pod's component label (kube-apiserver, ...); File its manifest's name.
	Name string `json:"name"`
	File string `json:"file"`
	// Port is the TCP port it listens on (its --secure-port), which tells when it has stopped.
	Port int `json:"port"`
}

// controlPlane are the components kubeadm runs beside etcd, with their default ports.
var controlPlane = map[string]int{"kube-apiserver": 6443, "kube-controller-manager": 10257, "kube-scheduler": 10259}

// ComponentOf says which control-plane component the manifest runs (ok false for anything
// else, etcd included) and the port it listens on.
func ComponentOf(file string, data []byte) (Component, bool, error) {
	pod, err := rebuild.ManifestPod(data)
	if err != nil {
		return Component{}, false, err
	}
	name := pod.Labels["component"]
	port, ok := controlPlane[name]
	if !ok || len(pod.Spec.Containers) == 0 {
		return Component{}, false, nil
	}
	c := pod.Spec.Containers[0]
	for _, list := range [][]string{c.Command, c.Args} {
		for _, a := range list {
			if v, found := strings.CutPrefix(a, "--secure-port="); found {
				p, err := strconv.Atoi(v)
				if err != nil || p <= 0 || p > 65535 {
					return Component{}, false, fmt.Errorf("%s: invalid --secure-port %q", file, v)
				}
				port = p
			}
		}
	}
	return Component{Name: name, File: file, Port: port}, true, nil
}

// EtcdPorts are the client and peer ports of the etcd manifest: the ports of its first
// --listen-client-urls and --listen-peer-urls (2379 and 2380 when absent).
func EtcdPorts(data []byte) (client, peer int, err error) {
	pod, err := rebuild.ManifestPod(data)
	if err != nil {
		return 0, 0, err
	}
	port := func(flag string, def int) (int, error) {
		v, ok := rebuild.Flag(pod, flag)
		if !ok {
			return def, nil
		}
		first, _, _ := strings.Cut(v, ",")
		i := strings.LastIndexByte(first, ':')
		if i < 0 {
			return def, nil
		}
		p, err := strconv.Atoi(strings.TrimRight(first[i+1:], "/"))
		if err != nil || p <= 0 || p > 65535 {
			return 0, fmt.Errorf("invalid port in --%s %q", flag, v)
		}
		return p, nil
	}
	if client, err = port("listen-client-urls", 2379); err != nil {
		return 0, 0, err
	}
	peer, err = port("listen-peer-urls", 2380)
	return client, peer, err
}

// SetKubeadmDataDir sets etcd.local.dataDir in the text of kubeadm-config's
// ClusterConfiguration, so that kubeadm regenerates the manifest the restore wrote (kubeadm
// upgrade, kubeadm join). It returns the new text and the old value ("" when it was not set,
// which means kubeadm's default /var/lib/etcd). A configuration with external etcd is refused.
func SetKubeadmDataDir(text, dir string) (string, string, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		return "", "", fmt.Errorf("the ClusterConfiguration is not YAML: %w", err)
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	e, _ := cfg["etcd"].(map[string]any)
	if e == nil {
		e = map[string]any{}
		cfg["etcd"] = e
	}
	if _, ext := e["external"]; ext {
		return "", "", fmt.Errorf("the ClusterConfiguration uses external etcd")
	}
	local, _ := e["local"].(map[string]any)
	if local == nil {
		local = map[string]any{}
		e["local"] = local
	}
	old, _ := local["dataDir"].(string)
	local["dataDir"] = dir
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "", "", err
	}
	return string(out), old, nil
}

// KubeadmDataDir reads etcd.local.dataDir from the ClusterConfiguration text (kubeadm's
// default /var/lib/etcd when it is not set).
func KubeadmDataDir(text string) (string, error) {
	var cfg struct {
		Etcd struct {
			Local *struct {
				DataDir string `json:"dataDir"`
			} `json:"local"`
		} `json:"etcd"`
	}
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		return "", fmt.Errorf("the ClusterConfiguration is not YAML: %w", err)
	}
	if cfg.Etcd.Local == nil || cfg.Etcd.Local.DataDir == "" {
		return "/var/lib/etcd", nil
	}
	return cfg.Etcd.Local.DataDir, nil
}
