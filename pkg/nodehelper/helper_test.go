package nodehelper

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// kubeadmMember is what discovery reads from a kubeadm etcd pod on node cp-2.
func kubeadmMember() *discovery.Member {
	return &discovery.Member{
		Namespace: "kube-system", Pod: "etcd-cp-2", Node: "cp-2", Container: "etcd", Name: "cp-2",
		Image:          "registry.k8s.io/etcd:3.6.16-0",
		LocalClientURL: "https://127.0.0.1:2379",
		TrustedCAFile:  "/etc/kubernetes/pki/etcd/ca.crt",
		CertFile:       "/etc/kubernetes/pki/etcd/server.crt",
		KeyFile:        "/etc/kubernetes/pki/etcd/server.key",
		DataDir:        "/var/lib/etcd",
		HostPaths:      map[string]string{"/etc/kubernetes/pki/etcd": "/etc/kubernetes/pki/etcd", "/var/lib/etcd": "/var/lib/etcd"},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := "testdata/" + name
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

func TestSnapshotPodSpecGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		pl   *plan
	}{
		{"snapshot-pod-logs.yaml", &plan{route: RouteLogs}},
		{"snapshot-pod-exec.yaml", &plan{route: RouteExec, image: "registry.k8s.io/kube-proxy:v1.37.2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &SnapshotHelper{}
			spec, err := h.spec(kubeadmMember(), c.pl, 512<<20)
			if err != nil {
				t.Fatal(err)
			}
			data, err := yaml.Marshal(spec.Pod())
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.name, data)
		})
	}
}

// The safety properties of every helper pod, checked on the spec itself (the golden file shows
// them too, but a regenerated golden file would not catch their loss).
func TestSnapshotPodSafety(t *testing.T) {
	for _, pl := range []*plan{{route: RouteLogs}, {route: RouteExec, image: "sh"}} {
		spec, err := (&SnapshotHelper{}).spec(kubeadmMember(), pl, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		p := spec.Pod()
		if p.Spec.NodeName != "cp-2" || !p.Spec.HostNetwork || *p.Spec.AutomountServiceAccountToken ||
			p.Spec.RestartPolicy != corev1.RestartPolicyNever || p.Spec.ActiveDeadlineSeconds == nil {
			t.Errorf("%s: pod spec %+v", pl.route, p.Spec)
		}
		if *p.Spec.ActiveDeadlineSeconds != int64(10*60+1024) {
			t.Errorf("%s: deadline %d, want 10m + 1s per MiB", pl.route, *p.Spec.ActiveDeadlineSeconds)
		}
		hostFiles := map[string]bool{}
		for _, v := range p.Spec.Volumes {
			if hp := v.HostPath; hp != nil {
				if hp.Path == PodLogsDir {
					if pl.route != RouteLogs {
						t.Errorf("%s mounts %s", pl.route, PodLogsDir)
					}
					continue
				}
				if *hp.Type != corev1.HostPathFile {
					t.Errorf("%s: host path %s is not type File", pl.route, hp.Path)
				}
				hostFiles[hp.Path] = true
			}
		}
		for _, f := range []string{"ca.crt", "healthcheck-client.crt", "healthcheck-client.key"} {
			if !hostFiles["/etc/kubernetes/pki/etcd/"+f] {
				t.Errorf("%s: %s not mounted (mounted: %v)", pl.route, f, hostFiles)
			}
		}
		if len(hostFiles) != 3 {
			t.Errorf("%s: host files %v, want exactly the CA and the client pair", pl.route, hostFiles)
		}
		for _, c := range p.Spec.Containers {
			for _, vm := range c.VolumeMounts {
				if strings.HasPrefix(vm.Name, "pki-") && !vm.ReadOnly {
					t.Errorf("%s: %s mounted writable", c.Name, vm.MountPath)
				}
			}
			if c.ImagePullPolicy != corev1.PullIfNotPresent || *c.SecurityContext.AllowPrivilegeEscalation {
				t.Errorf("%s: %+v", c.Name, c)
			}
		}
	}
}

func TestClientFilesNonKubeadm(t *testing.T) {
	m := kubeadmMember()
	m.TrustedCAFile, m.CertFile, m.KeyFile = "/pki/ca.pem", "/pki/etcd.pem", "/pki/etcd-key.pem"
	m.HostPaths = map[string]string{"/pki": "/opt/etcd/pki"}
	spec, err := (&SnapshotHelper{}).spec(m, &plan{route: RouteLogs}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, v := range spec.Volumes {
		if v.HostPath != nil && v.HostPath.Path != PodLogsDir {
			paths = append(paths, v.HostPath.Path)
		}
	}
	if got := strings.Join(paths, ","); got != "/opt/etcd/pki/ca.pem,/opt/etcd/pki/etcd.pem,/opt/etcd/pki/etcd-key.pem" {
		t.Errorf("host files %s", got)
	}
	m.HostPaths = nil
	if _, err := (&SnapshotHelper{}).spec(m, &plan{route: RouteLogs}, 0); err == nil || !strings.Contains(err.Error(), "not in a hostPath mount") {
		t.Errorf("no mounts: %v", err)
	}
}

// fakeCluster is a fake clientset whose pods get a name and a UID on create, whose access reviews
// answer from allowed, and whose created pods' containers are in the state state.
type fakeCluster struct {
	*fake.Clientset
	allowed map[string]bool // "verb resource[/sub]"
	state   func(name string) corev1.ContainerState
	seq     atomic.Int32
	reviews []string
}

func newFakeCluster(objs ...runtime.Object) *fakeCluster {
	f := &fakeCluster{Clientset: fake.NewClientset(objs...), allowed: map[string]bool{}}
	f.state = func(string) corev1.ContainerState {
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	}
	f.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		ra := r.Spec.ResourceAttributes
		key := ra.Verb + " " + ra.Resource
		if ra.Subresource != "" {
			key += "/" + ra.Subresource
		}
		f.reviews = append(f.reviews, key)
		r.Status.Allowed = f.allowed[key]
		return true, r, nil
	})
	f.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%05d", p.GenerateName, f.seq.Add(1))
		}
		p.UID = types.UID("uid-" + p.Name)
		p.CreationTimestamp = metav1.Now()
		for _, c := range p.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: f.state(c.Name)})
		}
		return false, p, nil // the tracker stores it
	})
	return f
}

func (f *fakeCluster) allow(keys ...string) {
	for _, k := range keys {
		f.allowed[k] = true
	}
}

func (f *fakeCluster) helperPods(t *testing.T) []string {
	t.Helper()
	pods, err := List(context.Background(), f, "kube-system")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}

func TestRouteChoice(t *testing.T) {
	kubeProxy := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-abcde", Namespace: "kube-system", Labels: map[string]string{"k8s-app": "kube-proxy"}},
		Spec:       corev1.PodSpec{NodeName: "cp-2", Containers: []corev1.Container{{Name: "kube-proxy", Image: "registry.k8s.io/kube-proxy:v1.37.2"}}},
	}
	pods := []string{"create pods", "delete pods"}
	for _, c := range []struct {
		name      string
		allowed   []string
		route     Route
		image     string
		logsOK    bool
		kubeProxy bool
		want      Route
		wantImage string
		wantErr   string
	}{
		{name: "logs allowed", allowed: append(pods, "get nodes/proxy", "create pods/exec"), logsOK: true, want: RouteLogs},
		{name: "no nodes/proxy: exec with kube-proxy's image", allowed: append(pods, "create pods/exec"), kubeProxy: true,
			want: RouteExec, wantImage: "registry.k8s.io/kube-proxy:v1.37.2"},
		{name: "log handler off: exec with --helper-image", allowed: append(pods, "get nodes/proxy", "create pods/exec"), image: "my/shell:1",
			want: RouteExec, wantImage: "my/shell:1"},
		{name: "no shell image anywhere", allowed: append(pods, "create pods/exec"),
			wantErr: "no kube-proxy pod runs on node cp-2"},
		{name: "no pods/exec and no nodes/proxy", allowed: pods, image: "x",
			wantErr: `RBAC denied get nodes/proxy) and the exec route too (RBAC denied create pods/exec in namespace "kube-system")`},
		{name: "no create pods", allowed: []string{"delete pods", "get nodes/proxy"}, logsOK: true,
			wantErr: `RBAC denied create pods in namespace "kube-system"`},
		{name: "logs forced but denied", allowed: append(pods, "create pods/exec"), route: RouteLogs, image: "x",
			wantErr: "--helper-route=logs: RBAC denied get nodes/proxy"},
		{name: "exec forced although logs work", allowed: append(pods, "get nodes/proxy", "create pods/exec"), route: RouteExec, logsOK: true, image: "x",
			want: RouteExec, wantImage: "x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var objs []runtime.Object
			if c.kubeProxy {
				objs = append(objs, kubeProxy)
			}
			f := newFakeCluster(objs...)
			f.allow(c.allowed...)
			srv := newLogServer(t)
			if !c.logsOK {
				srv.off = true
			}
			var notes []string
			h := &SnapshotHelper{Runner: &Runner{Client: f}, Route: c.route, Image: c.image,
				Notify:  func(s string) { notes = append(notes, s) },
				newLogs: func(node string) (*NodeLogs, error) { return srv.client(node), nil }}
			pl, err := h.choose(context.Background(), kubeadmMember())
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pl.route != c.want || pl.image != c.wantImage {
				t.Errorf("route %s image %q, want %s %q", pl.route, pl.image, c.want, c.wantImage)
			}
			if c.want == RouteExec && c.route == RouteAuto && len(notes) != 1 {
				t.Errorf("falling back to exec said %q, want one line saying why", notes)
			}
		})
	}
}

func TestStartFailureDeletesThePod(t *testing.T) {
	f := newFakeCluster()
	f.state = func(string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "image not present"}}
	}
	r := &Runner{Client: f, Poll: time.Millisecond}
	spec := Spec{Namespace: "kube-system", Node: "cp-2", Purpose: "snap",
		Containers: []corev1.Container{{Name: "snapshot", Image: "registry.k8s.io/etcd:3.6.16-0"}}}
	_, err := r.Start(context.Background(), spec, "snapshot", false)
	if !errors.Is(err, ErrNotStarted) || !strings.Contains(err.Error(), "image registry.k8s.io/etcd:3.6.16-0 of container snapshot is not on the node") {
		t.Fatalf("error %v", err)
	}
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left: %v", left)
	}
}

func TestStartTimeoutDeletesThePodAndNamesTheEvents(t *testing.T) {
	f := newFakeCluster()
	f.state = func(string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	}
	f.PrependReactor("list", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &corev1.EventList{Items: []corev1.Event{{Type: corev1.EventTypeWarning, Reason: "FailedMount", Message: "hostPath type check failed: /etc/kubernetes/pki/etcd/healthcheck-client.key is not a file"}}}, nil
	})
	now := time.Now()
	r := &Runner{Client: f, Poll: time.Millisecond, StartTimeout: time.Minute, Now: func() time.Time { now = now.Add(10 * time.Second); return now }}
	_, err := r.Start(context.Background(), Spec{Namespace: "kube-system", Node: "cp-2", Purpose: "snap",
		Containers: []corev1.Container{{Name: "snapshot"}}}, "snapshot", false)
	if !errors.Is(err, ErrNotStarted) || !strings.Contains(err.Error(), "did not start within 1m0s") ||
		!strings.Contains(err.Error(), "FailedMount: hostPath type check failed") {
		t.Fatalf("error %v", err)
	}
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left: %v", left)
	}
}

func TestCreateRefusals(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{errors.New(`pods is forbidden: User "jane" cannot create resource "pods" in API group "" in the namespace "kube-system"`), `RBAC denied create pods in namespace "kube-system"`},
		{errors.New(`pods "kubectl-etcd-snap-x" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`), "Pod Security Admission refused it"},
	} {
		f := newFakeCluster()
		f.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, forbidden(c.err.Error())
		})
		_, err := (&Runner{Client: f}).Start(context.Background(), Spec{Namespace: "kube-system", Node: "cp-2", Purpose: "snap"}, "x", false)
		if !errors.Is(err, ErrNotStarted) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

func TestDeleteAfterCancelAndDeleteLive(t *testing.T) {
	f := newFakeCluster()
	r := &Runner{Client: f, Poll: time.Millisecond}
	spec := Spec{Namespace: "kube-system", Node: "cp-2", Purpose: "snap", Containers: []corev1.Container{{Name: "snapshot"}}}
	ctx, cancel := context.WithCancel(context.Background())
	p1, err := r.Start(ctx, spec, "snapshot", false)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := r.Start(ctx, spec, "snapshot", false)
	if err != nil {
		t.Fatal(err)
	}
	cancel() // Ctrl-C: the deletion must still happen
	if err := p1.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if left := f.helperPods(t); len(left) != 1 || left[0] != p2.Name {
		t.Fatalf("after deleting %s: %v", p1, left)
	}
	DeleteLive(time.Second) // the second Ctrl-C
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left: %v", left)
	}
}

func TestSweepDeletesExpiredHelpers(t *testing.T) {
	old := metav1.NewTime(time.Now().Add(-2 * time.Hour))
	deadline := int64(600)
	mk := func(name string, created metav1.Time, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", CreationTimestamp: created, Labels: labels},
			Spec: corev1.PodSpec{ActiveDeadlineSeconds: &deadline}}
	}
	helper := map[string]string{LabelManagedBy: ManagedBy, LabelComponent: Component}
	f := newFakeCluster(
		mk("kubectl-etcd-snap-old", old, helper),
		mk("kubectl-etcd-snap-new", metav1.Now(), helper),
		mk("someone-elses", old, map[string]string{"app": "x"}),
	)
	var notes []string
	(&Runner{Client: f, Notify: func(s string) { notes = append(notes, s) }}).Sweep(context.Background(), "kube-system")
	if left := f.helperPods(t); len(left) != 1 || left[0] != "kubectl-etcd-snap-new" {
		t.Errorf("helpers left %v", left)
	}
	if _, err := f.CoreV1().Pods("kube-system").Get(context.Background(), "someone-elses", metav1.GetOptions{}); err != nil {
		t.Errorf("a pod that is not a helper was touched: %v", err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "kubectl-etcd-snap-old") {
		t.Errorf("notes %q", notes)
	}
}

func forbidden(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden, Message: msg}}
}

// Ctrl-C during the create: the pod the API server stored anyway is deleted.
func TestStartCancelledDeletesThePod(t *testing.T) {
	f := newFakeCluster()
	ctx, cancel := context.WithCancel(context.Background())
	f.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		cancel() // the signal arrives while the request is in flight
		return false, nil, nil
	})
	_, err := (&Runner{Client: f, Poll: time.Millisecond}).Start(ctx, Spec{Namespace: "kube-system", Node: "cp-2", Purpose: "snap",
		Containers: []corev1.Container{{Name: "snapshot"}}}, "snapshot", false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left: %v", left)
	}
}

// A container that must keep running (the exec route's shell) and ended at once did not start.
func TestStartMustRun(t *testing.T) {
	f := newFakeCluster()
	f.state = func(string) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 127, Reason: "StartError",
			Message: `exec: "sleep": executable file not found in $PATH`}}
	}
	_, err := (&Runner{Client: f, Poll: time.Millisecond}).Start(context.Background(), Spec{Namespace: "kube-system", Node: "cp-2", Purpose: "snap",
		Containers: []corev1.Container{{Name: "shell"}}}, "shell", true)
	if !errors.Is(err, ErrNotStarted) || !strings.Contains(err.Error(), `container shell ended at once (exit code 127, StartError): exec: "sleep"`) {
		t.Fatalf("error %v", err)
	}
	if left := f.helperPods(t); len(left) != 0 {
		t.Errorf("pods left: %v", left)
	}
}

type limitedConn struct{ transport.Connector }

func (limitedConn) Unavailable() []string { return []string{"member list"} }

// Wrapping a limited transport (metrics-only) keeps saying what it cannot fill.
func TestConnectorKeepsLimits(t *testing.T) {
	var c transport.Connector = &Connector{Connector: limitedConn{}}
	l, ok := c.(transport.Limited)
	if !ok || len(l.Unavailable()) != 1 {
		t.Fatalf("limits lost: %v", ok)
	}
	if got := (&Connector{}).Unavailable(); got != nil {
		t.Errorf("an unlimited transport reports %v", got)
	}
}

// A shell helper with Scratch has a small emptyDir of its own there (where the kubelet keeps
// every emptyDir, so the shell can measure that filesystem); its host directories are as asked.
func TestStartShellScratch(t *testing.T) {
	f := newFakeCluster()
	sh, err := (&Runner{Client: f, Poll: time.Millisecond}).StartShell(context.Background(), nil, ShellSpec{Namespace: "kube-system", Node: "cp-2",
		Image: "registry.k8s.io/kube-proxy:v1.37.2", Purpose: "restore", Deadline: time.Minute, Scratch: "/scratch",
		Dirs: []HostDir{{Name: "data-parent", HostPath: "/var/lib", MountPath: "/host/data-parent", ReadOnly: true}}})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := f.CoreV1().Pods("kube-system").Get(context.Background(), sh.Pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vols := pod.Spec.Volumes
	if len(vols) != 2 || vols[0].HostPath == nil || vols[0].HostPath.Path != "/var/lib" ||
		vols[1].EmptyDir == nil || vols[1].EmptyDir.SizeLimit == nil || vols[1].EmptyDir.SizeLimit.Value() != 1<<20 {
		t.Errorf("volumes: %+v", vols)
	}
	mounts := pod.Spec.Containers[0].VolumeMounts
	if len(mounts) != 2 || !mounts[0].ReadOnly || mounts[1].MountPath != "/scratch" || mounts[1].Name != vols[1].Name {
		t.Errorf("mounts: %+v", mounts)
	}
}
