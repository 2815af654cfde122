// Package kubeadmtest is what the kubeadm e2e packages (e2e/kubeadm, e2e/kubeadmext) share: it
// brings up one cluster of hack/kubeadm-cluster.sh for a test binary (or uses one started by
// hand), runs the suite, tears the cluster down, and checks that no pod of the plugin is left.
package kubeadmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// EtcdVersion is the etcd of the image both topologies run.
	EtcdVersion = "v3.6.16"
	// HelperSelector selects every pod the plugin creates.
	HelperSelector = "app.kubernetes.io/managed-by=kubectl-etcd"
)

// Cluster is the kubeadm cluster of one test binary.
type Cluster struct {
	Dir     string // state, logs, kubeconfig
	Script  string // hack/kubeadm-cluster.sh
	Cache   string // the e2e tool cache
	Kubectl string
	EtcdBin string // directory of etcd, etcdctl and etcdutl (the version in the image)
}

// Options say which cluster a test binary needs.
type Options struct {
	Name       string   // prefix of every message, "kubeadm e2e"
	DirEnv     string   // names a cluster already up: used as it is and left running
	TempPrefix string   // of the state directory of a cluster brought up here
	UpArgs     []string // after "up DIR"
}

// Main fills c, brings the cluster up unless o.DirEnv names one, runs suite with KUBECONFIG set
// to the cluster's, and tears the cluster down; its state and logs are kept when the suite
// failed. It returns the exit code for TestMain.
func Main(o Options, c *Cluster, suite func() int) int {
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "%s: must run as root (network namespaces, cgroups, containerd); run make test-kubeadm as root\n", o.Name)
		return 1
	}
	root, err := filepath.Abs("../../..") // from test/e2e/<package>
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c.Script = filepath.Join(root, "hack", "kubeadm-cluster.sh")
	c.Cache = os.Getenv("E2E_CACHE")
	if c.Cache == "" {
		home, _ := os.UserHomeDir()
		c.Cache = filepath.Join(home, ".cache", "kubectl-etcd", "e2e")
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			c.Cache = filepath.Join(x, "kubectl-etcd", "e2e")
		}
	}
	c.Kubectl = filepath.Join(c.Cache, "k8s-v1.37.2", "kubectl")
	c.EtcdBin = filepath.Join(c.Cache, "etcd-"+EtcdVersion)
	if d := os.Getenv(o.DirEnv); d != "" {
		c.Dir = d
		os.Setenv("KUBECONFIG", filepath.Join(d, "kubeconfig"))
		return suite()
	}
	if c.Dir, err = os.MkdirTemp("", o.TempPrefix); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	down := func() {
		cmd := exec.Command(c.Script, "down", c.Dir)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: teardown: %v\n", o.Name, err)
		}
	}
	t0 := time.Now()
	up := exec.Command(c.Script, append([]string{"up", c.Dir}, o.UpArgs...)...)
	up.Env = append(os.Environ(), "ETCD_VERSION="+EtcdVersion, "OWNER_PID="+strconv.Itoa(os.Getpid()))
	up.Stdout, up.Stderr = os.Stderr, os.Stderr
	err = up.Run()
	fmt.Fprintf(os.Stderr, "%s: cluster bring-up took %s\n", o.Name, time.Since(t0).Round(time.Second))
	if err != nil {
		down()
		fmt.Fprintf(os.Stderr, "%s: bring-up failed: %v (logs in %s/logs)\n", o.Name, err, c.Dir)
		return 1
	}
	os.Setenv("KUBECONFIG", filepath.Join(c.Dir, "kubeconfig"))
	t1 := time.Now()
	code := suite()
	fmt.Fprintf(os.Stderr, "%s: suite took %s\n", o.Name, time.Since(t1).Round(time.Second))
	// down needs the dir's state (the saved kernel settings): tear down first, then remove it.
	down()
	if code == 0 {
		os.RemoveAll(c.Dir)
	} else {
		fmt.Fprintf(os.Stderr, "%s: logs kept in %s/logs\n", o.Name, c.Dir)
	}
	return code
}

// AdminClient is a clientset for the cluster's admin kubeconfig ($KUBECONFIG).
func AdminClient() (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// HelperPodsLeft lists the pods labelled as the plugin's in every namespace, as namespace/name.
func HelperPodsLeft(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: HelperSelector})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	return names, nil
}

// HelperPodsGone waits (up to 90 s) for the pods the plugin deleted to be gone, and fails with
// their names if some are left: a test that leaves a helper pod behind fails the suite.
func HelperPodsGone() error {
	cs, err := AdminClient()
	if err != nil {
		return err
	}
	var left []string
	for deadline := time.Now().Add(90 * time.Second); ; {
		if left, err = HelperPodsLeft(context.Background(), cs); err == nil && len(left) == 0 {
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
	return fmt.Errorf("pods labelled %s left after the tests: %s", HelperSelector, strings.Join(left, ", "))
}
