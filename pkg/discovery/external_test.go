package discovery

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

// The golden files are the kube-apiserver pod and kubeadm-config of a cluster built by
// kubeadm's "HA etcd cluster" guide (hack/kubeadm-cluster.sh up DIR --external-etcd).

func loadConfigMap(t *testing.T, file string) *corev1.ConfigMap {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatal(err)
	}
	return &cm
}

var guideEndpoints = []string{"https://172.30.251.21:2379", "https://172.30.251.22:2379", "https://172.30.251.23:2379"}

func TestDiscoverExternalFromAPIServerFlags(t *testing.T) {
	client := fake.NewClientset(loadPod(t, "kubeadm-apiserver-external-cp-1.yaml"))
	ext, err := DiscoverExternal(context.Background(), client, "")
	if err != nil {
		t.Fatal(err)
	}
	want := &External{Endpoints: guideEndpoints, CAFile: "/etc/kubernetes/pki/etcd/ca.crt",
		CertFile: "/etc/kubernetes/pki/apiserver-etcd-client.crt", KeyFile: "/etc/kubernetes/pki/apiserver-etcd-client.key",
		Node: "cp-1", Source: "the flags of kube-apiserver pod kube-apiserver-cp-1"}
	if !reflect.DeepEqual(ext, want) {
		t.Errorf("got %+v\nwant %+v", ext, want)
	}
}

func TestDiscoverExternalFromKubeadmConfig(t *testing.T) {
	client := fake.NewClientset(loadConfigMap(t, "kubeadm-config-external.yaml"))
	ext, err := DiscoverExternal(context.Background(), client, "kube-system")
	if err != nil {
		t.Fatal(err)
	}
	want := &External{Endpoints: guideEndpoints, CAFile: "/etc/kubernetes/pki/etcd/ca.crt",
		CertFile: "/etc/kubernetes/pki/apiserver-etcd-client.crt", KeyFile: "/etc/kubernetes/pki/apiserver-etcd-client.key",
		ImageRepository: "registry.k8s.io", KubernetesVersion: "v1.37.2",
		Source: "ConfigMap kube-system/kubeadm-config (etcd.external)"}
	if !reflect.DeepEqual(ext, want) {
		t.Errorf("got %+v\nwant %+v", ext, want)
	}
}

func TestDiscoverExternalBothAgree(t *testing.T) {
	client := fake.NewClientset(loadPod(t, "kubeadm-apiserver-external-cp-1.yaml"), loadConfigMap(t, "kubeadm-config-external.yaml"))
	ext, err := DiscoverExternal(context.Background(), client, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ext.Warnings) != 0 || ext.KubernetesVersion != "v1.37.2" || ext.Node != "cp-1" {
		t.Errorf("got %+v", ext)
	}
}

// When the flags and kubeadm-config disagree, the flags (what the API server runs with) win
// and each difference is a warning that names both sources.
func TestDiscoverExternalDisagreementFlagsWin(t *testing.T) {
	cm := loadConfigMap(t, "kubeadm-config-external.yaml")
	cc := strings.ReplaceAll(cm.Data["ClusterConfiguration"], "172.30.251.23", "172.30.251.99")
	cc = strings.ReplaceAll(cc, "keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key", "keyFile: /etc/etcd/client.key")
	cm.Data["ClusterConfiguration"] = cc
	client := fake.NewClientset(loadPod(t, "kubeadm-apiserver-external-cp-1.yaml"), cm)
	ext, err := DiscoverExternal(context.Background(), client, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ext.Endpoints, guideEndpoints) || ext.KeyFile != "/etc/kubernetes/pki/apiserver-etcd-client.key" {
		t.Errorf("the flags must win: got %+v", ext)
	}
	if len(ext.Warnings) != 2 {
		t.Fatalf("warnings %q, want 2", ext.Warnings)
	}
	for _, w := range ext.Warnings {
		if !strings.Contains(w, "kube-apiserver pod kube-apiserver-cp-1") || !strings.Contains(w, "kubeadm-config") {
			t.Errorf("warning %q does not name both sources", w)
		}
	}
	if !strings.Contains(ext.Warnings[0], "172.30.251.99") || !strings.Contains(ext.Warnings[1], "/etc/etcd/client.key") {
		t.Errorf("warnings %q", ext.Warnings)
	}
	if !strings.Contains(ext.Source, "kube-apiserver-cp-1") || !strings.Contains(ext.Source, "kubeadm-config") {
		t.Errorf("source %q", ext.Source)
	}
}

// A stacked cluster whose etcd pods are not found (a wrong -n, mirror pods not there yet) is
// not taken for an external etcd: kubeadm-config says etcd.local, and its API servers name
// their node's own loopback (https://127.0.0.1:2379).
func TestDiscoverExternalNotOnStacked(t *testing.T) {
	cm := loadConfigMap(t, "kubeadm-config-external.yaml")
	cm.Data["ClusterConfiguration"] = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  local:\n    dataDir: /var/lib/etcd\n"
	loopback := func() *corev1.Pod {
		p := loadPod(t, "kubeadm-apiserver-external-cp-1.yaml")
		args := p.Spec.Containers[0].Command
		for i, a := range args {
			if strings.HasPrefix(a, "--etcd-servers=") {
				args[i] = "--etcd-servers=https://127.0.0.1:2379"
			}
		}
		return p
	}
	for name, objs := range map[string][]runtime.Object{
		"etcd.local":            {cm},
		"loopback":              {loopback()},
		"etcd.local + loopback": {cm, loopback()},
		"etcd.local + flags":    {cm, loadPod(t, "kubeadm-apiserver-external-cp-1.yaml")},
		"nothing":               nil,
	} {
		ext, err := DiscoverExternal(context.Background(), fake.NewClientset(objs...), "")
		if err != nil || ext != nil {
			t.Errorf("%s: got %+v, %v; want nothing", name, ext, err)
		}
	}
}

func TestDiscoverExternalUnreadableConfig(t *testing.T) {
	cm := loadConfigMap(t, "kubeadm-config-external.yaml")
	cm.Data["ClusterConfiguration"] = "etcd: ["
	client := fake.NewClientset(cm)
	if _, err := DiscoverExternal(context.Background(), client, ""); err == nil || !strings.Contains(err.Error(), "kubeadm-config") {
		t.Errorf("err = %v", err)
	}
}

// Result rows name a member by pod; an external member has none, so it is found by its
// member name, and never matches a row of a pod or another external member.
func TestMemberIs(t *testing.T) {
	pod := Member{Pod: "etcd-cp-1", Name: "cp-1"}
	ext1 := Member{External: true, Name: "etcd-1"}
	ext2 := Member{External: true, Name: "etcd-2"}
	for _, c := range []struct {
		m         Member
		pod, name string
		want      bool
	}{
		{pod, "etcd-cp-1", "cp-1", true},
		{pod, "etcd-cp-1", "", true},
		{pod, "", "cp-1", false},
		{ext1, "", "etcd-1", true},
		{ext2, "", "etcd-1", false},
		{ext1, "etcd-cp-1", "etcd-1", false},
	} {
		if got := c.m.Is(c.pod, c.name); got != c.want {
			t.Errorf("%+v.Is(%q, %q) = %v, want %v", c.m, c.pod, c.name, got, c.want)
		}
	}
}
