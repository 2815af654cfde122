package cmd

import (
	"context"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	fakeetcd "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

func kubeadmPods(t *testing.T, nodes ...string) []runtime.Object {
	data, err := os.ReadFile("../discovery/testdata/kubeadm-etcd-cp-1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []runtime.Object
	for _, n := range nodes {
		var p corev1.Pod
		if err := yaml.Unmarshal([]byte(strings.ReplaceAll(string(data), "cp-1", n)), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, &p)
	}
	return out
}

func fakeCluster() *fakeetcd.Cluster {
	ids := []uint64{0x8e9e05c52164694d, 0x91bc3c398fb3c146, 0xfd422379fda50e48}
	c := &fakeetcd.Cluster{ClusterID: 0xcdf818194e3a8c32, LeaderID: ids[0], PodMember: map[string]uint64{}}
	for i, n := range []string{"cp-1", "cp-2", "cp-3"} {
		c.Members = append(c.Members, &fakeetcd.Member{ID: ids[i], Name: n, Version: "3.6.16", DBSize: 1 << 20, InUse: 1 << 19})
		c.PodMember["etcd-"+n] = ids[i]
	}
	return c
}

// run executes the command line against a fake API and a fake etcd cluster.
func run(t *testing.T, objs []runtime.Object, cl *fakeetcd.Cluster, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cmdutil.NewGlobalOptions()
	g.Client = fake.NewSimpleClientset(objs...)
	g.NewConnector = func(transport.Mode) (transport.Connector, error) { return cl.Connector(), nil }
	root := NewCmdRootWithOptions(g, streams)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	if err != nil {
		if msg := cmdutil.Message(err); msg != "" {
			errOut.WriteString(msg + "\n")
		}
	}
	return out.String(), errOut.String(), cmdutil.ExitCode(err)
}

func TestStatusExitCodes(t *testing.T) {
	pods := kubeadmPods(t, "cp-1", "cp-2", "cp-3")

	out, errOut, code := run(t, pods, fakeCluster(), "status")
	if code != 0 || !strings.Contains(out, "Healthy: 3 of 3 voting members healthy") || errOut != "" {
		t.Errorf("healthy: code %d\n%s\n%s", code, out, errOut)
	}

	cl := fakeCluster()
	cl.Members[2].Down = true
	out, errOut, code = run(t, pods, cl, "status")
	if code != cmdutil.ExitDegraded || !strings.Contains(out, "Degraded") || !strings.Contains(errOut, "error: etcd-cp-3: status: context deadline exceeded") {
		t.Errorf("degraded: code %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "etcd-cp-1") || !strings.Contains(out, "etcd-cp-2") {
		t.Errorf("the healthy members must still be reported:\n%s", out)
	}

	cl.Members[1].Down = true
	_, _, code = run(t, pods, cl, "status")
	if code != cmdutil.ExitQuorumLost {
		t.Errorf("quorum lost: code %d", code)
	}
}

func TestNoPods(t *testing.T) {
	_, errOut, code := run(t, nil, fakeCluster(), "status")
	if code != cmdutil.ExitNoPods {
		t.Errorf("code %d", code)
	}
	want := `error: no etcd pods in namespace "kube-system" match "component=etcd"; use --selector, --pod or -n to say where etcd runs` + "\n"
	if errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	_, errOut, code = run(t, kubeadmPods(t, "cp-1"), fakeCluster(), "member", "list", "-n", "etcd")
	if code != cmdutil.ExitNoPods || !strings.Contains(errOut, `namespace "etcd"`) {
		t.Errorf("-n: code %d %q", code, errOut)
	}
}

func TestBadOutput(t *testing.T) {
	_, errOut, code := run(t, nil, fakeCluster(), "status", "-o", "xml")
	if code != 1 || !strings.HasPrefix(errOut, `error: unable to match a printer suitable for the output format "xml"`) ||
		!strings.Contains(errOut, "See 'kubectl etcd status -h'") {
		t.Errorf("code %d stderr %q", code, errOut)
	}
	_, errOut, code = run(t, nil, fakeCluster(), "status", "--transport", "carrier-pigeon")
	if code != 1 || !strings.Contains(errOut, `invalid --transport "carrier-pigeon"`) {
		t.Errorf("code %d stderr %q", code, errOut)
	}
	_, errOut, code = run(t, nil, fakeCluster(), "status", "--no-such-flag")
	if code != 1 || !strings.Contains(errOut, "unknown flag: --no-such-flag") {
		t.Errorf("code %d stderr %q", code, errOut)
	}
}

func TestMemberListJSONHasHexIDs(t *testing.T) {
	out, _, code := run(t, kubeadmPods(t, "cp-1", "cp-2", "cp-3"), fakeCluster(), "member", "list", "-o", "json")
	if code != 0 || !strings.Contains(out, `"id": "8e9e05c52164694d"`) || !strings.Contains(out, `"pod": "etcd-cp-2"`) {
		t.Errorf("code %d\n%s", code, out)
	}
}

func TestHelpReadsAsKubectlEtcd(t *testing.T) {
	out, _, code := run(t, nil, fakeCluster(), "status", "-h")
	if code != 0 || !strings.Contains(out, "kubectl etcd status [flags]") || !strings.Contains(out, "# Show the status") {
		t.Errorf("help:\n%s", out)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := run(t, nil, fakeCluster(), "version", "-o", "json")
	if code != 0 || !strings.Contains(out, `"version": "v0.0.0-dev"`) {
		t.Errorf("version: %d %s", code, out)
	}
}

// status -o wide shows each member's lifetime WAL fsync p99, read from its /metrics; a member
// whose metrics cannot be read shows "-", and the table (no -o) reads no metrics.
func TestStatusWideFsync(t *testing.T) {
	pods := kubeadmPods(t, "cp-1", "cp-2", "cp-3")
	cl := fakeCluster()
	cl.Members[0].Metrics = []string{`# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.008"} 0
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.016"} 10
etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} 10
etcd_disk_wal_fsync_duration_seconds_sum 0.1
etcd_disk_wal_fsync_duration_seconds_count 10
`}
	out, errOut, code := run(t, pods, cl, "status", "-o", "wide")
	lines := strings.Split(out, "\n")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "FSYNC-P99") ||
		!strings.HasSuffix(strings.TrimSpace(lines[1]), "15.9ms") || !strings.HasSuffix(strings.TrimSpace(lines[2]), "-") {
		t.Errorf("code %d\n%s\n%s", code, out, errOut)
	}
	cl.Calls = nil
	if _, _, code := run(t, pods, cl, "status"); code != 0 || strings.Contains(strings.Join(cl.Calls, ","), "scrape") {
		t.Errorf("table: code %d calls %v", code, cl.Calls)
	}
}
