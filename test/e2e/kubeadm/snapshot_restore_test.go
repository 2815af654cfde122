package kubeadm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/kubeadmtest"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// The restore replaces the cluster's data, IDs and data directories: this file sorts last and
// its test runs after every other one of the suite.

var restoreNodes = []string{"cp-1", "cp-2", "cp-3"}

// nodeState is what a restore must not change when it does not happen: the etcd manifest and
// the old data directory's WAL.
type nodeState struct{ manifest, wal string }

func nodeStates(t *testing.T, dataDir string) map[string]nodeState {
	t.Helper()
	out := map[string]nodeState{}
	for _, n := range restoreNodes {
		out[n] = nodeState{
			manifest: fileSum(t, nodeFile(n, "kubernetes/manifests/etcd.yaml")),
			wal:      walFiles(t, n, dataDir),
		}
	}
	return out
}

// walFiles lists the WAL files of the data directory (not etcd's preallocated 0.tmp, which goes
// when etcd stops).
func walFiles(t *testing.T, node, dataDir string) string {
	t.Helper()
	return onNode(t, node, "sh", "-c", "cd "+dataDir+"/member/wal && ls *.wal && ls ../snap/db")
}

func wantNodesUnchanged(t *testing.T, before map[string]nodeState, clusterID string) {
	t.Helper()
	for _, n := range restoreNodes {
		if got := fileSum(t, nodeFile(n, "kubernetes/manifests/etcd.yaml")); got != before[n].manifest {
			t.Errorf("node %s: the etcd manifest changed", n)
		}
	}
	_, st := status(t, "--transport", "exec")
	if st.ClusterID != clusterID {
		t.Errorf("cluster ID %s, was %s", st.ClusterID, clusterID)
	}
	eventually(t, "no helper pod left", time.Minute, func() error {
		if left, err := kubeadmtest.HelperPodsLeft(context.Background(), clientset(t)); err != nil || len(left) > 0 {
			return fmt.Errorf("helper pods left: %v %v", left, err)
		}
		return nil
	})
}

func dropRestoreDirs(t *testing.T, dataDir string) {
	t.Helper()
	for _, n := range restoreNodes {
		onNode(t, n, "sh", "-c", "rm -rf "+dataDir+"-restore-*")
	}
}

// TestSnapshotRestore plays README "Back up and restore": with only a kubeconfig, a snapshot is
// saved through the helper, objects are deleted and created, and one command takes the cluster
// back. --dry-run and a staging failure on one node change nothing.
func TestSnapshotRestore(t *testing.T) {
	plugintest.SkipShort(t)
	// The cutover, and the kubelets replacing the snapshot's mirror pods of etcd (their
	// retries back off while the API server is away), take minutes.
	defer func(h time.Duration) { plugintest.HangLimit = h }(plugintest.HangLimit)
	plugintest.HangLimit = 15 * time.Minute
	ctx := context.Background()
	cs := clientset(t)
	for _, n := range restoreNodes {
		kubeletFresh(t, n)
	}
	ns := fmt.Sprintf("restore-e2e-%d", time.Now().Unix())
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("kept-%d", i)}, Data: map[string]string{"i": fmt.Sprint(i)}}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "etcd.db")
	r := runPlugin(t, "snapshot", "save", file)
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stderr, "helper pod") {
		t.Fatalf("the save with only a kubeconfig should go through the helper:\n%s", r)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace "+ns+" gone", 2*time.Minute, func() error {
		if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	later := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ns + "-later"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, later, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, st := status(t, "--transport", "exec")
	oldID, dataDir := st.ClusterID, st.Members[0].DataDir
	before := nodeStates(t, dataDir)

	t.Run("dry run", func(t *testing.T) {
		r := runPlugin(t, "snapshot", "restore", file, "--dry-run")
		plugintest.WantCode(t, r, 0)
		if !strings.Contains(r.Stderr, "every node's manifests and free space were checked") {
			t.Errorf("the dry run does not say it checked the free space:\n%s", r)
		}
		for _, want := range []string{"Verdict:  ready to restore", "goes back", "etcd.local.dataDir ", " -> " + dataDir + "-restore-"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("plan lacks %q:\n%s", want, r)
			}
		}
		wantNodesUnchanged(t, before, oldID)
		for _, n := range restoreNodes {
			if out := onNode(t, n, "sh", "-c", "ls -d "+dataDir+"-restore-* 2>/dev/null; true"); strings.TrimSpace(out) != "" {
				t.Errorf("node %s: the dry run made %s", n, out)
			}
		}
	})

	t.Run("staging failure changes nothing", func(t *testing.T) {
		// cp-3 loses the etcd image (its running etcd keeps it in use): the helper there
		// cannot start etcdutl, and there is no registry to pull from.
		img := "registry.k8s.io/etcd:" + strings.TrimPrefix(etcdVersion, "v") + "-0"
		onNode(t, "cp-3", "ctr", "-a", "/run/containerd/containerd.sock", "-n", "k8s.io", "images", "rm", img)
		defer func() {
			onNode(t, "cp-3", "ctr", "-a", "/run/containerd/containerd.sock", "-n", "k8s.io", "images", "import", filepath.Join(cluster.Dir, "images", "etcd.tar"))
			dropRestoreDirs(t, dataDir)
		}()
		r := runPlugin(t, "snapshot", "restore", file, "--yes", "--no-pre-snapshot")
		plugintest.WantCode(t, r, 1)
		if !strings.Contains(r.Stderr, "node cp-3") || !strings.Contains(r.Stderr, "nothing was changed") || !strings.Contains(r.Stderr, "could not be pulled") {
			t.Errorf("staging failure on cp-3:\n%s", r)
		}
		wantNodesUnchanged(t, before, oldID)
	})

	r = runPlugin(t, "snapshot", "restore", file, "--yes", "-o", "json")
	plugintest.WantCode(t, r, 0)
	var res struct {
		ClusterID string `json:"clusterID"`
		Revision  int64  `json:"revision"`
		Plan      struct {
			MinRevision    int64     `json:"minRevision"`
			PreSnapshot    string    `json:"preSnapshot"`
			KubeadmDataDir [2]string `json:"kubeadmDataDir"`
		} `json:"plan"`
	}
	plugintest.Decode(t, r, &res)
	if res.ClusterID == oldID || res.Revision < res.Plan.MinRevision {
		t.Errorf("restored cluster %s at revision %d (old %s, want at least %d)", res.ClusterID, res.Revision, oldID, res.Plan.MinRevision)
	}
	if _, err := os.Stat(res.Plan.PreSnapshot); err != nil {
		t.Errorf("the snapshot of the state before: %v", err)
	}

	// The deleted objects are back, the later one is gone, and writes work.
	for i := range 3 {
		if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, fmt.Sprintf("kept-%d", i), metav1.GetOptions{}); err != nil {
			t.Errorf("configmap kept-%d not restored: %v", i, err)
		}
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, later.Name, metav1.GetOptions{}); err == nil {
		t.Errorf("configmap %s, created after the snapshot, survived the restore", later.Name)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ns + "-after"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("write after the restore: %v", err)
	}
	r, st = status(t, "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	for _, m := range st.Members {
		if !m.Healthy || m.Learner || !m.PodReady || m.DataDir != res.Plan.KubeadmDataDir[1] {
			t.Errorf("after the restore, member %s: %+v", m.Name, m)
		}
	}
	if len(st.Members) != 3 || st.State != "Healthy" {
		t.Errorf("after the restore: %s with %d members:\n%s", st.State, len(st.Members), r)
	}
	if st.ClusterID != res.ClusterID {
		t.Errorf("status shows cluster %s, the restore reported %s", st.ClusterID, res.ClusterID)
	}

	// The manifests and kubeadm-config agree; the old data directories are intact.
	cfg := kubeadmConfig(t)
	newDir := res.Plan.KubeadmDataDir[1]
	if !strings.Contains(cfg, "dataDir: "+newDir) {
		t.Errorf("kubeadm-config does not name %s:\n%s", newDir, cfg)
	}
	for _, n := range restoreNodes {
		m, err := os.ReadFile(nodeFile(n, "kubernetes/manifests/etcd.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(m), "--data-dir="+newDir) || strings.Count(string(m), newDir) != 3 {
			t.Errorf("node %s: the etcd manifest does not run from %s in flag, mount and hostPath:\n%s", n, newDir, m)
		}
		if wal := walFiles(t, n, dataDir); wal != before[n].wal {
			t.Errorf("node %s: the old data directory's WAL changed: %q, was %q", n, wal, before[n].wal)
		}
		if log := onNode(t, n, "sh", "-c", "cat /etc/kubernetes/tmp/kubectl-etcd-restore-*.log | tail -1"); strings.TrimSpace(log) != "done" {
			t.Errorf("node %s: the progress file says:\n%s", n, log)
		}
	}
	// No helper is left: not in the API, and no running container on the nodes (the restored
	// API does not know the staging helpers; their kubelets end them).
	if left, err := kubeadmtest.HelperPodsLeft(ctx, cs); err != nil || len(left) > 0 {
		t.Errorf("helper pods left: %v %v", left, err)
	}
	eventually(t, "no helper container running on the nodes", 3*time.Minute, func() error {
		for _, n := range restoreNodes {
			out := onNode(t, n, "sh", "-c", "crictl --runtime-endpoint unix:///run/containerd/containerd.sock ps -q --label io.kubernetes.pod.namespace=kube-system --state running -o json 2>/dev/null | grep -c kubectl-etcd-; true")
			if strings.TrimSpace(out) != "0" {
				return fmt.Errorf("node %s still runs helper containers", n)
			}
		}
		return nil
	})
}
