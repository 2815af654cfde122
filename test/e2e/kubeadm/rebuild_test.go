package kubeadm_test

// member rebuild (issue 23) on the kubeadm cluster: a member whose data was damaged under the
// running etcd is rebuilt in place by one command with only a kubeconfig, and kubeadm's view of
// the node (manifest, data directory, kubeadm-config) is unchanged apart from the new data.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/kubeadmtest"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

type rebuildResult struct {
	Name         string `json:"name"`
	Node         string `json:"node"`
	OldID        string `json:"oldID"`
	NewID        string `json:"newID"`
	Outcome      string `json:"outcome"`
	KeptManifest string `json:"keptManifest"`
	OldData      string `json:"oldData"`
}

// nodeFile is a file of a node's /etc as the host sees it (the upper layer of its /etc overlay).
func nodeFile(node, rel string) string {
	return filepath.Join(cluster.Dir, "nodes", node, "etc-upper", rel)
}

func fileSum(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func memberID(t *testing.T, name string) string {
	t.Helper()
	_, st := status(t, "--transport", "exec")
	for _, m := range st.Members {
		if m.Name == name {
			return m.ID
		}
	}
	t.Fatalf("no member %s in %+v", name, st.Members)
	return ""
}

func kubeadmConfig(t *testing.T) string {
	t.Helper()
	cm, err := clientset(t).CoreV1().ConfigMaps("kube-system").Get(context.Background(), "kubeadm-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data["ClusterConfiguration"]
}

// wantUnchanged: the member keeps its ID and the node its manifest.
func wantUnchanged(t *testing.T, id, manifestSum string) {
	t.Helper()
	if got := memberID(t, "cp-3"); got != id {
		t.Errorf("member ID of cp-3 changed: %s, was %s", got, id)
	}
	if got := fileSum(t, nodeFile("cp-3", "kubernetes/manifests/etcd.yaml")); got != manifestSum {
		t.Errorf("the manifest of cp-3 changed")
	}
	wantNoHelpers(t)
}

func wantNoHelpers(t *testing.T) {
	t.Helper()
	eventually(t, "no helper pod left", 2*time.Minute, func() error {
		left, err := kubeadmtest.HelperPodsLeft(context.Background(), clientset(t))
		if err == nil && len(left) > 0 {
			err = fmt.Errorf("helper pods left: %s", strings.Join(left, ", "))
		}
		return err
	})
}

// kubeletFresh waits until node's kubelet renews its lease again: after its etcd member was
// down (an earlier test stopped it), the kubelet reaches its own API server only some time after
// etcd is back, and until then member rebuild rightly refuses the node.
func kubeletFresh(t *testing.T, node string) {
	t.Helper()
	eventually(t, "the kubelet of "+node+" renewing its lease", 3*time.Minute, func() error {
		l, err := clientset(t).CoordinationV1().Leases("kube-node-lease").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		var newest, mine time.Time
		for _, x := range l.Items {
			if x.Spec.RenewTime == nil {
				continue
			}
			if x.Spec.RenewTime.After(newest) {
				newest = x.Spec.RenewTime.Time
			}
			if x.Name == node {
				mine = x.Spec.RenewTime.Time
			}
		}
		if lag := newest.Sub(mine); mine.IsZero() || lag > 15*time.Second {
			return fmt.Errorf("lease of %s %s behind", node, lag)
		}
		return nil
	})
}

func TestRebuild(t *testing.T) {
	plugintest.SkipShort(t)
	kubeletFresh(t, "cp-3")
	manifest := nodeFile("cp-3", "kubernetes/manifests/etcd.yaml")
	before := fileSum(t, manifest)
	config := kubeadmConfig(t)
	oldID := memberID(t, "cp-3")

	t.Run("a healthy member needs --force, and nothing changes", func(t *testing.T) {
		r := runPlugin(t, "member", "rebuild", "cp-3", "--yes")
		plugintest.WantCode(t, r, 5)
		if !strings.Contains(r.Stderr, "pass --force") || !strings.Contains(r.Stdout, "Verdict:  needs --force") {
			t.Errorf("refusal:\n%s", r)
		}
		wantUnchanged(t, oldID, before)
	})

	t.Run("--dry-run reads the manifest and changes nothing", func(t *testing.T) {
		r := runPlugin(t, "member", "rebuild", "cp-3", "--dry-run", "--force", "--helper-image", shellImage)
		plugintest.WantCode(t, r, 0)
		for _, want := range []string{"Steps:    1. stop etcd on cp-3", "/etc/kubernetes/manifests/etcd.yaml", "with peer URL https://172.30.250.13:2380"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("plan lacks %q:\n%s", want, r)
			}
		}
		if !strings.Contains(r.Stderr, "dry run: nothing was changed") {
			t.Errorf("stderr:\n%s", r)
		}
		wantUnchanged(t, oldID, before)
	})

	t.Run("no terminal and no --yes: refused", func(t *testing.T) {
		r := runPlugin(t, "member", "rebuild", "cp-3", "--force")
		plugintest.WantCode(t, r, 5)
		if !strings.Contains(r.Stderr, "--yes") {
			t.Errorf("stderr:\n%s", r)
		}
		wantUnchanged(t, oldID, before)
	})

	t.Run("a node whose kubelet cannot reach the API is refused at once", func(t *testing.T) {
		script(t, "kubelet-stop", "cp-3")
		restarted := false
		defer func() {
			if !restarted {
				script(t, "kubelet-restart", "cp-3")
			}
		}()
		time.Sleep(50 * time.Second) // four missed lease renewals
		r := runPlugin(t, "member", "rebuild", "cp-3", "--yes", "--force")
		plugintest.WantCode(t, r, 5)
		if !strings.Contains(r.Stderr, "has not reached the API") {
			t.Errorf("stderr:\n%s", r)
		}
		script(t, "kubelet-restart", "cp-3")
		restarted = true
		wantUnchanged(t, oldID, before)
		kubeletFresh(t, "cp-3")
	})

	// The WAL of the running member is damaged: etcd reads it only when it starts, so the
	// member still serves (and its node's API server with it), but would crash-loop on its
	// next start with a CRC mismatch.
	onNode(t, "cp-3", "/bin/sh", "-c", `for f in /var/lib/etcd/member/wal/*.wal; do dd if=/dev/urandom of="$f" bs=4096 seek=1 count=8 conv=notrunc 2>/dev/null; done`)

	r := runPlugin(t, "member", "rebuild", "cp-3", "--yes", "--force", "-o", "json")
	plugintest.WantCode(t, r, 0)
	var res rebuildResult
	plugintest.Decode(t, r, &res)
	t.Logf("rebuild: %+v\n%s", res, r.Stderr)
	if res.Name != "cp-3" || res.OldID != oldID || res.NewID == "" || res.NewID == oldID || res.Outcome != "promoted" {
		t.Errorf("result %+v", res)
	}
	for _, step := range []string{"1/6 stopping etcd", "2/6 removing member", "3/6 setting the old data aside", "4/6 adding cp-3 back",
		"5/6 starting etcd on cp-3", "6/6 waiting until learner"} {
		if !strings.Contains(r.Stderr, step) {
			t.Errorf("stderr lacks %q", step)
		}
	}
	wantBackToThree(t)
	if got := memberID(t, "cp-3"); got != res.NewID {
		t.Errorf("cp-3 is %s, want the new %s", got, res.NewID)
	}
	r = runPlugin(t, "check", "consistency", "--transport", "exec")
	plugintest.WantCode(t, r, 0)

	// kubeadm's view of the node: the same manifest, byte for byte, and the same kubeadm-config.
	if got := fileSum(t, manifest); got != before {
		t.Errorf("the manifest of cp-3 differs from kubeadm's after the rebuild")
	}
	if got := fileSum(t, nodeFile("cp-3", strings.TrimPrefix(res.KeptManifest, "/etc/"))); got != before {
		t.Errorf("the kept copy %s differs from the original", res.KeptManifest)
	}
	if got := kubeadmConfig(t); got != config {
		t.Errorf("kubeadm-config changed:\n%s\nwas\n%s", got, config)
	}
	// The damaged files are kept beside the new data, inside the data directory.
	aside := filepath.Join(nodeEtcdDir("cp-3"), strings.TrimPrefix(res.OldData, "/var/lib/etcd/"))
	wals, _ := filepath.Glob(filepath.Join(aside, "member", "wal", "*.wal"))
	dbs, _ := filepath.Glob(filepath.Join(aside, "member", "snap", "db"))
	if len(wals) == 0 || len(dbs) != 1 {
		t.Errorf("old data not kept at %s: wal %v db %v", aside, wals, dbs)
	}
	if _, err := os.Stat(filepath.Join(nodeEtcdDir("cp-3"), "member", "wal")); err != nil {
		t.Errorf("new data: %v", err)
	}
	wantNoHelpers(t)
	// Writes work through every API server, cp-3's included. That one may still be restarting
	// (its liveness probe failed while its etcd member was stopped; the kubelet restarts it on
	// its own schedule), so it gets the kubelet's back-off to come back.
	eventually(t, "a write through cp-3's API server", 2*time.Minute, func() error {
		out, err := kubectl(t, "--server", "https://172.30.250.13:6443", "-n", "default", "create", "configmap", "after-rebuild", "--from-literal=k=v")
		if err != nil && strings.Contains(err.Error(), "AlreadyExists") {
			return nil // an earlier attempt was written, but its answer was lost
		}
		if err != nil {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	})
	_, _ = kubectl(t, "-n", "default", "delete", "configmap", "after-rebuild")
}
