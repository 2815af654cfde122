package kubeadm_test

// The node helper (issue 22): `snapshot save FILE` by a user with a kubeconfig, RBAC and no etcd
// client certificate, through a short-lived pod on the member's node. This file sorts before
// kubeadm_test.go and runbooks_test.go, so it runs on the freshly made cluster.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/kubeadmtest"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

const (
	// shellImage is the image hack/kubeadm-cluster.sh builds from this machine's dash, cat,
	// chmod, grep, ln, rm, sleep and wc and imports on every node.
	shellImage = "registry.k8s.io/kubectl-etcd-e2e/shell:v1"
	// kubeProxyImage is kubeadm's kube-proxy image as the harness builds it: the same tools, the
	// real kube-proxy and iptables.
	kubeProxyImage = "registry.k8s.io/kube-proxy:v1.37.2"
	// helperSelector selects every pod the plugin creates.
	helperSelector = kubeadmtest.HelperSelector
	// usersNamespace holds the ServiceAccounts of the restricted users.
	usersNamespace = "kubectl-etcd-e2e-users"
)

// saveResult is `snapshot save -o json`: the FILE.json sidecar plus the route and the pod.
type saveResult struct {
	File       string `json:"file"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	MemberName string `json:"memberName"`
	Pod        string `json:"pod"`
	Node       string `json:"node"`
	Revision   int64  `json:"revision"`
	Route      string `json:"route"`
	HelperPod  string `json:"helperPod"`
}

// restricted are the kubeconfigs of two ServiceAccounts with the node helper's RBAC and no
// etcd certificate: proxy may also get nodes/proxy (the kubelet's log server), noProxy may not.
var restricted struct {
	once           sync.Once
	err            error
	dir            string
	proxy, noProxy string
}

// helperRBAC is the RBAC the README asks for the node helper, for two ServiceAccounts; only
// snap-proxy is bound to nodes/proxy.
const helperRBAC = `apiVersion: v1
kind: Namespace
metadata:
  name: ` + usersNamespace + `
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: snap-proxy
  namespace: ` + usersNamespace + `
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: snap-noproxy
  namespace: ` + usersNamespace + `
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: kubectl-etcd-e2e-helper
  namespace: kube-system
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["pods/exec"]
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: kubectl-etcd-e2e-helper
  namespace: kube-system
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: kubectl-etcd-e2e-helper
subjects:
- kind: ServiceAccount
  name: snap-proxy
  namespace: ` + usersNamespace + `
- kind: ServiceAccount
  name: snap-noproxy
  namespace: ` + usersNamespace + `
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kubectl-etcd-e2e-nodes-proxy
rules:
- apiGroups: [""]
  resources: ["nodes/proxy"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kubectl-etcd-e2e-nodes-proxy
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kubectl-etcd-e2e-nodes-proxy
subjects:
- kind: ServiceAccount
  name: snap-proxy
  namespace: ` + usersNamespace + `
`

// restrictedUsers creates (once per test binary) the two restricted users and returns their
// kubeconfigs; removeRestrictedUsers (TestMain) deletes them.
func restrictedUsers(t *testing.T) (proxy, noProxy string) {
	t.Helper()
	restricted.once.Do(func() { restricted.err = makeRestrictedUsers() })
	if restricted.err != nil {
		t.Fatalf("restricted users: %v", restricted.err)
	}
	return restricted.proxy, restricted.noProxy
}

func makeRestrictedUsers() error {
	dir, err := os.MkdirTemp("", "kubectl-etcd-e2e-users-")
	if err != nil {
		return err
	}
	restricted.dir = dir
	rbac := filepath.Join(dir, "rbac.yaml")
	if err := os.WriteFile(rbac, []byte(helperRBAC), 0o600); err != nil {
		return err
	}
	if _, err := kubectlErr("apply", "-f", rbac); err != nil {
		return err
	}
	server, err := kubectlErr("config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
	if err != nil {
		return err
	}
	ca, err := kubectlErr("config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}")
	if err != nil {
		return err
	}
	for _, u := range []struct {
		sa  string
		out *string
	}{{"snap-proxy", &restricted.proxy}, {"snap-noproxy", &restricted.noProxy}} {
		token, err := kubectlErr("-n", usersNamespace, "create", "token", u.sa, "--duration", "4h")
		if err != nil {
			return err
		}
		kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: ka0
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: %s
  context: {cluster: ka0, user: %s, namespace: default}
current-context: %s
`, server, ca, u.sa, strings.TrimSpace(token), u.sa, u.sa, u.sa)
		*u.out = filepath.Join(dir, u.sa+".kubeconfig")
		if err := os.WriteFile(*u.out, []byte(kc), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// removeRestrictedUsers deletes what makeRestrictedUsers made (a no-op when no test used them).
func removeRestrictedUsers() {
	if restricted.dir == "" {
		return
	}
	rbac := filepath.Join(restricted.dir, "rbac.yaml")
	if out, err := kubectlErr("delete", "--ignore-not-found", "--wait=false", "-f", rbac); err != nil {
		fmt.Fprintf(os.Stderr, "kubeadm e2e: deleting the restricted users: %v\n%s", err, out)
	}
	os.RemoveAll(restricted.dir)
}

// kubectlErr is kubectl for code without a *testing.T (TestMain, sync.Once).
func kubectlErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, cluster.Kubectl, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// clientset is a client of the admin kubeconfig.
func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// podWatch records every helper pod the API server shows while it runs, with its last state.
type podWatch struct {
	mu   sync.Mutex
	pods map[types.UID]*corev1.Pod
	// order of first sight
	uids    []types.UID
	changed chan struct{}
	stop    context.CancelFunc
	done    chan struct{}
}

// watchHelperPods watches the pods labelled as the plugin's in kube-system until the test ends.
func watchHelperPods(t *testing.T) *podWatch {
	t.Helper()
	cs := clientset(t)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Pods("kube-system").Watch(ctx, metav1.ListOptions{LabelSelector: helperSelector})
	if err != nil {
		cancel()
		t.Fatalf("watching the helper pods: %v", err)
	}
	pw := &podWatch{pods: map[types.UID]*corev1.Pod{}, changed: make(chan struct{}, 1), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(pw.done)
		defer w.Stop()
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Error {
				continue
			}
			pw.mu.Lock()
			if _, seen := pw.pods[pod.UID]; !seen {
				pw.uids = append(pw.uids, pod.UID)
			}
			pw.pods[pod.UID] = pod.DeepCopy()
			pw.mu.Unlock()
			select {
			case pw.changed <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-pw.done })
	return pw
}

// seen returns the pods seen so far, in order of first sight.
func (pw *podWatch) seen() []*corev1.Pod {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	var out []*corev1.Pod
	for _, uid := range pw.uids {
		out = append(out, pw.pods[uid])
	}
	return out
}

// waitFor waits (bounded) until f accepts one of the pods seen; it returns that pod.
func (pw *podWatch) waitFor(t *testing.T, what string, limit time.Duration, f func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.After(limit)
	for {
		for _, p := range pw.seen() {
			if f(p) {
				return p
			}
		}
		select {
		case <-pw.changed:
		case <-deadline:
			t.Fatalf("%s: not seen within %s; helper pods seen: %s", what, limit, podNames(pw.seen()))
		}
	}
}

func podNames(pods []*corev1.Pod) string {
	var s []string
	for _, p := range pods {
		s = append(s, p.Name+"("+string(p.UID)+")")
	}
	return "[" + strings.Join(s, " ") + "]"
}

// wantPodGone waits (bounded) until the API server no longer has the pod: the plugin deleted it
// and the kubelet finished it.
func wantPodGone(t *testing.T, cs kubernetes.Interface, p *corev1.Pod) {
	t.Helper()
	eventually(t, "helper pod "+p.Name+" deleted", 90*time.Second, func() error {
		got, err := cs.CoreV1().Pods(p.Namespace).Get(context.Background(), p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return err
		case got.UID != p.UID:
			return nil // a later pod of the same name (the name is generated: should not happen)
		case got.DeletionTimestamp == nil:
			return fmt.Errorf("pod %s is still there and was never deleted (phase %s)", p.Name, got.Status.Phase)
		default:
			return fmt.Errorf("pod %s is terminating", p.Name)
		}
	})
}

// saveChecks are the checks of a successful helper save: exit 0, -o json naming route and pod,
// FILE 0600 with the sha256 the JSON says, FILE.json beside it, no FILE.part, the pod labelled
// as the contract says on the member's node and deleted afterwards.
func saveChecks(t *testing.T, pw *podWatch, r *plugintest.Result, file, wantRoute string) (saveResult, *corev1.Pod) {
	t.Helper()
	plugintest.WantCode(t, r, 0)
	var res saveResult
	plugintest.Decode(t, r, &res)
	if res.Route != wantRoute {
		t.Errorf("route %q, want %q\n%s", res.Route, wantRoute, r)
	}
	if !strings.HasPrefix(res.HelperPod, "kube-system/kubectl-etcd-snap-") {
		t.Errorf("helperPod %q, want kube-system/kubectl-etcd-snap-*\n%s", res.HelperPod, r)
	}
	if !strings.Contains(r.Stderr, res.HelperPod) {
		t.Errorf("stderr does not name the helper pod %s\n%s", res.HelperPod, r)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatalf("no snapshot file: %v\n%s", err, r)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", file, st.Mode().Perm())
	}
	if res.Size != st.Size() {
		t.Errorf("-o json size %d, file has %d bytes", res.Size, st.Size())
	}
	if got := sha256File(t, file); res.SHA256 != got {
		t.Errorf("-o json sha256 %s, the file's is %s", res.SHA256, got)
	}
	if _, err := os.Stat(file + ".json"); err != nil {
		t.Errorf("no sidecar: %v", err)
	}
	if _, err := os.Lstat(file + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.part is left (%v)", file, err)
	}
	name := strings.TrimPrefix(res.HelperPod, "kube-system/")
	pod := pw.waitFor(t, "helper pod "+res.HelperPod, 10*time.Second, func(p *corev1.Pod) bool { return p.Name == name })
	wantLabels := map[string]string{
		"app.kubernetes.io/managed-by": "kubectl-etcd",
		"app.kubernetes.io/component":  "node-helper",
		"kubectl-etcd.io/member":       res.MemberName,
	}
	for k, v := range wantLabels {
		if pod.Labels[k] != v {
			t.Errorf("helper pod %s: label %s=%q, want %q (labels %v)", pod.Name, k, pod.Labels[k], v, pod.Labels)
		}
	}
	if res.MemberName == "" || pod.Spec.NodeName != res.Node || res.Pod != "etcd-"+res.Node {
		t.Errorf("helper pod %s ran on node %q; the snapshot names member %q, pod %q, node %q", pod.Name, pod.Spec.NodeName, res.MemberName, res.Pod, res.Node)
	}
	if !pod.Spec.HostNetwork || pod.Spec.RestartPolicy != corev1.RestartPolicyNever || pod.Spec.ActiveDeadlineSeconds == nil ||
		pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Errorf("helper pod %s: hostNetwork %v, restartPolicy %s, activeDeadlineSeconds %v, automountServiceAccountToken %v; want true, Never, set, false",
			pod.Name, pod.Spec.HostNetwork, pod.Spec.RestartPolicy, pod.Spec.ActiveDeadlineSeconds, pod.Spec.AutomountServiceAccountToken)
	}
	everyTaint := false
	for _, tol := range pod.Spec.Tolerations {
		everyTaint = everyTaint || tol.Key == "" && tol.Operator == corev1.TolerationOpExists
	}
	if !everyTaint {
		t.Errorf("helper pod %s does not tolerate every taint: %v", pod.Name, pod.Spec.Tolerations)
	}
	wantPodGone(t, clientset(t), pod)
	return res, pod
}

func sha256File(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// isEtcdImage tells the member's etcd image, by name or by the image ID the etcd pod reports
// (the helper may name it either way), from the shell image.
func isEtcdImage(t *testing.T, image string) bool {
	t.Helper()
	if strings.HasPrefix(image, "registry.k8s.io/etcd:") || strings.HasPrefix(image, "registry.k8s.io/etcd@") {
		return true
	}
	etcdPods.once.Do(func() {
		l, err := clientset(t).CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "component=etcd"})
		if err != nil {
			t.Fatalf("listing the etcd pods: %v", err)
		}
		for _, p := range l.Items {
			for _, s := range p.Status.ContainerStatuses {
				etcdPods.imageIDs = append(etcdPods.imageIDs, s.ImageID)
			}
		}
	})
	return contains(etcdPods.imageIDs, image)
}

var etcdPods struct {
	once     sync.Once
	imageIDs []string
}

// allContainers are the init and the regular containers of a pod spec.
func allContainers(p *corev1.Pod) []corev1.Container {
	return append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
}

// wantImages checks that the helper pod ran the member's etcd image and, when shell is set, the
// shell image named, neither of them pulled.
func wantImages(t *testing.T, pod *corev1.Pod, shell string) {
	t.Helper()
	var images []string
	etcd := false
	for _, c := range allContainers(pod) {
		images = append(images, c.Image)
		etcd = etcd || isEtcdImage(t, c.Image)
		if c.ImagePullPolicy != corev1.PullIfNotPresent && c.ImagePullPolicy != corev1.PullNever {
			t.Errorf("helper pod %s: container %s has imagePullPolicy %s (this cluster pulls nothing)", pod.Name, c.Name, c.ImagePullPolicy)
		}
	}
	if !etcd {
		t.Errorf("helper pod %s runs %v, not the member's etcd image", pod.Name, images)
	}
	if shell != "" && !contains(images, shell) {
		t.Errorf("helper pod %s runs %v, not the shell image %s", pod.Name, images, shell)
	}
}

// TestHelperSave: with a kubeconfig and no etcd certificate, `snapshot save` goes through a
// helper pod on the member's node, over the kubelet's log server or over exec, and the file
// restores with the real etcdutl into an etcd that serves /registry.
func TestHelperSave(t *testing.T) {
	plugintest.SkipShort(t)
	proxy, noProxy := restrictedUsers(t)
	for _, c := range []struct{ kc, verb, res, sub, want string }{
		{proxy, "get", "nodes", "proxy", "yes"}, {noProxy, "get", "nodes", "proxy", "no"},
		{noProxy, "create", "pods", "", "yes"}, {noProxy, "create", "pods", "exec", "yes"},
		{noProxy, "get", "secrets", "", "no"}, {proxy, "create", "pods", "portforward", "no"},
	} {
		args := []string{"--kubeconfig", c.kc, "-n", "kube-system", "auth", "can-i", c.verb, c.res}
		if c.sub != "" {
			args = append(args, "--subresource", c.sub)
		}
		out, _ := kubectl(t, args...)
		if strings.TrimSpace(out) != c.want {
			t.Fatalf("%s: can-i %s %s/%s = %q, want %s", filepath.Base(c.kc), c.verb, c.res, c.sub, out, c.want)
		}
	}
	pw := watchHelperPods(t)
	dir := t.TempDir()

	t.Run("logs route by default with nodes/proxy", func(t *testing.T) {
		file := filepath.Join(dir, "logs.db")
		r := runPlugin(t, "snapshot", "save", file, "-o", "json", "--kubeconfig", proxy)
		res, pod := saveChecks(t, pw, r, file, "helper-logs")
		wantImages(t, pod, "")
		if res.Revision <= 0 {
			t.Errorf("revision %d", res.Revision)
		}
		plugintest.WantCode(t, runPlugin(t, "snapshot", "status", file), 0)
		restoreAndServe(t, file, filepath.Join(dir, "logs-restore"))
	})

	t.Run("exec route with --helper-image", func(t *testing.T) {
		file := filepath.Join(dir, "exec.db")
		r := runPlugin(t, "snapshot", "save", file, "-o", "json", "--kubeconfig", proxy,
			"--helper-route", "exec", "--helper-image", shellImage)
		_, pod := saveChecks(t, pw, r, file, "helper-exec")
		wantImages(t, pod, shellImage)
		plugintest.WantCode(t, runPlugin(t, "snapshot", "status", file), 0)
		restoreAndServe(t, file, filepath.Join(dir, "exec-restore"))
	})

	t.Run("without nodes/proxy auto takes the exec route", func(t *testing.T) {
		file := filepath.Join(dir, "noproxy.db")
		r := runPlugin(t, "snapshot", "save", file, "-o", "json", "--kubeconfig", noProxy, "--helper-image", shellImage)
		_, pod := saveChecks(t, pw, r, file, "helper-exec")
		wantImages(t, pod, shellImage)
		if !strings.Contains(r.Stderr, "nodes/proxy") {
			t.Errorf("stderr does not say why the logs route was not taken (nodes/proxy)\n%s", r)
		}
		plugintest.WantCode(t, runPlugin(t, "snapshot", "status", file), 0)
	})

	t.Run("without nodes/proxy the kube-proxy image serves as shell", func(t *testing.T) {
		kubeProxyRunning(t)
		file := filepath.Join(dir, "kube-proxy.db")
		r := runPlugin(t, "snapshot", "save", file, "-o", "json", "--kubeconfig", noProxy)
		_, pod := saveChecks(t, pw, r, file, "helper-exec")
		wantImages(t, pod, kubeProxyImage)
	})

	t.Run("--helper always with certificates", func(t *testing.T) {
		file := filepath.Join(dir, "always.db")
		r := runPlugin(t, "snapshot", "save", file, "-o", "json", "--helper", "always", "--kubeadm-pki-dir", nodePKIDir("cp-1"))
		saveChecks(t, pw, r, file, "helper-logs")
	})

	t.Run("--helper never keeps the refusal", func(t *testing.T) {
		before := len(pw.seen())
		file := filepath.Join(dir, "never.db")
		r := runPlugin(t, "snapshot", "save", file, "--kubeconfig", proxy, "--helper", "never")
		if r.Code == 0 || len(r.ErrorLines()) != 1 {
			t.Errorf("want one error line and a non-zero exit\n%s", r)
		}
		wantNoFiles(t, r, file)
		if n := len(pw.seen()); n != before {
			t.Errorf("--helper never created helper pods: %s", podNames(pw.seen()[before:]))
		}
	})
}

// TestHelperRefusals: a user without nodes/proxy and without a shell image gets one line naming
// what is missing, and nothing is left behind.
func TestHelperRefusals(t *testing.T) {
	plugintest.SkipShort(t)
	_, noProxy := restrictedUsers(t)
	pw := watchHelperPods(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"logs route without nodes/proxy", []string{"--helper-route", "logs"}, []string{"nodes/proxy"}},
		// No route at all (no nodes/proxy and no kube-proxy pod) cannot happen here: the
		// cluster runs kubeadm's kube-proxy, whose image serves the exec route. The unit test
		// TestRouteChoice (pkg/nodehelper) covers that refusal.
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, "refused.db")
			r := runPlugin(t, append([]string{"snapshot", "save", file, "--kubeconfig", noProxy}, c.args...)...)
			if r.Code == 0 {
				t.Fatalf("saved without a route\n%s", r)
			}
			el := r.ErrorLines()
			if len(el) != 1 {
				t.Fatalf("want one error line, got %d\n%s", len(el), r)
			}
			for _, w := range c.wants {
				if !strings.Contains(el[0], w) {
					t.Errorf("the refusal does not name %q: %s", w, el[0])
				}
			}
			wantNoFiles(t, r, file)
		})
	}
	cs := clientset(t)
	for _, p := range pw.seen() {
		wantPodGone(t, cs, p)
	}
}

func wantNoFiles(t *testing.T, r *plugintest.Result, file string) {
	t.Helper()
	for _, f := range []string{file, file + ".part", file + ".json"} {
		if _, err := os.Lstat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after the run (%v)\n%s", f, err, r)
		}
	}
}

// kubeProxyRunning waits until kubeadm's kube-proxy addon (deployed by hack/kubeadm-cluster.sh
// as kubeadm does, from the real kube-proxy binary) runs on every node.
func kubeProxyRunning(t *testing.T) {
	t.Helper()
	cs := clientset(t)
	eventually(t, "a running kube-proxy pod on every node", 2*time.Minute, func() error {
		l, err := cs.CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "k8s-app=kube-proxy"})
		if err != nil {
			return err
		}
		running := map[string]bool{}
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodRunning {
				running[p.Spec.NodeName] = true
			}
		}
		for _, n := range nodes {
			if !running[n] {
				return fmt.Errorf("no running kube-proxy pod on %s (%d pods)", n, len(l.Items))
			}
		}
		return nil
	})
}

// fillEtcd writes about mib MiB of ConfigMaps into a namespace of its own (deleted when the
// test ends), so that etcdctl takes a moment to write the snapshot on the node.
func fillEtcd(t *testing.T, mib int) {
	t.Helper()
	cs := clientset(t)
	ctx := context.Background()
	ns := "kubectl-etcd-e2e-fill"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting namespace %s: %v", ns, err)
		}
	})
	// 768 KiB of random bytes is 1 MiB in base64, under the 1 MiB object limit with room to spare.
	raw := make([]byte, 768<<10)
	for i := range mib {
		if _, err := rand.Read(raw); err != nil {
			t.Fatal(err)
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("fill-%03d", i)}, BinaryData: map[string][]byte{"data": raw}}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshotBytesOnNode is the size of the biggest file of the helper pod's snapshot directory on
// the node, as the host sees the node's /var/log and /var/lib/kubelet: the kubectl-etcd
// subdirectory of its log directory (logs route) or any emptyDir of the pod (exec route).
func snapshotBytesOnNode(p *corev1.Pod) int64 {
	node := filepath.Join(cluster.Dir, "nodes", p.Spec.NodeName)
	var biggest int64
	for _, g := range []string{
		filepath.Join(node, "log", "pods", fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), "kubectl-etcd", "*"),
		filepath.Join(node, "kubelet", "pods", string(p.UID), "volumes", "kubernetes.io~empty-dir", "*", "*"),
	} {
		ms, _ := filepath.Glob(g)
		for _, m := range ms {
			if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && st.Size() > biggest {
				biggest = st.Size()
			}
		}
	}
	return biggest
}

// freezer freezes one container of a pod through the cgroup v1 freezer of its node (the
// kubelets run with cgroupfs under /ka0-<node>), so that etcdctl stops mid-write for as long as
// the test wants.
type freezer struct{ state string }

func freezeContainer(t *testing.T, p *corev1.Pod, containerID string) *freezer {
	t.Helper()
	id := containerID[strings.Index(containerID, "://")+3:]
	var found []string
	root := filepath.Join("/sys/fs/cgroup/freezer", "ka0-"+p.Spec.NodeName)
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == id && strings.Contains(path, string(p.UID)) {
			found = append(found, path)
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("cgroup of container %s of pod %s under %s: found %v", id, p.Name, root, found)
	}
	f := &freezer{state: filepath.Join(found[0], "freezer.state")}
	if err := os.WriteFile(f.state, []byte("FROZEN"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.thaw)
	procs, err := os.ReadFile(filepath.Join(found[0], "cgroup.procs"))
	if err != nil || strings.TrimSpace(string(procs)) == "" {
		t.Fatalf("container %s had already exited when it was frozen (%v): make fillEtcd bigger", id, err)
	}
	return f
}

func (f *freezer) thaw() { _ = os.WriteFile(f.state, []byte("THAWED"), 0o644) }

// TestHelperInterrupt: Ctrl-C while etcdctl writes the snapshot on the node leaves no helper
// pod, no FILE.part, and, after the kubelet's garbage collection, nothing of the snapshot under
// the node's /var/log/pods or /var/lib/kubelet/pods. etcdctl is frozen (cgroup freezer) once its
// file has bytes, so the signal always lands mid-save.
func TestHelperInterrupt(t *testing.T) {
	plugintest.SkipShort(t)
	proxy, noProxy := restrictedUsers(t)
	t0 := time.Now()
	fillEtcd(t, 64)
	t.Logf("filled 64 MiB in %s", time.Since(t0).Round(time.Millisecond))
	pw := watchHelperPods(t)
	cs := clientset(t)
	dir := t.TempDir()
	var interrupted []*corev1.Pod
	for _, c := range []struct {
		route string
		args  []string
	}{
		{"logs", []string{"--kubeconfig", proxy, "--helper-route", "logs"}},
		{"exec", []string{"--kubeconfig", noProxy, "--helper-image", shellImage}},
	} {
		t.Run(c.route, func(t *testing.T) {
			old := map[types.UID]bool{}
			for _, p := range pw.seen() {
				old[p.UID] = true
			}
			file := filepath.Join(dir, c.route+".db")
			p := plugintest.Start(t, nil, plugintest.Options{}, append([]string{"snapshot", "save", file}, c.args...)...)
			var etcdctl string
			pod := pw.waitFor(t, "the helper pod running etcdctl", 2*time.Minute, func(p *corev1.Pod) bool {
				if old[p.UID] {
					return false
				}
				for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
					if isEtcdImage(t, s.Image) && s.State.Running != nil && s.ContainerID != "" {
						etcdctl = s.ContainerID
						return true
					}
				}
				return false
			})
			interrupted = append(interrupted, pod)
			// Poll tightly: etcdctl writes the filled database in about a second.
			var size int64
			for deadline := time.Now().Add(time.Minute); size == 0; time.Sleep(20 * time.Millisecond) {
				select {
				case <-p.Exited:
					t.Fatalf("the plugin exited before the snapshot had bytes on the node\n%s", p.Wait(t))
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("no snapshot bytes of pod %s on %s within a minute", pod.Name, pod.Spec.NodeName)
				}
				size = snapshotBytesOnNode(pod)
			}
			fr := freezeContainer(t, pod, etcdctl)
			partSize := int64(-1)
			if st, err := os.Stat(file + ".part"); err == nil {
				partSize = st.Size()
			}
			if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			t.Logf("SIGINT with %d bytes of snapshot on %s (etcdctl frozen), FILE.part %d bytes (-1: none)", size, pod.Spec.NodeName, partSize)
			// The plugin deletes the pod; a frozen container cannot stop, so thaw once the
			// delete is seen (or the plugin has exited) to let the kubelet finish it.
			select {
			case <-p.Exited:
			case <-time.After(time.Minute):
			case <-waitDeleted(pw, pod.UID):
			}
			fr.thaw()
			r := p.Wait(t)
			if r.Code != 1 {
				t.Errorf("exit code %d, want 1 (an interrupted snapshot)\n%s", r.Code, r)
			}
			if el := r.ErrorLines(); len(el) != 1 || !strings.Contains(el[0], "interrupt") {
				t.Errorf("stderr does not say the snapshot was interrupted\n%s", r)
			}
			wantNoFiles(t, r, file)
			wantPodGone(t, cs, pod)
		})
	}
	// The kubelet removes a deleted pod's log directory and its volumes (garbage collection,
	// about a minute): then nothing of the snapshots is left on the nodes.
	t0 = time.Now()
	eventually(t, "the helper pods' directories removed from the nodes", 2*time.Minute, func() error {
		for _, pod := range interrupted {
			out, err := exec.Command(cluster.Script, "exec", cluster.Dir, pod.Spec.NodeName,
				"find", "/var/log/pods", "/var/lib/kubelet/pods", "-maxdepth", "1", "-name", "*"+string(pod.UID)+"*").CombinedOutput()
			if err != nil {
				return fmt.Errorf("find on %s: %w: %s", pod.Spec.NodeName, err, out)
			}
			if strings.TrimSpace(string(out)) != "" {
				return fmt.Errorf("on %s: %s", pod.Spec.NodeName, strings.TrimSpace(string(out)))
			}
		}
		return nil
	})
	t.Logf("the kubelets removed the helper pods' directories %s after the last interrupt", time.Since(t0).Round(time.Second))
	for _, n := range nodes {
		out := onNode(t, n, "find", "/var/log/pods", "-path", "*/kubectl-etcd/*")
		if strings.TrimSpace(out) != "" {
			t.Errorf("snapshot files left in %s's /var/log/pods:\n%s", n, out)
		}
	}
}

// waitDeleted is closed once the watch shows the pod with a deletion timestamp.
func waitDeleted(pw *podWatch, uid types.UID) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			pw.mu.Lock()
			p := pw.pods[uid]
			pw.mu.Unlock()
			if p != nil && p.DeletionTimestamp != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return ch
}
