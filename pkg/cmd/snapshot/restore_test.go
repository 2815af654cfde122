package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/restore"
)

// restoreRun is one "snapshot restore" run on the fake cluster, with the node side faked:
// the read-only check and the staging helpers are counted, never started.
type restoreRun struct {
	o              *RestoreOptions
	out, errOut    *bytes.Buffer
	client         *fake.Clientset
	checks, starts atomic.Int32
	nodes          []*fakeRestoreNode
	mu             sync.Mutex
}

func kubeadmConfigMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-config", Namespace: "kube-system"},
		Data: map[string]string{"ClusterConfiguration": "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nclusterName: " + name + "\netcd:\n  local:\n    dataDir: /var/lib/etcd\n"}}
}

// newRestoreRun prepares a run of FILE against objs; e's fake etcd answers.
func newRestoreRun(t *testing.T, e *env, objs []runtime.Object, file string) *restoreRun {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cmdtest.Globals(t, objs, e.cl, "kubectl etcd snapshot restore")
	r := &restoreRun{out: out, errOut: errOut, client: g.Client.(*fake.Clientset)}
	r.o = &RestoreOptions{GlobalOptions: g, IOStreams: streams, File: file, BumpRevision: 1000000000, NoPreSnapshot: true,
		ManifestDir: "/etc/kubernetes/manifests", Timeout: time.Minute, cmdPath: "kubectl etcd snapshot restore"}
	r.o.checkNode = func(context.Context, restore.NodePlan, int64) ([]string, error) {
		r.checks.Add(1)
		return nil, nil
	}
	r.o.stageNode = func(context.Context, restore.NodePlan, int64, time.Duration) (restore.Node, error) {
		r.starts.Add(1)
		return nil, errors.New("no helper in this test")
	}
	return r
}

// run validates and runs, and returns the exit code.
func (r *restoreRun) run(ctx context.Context) (int, error) {
	err := r.o.Validate()
	if err == nil {
		err = r.o.Run(ctx)
	}
	return cmdutil.ExitCode(err), err
}

// changed lists what the run asked the API server to change.
func (r *restoreRun) changed() []string {
	var out []string
	for _, a := range r.client.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

// On an external etcd the refusal comes first: FILE, here missing, is not even looked at.
func TestRestoreRefusesExternalEtcdBeforeTheFile(t *testing.T) {
	e := newEnv(t)
	r := newRestoreRun(t, e, cmdtest.ExternalEtcd(t), filepath.Join(t.TempDir(), "missing.db"))
	r.o.Yes = true
	code, err := r.run(context.Background())
	if code != cmdutil.ExitRefused || err == nil || !strings.Contains(err.Error(), "external") ||
		!strings.Contains(err.Error(), "restore-plan FILE prints the per-host commands") || strings.Contains(err.Error(), "missing.db") {
		t.Fatalf("exit %d: %v", code, err)
	}
	if r.checks.Load()+r.starts.Load() != 0 || len(r.changed()) > 0 {
		t.Errorf("the node side was reached: %d checks, %d helpers, changes %v", r.checks.Load(), r.starts.Load(), r.changed())
	}

	// On kubeadm's stacked etcd a missing file is the refusal.
	objs, _ := cmdtest.KubeadmCluster(t)
	r = newRestoreRun(t, e, objs, filepath.Join(t.TempDir(), "missing.db"))
	if code, err := r.run(context.Background()); code != cmdutil.ExitRefused || !strings.Contains(err.Error(), "snapshot file") {
		t.Errorf("missing file: exit %d: %v", code, err)
	}
}

// Without --yes and without a terminal it refuses (exit 5) after the plan and the node checks,
// before any helper or pre-snapshot.
func TestRestoreNotATerminal(t *testing.T) {
	e := newEnv(t)
	objs, _ := cmdtest.KubeadmCluster(t)
	r := newRestoreRun(t, e, append(objs, kubeadmConfigMap("ka0")), e.snapshotFile(t))
	r.o.NoPreSnapshot = false
	r.o.In = bytes.NewBufferString("ka0\n")
	code, err := r.run(context.Background())
	if code != cmdutil.ExitRefused || !strings.Contains(err.Error(), "standard input is not a terminal; pass --yes") {
		t.Fatalf("exit %d: %v", code, err)
	}
	if r.checks.Load() != 3 || r.starts.Load() != 0 || len(r.changed()) > 0 {
		t.Errorf("%d checks, %d helpers, changes %v", r.checks.Load(), r.starts.Load(), r.changed())
	}
	if !strings.Contains(r.out.String(), "Node cp-3") {
		t.Errorf("no plan before the question:\n%s", r.out)
	}
	if files, _ := filepath.Glob(filepath.Join(filepath.Dir(r.o.File), "*pre-restore*")); len(files) > 0 {
		t.Errorf("a pre-snapshot was saved: %v", files)
	}
}

// The answer must be the cluster's ID, or its name unless that is kubeadm's default; a wrong
// answer changes nothing, the right one goes on to staging.
func TestRestoreTypedConfirmation(t *testing.T) {
	id := fmt.Sprintf("%016x", newEnv(t).cl.ClusterID)
	for _, c := range []struct {
		name, answer string
		accepted     []string
		code         int
	}{
		{name: "ka0", answer: "wrong", accepted: []string{"ka0", id}, code: cmdutil.ExitRefused},
		{name: "kubernetes", answer: "kubernetes", accepted: []string{id}, code: cmdutil.ExitRefused},
		{name: "ka0", answer: "ka0", accepted: []string{"ka0", id}, code: cmdutil.ExitError},
		{name: "kubernetes", answer: id, accepted: []string{id}, code: cmdutil.ExitError},
	} {
		t.Run(c.name+" "+c.answer, func(t *testing.T) {
			e := newEnv(t)
			objs, _ := cmdtest.KubeadmCluster(t)
			r := newRestoreRun(t, e, append(objs, kubeadmConfigMap(c.name)), e.snapshotFile(t))
			var accepted []string
			r.o.confirm = func(ctx context.Context, q string, acc ...string) error {
				accepted = acc
				return cmdutil.AskTyped(ctx, strings.NewReader(c.answer+"\n"), r.errOut, q, acc...)
			}
			code, err := r.run(context.Background())
			if strings.Join(accepted, ",") != strings.Join(c.accepted, ",") {
				t.Errorf("accepted answers %v, want %v", accepted, c.accepted)
			}
			if code != c.code {
				t.Fatalf("exit %d, want %d: %v", code, c.code, err)
			}
			if c.code == cmdutil.ExitRefused {
				if !strings.Contains(err.Error(), "not confirmed; nothing was changed") || r.starts.Load() != 0 || len(r.changed()) > 0 {
					t.Errorf("%v; %d helpers, changes %v", err, r.starts.Load(), r.changed())
				}
				return
			}
			if r.starts.Load() != 3 || !strings.Contains(err.Error(), "no helper in this test") {
				t.Errorf("confirmed: %d helpers started: %v", r.starts.Load(), err)
			}
		})
	}
}

// --dry-run checks every node and prints the plan; nothing is changed, no staging helper runs.
// A node without room for staging fails the dry run with the documented refusal.
func TestRestoreDryRun(t *testing.T) {
	e := newEnv(t)
	objs, _ := cmdtest.KubeadmCluster(t)
	file := e.snapshotFile(t)
	r := newRestoreRun(t, e, append(objs, kubeadmConfigMap("ka0")), file)
	r.o.DryRun, r.o.NoPreSnapshot = true, false
	code, err := r.run(context.Background())
	if code != 0 || !strings.Contains(r.out.String(), "Node cp-2") ||
		!strings.Contains(r.errOut.String(), "dry run: every node's manifests and free space were checked; nothing was changed") {
		t.Fatalf("exit %d: %v\n%s%s", code, err, r.out, r.errOut)
	}
	if r.checks.Load() != 3 || r.starts.Load() != 0 || len(r.changed()) > 0 {
		t.Errorf("%d checks, %d helpers, changes %v", r.checks.Load(), r.starts.Load(), r.changed())
	}
	if files, _ := filepath.Glob(filepath.Join(filepath.Dir(file), "*pre-restore*")); len(files) > 0 {
		t.Errorf("the dry run saved a pre-snapshot: %v", files)
	}

	r = newRestoreRun(t, e, append(objs, kubeadmConfigMap("ka0")), file)
	r.o.DryRun = true
	r.o.checkNode = func(_ context.Context, n restore.NodePlan, size int64) ([]string, error) {
		free := int64(1 << 40)
		if n.Node == "cp-2" {
			free = 10 << 20
		}
		fs := func(p string) restore.FS { return restore.FS{Path: p, Dev: "8:1", Avail: free, Known: true} }
		return spaceVerdict(n, size, map[string]restore.FS{restore.SpaceParentMount: fs(restore.SpaceParentMount), restore.SpaceScratchMount: fs(restore.SpaceScratchMount)},
			func() (int64, error) { t.Error("the kubelet was asked though the helper measured"); return 0, nil })
	}
	code, err = r.run(context.Background())
	if code != cmdutil.ExitRefused || !strings.Contains(err.Error(), "node cp-2: /var/lib has 10 MiB free, staging needs ") || !strings.Contains(err.Error(), "nothing was changed") ||
		strings.Contains(err.Error(), "cp-1") || strings.Contains(r.errOut.String(), "dry run: every node") {
		t.Errorf("cp-2 without room: exit %d: %v\n%s", code, err, r.errOut)
	}
}

// fakeRestoreNode is restore.Node for a node whose helper always succeeds; the run's cancel
// is called once every node is triggered (Ctrl-C right then).
type fakeRestoreNode struct {
	r                         *restoreRun
	member                    string
	triggered                 *atomic.Int32
	all                       int32
	interrupt                 func()
	released, closed, discard bool
}

func (f *fakeRestoreNode) Upload(_ context.Context, r io.Reader, _ int64) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

func (f *fakeRestoreNode) Manifests(context.Context, string) (string, []byte, []restore.Component, error) {
	data, err := os.ReadFile("../../restore/testdata/kubeadm-join-etcd.yaml")
	if err != nil {
		return "", nil, nil, err
	}
	data = bytes.ReplaceAll(data, []byte("--name=cp-2"), []byte("--name="+f.member))
	return "etcd.yaml", data, []restore.Component{{Name: "kube-apiserver", File: "kube-apiserver.yaml", Port: 6443}}, nil
}

func (f *fakeRestoreNode) Prepare(context.Context, string, []byte, []byte, []restore.Component, [2]int) error {
	return nil
}

func (f *fakeRestoreNode) Trigger(context.Context) error {
	if f.triggered.Add(1) == f.all {
		f.interrupt()
	}
	return nil
}

func (f *fakeRestoreNode) Abort(context.Context) error { return errors.New("not expected") }

func (f *fakeRestoreNode) Discard(context.Context) error {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.discard = true
	return nil
}

func (f *fakeRestoreNode) Release() {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.released = true
}

func (f *fakeRestoreNode) Close(context.Context) {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	f.closed = true
}

// Ctrl-C once every node is triggered stops only the wait: exit 10, and per node the progress
// file and the commands that finish or roll back. The helpers are left to go on (released,
// not deleted, nothing discarded).
func TestRestoreInterruptedAfterTheTrigger(t *testing.T) {
	e := newEnv(t)
	objs, _ := cmdtest.KubeadmCluster(t)
	r := newRestoreRun(t, e, append(objs, kubeadmConfigMap("ka0")), e.snapshotFile(t))
	r.o.Yes = true
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var triggered atomic.Int32
	r.o.stageNode = func(_ context.Context, n restore.NodePlan, _ int64, _ time.Duration) (restore.Node, error) {
		r.starts.Add(1)
		f := &fakeRestoreNode{r: r, member: n.Member, triggered: &triggered, all: 3, interrupt: func() { cancel(errors.New("received interrupt")) }}
		r.mu.Lock()
		r.nodes = append(r.nodes, f)
		r.mu.Unlock()
		return f, nil
	}
	code, err := r.run(ctx)
	if code != cmdutil.ExitPartial || err == nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "the wait was interrupted (received interrupt); the helpers go on by themselves") {
		t.Errorf("message: %s", msg)
	}
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		if !strings.Contains(msg, "\n  "+n+":\n    cat /etc/kubernetes/tmp/kubectl-etcd-restore-") {
			t.Errorf("no progress file named for %s:\n%s", n, msg)
		}
	}
	if strings.Count(msg, "# finish: cp /etc/kubernetes/tmp/kubectl-etcd-restore-") != 3 || strings.Count(msg, "# roll back: cp ") != 3 {
		t.Errorf("finish and roll-back commands per node:\n%s", msg)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.nodes) != 3 {
		t.Fatalf("%d helpers", len(r.nodes))
	}
	for _, f := range r.nodes {
		if !f.released || f.closed || f.discard {
			t.Errorf("helper of %s: released %v, deleted %v, discarded %v", f.member, f.released, f.closed, f.discard)
		}
	}
	if len(r.changed()) > 0 {
		t.Errorf("changed in the API: %v", r.changed())
	}
}

// Without df or stat in the helper's image the kubelet's figure stands in for its filesystem;
// what still cannot be measured is a warning of the plan, not a refusal.
func TestRestoreSpaceVerdictWithoutTools(t *testing.T) {
	n := restore.NodePlan{Layout: restore.Layout{Node: "cp-1", RestoreDir: "/var/lib/etcd-restore-x"}}
	none := func(dev string) map[string]restore.FS {
		return map[string]restore.FS{restore.SpaceParentMount: {Path: restore.SpaceParentMount, Dev: dev}, restore.SpaceScratchMount: {Path: restore.SpaceScratchMount, Dev: "8:1"}}
	}
	_, err := spaceVerdict(n, 1<<30, none("8:1"), func() (int64, error) { return 100 << 20, nil })
	if err == nil || !strings.Contains(err.Error(), "node cp-1: /var/lib has 100 MiB free, staging needs 2152 MiB") {
		t.Errorf("one filesystem, the kubelet's figure: %v", err)
	}
	warnings, err := spaceVerdict(n, 1<<30, none("8:2"), func() (int64, error) { return 100 << 30, nil })
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "could not measure the free space for the restored member in /var/lib/etcd-restore-x") {
		t.Errorf("another filesystem: %v %v", warnings, err)
	}
	warnings, err = spaceVerdict(n, 1<<30, none("8:1"), func() (int64, error) { return 0, errors.New("forbidden") })
	if err != nil || len(warnings) != 2 {
		t.Errorf("no kubelet figure either: %v %v", warnings, err)
	}
}
