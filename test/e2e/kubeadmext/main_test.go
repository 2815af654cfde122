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
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/kubeadmtest"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

const usersNamespace = "kubectl-etcd-e2e-ext-users"

var (
	cluster        kubeadmtest.Cluster
	userKubeconfig string // the restricted user's
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(plugintest.Setup(m))
	}
	os.Exit(kubeadmtest.Main(kubeadmtest.Options{
		Name: "kubeadm external-etcd e2e", DirEnv: "KUBEADM_EXT_E2E_DIR", TempPrefix: "kubectl-etcd-kubeadm-ext-",
		UpArgs: []string{"--external-etcd"},
	}, &cluster, func() int { return suite(m) }))
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
	if userKubeconfig, err = makeUser(usersDir); err != nil {
		fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: restricted user: %v\n", err)
		return 1
	}
	code := plugintest.Setup(m)
	if out, err := kubectlErr("delete", "--ignore-not-found", "--wait=false", "-f", filepath.Join(usersDir, "rbac.yaml")); err != nil {
		fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: deleting the user: %v\n%s", err, out)
	}
	if err := kubeadmtest.HelperPodsGone(); err != nil {
		fmt.Fprintf(os.Stderr, "kubeadm external-etcd e2e: FAIL: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
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
	cmd := exec.CommandContext(ctx, cluster.Kubectl, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// runPlugin runs kubectl-etcd as the restricted user (plugintest adds an empty
// --kubeadm-pki-dir: no certificate on this machine).
func runPlugin(t *testing.T, args ...string) *plugintest.Result {
	t.Helper()
	return plugintest.Run(t, nil, append([]string{"--kubeconfig", userKubeconfig}, args...)...)
}
