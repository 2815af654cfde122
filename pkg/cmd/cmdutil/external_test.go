package cmdutil

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

func TestKubeadmEtcdImage(t *testing.T) {
	for _, c := range []struct{ repo, version, want, err string }{
		{"", "v1.37.2", "registry.k8s.io/etcd:3.7.0-0", ""},
		{"registry.example.com/k8s/", "v1.34.0", "registry.example.com/k8s/etcd:3.7.0-0", ""},
		{"registry.k8s.io", "1.36.1", "registry.k8s.io/etcd:3.7.0-0", ""},
		{"registry.k8s.io", "v1.33.4", "", "--helper-etcd-image"},
		{"registry.k8s.io", "", "", "--helper-etcd-image"},
	} {
		got, err := KubeadmEtcdImage(c.repo, c.version)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("KubeadmEtcdImage(%q, %q) = %q, %v; want %q, %q", c.repo, c.version, got, err, c.want, c.err)
		}
	}
}

func externalClient(t *testing.T) *fake.Clientset {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kube-apiserver-cp-1", Namespace: "kube-system",
		Labels: map[string]string{"component": "kube-apiserver", "tier": "control-plane"}},
		Spec: corev1.PodSpec{NodeName: "cp-1", Containers: []corev1.Container{{Name: "kube-apiserver",
			Command: []string{"kube-apiserver", "--etcd-servers=https://10.0.0.21:2379,https://10.0.0.22:2379",
				"--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt", "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
				"--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key"}}}}}
	return fake.NewClientset(p)
}

// A node-side command is refused on an external etcd (exit code 5) with what to do instead,
// before any helper pod is created; so is a transport that cannot reach it.
func TestExternalRefusals(t *testing.T) {
	for _, c := range []struct {
		name, nodeSide string
		mode           transport.Mode
		want           string
		code           int
	}{
		{"member rebuild", "member rebuild", transport.ModeAuto, "member rebuild works on the etcd members' nodes", ExitRefused},
		{"on-node", "snapshot save --on-node", transport.ModeAuto, "kubectl etcd snapshot save FILE", ExitRefused},
		{"snapshot restore", "snapshot restore", transport.ModeAuto, "kubectl etcd snapshot restore-plan FILE prints the per-host commands", ExitRefused},
		{"port-forward", "", transport.ModePortForward, "--transport=port-forward cannot reach an external etcd", ExitError},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := externalClient(t)
			var log bytes.Buffer
			g := NewGlobalOptions()
			g.Client, g.LogOut, g.Namespace, g.Mode, g.NodeSide = client, &log, "kube-system", c.mode, c.nodeSide
			_, err := g.Discover(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) || ExitCode(err) != c.code {
				t.Fatalf("err = %v (exit %d); want %q, exit %d", err, ExitCode(err), c.want, c.code)
			}
			if !strings.Contains(log.String(), "etcd is external, at https://10.0.0.21:2379,https://10.0.0.22:2379 (read from the flags of kube-apiserver pod kube-apiserver-cp-1)") {
				t.Errorf("stderr %q does not say where etcd was found", log.String())
			}
			for _, a := range client.Actions() {
				if a.GetVerb() == "create" && a.GetResource().Resource == "pods" {
					t.Errorf("a pod was created: %v", a)
				}
			}
		})
	}
}

// With --pod or a selector of its own the user looks for pods: no external fall-back.
func TestExternalNotWhenPodsAreNamed(t *testing.T) {
	g := NewGlobalOptions()
	g.Client, g.Namespace, g.Pods = externalClient(t), "kube-system", []string{"etcd-cp-1"}
	_, err := g.Discover(context.Background())
	if ExitCode(err) != ExitNoPods {
		t.Errorf("err = %v (exit %d), want no pods", err, ExitCode(err))
	}
}
