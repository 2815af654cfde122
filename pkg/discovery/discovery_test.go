package discovery

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

func loadPod(t *testing.T, file string) *corev1.Pod {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var p corev1.Pod
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// kubeadmPod returns the kubeadm pod of node n with its IP rewritten.
func kubeadmPod(t *testing.T, node, ip string) *corev1.Pod {
	p := loadPod(t, "kubeadm-etcd-cp-1.yaml")
	data, _ := yaml.Marshal(p)
	s := strings.ReplaceAll(strings.ReplaceAll(string(data), "10.0.0.11", ip), "cp-1", node)
	var out corev1.Pod
	if err := yaml.Unmarshal([]byte(s), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestFromPodKubeadm(t *testing.T) {
	m, err := FromPod(loadPod(t, "kubeadm-etcd-cp-1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Member{
		Namespace: "kube-system", Pod: "etcd-cp-1", Node: "cp-1", Container: "etcd",
		Image: "registry.k8s.io/etcd:3.6.6-0", PodIP: "10.0.0.11", Phase: "Running", Ready: true,
		Name:                     "cp-1",
		ListenClientURLs:         []string{"https://127.0.0.1:2379", "https://10.0.0.11:2379"},
		AdvertiseClientURLs:      []string{"https://10.0.0.11:2379"},
		AnnotationClientURLs:     []string{"https://10.0.0.11:2379"},
		ListenMetricsURLs:        []string{"http://127.0.0.1:2381"},
		ListenPeerURLs:           []string{"https://10.0.0.11:2380"},
		InitialAdvertisePeerURLs: []string{"https://10.0.0.11:2380"},
		InitialCluster:           "cp-1=https://10.0.0.11:2380",
		TrustedCAFile:            "/etc/kubernetes/pki/etcd/ca.crt",
		CertFile:                 "/etc/kubernetes/pki/etcd/server.crt",
		KeyFile:                  "/etc/kubernetes/pki/etcd/server.key",
		ClientCertAuth:           true,
		PeerTrustedCAFile:        "/etc/kubernetes/pki/etcd/ca.crt",
		PeerCertFile:             "/etc/kubernetes/pki/etcd/peer.crt",
		PeerKeyFile:              "/etc/kubernetes/pki/etcd/peer.key",
		DataDir:                  "/var/lib/etcd",
		LocalClientURL:           "https://127.0.0.1:2379",
		MetricsURL:               "http://127.0.0.1:2381",
		HostPaths:                map[string]string{"/var/lib/etcd": "/var/lib/etcd", "/etc/kubernetes/pki/etcd": "/etc/kubernetes/pki/etcd"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("FromPod(kubeadm):\n got %+v\nwant %+v", m, want)
	}
}

func TestFromPodRKE2Layout(t *testing.T) {
	m, err := FromPod(loadPod(t, "rke2-style-etcd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"container":      {m.Container, "etcd-main"},
		"name":           {m.Name, "server-a-4f2c1d"},
		"local URL":      {m.LocalClientURL, "https://127.0.0.1:2379"},
		"metrics URL":    {m.MetricsURL, "http://127.0.0.1:2381"},
		"trusted CA":     {m.TrustedCAFile, "/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt"},
		"cert":           {m.CertFile, "/var/lib/rancher/rke2/server/tls/etcd/server-client.crt"},
		"key":            {m.KeyFile, "/var/lib/rancher/rke2/server/tls/etcd/server-client.key"},
		"data dir":       {m.DataDir, "/var/lib/rancher/rke2/server/db/etcd"},
		"advertise URLs": {strings.Join(m.AdvertiseClientURLs, ","), "https://192.168.10.5:2379"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", what, c[0], c[1])
		}
	}
	if !m.ClientCertAuth {
		t.Error("--client-cert-auth without a value should read as true")
	}
	if m.QuotaBackendBytes != 4294967296 {
		t.Errorf("quota from ETCD_QUOTA_BACKEND_BYTES = %d", m.QuotaBackendBytes)
	}
	if m.Ready {
		t.Error("pod without a Ready condition reported ready")
	}
}

func TestPickLocalURL(t *testing.T) {
	cases := []struct {
		name              string
		listen, advertise []string
		want              string
	}{
		{"loopback first even if listed second", []string{"https://10.0.0.1:2379", "https://127.0.0.1:2379"}, nil, "https://127.0.0.1:2379"},
		{"localhost", []string{"https://localhost:2379"}, nil, "https://localhost:2379"},
		{"ipv6 loopback", []string{"https://[::1]:2379"}, nil, "https://[::1]:2379"},
		{"wildcard becomes loopback", []string{"https://0.0.0.0:2379"}, nil, "https://127.0.0.1:2379"},
		{"ipv6 wildcard", []string{"https://[::]:4001"}, nil, "https://127.0.0.1:4001"},
		{"only a node address", []string{"https://10.0.0.1:2379"}, nil, "https://10.0.0.1:2379"},
		{"nothing listened, use advertised", nil, []string{"https://10.0.0.2:2379"}, "https://10.0.0.2:2379"},
	}
	for _, c := range cases {
		if got := pickLocalURL(c.listen, c.advertise); got != c.want {
			t.Errorf("%s: got %q want %q", c.name, got, c.want)
		}
	}
}

func TestParseEtcdArgsForms(t *testing.T) {
	c := &corev1.Container{
		Command: []string{"etcd", "-name=a", "--data-dir", "/d", "--client-cert-auth", "--listen-client-urls=https://127.0.0.1:1,https://127.0.0.1:2", "--name=b"},
		Env:     []corev1.EnvVar{{Name: "ETCD_KEY_FILE", Value: "/k"}, {Name: "ETCD_DATA_DIR", Value: "/ignored"}},
	}
	a := parseEtcdArgs(c)
	if a.get("name") != "b" {
		t.Errorf("last --name should win, got %q", a.get("name"))
	}
	if a.get("data-dir") != "/d" {
		t.Errorf("data-dir %q", a.get("data-dir"))
	}
	if !a.boolean("client-cert-auth") {
		t.Error("bare boolean flag")
	}
	if got := a.list("listen-client-urls"); len(got) != 2 {
		t.Errorf("list %v", got)
	}
	if a.get("key-file") != "/k" {
		t.Error("env var fallback not used")
	}
}

func TestDiscover(t *testing.T) {
	pods := []runtime.Object{
		kubeadmPod(t, "cp-2", "10.0.0.12"),
		kubeadmPod(t, "cp-1", "10.0.0.11"),
		kubeadmPod(t, "cp-3", "10.0.0.13"),
	}
	other := kubeadmPod(t, "cp-9", "10.0.0.19")
	other.Namespace = "default"
	notEtcd := kubeadmPod(t, "cp-8", "10.0.0.18")
	notEtcd.Labels = map[string]string{"component": "kube-apiserver"}
	client := fake.NewSimpleClientset(append(pods, other, notEtcd)...)

	got, err := Discover(context.Background(), client, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range got {
		names = append(names, m.Pod+"@"+m.Node)
	}
	if want := "etcd-cp-1@cp-1,etcd-cp-2@cp-2,etcd-cp-3@cp-3"; strings.Join(names, ",") != want {
		t.Errorf("discovered %v, want %s", names, want)
	}

	got, err = Discover(context.Background(), client, Options{Pods: []string{"etcd-cp-2"}})
	if err != nil || len(got) != 1 || got[0].Pod != "etcd-cp-2" {
		t.Errorf("--pod filter: %v %v", got, err)
	}

	_, err = Discover(context.Background(), client, Options{Pods: []string{"etcd-cp-2", "etcd-cp-7"}})
	if err == nil || !strings.Contains(err.Error(), "etcd-cp-7") {
		t.Errorf("unknown --pod should be named: %v", err)
	}

	// WholeCluster: every etcd pod, --pod only checked.
	got, err = Discover(context.Background(), client, Options{Pods: []string{"etcd-cp-2"}, WholeCluster: true})
	if err != nil || len(got) != 3 {
		t.Errorf("--pod with the whole cluster: %v %v", got, err)
	}
	for _, o := range []Options{{Pods: []string{"etcd-cp-2", "etcd-cp-7"}, WholeCluster: true}, {Pods: []string{"etcd-cp-7"}, WholeCluster: true}} {
		_, err = Discover(context.Background(), client, o)
		var np *NoPodsError
		if err == nil || !strings.Contains(err.Error(), "etcd-cp-7") || errors.As(err, &np) != (len(o.Pods) == 1) {
			t.Errorf("unknown --pod %v with the whole cluster: %v", o.Pods, err)
		}
	}
}

func TestDiscoverNoPods(t *testing.T) {
	client := fake.NewSimpleClientset()
	_, err := Discover(context.Background(), client, Options{Namespace: "kube-system", Selector: "component=etcd"})
	var np *NoPodsError
	if !errors.As(err, &np) {
		t.Fatalf("want NoPodsError, got %v", err)
	}
	if want := `no etcd pods in namespace "kube-system" match "component=etcd"`; !strings.Contains(err.Error(), want) {
		t.Errorf("message %q does not say %q", err, want)
	}
	_, err = Discover(context.Background(), client, Options{Selector: "a=("})
	if err == nil || !strings.Contains(err.Error(), "invalid --selector") {
		t.Errorf("bad selector: %v", err)
	}
}

// perf judges peer round trips against the heartbeat interval of the pod's etcd flags.
func TestHeartbeatInterval(t *testing.T) {
	p := loadPod(t, "kubeadm-etcd-cp-1.yaml")
	m, err := FromPod(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.HeartbeatIntervalMS != 0 || m.HeartbeatInterval() != 100*time.Millisecond {
		t.Errorf("kubeadm pod without the flag: %d ms, %s; want etcd's default 100ms", m.HeartbeatIntervalMS, m.HeartbeatInterval())
	}
	p.Spec.Containers[0].Command = append(p.Spec.Containers[0].Command, "--heartbeat-interval=250")
	if m, err = FromPod(p); err != nil || m.HeartbeatInterval() != 250*time.Millisecond {
		t.Errorf("--heartbeat-interval=250: %v, %v", m.HeartbeatInterval(), err)
	}
}
