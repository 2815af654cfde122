package kubeadmext_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/kubeadmtest"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

var etcdHosts = []string{"etcd-1", "etcd-2", "etcd-3"}

// noHelperLeft checks, after a run, that its helper pod is gone (bounded: a deleted pod takes
// the kubelet a moment).
func noHelperLeft(t *testing.T) {
	t.Helper()
	cs, err := kubeadmtest.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		left, err := kubeadmtest.HelperPodsLeft(context.Background(), cs)
		if err == nil && len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("helper pods left after the run: %v %v", left, err)
		}
		time.Sleep(time.Second)
	}
}

// saysExternal checks what the run said on stderr: where etcd was found and through which pod.
func saysExternal(t *testing.T, r *plugintest.Result) {
	t.Helper()
	for _, want := range []string{"no etcd pods: etcd is external, at https://172.30.251.21:2379,https://172.30.251.22:2379,https://172.30.251.23:2379",
		"the flags of kube-apiserver pod kube-apiserver-cp-1", "reaching it with etcdctl in helper pod kube-system/kubectl-etcd-etcdctl-"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q\n%s", want, r)
		}
	}
}

func TestStatus(t *testing.T) {
	r := runPlugin(t, "status", "-o", "json")
	plugintest.WantCode(t, r, 0)
	saysExternal(t, r)
	var st struct {
		State     string `json:"state"`
		Transport string `json:"transport"`
		Members   []struct {
			Name     string `json:"name"`
			Pod      string `json:"pod"`
			Endpoint string `json:"endpoint"`
			Healthy  bool   `json:"healthy"`
		} `json:"members"`
	}
	plugintest.Decode(t, r, &st)
	var names []string
	for _, m := range st.Members {
		names = append(names, m.Name)
		if !m.Healthy || m.Pod != "" || !strings.HasPrefix(m.Endpoint, "https://172.30.251.2") {
			t.Errorf("member %+v: want healthy, no pod, the host's endpoint", m)
		}
	}
	if !slices.Equal(names, etcdHosts) || st.Transport != "exec" {
		t.Errorf("members %v over %s, want %v over exec\n%s", names, st.Transport, etcdHosts, r)
	}
	// The table shows members by name and endpoint, with no pod and no node.
	r = runPlugin(t, "status")
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stdout, "Healthy: 3 of 3 voting members healthy") {
		t.Errorf("status table:\n%s", r)
	}
	noHelperLeft(t)
}

func TestMemberList(t *testing.T) {
	r := runPlugin(t, "member", "list", "-o", "json")
	plugintest.WantCode(t, r, 0)
	var ml struct {
		Members []struct {
			Name       string   `json:"name"`
			Started    bool     `json:"started"`
			ClientURLs []string `json:"clientURLs"`
			Problems   []string `json:"problems"`
		} `json:"members"`
	}
	plugintest.Decode(t, r, &ml)
	if len(ml.Members) != 3 {
		t.Fatalf("members %+v", ml.Members)
	}
	for i, m := range ml.Members {
		if m.Name != etcdHosts[i] || !m.Started || len(m.Problems) > 0 || len(m.ClientURLs) != 1 ||
			m.ClientURLs[0] != fmt.Sprintf("https://172.30.251.2%d:2379", i+1) {
			t.Errorf("member %+v", m)
		}
	}
	noHelperLeft(t)
}

func TestDefrag(t *testing.T) {
	r := runPlugin(t, "defrag", "--yes", "--force")
	plugintest.WantCode(t, r, 0)
	for _, h := range etcdHosts {
		if !strings.Contains(r.Stdout, h) {
			t.Errorf("defrag output lacks %s\n%s", h, r)
		}
	}
	// Rolling, the leader last after handing leadership to a defragmented follower.
	if strings.Count(r.Stdout, " done") != 3 || !strings.Contains(r.Stdout, "done, leadership moved to") {
		t.Errorf("want 3 members defragmented, the leader last\n%s", r)
	}
	noHelperLeft(t)
}

func TestCheckConsistency(t *testing.T) {
	r := runPlugin(t, "check", "consistency")
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stdout, "consistent: 3 members agree") {
		t.Errorf("check consistency:\n%s", r)
	}
	noHelperLeft(t)
}

// snapshot save to a local file: etcdctl saves it in the helper's emptyDir, cat in the shell
// container streams it back; the real etcdutl restores it (which checks its sha256).
func TestSnapshotSave(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "etcd.db")
	r := runPlugin(t, "snapshot", "save", file)
	plugintest.WantCode(t, r, 0)
	saysExternal(t, r)
	if !strings.Contains(r.Stdout, "Snapshot saved to "+file) || strings.Contains(r.Stdout, "pod )") {
		t.Errorf("snapshot save:\n%s", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(cluster.EtcdBin, "etcdutl"), "snapshot", "restore", file,
		"--data-dir", filepath.Join(dir, "restored")).CombinedOutput()
	if err != nil {
		t.Fatalf("etcdutl snapshot restore: %v\n%s", err, out)
	}
	noHelperLeft(t)
}

// member rebuild works on a member's node: refused on an external etcd (exit 5), with what to
// do instead, and before any helper pod.
func TestMemberRebuildRefused(t *testing.T) {
	r := runPlugin(t, "member", "rebuild", "etcd-2", "--yes")
	plugintest.WantCode(t, r, 5)
	for _, want := range []string{"member rebuild works on the etcd members' nodes", "external", "member remove", "restore-plan"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q\n%s", want, r)
		}
	}
	if strings.Contains(r.Stderr, "helper pod") {
		t.Errorf("a helper pod was started for a refused command\n%s", r)
	}
	noHelperLeft(t)
}

// snapshot restore works on the control-plane nodes' static pods: refused on an external etcd
// (exit 5) with the per-host plan to follow instead, before any helper pod and before FILE is
// looked at (here it does not even exist).
func TestSnapshotRestoreRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "missing.db")
	r := runPlugin(t, "snapshot", "restore", file, "--yes")
	plugintest.WantCode(t, r, 5)
	if !strings.Contains(r.Stderr, "external") || !strings.Contains(r.Stderr, "restore-plan FILE prints the per-host commands") || strings.Contains(r.Stderr, "missing.db") {
		t.Errorf("stderr:\n%s", r)
	}
	if strings.Contains(r.Stderr, "helper pod") {
		t.Errorf("a helper pod was started for a refused command\n%s", r)
	}
	noHelperLeft(t)
}

// An etcd image that is not on the node and cannot be pulled is named in the error, and the
// helper is deleted.
func TestHelperImageNotPullable(t *testing.T) {
	img := "registry.invalid/kubectl-etcd-e2e/no-such-etcd:0"
	r := runPlugin(t, "status", "--helper-etcd-image", img)
	plugintest.WantCode(t, r, 1)
	if !strings.Contains(r.Stderr, "image "+img) || !strings.Contains(r.Stderr, "could not be pulled") {
		t.Errorf("the error does not name the image:\n%s", r)
	}
	noHelperLeft(t)
}

// doctor on an external etcd: no finding, and this run's own helper pod is not one.
func TestDoctor(t *testing.T) {
	r := runPlugin(t, "doctor")
	plugintest.WantCode(t, r, 0)
	if strings.Contains(r.Stdout, "helper-pod") || !strings.Contains(r.Stdout, "no findings") {
		t.Errorf("doctor:\n%s", r)
	}
	noHelperLeft(t)
}
