// Package kubeadm_test runs the plugin against a control plane that kubeadm made: three nodes,
// each in its own network, mount and UTS namespaces with its own containerd and kubelet (see
// hack/kubeadm-cluster.sh), kubeadm init on cp-1 and kubeadm join --control-plane on cp-2 and
// cp-3, and the distroless etcd image (etcd, etcdctl, etcdutl and nothing else). One cluster
// serves the whole package; the read-only tests run first and the runbooks that replace members
// last (runbooks_test.go sorts after kubeadm_test.go).
//
// It needs root and the tools of hack/e2e-tools.sh etcd k8s kubeadm (make test-kubeadm).
package kubeadm_test

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

// cluster is the kubeadm cluster of this test binary.
var cluster kubeadmtest.Cluster

const etcdVersion = kubeadmtest.EtcdVersion

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(plugintest.Setup(m))
	}
	os.Exit(kubeadmtest.Main(kubeadmtest.Options{
		Name: "kubeadm e2e", DirEnv: "KUBEADM_E2E_DIR", TempPrefix: "kubectl-etcd-kubeadm-",
	}, &cluster, func() int { return suite(m) }))
}

// suite runs the tests, then checks that they left no helper pod of the plugin behind and
// removes the restricted users of helper_test.go.
func suite(m *testing.M) int {
	code := plugintest.Setup(m)
	removeRestrictedUsers()
	if err := kubeadmtest.HelperPodsGone(); err != nil {
		fmt.Fprintf(os.Stderr, "kubeadm e2e: FAIL: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// script runs hack/kubeadm-cluster.sh SUBCOMMAND DIR ARGS... and returns its output.
func script(t *testing.T, sub string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cluster.Script, append([]string{sub, cluster.Dir}, args...)...)
	cmd.Env = append(os.Environ(), "ETCD_VERSION="+etcdVersion)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	t.Logf("kubeadm-cluster.sh %s %s: %s", sub, strings.Join(args, " "), time.Since(t0).Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("kubeadm-cluster.sh %s %s: %v\n%s", sub, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// onNode runs argv in the node's namespaces (as a shell on that node would).
func onNode(t *testing.T, node string, argv ...string) string {
	t.Helper()
	return script(t, "exec", append([]string{node}, argv...)...)
}

// kubectl runs the kubectl of the cluster's version against it.
func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cluster.Kubectl, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// nodePKIDir is kubeadm's /etc/kubernetes/pki/etcd of a node, as the host sees it (the upper
// layer of the node's /etc overlay): what --kubeadm-pki-dir reads on a control-plane node.
func nodePKIDir(node string) string {
	return filepath.Join(cluster.Dir, "nodes", node, "etc-upper", "kubernetes", "pki", "etcd")
}

// nodeEtcdDir is the node's /var/lib/etcd as the host sees it (a bind mount).
func nodeEtcdDir(node string) string { return filepath.Join(cluster.Dir, "nodes", node, "etcd") }

// runPlugin runs kubectl-etcd against the cluster.
func runPlugin(t *testing.T, args ...string) *plugintest.Result {
	t.Helper()
	return plugintest.Run(t, nil, args...)
}

// pf are the flags of the port-forward transport with the certificates of a control-plane node.
func pf(node string) []string {
	return []string{"--transport", "port-forward", "--kubeadm-pki-dir", nodePKIDir(node)}
}

// eventually retries f until it returns nil or the limit passes; it is for states the cluster
// reaches on its own (a static pod restarting, a mirror pod appearing), never for the plugin's
// own answers.
func eventually(t *testing.T, what string, limit time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s: %v", what, limit, err)
		}
		time.Sleep(time.Second)
	}
}
