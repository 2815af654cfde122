package plugin_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// TestReadOnly shares one healthy 3-member cluster between subtests that change nothing in it.
func TestReadOnly(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	t.Logf("cluster: mode %s, etcd %s", c.Mode, c.EtcdVersion)

	t.Run("status exec healthy", func(t *testing.T) { testStatusExecHealthy(t, c) })
	t.Run("member list exec", func(t *testing.T) { testMemberListExec(t, c) })
	t.Run("no etcd pods", func(t *testing.T) { testNoPods(t, c) })
	t.Run("usage and API errors", func(t *testing.T) { testUsageErrors(t, c) })
	t.Run("port-forward agrees with exec", func(t *testing.T) { testTransportsAgree(t, c) })
	t.Run("auto picks port-forward with kubeadm PKI", func(t *testing.T) { testAutoKubeadmDir(t, c) })
	t.Run("metrics-only", func(t *testing.T) { testMetricsOnly(t, c) })
	t.Run("certificate failures", func(t *testing.T) { testCertFailures(t, c) })
}

// checkHealthyStatus asserts the full healthy picture of a 3-member cluster.
func checkHealthyStatus(t *testing.T, c *harness.Cluster, r *plugintest.Result, st *clusterStatus, transport string) {
	t.Helper()
	if st.Transport != transport {
		t.Errorf("transport %q, want %q\n%s", st.Transport, transport, r)
	}
	if st.State != "Healthy" {
		t.Errorf("state %q, want Healthy\n%s", st.State, r)
	}
	if want := (quorum{Voters: 3, HealthyVoters: 3, Quorum: 2, FaultTolerance: 1, FailuresLeft: 1}); st.Quorum != want {
		t.Errorf("quorum %+v, want %+v", st.Quorum, want)
	}
	if len(st.Members) != 3 {
		t.Fatalf("%d members, want 3\n%s", len(st.Members), r)
	}
	leaders := 0
	for i, name := range c.MemberNames() {
		m := st.Members[i]
		if m.Pod != "etcd-"+name || m.Node != name || m.Name != name {
			t.Errorf("members[%d]: pod %q node %q name %q, want etcd-%s, %s, %s (sorted by pod)", i, m.Pod, m.Node, m.Name, name, name, name)
		}
		if want := hexID(c, name); m.ID != want {
			t.Errorf("%s: id %q, want %q", name, m.ID, want)
		}
		if !m.Reachable || !m.Healthy || m.Learner || !m.HasPod || m.PodPhase != "Running" || !m.PodReady {
			t.Errorf("%s: reachable=%v healthy=%v learner=%v hasPod=%v phase=%q ready=%v, want reachable healthy voter with a Running pod",
				name, m.Reachable, m.Healthy, m.Learner, m.HasPod, m.PodPhase, m.PodReady)
		}
		if len(m.Problems) > 0 || m.HealthError != "" {
			t.Errorf("%s: problems %q healthError %q", name, m.Problems, m.HealthError)
		}
		if m.Version != etcdVersion(c) {
			t.Errorf("%s: version %q, want %q", name, m.Version, etcdVersion(c))
		}
		if m.Leader {
			leaders++
			if m.ID != st.Leader {
				t.Errorf("%s is flagged leader but the cluster leader is %q", m.ID, st.Leader)
			}
		}
	}
	if leaders != 1 {
		t.Errorf("%d members flagged leader, want 1\n%s", leaders, r)
	}
	ids := []string{hexID(c, "cp-1"), hexID(c, "cp-2"), hexID(c, "cp-3")}
	if !slices.Contains(ids, st.Leader) {
		t.Errorf("leader %q is not one of the member IDs %v", st.Leader, ids)
	}
	if t.Failed() {
		t.Logf("run:\n%s", r)
	}
}

func testStatusExecHealthy(t *testing.T, c *harness.Cluster) {
	r := plugintest.Run(t, c, "status", "-o", "json", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	if len(r.StderrLines()) != 0 {
		t.Errorf("healthy status wrote to stderr:\n%s", r)
	}
	var st clusterStatus
	plugintest.DecodeStrict(t, r, &st)
	checkHealthyStatus(t, c, r, &st, "exec")
	if st.Downgrade == nil || st.Downgrade.Enabled {
		t.Errorf("a fresh 3.6+ cluster reports downgrade %+v, want reported and not enabled", st.Downgrade)
	}
	for _, m := range st.Members {
		if m.ClusterID == "" || m.ClusterID != st.ClusterID || m.LeaderID != st.Leader {
			t.Errorf("%s: clusterID %q leaderID %q, want %q and %q", m.Name, m.ClusterID, m.LeaderID, st.ClusterID, st.Leader)
		}
		if m.Endpoint != "https://127.0.0.1:2379" {
			t.Errorf("%s: endpoint %q, want kubeadm's loopback client URL", m.Name, m.Endpoint)
		}
		if m.RaftTerm == 0 || m.RaftIndex == 0 || m.DBSize == 0 {
			t.Errorf("%s: raftTerm %d raftIndex %d dbSize %d: exec fills them all", m.Name, m.RaftTerm, m.RaftIndex, m.DBSize)
		}
		// A healthy cluster is read in the two-exec round: the health comes from the statuses,
		// no member is probed itself, so there is no probe latency.
		if !m.HealthInferred || m.HealthTook != "" {
			t.Errorf("%s: healthInferred %v healthTook %q; want the health read from the status and no probe", m.Name, m.HealthInferred, m.HealthTook)
		}
	}

	// The table: one row per pod with its ID, and the summary line.
	r = plugintest.Run(t, c, "status", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stdout, "Healthy: 3 of 3 voting members healthy") {
		t.Errorf("table has no summary line %q\n%s", "Healthy: 3 of 3 voting members healthy", r)
	}
	if !strings.Contains(r.Stdout, "transport exec") {
		t.Errorf("summary does not name the transport\n%s", r)
	}
	for _, name := range c.MemberNames() {
		if !rowHas(r.Stdout, "etcd-"+name, name, hexID(c, name), "healthy") {
			t.Errorf("no table row with etcd-%s, %s, its ID %s and healthy\n%s", name, name, hexID(c, name), r)
		}
	}
	// -v 1 names the transport on stderr; yaml is the same structure.
	r = plugintest.Run(t, c, "status", "-o", "yaml", "--transport", "exec", "-v", "1")
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stderr, "transport: exec") || !strings.Contains(r.Stdout, "transport: exec") || !strings.Contains(r.Stdout, "state: Healthy") {
		t.Errorf("-o yaml -v 1: want transport on stderr and in the YAML\n%s", r)
	}
}

// rowHas reports whether one line of out contains all of the fields as whole words.
func rowHas(out string, fields ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		words := strings.Fields(l)
		ok := true
		for _, f := range fields {
			if !slices.Contains(words, f) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func testMemberListExec(t *testing.T, c *harness.Cluster) {
	r := plugintest.Run(t, c, "member", "list", "-o", "json", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	var ml memberList
	plugintest.DecodeStrict(t, r, &ml)
	if ml.Transport != "exec" || ml.ClusterID == "" || !strings.HasPrefix(ml.From, "etcd-cp-") {
		t.Errorf("transport %q clusterID %q from %q", ml.Transport, ml.ClusterID, ml.From)
	}
	if len(ml.Members) != 3 || len(ml.PodsWithoutMember) != 0 {
		t.Fatalf("%d members, pods without member %v; want 3 and none\n%s", len(ml.Members), ml.PodsWithoutMember, r)
	}
	seen := map[string]bool{}
	for _, m := range ml.Members {
		seen[m.Name] = true
		if want := hexID(c, m.Name); m.ID != want {
			t.Errorf("%s: id %q, want %q", m.Name, m.ID, want)
		}
		if m.Pod != "etcd-"+m.Name || m.Node != m.Name || !m.HasPod || m.PodPhase != "Running" {
			t.Errorf("%s: pod %q node %q hasPod %v phase %q", m.Name, m.Pod, m.Node, m.HasPod, m.PodPhase)
		}
		if !m.Started || m.Learner || len(m.Problems) > 0 {
			t.Errorf("%s: started %v learner %v problems %q", m.Name, m.Started, m.Learner, m.Problems)
		}
		if len(m.ClientURLs) != 1 || m.ClientURLs[0] != c.ClientURL(m.Name) || len(m.PeerURLs) != 1 {
			t.Errorf("%s: clientURLs %v (want [%s]) peerURLs %v", m.Name, m.ClientURLs, c.ClientURL(m.Name), m.PeerURLs)
		}
	}
	for _, name := range c.MemberNames() {
		if !seen[name] {
			t.Errorf("member %s missing", name)
		}
	}
	// status agrees on the cluster ID.
	rs := plugintest.Run(t, c, "status", "-o", "json", "--transport", "exec")
	var st clusterStatus
	plugintest.DecodeStrict(t, rs, &st)
	if st.ClusterID != ml.ClusterID {
		t.Errorf("status clusterID %q, member list clusterID %q", st.ClusterID, ml.ClusterID)
	}

	r = plugintest.Run(t, c, "member", "list", "--transport", "exec")
	plugintest.WantCode(t, r, 0)
	for _, name := range c.MemberNames() {
		if !rowHas(r.Stdout, hexID(c, name), name, "started", "etcd-"+name) {
			t.Errorf("no table row with %s %s started etcd-%s\n%s", hexID(c, name), name, name, r)
		}
	}
	if t.Failed() {
		t.Logf("run:\n%s", r)
	}
}

func testNoPods(t *testing.T, c *harness.Cluster) {
	for _, tc := range []struct {
		args       []string
		ns, labels string
	}{
		{[]string{"status", "-l", "component=nothing"}, "kube-system", "component=nothing"},
		{[]string{"status", "-n", "default"}, "default", "component=etcd"},
		{[]string{"member", "list", "-l", "component=nothing"}, "kube-system", "component=nothing"},
	} {
		r := plugintest.Run(t, c, tc.args...)
		plugintest.WantCode(t, r, 4)
		lines := r.StderrLines()
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") ||
			!strings.Contains(lines[0], `"`+tc.ns+`"`) || !strings.Contains(lines[0], `"`+tc.labels+`"`) {
			t.Errorf("want one error line naming namespace %q and selector %q\n%s", tc.ns, tc.labels, r)
		}
		if r.Stdout != "" {
			t.Errorf("stdout not empty\n%s", r)
		}
	}
}

func testUsageErrors(t *testing.T, c *harness.Cluster) {
	for _, args := range [][]string{
		{"status", "-o", "bogus"},
		{"member", "list", "-o", "bogus"},
		{"status", "--transport", "carrier-pigeon"},
	} {
		r := plugintest.Run(t, c, args...)
		plugintest.WantCode(t, r, 1)
		lines := r.StderrLines()
		cmdPath := "kubectl etcd " + strings.Join(args[:len(args)-2], " ")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], args[len(args)-1]) ||
			lines[1] != "See '"+cmdPath+" -h' for help and examples" {
			t.Errorf("want one error line naming %q and the hint to '%s -h'\n%s", args[len(args)-1], cmdPath, r)
		}
		if r.Stdout != "" {
			t.Errorf("stdout not empty\n%s", r)
		}
	}
	// The API server is unreachable: one line, fast.
	for _, args := range [][]string{
		{"status", "--server", "https://127.0.0.1:1"},
		{"member", "list", "--server", "https://127.0.0.1:1"},
	} {
		r := plugintest.Run(t, c, args...)
		plugintest.WantCode(t, r, 1)
		lines := r.StderrLines()
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], "127.0.0.1:1") {
			t.Errorf("want one error line naming the API server address\n%s", r)
		}
		if r.Dur > 10e9 {
			t.Errorf("took %s to notice a refused API connection", r.Dur)
		}
	}
}

func testTransportsAgree(t *testing.T, c *harness.Cluster) {
	pf := append([]string{"--transport", "port-forward"}, plugintest.PFCertArgs(c)...)

	rExec := plugintest.Run(t, c, "status", "-o", "json", "--transport", "exec")
	plugintest.WantCode(t, rExec, 0)
	rPF := plugintest.Run(t, c, append([]string{"status", "-o", "json", "-v", "1"}, pf...)...)
	plugintest.WantCode(t, rPF, 0)
	var stExec, stPF clusterStatus
	plugintest.DecodeStrict(t, rExec, &stExec)
	plugintest.DecodeStrict(t, rPF, &stPF)
	checkHealthyStatus(t, c, rPF, &stPF, "port-forward")
	if !strings.Contains(rPF.Stderr, "transport: port-forward") || !strings.Contains(rPF.Stderr, filepath.Join(c.PKIDir, "healthcheck-client.crt")) {
		t.Errorf("-v 1 does not say port-forward with the flag certificates\n%s", rPF)
	}
	for _, m := range stPF.Members {
		if m.ServerCertNotAfter == "" || m.ServerCertDaysLeft == nil || *m.ServerCertDaysLeft < 300 {
			t.Errorf("%s: serverCertNotAfter %q daysLeft %v: port-forward reads the serving certificate (issued for a year)", m.Name, m.ServerCertNotAfter, m.ServerCertDaysLeft)
		}
	}
	if a, b := stExec.stable(), stPF.stable(); !reflect.DeepEqual(a, b) {
		t.Errorf("status differs between transports (volatile fields dropped)\nexec:\n%s\nport-forward:\n%s", mustJSON(a), mustJSON(b))
	}

	rExec = plugintest.Run(t, c, "member", "list", "-o", "json", "--transport", "exec")
	plugintest.WantCode(t, rExec, 0)
	rPF = plugintest.Run(t, c, append([]string{"member", "list", "-o", "json"}, pf...)...)
	plugintest.WantCode(t, rPF, 0)
	var mlExec, mlPF memberList
	plugintest.DecodeStrict(t, rExec, &mlExec)
	plugintest.DecodeStrict(t, rPF, &mlPF)
	if mlPF.Transport != "port-forward" {
		t.Errorf("member list transport %q, want port-forward", mlPF.Transport)
	}
	if a, b := mlExec.stable(), mlPF.stable(); !reflect.DeepEqual(a, b) {
		t.Errorf("member list differs between transports\nexec:\n%s\nport-forward:\n%s", mustJSON(a), mustJSON(b))
	}
}

func testAutoKubeadmDir(t *testing.T, c *harness.Cluster) {
	r := plugintest.Run(t, c, "status", "-o", "json", "--transport", "auto", "--kubeadm-pki-dir", c.PKIDir, "-v", "1")
	plugintest.WantCode(t, r, 0)
	var st clusterStatus
	plugintest.DecodeStrict(t, r, &st)
	checkHealthyStatus(t, c, r, &st, "port-forward")
	if !strings.Contains(r.Stderr, "transport: port-forward") || !strings.Contains(r.Stderr, "kubeadm") ||
		!strings.Contains(r.Stderr, filepath.Join(c.PKIDir, "healthcheck-client.key")) {
		t.Errorf("-v 1 does not say port-forward with the kubeadm files of %s\n%s", c.PKIDir, r)
	}

	// Without any certificate auto falls back to exec (the admin may exec).
	r = plugintest.Run(t, c, "status", "-o", "json", "-v", "1")
	plugintest.WantCode(t, r, 0)
	plugintest.DecodeStrict(t, r, &st)
	if st.Transport != "exec" || !strings.Contains(r.Stderr, "transport: exec") {
		t.Errorf("auto without certificates as admin: want exec\n%s", r)
	}

	// member list follows the same choice.
	r = plugintest.Run(t, c, "member", "list", "-o", "json", "--kubeadm-pki-dir", c.PKIDir)
	plugintest.WantCode(t, r, 0)
	var ml memberList
	plugintest.DecodeStrict(t, r, &ml)
	if ml.Transport != "port-forward" || len(ml.Members) != 3 {
		t.Errorf("member list with --kubeadm-pki-dir: transport %q, %d members; want port-forward, 3\n%s", ml.Transport, len(ml.Members), r)
	}
}

// checkMetricsOnly asserts a healthy metrics-only status.
func checkMetricsOnly(t *testing.T, c *harness.Cluster, r *plugintest.Result) {
	t.Helper()
	plugintest.WantCode(t, r, 0)
	var st clusterStatus
	plugintest.DecodeStrict(t, r, &st)
	if st.Transport != "metrics-only" || st.State != "Healthy" {
		t.Errorf("transport %q state %q, want metrics-only Healthy\n%s", st.Transport, st.State, r)
	}
	if len(st.Unavailable) == 0 {
		t.Errorf("unavailable is empty in metrics-only mode\n%s", r)
	}
	if want := (quorum{Voters: 3, HealthyVoters: 3, Quorum: 2, FaultTolerance: 1, FailuresLeft: 1}); st.Quorum != want {
		t.Errorf("quorum %+v, want %+v", st.Quorum, want)
	}
	if len(st.Members) != 3 {
		t.Fatalf("%d members, want 3\n%s", len(st.Members), r)
	}
	leaders := 0
	for _, name := range c.MemberNames() {
		m := st.member(t, name)
		if !m.Healthy || !m.Reachable || m.Version != etcdVersion(c) || m.Node != name || len(m.Problems) > 0 {
			t.Errorf("%s: healthy %v reachable %v version %q node %q problems %q; want healthy, version %s",
				name, m.Healthy, m.Reachable, m.Version, m.Node, m.Problems, etcdVersion(c))
		}
		if m.ID != hexID(c, name) {
			t.Errorf("%s: id %q, want %q", name, m.ID, hexID(c, name))
		}
		if m.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders in metrics-only mode, want 1", leaders)
	}
	warn := "warning: transport metrics-only cannot fill: " + strings.Join(st.Unavailable, ", ")
	if !strings.Contains(r.Stderr, warn) {
		t.Errorf("stderr lacks %q\n%s", warn, r)
	}
	if len(r.ErrorLines()) != 0 {
		t.Errorf("error lines on stderr\n%s", r)
	}
	if t.Failed() {
		t.Logf("run:\n%s", r)
	}
}

func testMetricsOnly(t *testing.T, c *harness.Cluster) {
	r := plugintest.Run(t, c, "status", "-o", "json", "--transport", "metrics-only")
	checkMetricsOnly(t, c, r)

	// auto as a user who may list pods and port-forward but not exec, with no certificates:
	// metrics-only.
	ctx := t.Context()
	for _, args := range [][]string{
		{"create", "role", "e2e-etcd-viewer", "-n", c.Namespace, "--verb=get,list", "--resource=pods"},
		{"create", "role", "e2e-etcd-pf", "-n", c.Namespace, "--verb=get,create", "--resource=pods/portforward"},
		{"create", "rolebinding", "e2e-etcd-viewer", "-n", c.Namespace, "--role=e2e-etcd-viewer", "--user=e2e-viewer"},
		{"create", "rolebinding", "e2e-etcd-pf", "-n", c.Namespace, "--role=e2e-etcd-pf", "--user=e2e-viewer"},
	} {
		if _, stderr, err := c.Kubectl(ctx, args...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
	}
	r = plugintest.Run(t, c, "status", "-o", "json", "--as", "e2e-viewer", "-v", "1")
	checkMetricsOnly(t, c, r)
	if !strings.Contains(r.Stderr, "RBAC does not allow create pods/exec") || !strings.Contains(r.Stderr, "transport: metrics-only") {
		t.Errorf("-v 1 does not explain the choice of metrics-only\n%s", r)
	}
	// The same user with --transport exec is refused by RBAC on every member: a setup problem,
	// exit 1 (not 3, which would tell a script that quorum is lost).
	r = plugintest.Run(t, c, "status", "-o", "json", "--as", "e2e-viewer", "--transport", "exec")
	if r.Code != 1 || !strings.Contains(r.Stderr, `cannot create resource "pods/exec"`) || !strings.Contains(r.Stderr, "RBAC denied create pods/exec") {
		t.Errorf("exec without pods/exec: want exit 1 naming the pods/exec permission\n%s", r)
	}

}
