package rebuild

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

// The first start of the rebuilt member uses kubeadm's manifest with every member in
// --initial-cluster and --initial-cluster-state=existing; nothing else changes. kubeadm's
// manifests of the first node (no --initial-cluster-state) and of a joined node (both flags),
// as kubeadm 1.37 wrote them on the e2e cluster.
func TestJoinManifest(t *testing.T) {
	ic := InitialCluster([]Peer{{Name: "cp-3", PeerURLs: []string{"https://172.30.250.13:2380"}},
		{Name: "cp-1", PeerURLs: []string{"https://172.30.250.11:2380"}}, {Name: "cp-2", PeerURLs: []string{"https://172.30.250.12:2380"}}})
	if ic != "cp-1=https://172.30.250.11:2380,cp-2=https://172.30.250.12:2380,cp-3=https://172.30.250.13:2380" {
		t.Fatalf("initial cluster %q", ic)
	}
	for _, name := range []string{"kubeadm-init-etcd", "kubeadm-join-etcd"} {
		t.Run(name, func(t *testing.T) {
			orig, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := JoinManifest(orig, ic)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".rebuild.yaml", got)
			pod, err := ManifestPod(got)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := Flag(pod, "initial-cluster-state"); v != "existing" {
				t.Errorf("--initial-cluster-state=%q", v)
			}
			if v, _ := Flag(pod, "initial-cluster"); v != ic {
				t.Errorf("--initial-cluster=%q", v)
			}
			// Every other flag is kubeadm's.
			was, _ := ManifestPod(orig)
			for _, f := range []string{"name", "data-dir", "initial-advertise-peer-urls", "listen-client-urls", "cert-file"} {
				a, _ := Flag(was, f)
				b, _ := Flag(pod, f)
				if a != b || a == "" {
					t.Errorf("--%s: %q, was %q", f, b, a)
				}
			}
		})
	}
	if _, err := JoinManifest([]byte("kind: Deployment\n"), ic); err == nil || !strings.Contains(err.Error(), "not a pod manifest") {
		t.Errorf("a deployment: %v", err)
	}
}
