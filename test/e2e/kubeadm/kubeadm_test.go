package kubeadm_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

var nodes = []string{"cp-1", "cp-2", "cp-3"}

type memberStatus struct {
	Pod        string   `json:"pod"`
	Node       string   `json:"node"`
	Name       string   `json:"name"`
	ID         string   `json:"id"`
	Endpoint   string   `json:"endpoint"`
	Reachable  bool     `json:"reachable"`
	Healthy    bool     `json:"healthy"`
	Leader     bool     `json:"leader"`
	Learner    bool     `json:"learner"`
	Version    string   `json:"version"`
	HasPod     bool     `json:"hasPod"`
	PodReady   bool     `json:"podReady"`
	Image      string   `json:"image"`
	DataDir    string   `json:"dataDir"`
	ClientURLs []string `json:"clientURLs"`
	DaysLeft   *int     `json:"serverCertDaysLeft"`
	Problems   []string `json:"problems"`
}

type clusterStatus struct {
	Transport string `json:"transport"`
	ClusterID string `json:"clusterID"`
	State     string `json:"state"`
	Quorum    struct {
		Voters        int `json:"voters"`
		HealthyVoters int `json:"healthyVoters"`
		Learners      int `json:"learners"`
	} `json:"quorum"`
	Members []memberStatus `json:"members"`
}

func status(t *testing.T, args ...string) (*plugintest.Result, clusterStatus) {
	t.Helper()
	r := runPlugin(t, append([]string{"status", "-o", "json"}, args...)...)
	var st clusterStatus
	if r.Code == 0 || r.Code == 2 {
		plugintest.Decode(t, r, &st)
	}
	return r, st
}

// wantHealthy checks a status of the three kubeadm members as the transport sees them.
func wantHealthy(t *testing.T, tr string, r *plugintest.Result, st clusterStatus) {
	t.Helper()
	plugintest.WantCode(t, r, 0)
	if st.Transport != tr || st.State != "Healthy" || st.Quorum.Voters != 3 || st.Quorum.HealthyVoters != 3 || st.Quorum.Learners != 0 {
		t.Fatalf("want a Healthy 3-voter cluster through %s, got transport %s state %s quorum %+v\n%s", tr, st.Transport, st.State, st.Quorum, r)
	}
	leaders := 0
	for _, n := range nodes {
		var m *memberStatus
		for i := range st.Members {
			if st.Members[i].Node == n {
				m = &st.Members[i]
			}
		}
		if m == nil {
			t.Errorf("%s: no member on node %s\n%s", tr, n, r)
			continue
		}
		if m.Pod != "etcd-"+n || m.Name != n || !m.HasPod || !m.PodReady || !m.Healthy || m.Learner ||
			m.Image != "registry.k8s.io/etcd:"+strings.TrimPrefix(etcdVersion, "v")+"-0" ||
			m.Version != strings.TrimPrefix(etcdVersion, "v") || m.DataDir != "/var/lib/etcd" || len(m.Problems) > 0 {
			t.Errorf("%s: member on %s is %+v, want the healthy voter of kubeadm's pod etcd-%s, image etcd:%s-0, data dir /var/lib/etcd", tr, n, *m, n, etcdVersion)
		}
		if m.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%s: %d leaders, want 1\n%s", tr, leaders, r)
	}
}

// TestDiscoveryExec: the plugin finds kubeadm's etcd static pods (labels, the advertise-client-urls
// annotation, the command of kubeadm's manifest) and talks to every member through exec, i.e.
// etcdctl run by argv in the distroless container.
func TestDiscoveryExec(t *testing.T) {
	plugintest.SkipShort(t)
	// The image really is distroless: no shell and no coreutils to lean on.
	for _, argv := range [][]string{{"sh", "-c", "true"}, {"ls", "/"}} {
		out, err := kubectl(t, append([]string{"-n", "kube-system", "exec", "etcd-cp-1", "--"}, argv...)...)
		if err == nil {
			t.Fatalf("kubectl exec etcd-cp-1 -- %s worked (%q): the etcd image is not distroless", strings.Join(argv, " "), out)
		}
	}
	r, st := status(t, "--transport", "exec")
	wantHealthy(t, "exec", r, st)
	for _, m := range st.Members {
		ann, err := kubectl(t, "-n", "kube-system", "get", "pod", m.Pod, "-o",
			`jsonpath={.metadata.annotations.kubeadm\.kubernetes\.io/etcd\.advertise-client-urls}`)
		if err != nil {
			t.Fatal(err)
		}
		if ann == "" || m.Endpoint != ann && !contains(m.ClientURLs, ann) {
			t.Errorf("member %s: endpoint %s / client URLs %v do not match kubeadm's annotation %q", m.Name, m.Endpoint, m.ClientURLs, ann)
		}
	}

	r = runPlugin(t, "member", "list", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	for _, n := range nodes {
		if !strings.Contains(r.Stdout, "etcd-"+n) {
			t.Errorf("member list does not show pod etcd-%s:\n%s", n, r)
		}
	}
}

// TestPortForward: the same through the CRI's port-forward (containerd's, to the member's
// loopback client port in the node's network namespace) with a control-plane node's certificates.
func TestPortForward(t *testing.T) {
	plugintest.SkipShort(t)
	r, st := status(t, pf("cp-2")...)
	wantHealthy(t, "port-forward", r, st)
	for _, m := range st.Members {
		if m.DaysLeft == nil || *m.DaysLeft < 300 {
			t.Errorf("member %s: serving certificate days left %v, want kubeadm's one year from the TLS handshake", m.Name, m.DaysLeft)
		}
	}
	r = runPlugin(t, append([]string{"member", "list"}, pf("cp-1")...)...)
	plugintest.WantCode(t, r, 0)
}

// TestDoctor: a freshly made kubeadm cluster has no findings, through either transport. The
// perf checks are left out (--perf-window=0): the three nodes share this machine's disk, so a
// slow fsync would be a true finding; TestPerf covers them.
func TestDoctor(t *testing.T) {
	plugintest.SkipShort(t)
	for _, tr := range [][]string{{"--transport", "exec"}, pf("cp-3")} {
		r := runPlugin(t, append([]string{"doctor", "--perf-window=0"}, tr...)...)
		plugintest.WantCode(t, r, 0)
		if !strings.Contains(r.Stdout, "no findings: Healthy: 3 of 3") {
			t.Errorf("doctor %v:\n%s", tr, r)
		}
	}
}

// TestSnapshot: a snapshot saved through port-forward restores with the real etcdutl, and a real
// etcd started on the restored directory serves the cluster's Kubernetes objects; --on-node writes
// one with etcdctl in the distroless pod onto the node's /var/lib/etcd.
func TestSnapshot(t *testing.T) {
	plugintest.SkipShort(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "etcd.db")
	r := runPlugin(t, append([]string{"snapshot", "save", file}, pf("cp-1")...)...)
	plugintest.WantCode(t, r, 0)
	r = runPlugin(t, "snapshot", "status", file)
	plugintest.WantCode(t, r, 0)

	restoreAndServe(t, file, dir)

	// --on-node: the file lands on cp-2's disk (its /var/lib/etcd hostPath).
	r = runPlugin(t, "snapshot", "save", "--on-node", "/var/lib/etcd/kubeadm-e2e.db", "--pod", "etcd-cp-2", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	onHost := filepath.Join(nodeEtcdDir("cp-2"), "kubeadm-e2e.db")
	defer os.Remove(onHost)
	etcdutl(t, "snapshot", "status", onHost, "-w", "json")
}

// TestDefrag: every member is defragmented through exec, followers first and the leader last.
func TestDefrag(t *testing.T) {
	plugintest.SkipShort(t)
	r := runPlugin(t, "defrag", "--force", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	if n := strings.Count(r.Stdout, "done"); n != 3 {
		t.Errorf("defrag: %d members done, want 3\n%s", n, r)
	}
	r, st := status(t, "--transport", "exec")
	wantHealthy(t, "exec", r, st)
}

// restoreAndServe restores the snapshot file with the real etcdutl into dir/restored, starts a
// real etcd on it on loopback ports and checks that it serves the cluster's namespaces under
// /registry; the etcd is stopped when the function returns.
func restoreAndServe(t *testing.T, file, dir string) {
	t.Helper()
	ports := freePorts(t, 2)
	peer, client := "http://127.0.0.1:"+strconv.Itoa(ports[0]), "http://127.0.0.1:"+strconv.Itoa(ports[1])
	data := filepath.Join(dir, "restored")
	etcdutl(t, "snapshot", "restore", file, "--data-dir", data, "--name", "restored",
		"--initial-cluster", "restored="+peer, "--initial-advertise-peer-urls", peer,
		"--bump-revision", "1000000000", "--mark-compacted")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	etcd := exec.CommandContext(ctx, filepath.Join(cluster.EtcdBin, "etcd"), "--name", "restored", "--data-dir", data,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "restored="+peer,
		"--listen-client-urls", client, "--advertise-client-urls", client)
	logf, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	etcd.Stdout, etcd.Stderr = logf, logf
	if err := etcd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = etcd.Wait() }()
	var keys string
	eventually(t, "the restored etcd serving", 30*time.Second, func() error {
		out, err := exec.Command(filepath.Join(cluster.EtcdBin, "etcdctl"), "--endpoints", client,
			"get", "--prefix", "--keys-only", "/registry/namespaces/").CombinedOutput()
		keys = string(out)
		return err
	})
	for _, ns := range []string{"kube-system", "default"} {
		if !strings.Contains(keys, "/registry/namespaces/"+ns) {
			t.Errorf("restored etcd lacks namespace %s; keys:\n%s", ns, keys)
		}
	}
}

func etcdutl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(cluster.EtcdBin, "etcdutl"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("etcdutl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
