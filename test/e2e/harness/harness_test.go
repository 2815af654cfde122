package harness_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
)

// These tests prove the harness with plain tools (kubectl, etcdctl, clientv3) before any plugin
// test relies on it.

type endpointStatus struct {
	Endpoint string
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
		} `json:"header"`
		Version   string `json:"version"`
		IsLearner bool   `json:"isLearner"`
	}
}

// execStatus runs `etcdctl endpoint status -w json` inside pod etcd-<name> via kubectl exec.
func execStatus(t *testing.T, ctx context.Context, c *harness.Cluster, name string) endpointStatus {
	t.Helper()
	args := append([]string{"exec", "-n", c.Namespace, "etcd-" + name, "-c", "etcd", "--", "etcdctl"}, c.PodEtcdctlFlags(name)...)
	out, stderr, err := c.Kubectl(ctx, append(args, "endpoint", "status", "-w", "json")...)
	if err != nil {
		t.Fatalf("exec etcdctl endpoint status in etcd-%s: %v\n%s", name, err, stderr)
	}
	var st []endpointStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		t.Fatalf("endpoint status of %s: %v: %q", name, err, out)
	}
	return st[0]
}

func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: needs the binaries from hack/e2e-tools.sh")
	}
	t0 := time.Now()
	c := harness.Start(t, harness.Options{})
	t.Logf("cluster started in %.1fs (mode %s, etcd %s)", time.Since(t0).Seconds(), c.Mode, c.EtcdVersion)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl := c.Client(t)

	if got := c.MemberNames(); !slices.Equal(got, []string{"cp-1", "cp-2", "cp-3"}) {
		t.Fatalf("MemberNames = %v", got)
	}

	t.Run("members and pods", func(t *testing.T) {
		ml, err := cl.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ml.Members) != 3 {
			t.Fatalf("want 3 members, got %d", len(ml.Members))
		}
		for _, m := range ml.Members {
			if m.IsLearner || len(m.ClientURLs) != 1 || m.ClientURLs[0] != c.ClientURL(m.Name) {
				t.Errorf("member %s: learner=%v clientURLs=%v, want %s", m.Name, m.IsLearner, m.ClientURLs, c.ClientURL(m.Name))
			}
		}
		out, stderr, err := c.Kubectl(ctx, "get", "pods", "-n", "kube-system", "-l", "component=etcd,tier=control-plane", "-o", "json")
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		var pods struct {
			Items []struct {
				Metadata struct {
					Name        string
					Annotations map[string]string
				}
				Spec struct {
					NodeName    string
					HostNetwork bool
					Containers  []struct {
						Name    string
						Command []string
					}
				}
				Status struct{ Phase string }
			}
		}
		if err := json.Unmarshal([]byte(out), &pods); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) != 3 {
			t.Fatalf("want 3 etcd pods, got %d", len(pods.Items))
		}
		for _, p := range pods.Items {
			node := strings.TrimPrefix(p.Metadata.Name, "etcd-")
			cmd := p.Spec.Containers[0].Command
			if p.Spec.NodeName != node || !p.Spec.HostNetwork || p.Spec.Containers[0].Name != "etcd" || p.Status.Phase != "Running" {
				t.Errorf("pod %s: node %q hostNetwork %v container %q phase %s", p.Metadata.Name, p.Spec.NodeName, p.Spec.HostNetwork, p.Spec.Containers[0].Name, p.Status.Phase)
			}
			if p.Metadata.Annotations["kubeadm.kubernetes.io/etcd.advertise-client-urls"] != c.ClientURL(node) || p.Metadata.Annotations["kubernetes.io/config.mirror"] == "" {
				t.Errorf("pod %s annotations: %v", p.Metadata.Name, p.Metadata.Annotations)
			}
			if cmd[0] != "etcd" || !slices.Contains(cmd, "--name="+node) || !slices.Contains(cmd, "--advertise-client-urls="+c.ClientURL(node)) {
				t.Errorf("pod %s command: %v", p.Metadata.Name, cmd)
			}
			if c.Mode == harness.ModeNetns && !slices.Contains(cmd, "--listen-client-urls=https://127.0.0.1:2379,"+c.ClientURL(node)) {
				t.Errorf("pod %s: not kubeadm's listen-client-urls: %v", p.Metadata.Name, cmd)
			}
		}
	})

	t.Run("exec etcdctl in each pod", func(t *testing.T) {
		for _, name := range c.MemberNames() {
			st := execStatus(t, ctx, c, name)
			if st.Status.Header.MemberID == 0 || st.Status.Header.MemberID != c.MemberID(name) {
				t.Errorf("exec in etcd-%s reached member %x, want %x", name, st.Status.Header.MemberID, c.MemberID(name))
			}
			if "v"+st.Status.Version != c.EtcdVersion {
				t.Errorf("etcd-%s runs %s, want %s", name, st.Status.Version, c.EtcdVersion)
			}
		}
	})

	t.Run("exec exit code propagates", func(t *testing.T) {
		_, stderr, err := c.Kubectl(ctx, "exec", "-n", "kube-system", "etcd-cp-1", "-c", "etcd", "--", "etcdctl", "--no-such-flag")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(stderr, "command terminated with exit code") {
			t.Errorf("bad flag: err=%v stderr=%q", err, stderr)
		}
		_, stderr, err = c.Kubectl(ctx, "exec", "-n", "kube-system", "etcd-cp-2", "-c", "etcd", "--", "sh", "-c", "exit 7")
		if !errors.As(err, &ee) || ee.ExitCode() != 7 || !strings.Contains(stderr, "command terminated with exit code 7") {
			t.Errorf("exit 7: err=%v stderr=%q", err, stderr)
		}
		// stdin EOF reaches the command (exec -i)
		cmd := exec.CommandContext(ctx, c.KubectlBin, "exec", "-i", "-n", "kube-system", "etcd-cp-3", "-c", "etcd", "--", "wc", "-c")
		cmd.Env = c.Env()
		cmd.Stdin = strings.NewReader("hello")
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != "5" {
			t.Errorf("exec -i wc -c: %v %q", err, out)
		}
	})

	t.Run("port-forward 2379 and 2381", func(t *testing.T) {
		pfCtx, pfCancel := context.WithCancel(ctx)
		defer pfCancel()
		cmd := exec.CommandContext(pfCtx, c.KubectlBin, "port-forward", "-n", "kube-system", "pod/etcd-cp-1", ":2379", ":2381")
		cmd.Env = c.Env()
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { pfCancel(); _ = cmd.Wait() }()
		local := map[string]string{}
		re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)`)
		sc := bufio.NewScanner(stdout)
		for len(local) < 2 && sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				local[m[2]] = m[1]
			}
		}
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
		if len(local) < 2 {
			t.Fatalf("port-forward did not report both ports: %v", local)
		}
		pcl, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://127.0.0.1:" + local["2379"]}, TLS: tlsOf(t, c), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer pcl.Close()
		st, err := pcl.Status(ctx, "https://127.0.0.1:"+local["2379"])
		if err != nil {
			t.Fatalf("Status through port-forward: %v", err)
		}
		if st.Header.MemberId != c.MemberID("cp-1") {
			t.Errorf("port-forward reached member %x, want cp-1 %x", st.Header.MemberId, c.MemberID("cp-1"))
		}
		resp, err := http.Get("http://127.0.0.1:" + local["2381"] + "/health")
		if err != nil {
			t.Fatalf("GET /health through port-forward: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"health":"true"`) {
			t.Errorf("/health: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("Etcdctl and Kubectl helpers", func(t *testing.T) {
		out, stderr, err := c.Etcdctl(ctx, "endpoint", "health", "-w", "json")
		if err != nil || strings.Count(out, `"health":true`) != 3 {
			t.Errorf("etcdctl endpoint health: %v %s %s", err, out, stderr)
		}
		out, stderr, err = c.Kubectl(ctx, "get", "nodes", "-o", "name")
		if err != nil || strings.Fields(out) == nil || len(strings.Fields(out)) != 3 {
			t.Errorf("kubectl get nodes: %v %q %s", err, out, stderr)
		}
	})

	t.Run("stop, kill and start members", func(t *testing.T) {
		for _, kill := range []bool{false, true} {
			name := "cp-3"
			stop := c.StopMember
			if kill {
				name, stop = "cp-2", c.KillMember
			}
			if err := stop(name); err != nil {
				t.Fatal(err)
			}
			if c.MemberRunning(name) {
				t.Fatalf("%s still running", name)
			}
			sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := cl.Status(sctx, c.ClientURL(name))
			scancel()
			if err == nil {
				t.Errorf("%s answers Status after stop", name)
			}
			if _, stderr, err := c.Kubectl(ctx, "get", "pod", "-n", "kube-system", "etcd-"+name); err != nil {
				t.Errorf("pod of stopped member: %v %s", err, stderr)
			}
			if _, err := cl.Put(ctx, fmt.Sprintf("/harness/while-%s-down", name), "x"); err != nil {
				t.Errorf("2 of 3 members should still have quorum: %v", err)
			}
			if err := c.StartMember(name); err != nil {
				t.Fatal(err)
			}
			if st, err := cl.Status(ctx, c.ClientURL(name)); err != nil || st.Header.MemberId != c.MemberID(name) {
				t.Errorf("after restart: %v", err)
			}
		}
	})

	t.Run("add learner", func(t *testing.T) {
		id, err := c.AddLearner(ctx, "cp-4")
		if err != nil {
			t.Fatal(err)
		}
		ml, err := cl.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range ml.Members {
			if m.ID == id {
				found = true
				if !m.IsLearner || m.Name != "cp-4" || len(m.ClientURLs) == 0 || m.ClientURLs[0] != c.ClientURL("cp-4") {
					t.Errorf("cp-4 member: %+v", m)
				}
			}
		}
		if !found {
			t.Fatalf("learner %x not in member list", id)
		}
		out, _, err := c.Kubectl(ctx, "get", "pod", "-n", "kube-system", "etcd-cp-4", "-o", "jsonpath={.status.phase}")
		if err != nil || out != "Running" {
			t.Errorf("pod etcd-cp-4 phase %q: %v", out, err)
		}
		if st := execStatus(t, ctx, c, "cp-4"); st.Status.Header.MemberID != id || !st.Status.IsLearner {
			t.Errorf("exec in etcd-cp-4: member %x learner %v, want %x learner", st.Status.Header.MemberID, st.Status.IsLearner, id)
		}
		// promote (retry until the learner has caught up), so that another learner can be added
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := cl.MemberPromote(ctx, id)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("promote cp-4: %v", err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	t.Run("learner never started, then started", func(t *testing.T) {
		id, err := c.AddMember(ctx, "cp-5", harness.AddOptions{NoStart: true})
		if err != nil {
			t.Fatal(err)
		}
		ml, err := cl.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ml.Members {
			if m.ID == id && (m.Name != "" || len(m.ClientURLs) != 0 || !m.IsLearner) {
				t.Errorf("unstarted learner should have no name and client URLs: %+v", m)
			}
		}
		if c.MemberRunning("cp-5") {
			t.Error("cp-5 running")
		}
		out, _, err := c.Kubectl(ctx, "get", "pod", "-n", "kube-system", "etcd-cp-5", "-o", "jsonpath={.spec.containers[0].command}")
		if err != nil || !strings.Contains(out, "--initial-cluster-state=existing") || !strings.Contains(out, "cp-5=") {
			t.Errorf("pod etcd-cp-5 command %q: %v", out, err)
		}
		if err := c.StartMember("cp-5"); err != nil {
			t.Fatal(err)
		}
		ml, err = cl.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ml.Members {
			if m.ID == id && m.Name != "cp-5" {
				t.Errorf("started learner: %+v", m)
			}
		}
	})

	t.Run("delete pod keeps member", func(t *testing.T) {
		if err := c.DeletePod("cp-5"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Kubectl(ctx, "get", "pod", "-n", "kube-system", "etcd-cp-5"); err == nil {
			t.Error("pod etcd-cp-5 still exists")
		}
		if _, err := cl.Status(ctx, c.ClientURL("cp-5")); err != nil {
			t.Errorf("member cp-5 should keep running: %v", err)
		}
	})

	t.Run("fill", func(t *testing.T) {
		before, err := cl.Status(ctx, c.ClientURL("cp-1"))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Fill(ctx, 8); err != nil {
			t.Fatal(err)
		}
		after, err := cl.Status(ctx, c.ClientURL("cp-1"))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("fill 8 MiB: %v, db size %d -> %d bytes", time.Since(start).Round(time.Millisecond), before.DbSize, after.DbSize)
		resp, err := cl.Get(ctx, "/fill/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if resp.Count != 8*16 {
			t.Errorf("want %d keys under /fill/, got %d", 8*16, resp.Count)
		}
		one, err := cl.Get(ctx, "/fill/00000000")
		if err != nil || len(one.Kvs) != 1 || len(one.Kvs[0].Value) != 64<<10 {
			t.Errorf("fill value: %v", err)
		}
	})
}

func TestQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: needs the binaries from hack/e2e-tools.sh")
	}
	const quota = 16 << 20
	c := harness.Start(t, harness.Options{Members: 1, QuotaBackendBytes: quota})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, _, err := c.Kubectl(ctx, "get", "pod", "-n", "kube-system", "etcd-cp-1", "-o", "jsonpath={.spec.containers[0].command}")
	if err != nil || !strings.Contains(out, fmt.Sprintf("--quota-backend-bytes=%d", quota)) {
		t.Errorf("pod command %q: %v", out, err)
	}
	err = c.Fill(ctx, 32)
	if err == nil || !strings.Contains(err.Error(), "database space exceeded") {
		t.Fatalf("filling past the quota: %v", err)
	}
	out, _, err = c.Etcdctl(ctx, "alarm", "list")
	if err != nil || !strings.Contains(out, "NOSPACE") {
		t.Errorf("alarm list: %q %v", out, err)
	}
}
