// Package kubeadmext_test runs the plugin against kubeadm's other documented topology, the
// "HA etcd cluster" guide: three etcd hosts whose kubelet runs standalone (no pod of theirs is
// in the API) and one control-plane node made by kubeadm init with etcd.external (see
// hack/kubeadm-cluster.sh up DIR --external-etcd). Every test uses only a kubeconfig: a
// ServiceAccount with the RBAC the README gives for an external etcd, and no certificate.
//
// It needs root and the tools of hack/e2e-tools.sh etcd k8s kubeadm (make test-kubeadm).
// KUBEADM_EXT_E2E_DIR names a cluster already up (left running); otherwise one is brought up
// and torn down.
package kubeadmext_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

const (
	etcdVersion = "v3.6.16"
	// helperSelector selects every pod the plugin creates.
	helperSelector = "app.kubernetes.io/managed-by=kubectl-etcd"
	usersNamespace = "kubectl-etcd-e2e-ext-users"
)

var cluster struct {
	dir, script, kubectl, etcdBin string
	user                          string // the restricted user's kubeconfig
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(plugintest.Setup(m))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "kubeadm external-etcd e2e: must run as root; run make test-kubeadm as root")
		return 1
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cluster.script = filepath.Join(root, "hack", "kubeadm-cluster.sh")
	cache := os.Getenv("E2E_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "kubectl-etcd", "e2e")
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			cache = filepath.Join(x, "kubectl-etcd", "e2e")
		}
	}
	cluster.kubectl = filepath.Join(cache, "k8s-v1.37.2", "kubectl")
	cluster.etcdBin = filepath.Join(cache, "etcd-"+etcdVersion)
	if d := os.Getenv("KUBEADM_EXT_E2E_DIR"); d != "" {
		cluster.dir = d
		os.Setenv("KUBECONFIG", filepath.Join(d, "kubeconfig"))
		return suite(m)
	}
	if cluster.dir, err = os.MkdirTemp("", "kubectl-etcd-kubeadm-ext-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	t0 := time.Now()
	up := exec.Command(cluster.script, "up", cluster.dir, "--external-etcd")
	up.Env = append(os.Environ(), "ETCD_VERSION="+etcdVersion, "OWNER_PID="+strconv.Itoa(os.Getpid()))
	up.Stdout, up.Stderr = os.Stderr, os.Stderr
	err = up.Run()
	fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: cluster bring-up took %s\n", time.Since(t0).Round(time.Second))
	defer down()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: bring-up failed: %v (logs in %s/logs)\n", err, cluster.dir)
		return 1
	}
	os.Setenv("KUBECONFIG", filepath.Join(cluster.dir, "kubeconfig"))
	t1 := time.Now()
	code := suite(m)
	fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: suite took %s\n", time.Since(t1).Round(time.Second))
	if code == 0 {
		down()
		os.RemoveAll(cluster.dir)
	} else {
		fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: logs kept in %s/logs\n", cluster.dir)
	}
	return code
}

// suite makes the restricted user, runs the tests, removes the user and checks that no pod of
// the plugin is left.
func suite(m *testing.M) int {
	usersDir, err := os.MkdirTemp("", "kubectl-etcd-e2e-ext-user-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(usersDir)
	if cluster.user, err = makeUser(usersDir); err != nil {
		fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: restricted user: %v\n", err)
		return 1
	}
	code := plugintest.Setup(m)
	if out, err := kubectlErr("delete", "--ignore-not-found", "--wait=false", "-f", filepath.Join(usersDir, "rbac.yaml")); err != nil {
		fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: deleting the user: %v\n%s", err, out)
	}
	if err := helperPodsLeftAtEnd(); err != nil {
		fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: FAIL: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func down() {
	cmd := exec.Command(cluster.script, "down", cluster.dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: teardown: %v\n", err)
	}
}

// userRBAC is the README's RBAC for an external etcd (section "External etcd"), for one
// ServiceAccount.
const userRBAC = `apiVersion: v1
kind: Namespace
metadata:
  name: ` + usersNamespace + `
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: etcd-operator
  namespace: ` + usersNamespace + `
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: kubectl-etcd-external
  namespace: kube-system
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "create", "delete"]
- apiGroups: [""]
  resources: ["pods/exec"]
  verbs: ["get", "create"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["configmaps"]
  resourceNames: ["kubeadm-config"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: kubectl-etcd-external
  namespace: kube-system
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: kubectl-etcd-external
subjects:
- kind: ServiceAccount
  name: etcd-operator
  namespace: ` + usersNamespace + `
`

// makeUser applies userRBAC and writes a kubeconfig with a token of the ServiceAccount.
func makeUser(dir string) (string, error) {
	rbac := filepath.Join(dir, "rbac.yaml")
	if err := os.WriteFile(rbac, []byte(userRBAC), 0o600); err != nil {
		return "", err
	}
	if _, err := kubectlErr("apply", "-f", rbac); err != nil {
		return "", err
	}
	server, err := kubectlErr("config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
	if err != nil {
		return "", err
	}
	ca, err := kubectlErr("config", "view", "--raw", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}")
	if err != nil {
		return "", err
	}
	token, err := kubectlErr("-n", usersNamespace, "create", "token", "etcd-operator", "--duration", "2h")
	if err != nil {
		return "", err
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: ka1
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: etcd-operator
  user:
    token: %s
contexts:
- name: etcd-operator
  context: {cluster: ka1, user: etcd-operator, namespace: default}
current-context: etcd-operator
`, server, ca, strings.TrimSpace(token))
	out := filepath.Join(dir, "etcd-operator.kubeconfig")
	return out, os.WriteFile(out, []byte(kc), 0o600)
}

// kubectlErr runs the cluster's kubectl with the admin kubeconfig.
func kubectlErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, cluster.kubectl, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func adminClient() (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// helperPodsLeft lists the pods labelled as the plugin's in every namespace.
func helperPodsLeft(ctx context.Context) ([]string, error) {
	cs, err := adminClient()
	if err != nil {
		return nil, err
	}
	l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: helperSelector})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	return names, nil
}

// helperPodsLeftAtEnd waits (bounded) for the pods the plugin deleted to be gone.
func helperPodsLeftAtEnd() error {
	var left []string
	var err error
	for deadline := time.Now().Add(90 * time.Second); ; {
		if left, err = helperPodsLeft(context.Background()); err == nil && len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("pods labelled %s left after the tests: %s", helperSelector, strings.Join(left, ", "))
}

// runPlugin runs kubectl-etcd as the restricted user (plugintest adds an empty
// --kubeadm-pki-dir: no certificate on this machine).
func runPlugin(t *testing.T, args ...string) *plugintest.Result {
	t.Helper()
	return plugintest.Run(t, nil, append([]string{"--kubeconfig", cluster.user}, args...)...)
}
