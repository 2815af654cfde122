package rebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

const (
	id1 uint64 = 0x1111
	id2 uint64 = 0x2222
	id3 uint64 = 0x3333
)

func cluster() *fake.Cluster {
	mk := func(id uint64, n string) *fake.Member {
		return &fake.Member{ID: id, Name: n, Version: "3.6.16", RaftIndex: 1000, DBSize: 1 << 20, InUse: 1 << 20,
			PeerURLs: []string{"https://" + n + ":2380"}, ClientURLs: []string{"https://" + n + ":2379"}}
	}
	return &fake.Cluster{ClusterID: 0xc1, LeaderID: id1,
		Members:   []*fake.Member{mk(id1, "cp-1"), mk(id2, "cp-2"), mk(id3, "cp-3")},
		PodMember: map[string]uint64{"etcd-cp-1": id1, "etcd-cp-2": id2, "etcd-cp-3": id3}}
}

func pods(names ...string) []discovery.Member {
	var out []discovery.Member
	for _, n := range names {
		out = append(out, discovery.Member{Namespace: "kube-system", Pod: "etcd-" + n, Node: n, Name: n, Phase: "Running", Ready: true,
			LocalClientURL: "https://127.0.0.1:2379", DataDir: "/var/lib/etcd",
			ListenClientURLs:         []string{"https://127.0.0.1:2379", "https://" + n + ":2379"},
			ListenPeerURLs:           []string{"https://" + n + ":2380"},
			InitialAdvertisePeerURLs: []string{"https://" + n + ":2380"},
			HostPaths:                map[string]string{"/var/lib/etcd": "/var/lib/etcd"}})
	}
	return out
}

func layout(*discovery.Member) (Layout, error) {
	return NewLayout("/etc/kubernetes/manifests", "/etc/kubernetes/tmp", "/var/lib/etcd", false,
		time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)), nil
}

func plan(t *testing.T, c *fake.Cluster, ps []discovery.Member, arg string) (*Plan, error) {
	t.Helper()
	st := etcd.Status(context.Background(), c.Connector(), ps, etcd.StatusOptions{Timeout: time.Second})
	p, _, err := PlanRebuild(st, ps, arg, layout)
	return p, err
}

func TestPlanRebuild(t *testing.T) {
	for _, tc := range []struct {
		name              string
		mutate            func(c *fake.Cluster, ps *[]discovery.Member)
		arg               string
		err               error
		blocked, refusals string
		inList            bool
	}{
		{name: "a healthy member of three loses fault tolerance: needs --force", arg: "cp-3", inList: true,
			refusals: "could lose 1 more member(s) now and only 0 after"},
		{name: "a down member of three is safe", arg: "cp-3", inList: true,
			mutate: func(c *fake.Cluster, _ *[]discovery.Member) { c.Members[2].Down = true }},
		{name: "a healthy member while another is down would lose quorum", arg: "cp-1", inList: true,
			mutate:   func(c *fake.Cluster, _ *[]discovery.Member) { c.Members[2].Down = true },
			refusals: "lose quorum"},
		{name: "the only healthy voter is never rebuilt", arg: "cp-1", inList: true,
			mutate:  func(c *fake.Cluster, _ *[]discovery.Member) { c.Members[1].Down = true; c.Members[2].Down = true },
			blocked: "only healthy voting member"},
		{name: "a learner is not rebuilt", arg: "cp-3", inList: true,
			mutate: func(c *fake.Cluster, _ *[]discovery.Member) {
				c.Members[2].Learner = true
			},
			blocked: "is a learner"},
		{name: "unknown member", arg: "cp-9", err: etcd.ErrNotFound},
		{name: "a member without a pod has no known node", arg: "cp-3", inList: true,
			mutate: func(c *fake.Cluster, ps *[]discovery.Member) {
				c.Members[2].Down = true
				*ps = (*ps)[:2]
			},
			blocked: "has no etcd pod"},
		{name: "removed by an earlier run: its pod is still there", arg: "cp-3",
			mutate: func(c *fake.Cluster, _ *[]discovery.Member) { c.Members = c.Members[:2] }},
		{name: "another member never started", arg: "cp-3", inList: true,
			mutate: func(c *fake.Cluster, _ *[]discovery.Member) {
				c.Members[2].Down = true
				c.Members = append(c.Members, &fake.Member{ID: 0x4444, Learner: true, PeerURLs: []string{"https://cp-4:2380"}})
			},
			blocked: "never started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ps := cluster(), pods("cp-1", "cp-2", "cp-3")
			if tc.mutate != nil {
				tc.mutate(c, &ps)
			}
			p, err := plan(t, c, ps, tc.arg)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.Blocked, "; "); (tc.blocked == "") != (got == "") || !strings.Contains(got, tc.blocked) {
				t.Errorf("blocked %q, want %q", got, tc.blocked)
			}
			if got := strings.Join(p.Refusals, "; "); (tc.refusals == "") != (got == "") || !strings.Contains(got, tc.refusals) {
				t.Errorf("refusals %q, want %q", got, tc.refusals)
			}
			if p.InList != tc.inList {
				t.Errorf("inList %v", p.InList)
			}
			if len(p.Blocked) == 0 {
				if p.InitialCluster != "cp-1=https://cp-1:2380,cp-2=https://cp-2:2380,cp-3=https://cp-3:2380" {
					t.Errorf("initial cluster %q", p.InitialCluster)
				}
				if len(p.Ports) != 2 || p.Ports[0] != 2379 || p.Ports[1] != 2380 {
					t.Errorf("ports %v", p.Ports)
				}
			}
		})
	}
}

// fakeNode is the node of a rebuild in memory: the manifest directory, the kept copy and the
// data directory, with a failure injected at one operation.
type fakeNode struct {
	manifest   []byte // in the manifest directory (nil: absent)
	kept       []byte
	data       []string // files in member/
	aside      []string
	listening  bool
	failAt     string
	ops        []string
	onInstall  func(data []byte)
	asideTaken bool
}

func (n *fakeNode) op(name string) error {
	n.ops = append(n.ops, name)
	if n.failAt == name {
		return fmt.Errorf("injected failure at %s", name)
	}
	return nil
}

func (n *fakeNode) Manifest(context.Context, string) (string, []byte, error) {
	return "etcd.yaml", n.manifest, n.op("manifest")
}
func (n *fakeNode) Keep(_ context.Context, d []byte) error {
	if err := n.op("keep"); err != nil {
		return err
	}
	n.kept = append([]byte(nil), d...)
	return nil
}
func (n *fakeNode) RemoveManifest(context.Context) error {
	if err := n.op("remove-manifest"); err != nil {
		return err
	}
	n.manifest, n.listening = nil, false
	return nil
}
func (n *fakeNode) InstallManifest(_ context.Context, d []byte, replace bool) error {
	if err := n.op("install"); err != nil {
		return err
	}
	if n.manifest != nil && !replace {
		return errors.New("manifest exists")
	}
	n.manifest = append([]byte(nil), d...)
	if n.onInstall != nil {
		n.onInstall(d)
	}
	return nil
}
func (n *fakeNode) SetAside(context.Context) error {
	if err := n.op("set-aside"); err != nil {
		return err
	}
	n.aside, n.data = n.data, nil
	return nil
}
func (n *fakeNode) CheckData(context.Context) error { return n.op("check-data") }
func (n *fakeNode) HasManifest(context.Context) (bool, error) {
	return n.manifest != nil, n.op("has-manifest")
}
func (n *fakeNode) Discard(context.Context) error {
	if err := n.op("discard"); err != nil {
		return err
	}
	n.data = nil
	return nil
}
func (n *fakeNode) DropAside(context.Context) error { n.asideTaken = true; return n.op("drop-aside") }
func (n *fakeNode) HasWAL(context.Context) (bool, error) {
	for _, f := range n.data {
		if strings.HasSuffix(f, ".wal") {
			return true, nil
		}
	}
	return false, nil
}
func (n *fakeNode) Listening(context.Context, []int) (bool, error) {
	return n.listening, n.op("listening")
}
func (n *fakeNode) Close(context.Context) {}

var kubeadmJoinManifest = []byte(`apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --name=cp-3
    - --data-dir=/var/lib/etcd
    - --initial-cluster=cp-1=https://cp-1:2380,cp-3=https://cp-3:2380
    - --initial-cluster-state=existing
    name: etcd
`)

func run(t *testing.T, c *fake.Cluster, n *fakeNode, arg string) (*Result, error) {
	t.Helper()
	ps := pods("cp-1", "cp-2", "cp-3")
	p, err := plan(t, c, ps, arg)
	if err != nil {
		t.Fatal(err)
	}
	p.ManifestFile = "etcd.yaml"
	// etcd "starts" when a manifest is installed: the join manifest starts the new member (it
	// publishes its name and writes its WAL); every manifest opens the ports.
	n.onInstall = func(d []byte) {
		n.listening = true
		if !bytes.Contains(d, []byte("initial-cluster-state=existing")) || bytes.Equal(d, kubeadmJoinManifest) {
			return
		}
		c.Lock()
		for _, m := range c.Members {
			if m.Name == "" && m.Learner {
				m.Name, m.ClientURLs, m.InSync, m.RaftIndex, m.Version = "cp-3", []string{"https://cp-3:2379"}, true, 1000, "3.6.16"
				c.PodMember["etcd-cp-3"] = m.ID
			}
		}
		c.Unlock()
		n.data = []string{"member/wal/0000000000000000-0000000000000000.wal", "member/snap/db"}
	}
	return Run(context.Background(), p, Options{Conn: c.Connector(), Pods: ps, Node: n, Original: kubeadmJoinManifest,
		StopTimeout: time.Second, StartTimeout: time.Second, PromoteTimeout: time.Second,
		Interval: time.Millisecond, CallTimeout: time.Second, Settle: 5 * time.Millisecond})
}

func newNode() *fakeNode {
	return &fakeNode{manifest: kubeadmJoinManifest, listening: true,
		data: []string{"member/wal/0000000000000000-0000000000000000.wal", "member/snap/db"}}
}

func TestRunRebuilds(t *testing.T) {
	c, n := cluster(), newNode()
	c.Members[2].Down = true
	res, err := run(t, c, n, "cp-3")
	if err != nil {
		t.Fatal(err)
	}
	if res.NewID == etcd.FormatID(id3) || res.Outcome != etcd.OutcomePromoted || res.Name != "cp-3" {
		t.Errorf("result %+v", res)
	}
	if !bytes.Equal(n.manifest, kubeadmJoinManifest) || !bytes.Equal(n.kept, kubeadmJoinManifest) {
		t.Errorf("manifest not back byte for byte:\n%s", n.manifest)
	}
	if len(n.aside) != 2 {
		t.Errorf("old data not set aside: %v", n.aside)
	}
	c.Lock()
	defer c.Unlock()
	var names []string
	for _, m := range c.Members {
		names = append(names, fmt.Sprintf("%s learner=%v", m.Name, m.Learner))
	}
	if got := strings.Join(names, ", "); got != "cp-1 learner=false, cp-2 learner=false, cp-3 learner=false" {
		t.Errorf("members: %s", got)
	}
}

// Before the removal every failure puts the original manifest back and changes nothing; from
// the removal on, the run goes no further and says where everything is.
func TestRunFailurePaths(t *testing.T) {
	for _, tc := range []struct {
		failAt      string
		partial     bool
		manifest    bool // the original manifest is in place afterwards
		dataInPlace bool
		memberCount int
		says        string
	}{
		{failAt: "keep", manifest: true, dataInPlace: true, memberCount: 3, says: "nothing was changed"},
		{failAt: "remove-manifest", manifest: true, dataInPlace: true, memberCount: 3, says: "nothing was changed"},
		{failAt: "listening", manifest: true, dataInPlace: true, memberCount: 3, says: "nothing was changed"},
		{failAt: "set-aside", partial: true, dataInPlace: true, memberCount: 2, says: "is stopped, its manifest kept at"},
		{failAt: "install", partial: true, memberCount: 3, says: "learner 1001 is added"},
	} {
		t.Run(tc.failAt, func(t *testing.T) {
			c, n := cluster(), newNode()
			c.Members[2].Down = true
			n.failAt = tc.failAt
			_, err := run(t, c, n, "cp-3")
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrPartial) != tc.partial || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("partial=%v, want %v, saying %q: %v", errors.Is(err, ErrPartial), tc.partial, tc.says, err)
			}
			if got := bytes.Equal(n.manifest, kubeadmJoinManifest); got != tc.manifest {
				t.Errorf("manifest in place=%v, want %v (%v): %v", got, tc.manifest, n.ops, err)
			}
			if got := len(n.data) == 2; got != tc.dataInPlace {
				t.Errorf("data in place=%v: %v", got, n.data)
			}
			c.Lock()
			if len(c.Members) != tc.memberCount {
				t.Errorf("%d members: %v", len(c.Members), err)
			}
			c.Unlock()
			if tc.partial && !strings.Contains(err.Error(), "Replace a failed member") {
				t.Errorf("error does not say how to finish: %v", err)
			}
		})
	}
}

// A new member that does not start in time is left as it is: the learner stays, etcd keeps
// the join manifest (it may still start), and promote is named as the way to finish.
func TestRunStartFailureGoesNoFurther(t *testing.T) {
	c, n := cluster(), newNode()
	c.Members[2].Down = true
	ps := pods("cp-1", "cp-2", "cp-3")
	p, err := plan(t, c, ps, "cp-3")
	if err != nil {
		t.Fatal(err)
	}
	n.onInstall = func([]byte) {} // etcd never starts
	_, err = Run(context.Background(), p, Options{Conn: c.Connector(), Pods: ps, Node: n, Original: kubeadmJoinManifest,
		StopTimeout: time.Second, StartTimeout: 50 * time.Millisecond, Interval: time.Millisecond, CallTimeout: time.Second, Settle: time.Millisecond})
	if !errors.Is(err, ErrPartial) || !strings.Contains(err.Error(), "runs from the join manifest") || !strings.Contains(err.Error(), "kubectl etcd promote cp-3") {
		t.Fatalf("err %v", err)
	}
	if !bytes.Contains(n.manifest, []byte("--initial-cluster-state=existing")) || !bytes.Contains(n.manifest, []byte("cp-1=https://cp-1:2380,cp-2=https://cp-2:2380,cp-3=https://cp-3:2380")) {
		t.Errorf("join manifest not in place: %s", n.manifest)
	}
	c.Lock()
	defer c.Unlock()
	if len(c.Members) != 3 {
		t.Errorf("the learner was removed: %d members", len(c.Members))
	}
}

// kubeadm's first node's manifest (--initial-cluster-state new) never goes back onto an empty
// data directory, where it would start a new one-member cluster.
func TestRunNoRestoreOnEmptyDataOfFirstNode(t *testing.T) {
	first := bytes.ReplaceAll(kubeadmJoinManifest, []byte("    - --initial-cluster-state=existing\n"), nil)
	c, n := cluster(), newNode()
	c.Members[2].Down = true
	n.manifest = first
	ps := pods("cp-1", "cp-2", "cp-3")
	st := etcd.Status(context.Background(), c.Connector(), ps, etcd.StatusOptions{Timeout: time.Second})
	p, _, err := PlanRebuild(st, ps, "cp-3", func(*discovery.Member) (Layout, error) {
		return NewLayout("/etc/kubernetes/manifests", "/etc/kubernetes/tmp", "/var/lib/etcd", true, time.Now()), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n.failAt = "install"
	_, err = Run(context.Background(), p, Options{Conn: c.Connector(), Pods: ps, Node: n, Original: first,
		StopTimeout: time.Second, StartTimeout: time.Second, Interval: time.Millisecond, CallTimeout: time.Second, Settle: time.Millisecond})
	if !errors.Is(err, ErrPartial) || !strings.Contains(err.Error(), "is stopped") {
		t.Fatalf("err %v", err)
	}
	if n.manifest != nil {
		t.Errorf("the first node's manifest was put back on an empty data directory")
	}
}

func TestListeningIn(t *testing.T) {
	text := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:094B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 0D FA1EAC:094C 0BFA1EAC:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 2 1
`
	if !ListeningIn(text, []int{2379}) {
		t.Error("2379 listens")
	}
	if ListeningIn(text, []int{2380}) {
		t.Error("2380 only has an established connection")
	}
	six := "   0: 00000000000000000000000000000000:094C 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0\n"
	if !ListeningIn(six, []int{2380}) {
		t.Error("tcp6 listener")
	}
}

// Ctrl-C while the learner catches up: nothing is undone (the data directory holds the new
// member and the original manifest is back); the message says that promote finishes it.
func TestRunInterruptedCatchUpLeavesALearner(t *testing.T) {
	c, n := cluster(), newNode()
	c.Members[2].Down = true
	ps := pods("cp-1", "cp-2", "cp-3")
	p, err := plan(t, c, ps, "cp-3")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n.onInstall = func([]byte) {
		n.listening = true
		n.data = []string{"member/wal/0000000000000000-0000000000000000.wal"}
		c.Lock()
		for _, m := range c.Members {
			if m.Name == "" && m.Learner {
				m.Name, m.ClientURLs, m.RaftIndex, m.Version = "cp-3", []string{"https://cp-3:2379"}, 10, "3.6.16" // far behind
				c.PodMember["etcd-cp-3"] = m.ID
			}
		}
		c.Unlock()
	}
	var steps []string
	_, err = Run(ctx, p, Options{Conn: c.Connector(), Pods: ps, Node: n, Original: kubeadmJoinManifest,
		StopTimeout: time.Second, StartTimeout: time.Second, PromoteTimeout: time.Minute,
		Interval: time.Millisecond, CallTimeout: time.Second, Settle: time.Millisecond,
		Progress: func(etcd.PromoteProgress) { cancel() },
		Log:      func(s string) { steps = append(steps, s) }})
	if err == nil || errors.Is(err, ErrPartial) || !strings.Contains(err.Error(), "finish with: kubectl etcd promote cp-3") {
		t.Fatalf("err %v", err)
	}
	if !bytes.Equal(n.manifest, kubeadmJoinManifest) {
		t.Errorf("the original manifest is not in place")
	}
	c.Lock()
	defer c.Unlock()
	learners := 0
	for _, m := range c.Members {
		if m.Learner && m.Name == "cp-3" {
			learners++
		}
	}
	if learners != 1 || len(c.Members) != 3 {
		t.Errorf("want the learner left for promote: %d learners of %d members", learners, len(c.Members))
	}
}
