package restore

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"sigs.k8s.io/yaml"
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
	if string(got) != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

func TestRestoredManifest(t *testing.T) {
	orig, err := os.ReadFile("testdata/kubeadm-join-etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := RestoredManifest(orig, "/var/lib/etcd-restore-x")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "kubeadm-join-etcd.restored.yaml", out)
	// Only the data directory changed: flag, mount and hostPath, nothing else.
	if n := strings.Count(string(out), "/var/lib/etcd-restore-x"); n != 3 {
		t.Errorf("the new directory appears %d times, want 3 (flag, mount, hostPath)", n)
	}
	back, _ := RestoredManifest(out, "/var/lib/etcd")
	var a, b any
	_ = yaml.Unmarshal(orig, &a)
	_ = yaml.Unmarshal(back, &b)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("pointing the restored manifest back at the old directory does not give the original:\n%s", back)
	}
	port, peer, err := EtcdPorts(orig)
	if err != nil || port != 2379 || peer != 2380 {
		t.Errorf("EtcdPorts = %d %d %v", port, peer, err)
	}
}

func TestRestoredManifestRefusesADataDirInsideAMount(t *testing.T) {
	orig, _ := os.ReadFile("testdata/kubeadm-join-etcd.yaml")
	nested := strings.ReplaceAll(string(orig), "--data-dir=/var/lib/etcd", "--data-dir=/var/lib/etcd/data")
	if _, err := RestoredManifest([]byte(nested), "/x"); err == nil || !strings.Contains(err.Error(), "no volume is mounted at the data directory") {
		t.Errorf("err = %v", err)
	}
}

func TestComponentOf(t *testing.T) {
	data, _ := os.ReadFile("testdata/kube-apiserver.yaml")
	c, ok, err := ComponentOf("kube-apiserver.yaml", data)
	if err != nil || !ok || c != (Component{Name: "kube-apiserver", File: "kube-apiserver.yaml", Port: 6443}) {
		t.Errorf("ComponentOf = %+v %v %v", c, ok, err)
	}
	etcdData, _ := os.ReadFile("testdata/kubeadm-join-etcd.yaml")
	if _, ok, _ := ComponentOf("etcd.yaml", etcdData); ok {
		t.Error("etcd is not one of the components stopped around it")
	}
	odd := strings.Replace(string(data), "--secure-port=6443", "--secure-port=7443", 1)
	if c, _, _ := ComponentOf("x.yaml", []byte(odd)); c.Port != 7443 {
		t.Errorf("port from --secure-port: %d", c.Port)
	}
}

func TestSetKubeadmDataDir(t *testing.T) {
	in := "apiVersion: kubeadm.k8s.io/v1beta4\nclusterName: ka0\netcd:\n  local:\n    dataDir: /var/lib/etcd\n    imageTag: 3.6.16-0\nkind: ClusterConfiguration\n"
	out, old, err := SetKubeadmDataDir(in, "/var/lib/etcd-restore-x")
	if err != nil || old != "/var/lib/etcd" {
		t.Fatalf("old %q err %v", old, err)
	}
	if got, _ := KubeadmDataDir(out); got != "/var/lib/etcd-restore-x" {
		t.Errorf("dataDir after: %q\n%s", got, out)
	}
	if !strings.Contains(out, "imageTag: 3.6.16-0") || !strings.Contains(out, "clusterName: ka0") {
		t.Errorf("other fields lost:\n%s", out)
	}
	if got, _ := KubeadmDataDir("kind: ClusterConfiguration\n"); got != "/var/lib/etcd" {
		t.Errorf("kubeadm's default: %q", got)
	}
	if _, _, err := SetKubeadmDataDir("etcd:\n  external:\n    endpoints: [x]\n", "/y"); err == nil {
		t.Error("external etcd must be refused")
	}
}

// plan of three kubeadm members.
func testPlan(t *testing.T, mutate func(*Inputs)) *Plan {
	t.Helper()
	in := Inputs{
		Report:  &snapshot.Report{File: "/backup/etcd.db", Size: 2 << 20, SHA256: "abc", Revision: 3000, TotalKeys: 400},
		ModTime: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC), Now: time.Date(2026, 12, 6, 13, 12, 0, 0, time.UTC),
		Status:        &etcd.ClusterStatus{ClusterID: "c1"},
		Members:       &etcd.MemberList{ClusterID: "c1"},
		ClusterConfig: "etcd:\n  local:\n    dataDir: /var/lib/etcd\n", ClusterName: "kubernetes",
		ManifestDir: "/etc/kubernetes/manifests", KeepDir: "/etc/kubernetes/tmp", BumpRevision: 1000000000,
	}
	for i := 1; i <= 3; i++ {
		node := fmt.Sprintf("cp-%d", i)
		in.Status.Members = append(in.Status.Members, etcd.MemberStatus{Name: node, Revision: 3400 + int64(i)})
		in.Members.Members = append(in.Members.Members, etcd.MemberInfo{ID: fmt.Sprintf("%x", i), Name: node, Started: true,
			PeerURLs: []string{fmt.Sprintf("https://10.0.0.%d:2380", i)}, Pod: "etcd-" + node, Node: node, HasPod: true})
		in.Pods = append(in.Pods, discovery.Member{Namespace: "kube-system", Pod: "etcd-" + node, Node: node, Name: node,
			Image: "registry.k8s.io/etcd:3.6.16-0", DataDir: "/var/lib/etcd",
			HostPaths: map[string]string{"/var/lib/etcd": "/var/lib/etcd"}})
	}
	if mutate != nil {
		mutate(&in)
	}
	return NewPlan(in)
}

func TestPlanGolden(t *testing.T) {
	p := testPlan(t, nil)
	if len(p.Blocked)+len(p.Refusals) > 0 {
		t.Fatalf("blocked %v refusals %v", p.Blocked, p.Refusals)
	}
	out, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.yaml", out)
	if p.GoesBack != 403 || p.MinRevision != 1000003000 || p.Age != "3h12m0s" {
		t.Errorf("goes back %d, min revision %d, age %s", p.GoesBack, p.MinRevision, p.Age)
	}
	for _, n := range p.Nodes {
		cmd := strings.Join(n.Command, " ")
		for _, want := range []string{"snapshot restore /stage/snapshot.db", "--name " + n.Member, "--initial-cluster-token " + p.Token,
			"--bump-revision 1000000000 --mark-compacted", "--data-dir /var/lib/etcd-restore-20261206T131200Z"} {
			if !strings.Contains(cmd, want) {
				t.Errorf("node %s: command %q lacks %q", n.Node, cmd, want)
			}
		}
	}
}

func TestPlanRefusals(t *testing.T) {
	p := testPlan(t, func(in *Inputs) { in.Members.Members[2].Learner = true })
	if len(p.Blocked) != 1 || !strings.Contains(p.Blocked[0], "learner") {
		t.Errorf("learner: %v", p.Blocked)
	}
	noPod := func(force bool) func(*Inputs) {
		return func(in *Inputs) {
			in.Force = force
			in.Members.Members[2].HasPod, in.Members.Members[2].Node = false, ""
		}
	}
	p = testPlan(t, noPod(false))
	if len(p.Refusals) != 1 || len(p.Nodes) != 2 {
		t.Errorf("member without a node: refusals %v, %d nodes", p.Refusals, len(p.Nodes))
	}
	p = testPlan(t, noPod(true))
	if len(p.Nodes) != 2 || strings.Contains(p.InitialCluster, "cp-3") || !strings.Contains(strings.Join(p.Warnings, ";"), "rejoin") {
		t.Errorf("--force: %d nodes, initial cluster %s, warnings %v", len(p.Nodes), p.InitialCluster, p.Warnings)
	}
}

// fakeNode records what the run asked of it; fail names a step that fails.
type fakeNode struct {
	mu   sync.Mutex
	name string
	fail string
	// slow: the upload lasts until the run is cancelled.
	slow     bool
	steps    []string
	uploaded int64
	manifest []byte
}

func (f *fakeNode) step(ctx context.Context, s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	f.steps = append(f.steps, s)
	if f.fail == s {
		return fmt.Errorf("%s failed on %s", s, f.name)
	}
	return nil
}

func (f *fakeNode) Upload(ctx context.Context, r io.Reader, _ int64) error {
	n, _ := io.Copy(io.Discard, r)
	f.uploaded = n
	if f.slow {
		<-ctx.Done() // still uploading when another node fails
	}
	return f.step(ctx, "upload")
}

func (f *fakeNode) Manifests(ctx context.Context, _ string) (string, []byte, []Component, error) {
	if err := f.step(ctx, "manifests"); err != nil {
		return "", nil, nil, err
	}
	m := strings.ReplaceAll(string(f.manifest), "--name=cp-2", "--name="+f.name)
	return "etcd.yaml", []byte(m), []Component{{Name: "kube-apiserver", File: "kube-apiserver.yaml", Port: 6443}}, nil
}

func (f *fakeNode) Prepare(ctx context.Context, _ string, _, _ []byte, _ []Component, _ [2]int) error {
	return f.step(ctx, "prepare")
}
func (f *fakeNode) Trigger(ctx context.Context) error { return f.step(ctx, "trigger") }
func (f *fakeNode) Abort(ctx context.Context) error   { return f.step(ctx, "abort") }
func (f *fakeNode) Close(context.Context)             {}
func (f *fakeNode) Discard(ctx context.Context) error { return f.step(ctx, "discard") }
func (f *fakeNode) Release()                          {}

func fakeNodes(t *testing.T, p *Plan, fail map[string]string) ([]Node, []*fakeNode) {
	t.Helper()
	m, err := os.ReadFile("testdata/kubeadm-join-etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []Node
	var fakes []*fakeNode
	for _, n := range p.Nodes {
		// With a failure somewhere, the other nodes are still uploading when it happens.
		f := &fakeNode{name: n.Node, fail: fail[n.Node], manifest: m, slow: len(fail) > 0 && fail[n.Node] == ""}
		nodes, fakes = append(nodes, f), append(fakes, f)
	}
	return nodes, fakes
}

func open() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("snapshot")), nil }

func TestStage(t *testing.T) {
	p := testPlan(t, nil)
	// The fake manifest is kubeadm's join manifest of cp-2 with the node's name.
	for i := range p.Nodes {
		p.Nodes[i].Member = p.Nodes[i].Node
	}
	nodes, fakes := fakeNodes(t, p, nil)
	if err := Stage(context.Background(), p, nodes, open, func(string) {}); err != nil {
		t.Fatal(err)
	}
	for _, f := range fakes {
		if strings.Join(f.steps, ",") != "manifests,upload,prepare" || f.uploaded != int64(len("snapshot")) {
			t.Errorf("node %s: steps %v, uploaded %d", f.name, f.steps, f.uploaded)
		}
	}

	// One node failing stops the others before they prepare, and the error names it.
	nodes, fakes = fakeNodes(t, p, map[string]string{"cp-2": "upload"})
	err := Stage(context.Background(), p, nodes, open, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "node cp-2: upload failed on cp-2") {
		t.Fatalf("err = %v", err)
	}
	for _, f := range fakes {
		for _, s := range f.steps {
			if s == "prepare" || s == "trigger" {
				t.Errorf("node %s went on to %s after cp-2 failed: %v", f.name, s, f.steps)
			}
		}
	}

	// A manifest that runs another member is refused before anything is uploaded.
	p.Nodes[0].Member = "someone-else"
	nodes, fakes = fakeNodes(t, p, nil)
	if err := Stage(context.Background(), p, nodes, open, func(string) {}); err == nil || !strings.Contains(err.Error(), "runs member") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(strings.Join(fakes[0].steps, ","), "upload") {
		t.Errorf("uploaded despite the wrong manifest: %v", fakes[0].steps)
	}
}

func TestCutoverAbortsTheTriggeredNodes(t *testing.T) {
	p := testPlan(t, nil)
	nodes, fakes := fakeNodes(t, p, map[string]string{"cp-3": "trigger"})
	err := Cutover(context.Background(), p, nodes, time.Minute, time.Now)
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") || errors.Is(err, ErrPartial) {
		t.Fatalf("err = %v", err)
	}
	for _, f := range fakes {
		if got := strings.Join(f.steps, ","); got != "trigger,abort" {
			t.Errorf("node %s: %s", f.name, got)
		}
	}
	// An abort after the delay may be too late: that is a partial restore.
	now := time.Now()
	clock := func() time.Time { now = now.Add(time.Minute); return now }
	nodes, _ = fakeNodes(t, p, map[string]string{"cp-2": "trigger"})
	if err := Cutover(context.Background(), p, nodes, 30*time.Second, clock); !errors.Is(err, ErrPartial) {
		t.Errorf("late abort: %v", err)
	}
	nodes, fakes = fakeNodes(t, p, nil)
	if err := Cutover(context.Background(), p, nodes, time.Minute, time.Now); err != nil {
		t.Fatal(err)
	}
	for _, f := range fakes {
		if got := strings.Join(f.steps, ","); got != "trigger" {
			t.Errorf("node %s: %s", f.name, got)
		}
	}
}

func TestVerify(t *testing.T) {
	p := testPlan(t, nil)
	healthy := func() *etcd.ClusterStatus {
		st := &etcd.ClusterStatus{ClusterID: "c2"}
		for _, n := range p.Nodes {
			st.Members = append(st.Members, etcd.MemberStatus{Name: n.Member, ID: "1" + n.ID, Reachable: true, Healthy: true, Revision: p.MinRevision + 5,
				Pod: n.Pod, DataDir: n.RestoreDir, PodReady: true, ClusterID: "c2"})
		}
		return st
	}
	if why := Verify(p, healthy()); why != "" {
		t.Errorf("healthy restored cluster: %s", why)
	}
	for name, c := range map[string]struct {
		mutate func(*etcd.ClusterStatus)
		want   string
	}{
		"old cluster":   {func(s *etcd.ClusterStatus) { s.ClusterID = "c1" }, "old cluster ID"},
		"nobody":        {func(s *etcd.ClusterStatus) { s.ClusterID = "" }, "no member answered"},
		"unhealthy":     {func(s *etcd.ClusterStatus) { s.Members[1].Healthy = false }, "member cp-2 is not a healthy voter"},
		"low revision":  {func(s *etcd.ClusterStatus) { s.Members[0].Revision = 3000 }, "below the restored"},
		"old mirror":    {func(s *etcd.ClusterStatus) { s.Members[2].DataDir = "/var/lib/etcd" }, "does not show the restored manifest"},
		"pod not ready": {func(s *etcd.ClusterStatus) { s.Members[2].PodReady = false }, "not ready yet"},
		"missing":       {func(s *etcd.ClusterStatus) { s.Members = s.Members[:2] }, "member cp-3 is not in the member list"},
	} {
		st := healthy()
		c.mutate(st)
		if why := Verify(p, st); !strings.Contains(why, c.want) {
			t.Errorf("%s: %q, want %q", name, why, c.want)
		}
	}
}

func TestStageSpecGolden(t *testing.T) {
	p := testPlan(t, nil)
	n := p.Nodes[0]
	spec := StageSpec(n.Namespace, n.Layout, n.Member, "registry.k8s.io/kube-proxy:v1.37.2", n.Image, n.Command, p.Snapshot.Size, DefaultTiming, time.Hour)
	out, err := yaml.Marshal(spec.Pod())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "stage-pod.yaml", out)
	// The helper mounts exactly the new data directory, the manifest directory, the keep
	// directory and its own scratch space: no key, no old data directory.
	var paths []string
	for _, v := range spec.Pod().Spec.Volumes {
		if v.HostPath != nil {
			paths = append(paths, v.HostPath.Path)
		}
	}
	if got := strings.Join(paths, ","); got != n.RestoreDir+",/etc/kubernetes/manifests,/etc/kubernetes/tmp" {
		t.Errorf("host paths: %s", got)
	}
}
