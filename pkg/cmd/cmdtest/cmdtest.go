// Package cmdtest holds the fixture that the command packages' unit tests share: kubeadm's etcd
// pods as the Kubernetes API would list them, and the fake members those pods run.
package cmdtest

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	fakeetcd "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// IDs are the member IDs of cp-1, cp-2 and cp-3; cp-1 leads.
var IDs = []uint64{0x8e9e05c52164694d, 0x91bc3c398fb3c146, 0xfd422379fda50e48}

// KubeadmCluster returns kubeadm's etcd pods of cp-1..cp-3 (from pkg/discovery/testdata) and a fake
// cluster whose members run in them, each on etcd 3.6.16; tests adjust the members they need.
func KubeadmCluster(t *testing.T) ([]k8sruntime.Object, *fakeetcd.Cluster) {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	data, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "discovery", "testdata", "kubeadm-etcd-cp-1.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeetcd.Cluster{ClusterID: 0xcdf818194e3a8c32, LeaderID: IDs[0], PodMember: map[string]uint64{}}
	var objs []k8sruntime.Object
	for i, n := range []string{"cp-1", "cp-2", "cp-3"} {
		var p corev1.Pod
		if err := yaml.Unmarshal([]byte(strings.ReplaceAll(string(data), "cp-1", n)), &p); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, &p)
		c.Members = append(c.Members, &fakeetcd.Member{ID: IDs[i], Name: n, Version: "3.6.16"})
		c.PodMember["etcd-"+n] = IDs[i]
	}
	return objs, c
}

// ExternalEtcd returns the kube-apiserver pod and kubeadm-config of a kubeadm cluster on an
// external etcd (from pkg/discovery/testdata): no etcd pods.
func ExternalEtcd(t *testing.T) []k8sruntime.Object {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "..", "..", "discovery", "testdata")
	var pod corev1.Pod
	var cm corev1.ConfigMap
	for file, obj := range map[string]any{"kubeadm-apiserver-external-cp-1.yaml": &pod, "kubeadm-config-external.yaml": &cm} {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, obj); err != nil {
			t.Fatal(err)
		}
	}
	return []k8sruntime.Object{&pod, &cm}
}

// WantValidate checks the error of an Options' Validate: nil when wantErr is empty, else a usage
// error (main adds the help hint to it) whose message is exactly wantErr.
func WantValidate(t *testing.T, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("Validate() = %v, want nil", err)
	case wantErr == "":
	case err == nil || err.Error() != wantErr:
		t.Fatalf("Validate() = %v, want %q", err, wantErr)
	default:
		var ue *cmdutil.UsageError
		if !errors.As(err, &ue) {
			t.Fatalf("Validate() = %T, want a usage error", err)
		}
	}
}

// Globals returns completed global options for the command cmdPath whose Kubernetes client lists
// objs and whose connector reaches the fake cluster c.
func Globals(t *testing.T, objs []k8sruntime.Object, c *fakeetcd.Cluster, cmdPath string) *cmdutil.GlobalOptions {
	t.Helper()
	g := cmdutil.NewGlobalOptions()
	g.Client = fake.NewSimpleClientset(objs...)
	g.NewConnector = func(transport.Mode) (transport.Connector, error) { return c.Connector(), nil }
	if err := g.Complete(cmdPath); err != nil {
		t.Fatal(err)
	}
	return g
}

// Called reports whether some call to the fake cluster contains op (e.g. "member add").
func Called(c *fakeetcd.Cluster, op string) bool {
	c.Lock()
	defer c.Unlock()
	for _, call := range c.Calls {
		if strings.Contains(call, op) {
			return true
		}
	}
	return false
}
