package etcd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

// kubeadmPods are pods with kubeadm's mounts: the data dir and the PKI, both hostPaths.
func kubeadmPods(names ...string) []discovery.Member {
	ps := pods(names...)
	for i := range ps {
		ps[i].DataDir = "/var/lib/etcd"
		ps[i].HostPaths = map[string]string{"/var/lib/etcd": "/var/lib/etcd", "/etc/kubernetes/pki/etcd": "/etc/kubernetes/pki/etcd"}
	}
	return ps
}

func TestOnNodePath(t *testing.T) {
	m := &kubeadmPods("cp-1")[0]
	cases := []struct {
		in, inPod, onNode, refused string
	}{
		{in: "/var/lib/etcd/snapshot.db", inPod: "/var/lib/etcd/snapshot.db", onNode: "/var/lib/etcd/snapshot.db"},
		{in: "/var/lib/etcd//backups/./s.db", inPod: "/var/lib/etcd/backups/s.db", onNode: "/var/lib/etcd/backups/s.db"},
		// kubeadm mounts the PKI read-write: the CA key must never be a snapshot target.
		{in: "/etc/kubernetes/pki/etcd/ca.key", refused: "not a file in the data directory's hostPath mount /var/lib/etcd"},
		{in: "/var/lib/etcd/../../../etc/kubernetes/pki/etcd/ca.key", refused: "/etc/kubernetes/pki/etcd/ca.key is not a file"},
		{in: "/var/lib/etcd/member/snap/db", refused: "inside the member's live data"},
		{in: "/var/lib/etcd/x/../member", refused: "inside the member's live data"},
		{in: "/var/lib/etcd", refused: "not a file in the data directory's hostPath mount"},
		{in: "/tmp/s.db", refused: "not a file in the data directory's hostPath mount"},
		{in: "var/lib/etcd/s.db", refused: "must be absolute"},
		{in: "/var/lib/etcd/s.db.part", refused: "ends in .part"},
	}
	for _, c := range cases {
		inPod, onNode, err := OnNodePath(m, c.in)
		if c.refused != "" {
			if !errors.Is(err, ErrBadPath) || !strings.Contains(err.Error(), c.refused) {
				t.Errorf("%s: want a refusal saying %q, got %q, %q, %v", c.in, c.refused, inPod, onNode, err)
			}
			continue
		}
		if err != nil || inPod != c.inPod || onNode != c.onNode {
			t.Errorf("%s: got %q, %q, %v; want %q, %q", c.in, inPod, onNode, err, c.inPod, c.onNode)
		}
	}
	noData := *m
	noData.DataDir = ""
	if _, _, err := OnNodePath(&noData, "/var/lib/etcd/s.db"); !errors.Is(err, ErrBadPath) {
		t.Errorf("no --data-dir: %v", err)
	}
	sub := *m
	sub.HostPaths = map[string]string{"/var/lib/etcd": "/mnt/disk1/etcd"}
	if _, onNode, err := OnNodePath(&sub, "/var/lib/etcd/s.db"); err != nil || onNode != "/mnt/disk1/etcd/s.db" {
		t.Errorf("mapped mount: %q %v", onNode, err)
	}
}

// nodeDisk is the node's disk as etcdctl and etcdutl in the pod see it.
type nodeDisk struct {
	c     *fake.Cluster
	files map[string]string // path -> "db", "corrupt" or "dir"
	calls []string
	// lockHeld records, for each save, whether the member lock was held.
	lockHeld []bool
	// connects counts the sessions opened per pod.
	connects map[string]int
	// corruptSaves makes every save write a file that does not verify.
	corruptSaves bool
}

type nodeConnector struct {
	transport.Connector
	d *nodeDisk
}

func (n *nodeConnector) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	n.d.c.Lock()
	if n.d.connects == nil {
		n.d.connects = map[string]int{}
	}
	n.d.connects[m.Pod]++
	n.d.c.Unlock()
	s, err := n.Connector.Connect(ctx, m)
	if err != nil {
		return nil, err
	}
	return &nodeSession{Session: s, d: n.d}, nil
}

type nodeSession struct {
	transport.Session
	d *nodeDisk
}

type failed string

func (f failed) Error() string    { return string(f) }
func (f failed) ToolFailed() bool { return true }

func (s *nodeSession) SnapshotFileStatus(_ context.Context, p string) (*transport.SnapshotFileStatus, error) {
	s.d.calls = append(s.d.calls, "status "+p)
	switch s.d.files[p] {
	case "":
		return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	case "db":
		return &transport.SnapshotFileStatus{Hash: 0xabcd, Revision: 42, TotalKeys: 7, TotalSize: 1 << 20, Version: "3.6.0"}, nil
	}
	return nil, failed("etcdutl snapshot status exited with code 1: invalid database")
}

func (s *nodeSession) SaveSnapshotFile(_ context.Context, p string) error {
	s.d.calls = append(s.d.calls, "save "+p)
	s.d.c.Lock()
	held := len(s.d.c.Locks) > 0
	s.d.c.Unlock()
	s.d.lockHeld = append(s.d.lockHeld, held)
	s.d.files[p] = "db"
	if s.d.corruptSaves {
		s.d.files[p] = "corrupt"
	}
	return nil
}

func (s *nodeSession) VerifySnapshotFile(_ context.Context, p, scratch string) (string, error) {
	s.d.calls = append(s.d.calls, "verify "+p+" in "+scratch)
	if s.d.files[p] == "corrupt" {
		return "", fmt.Errorf("%w: expected sha256 [1 2], got [3 4]", transport.ErrHashMismatch)
	}
	return "", nil
}

func onNodeSetup(files map[string]string) (*nodeDisk, transport.Connector) {
	c := threeMembers()
	d := &nodeDisk{c: c, files: files}
	return d, &nodeConnector{Connector: c.Connector(), d: d}
}

func TestSaveSnapshotOnNode(t *testing.T) {
	d, conn := onNodeSetup(map[string]string{})
	res, err := SaveSnapshotOnNode(context.Background(), conn, kubeadmPods("cp-1", "cp-2", "cp-3"),
		OnNodeOptions{Path: "/var/lib/etcd/./snap.db", Member: "cp-2"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "/var/lib/etcd/snap.db" || res.HostPath != "/var/lib/etcd/snap.db" || res.Trailer != "valid" || res.Revision != 42 || res.Node != "cp-2" {
		t.Errorf("result %+v", res)
	}
	// The cleaned path is checked, given to etcdctl and verified; the lock is held meanwhile.
	calls := strings.Join(d.calls, "\n")
	for _, want := range []string{"status /var/lib/etcd/snap.db\n", "status /var/lib/etcd/snap.db.part\n", "save /var/lib/etcd/snap.db\n", "verify /var/lib/etcd/snap.db in /var/lib/etcd/.kubectl-etcd-verify-"} {
		if !strings.Contains(calls, want) {
			t.Errorf("calls lack %q:\n%s", want, calls)
		}
	}
	if len(d.lockHeld) != 1 || !d.lockHeld[0] {
		t.Errorf("the member lock was not held during the save: %v", d.lockHeld)
	}
	if len(d.c.Locks) != 0 {
		t.Errorf("lock not released: %v", d.c.Locks)
	}
}

func TestSaveSnapshotOnNodeRefusals(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		path  string
		force bool
		is    error
		want  string
	}{
		{"existing file", map[string]string{"/var/lib/etcd/snap.db": "db"}, "/var/lib/etcd/snap.db", false, snapshot.ErrExists, "already exists on node cp-2; choose another name"},
		{"existing non-snapshot file", map[string]string{"/var/lib/etcd/notes": "text"}, "/var/lib/etcd/notes", false, snapshot.ErrExists, "already exists"},
		{"leftover .part even with --force", map[string]string{"/var/lib/etcd/snap.db.part": "dir"}, "/var/lib/etcd/snap.db", true, snapshot.ErrExists, "snap.db.part exists on node cp-2"},
		{"PKI", nil, "/etc/kubernetes/pki/etcd/ca.key", true, ErrBadPath, "/etc/kubernetes/pki/etcd/ca.key is not a file in the data directory's hostPath mount"},
	}
	for _, c := range cases {
		if c.files == nil {
			c.files = map[string]string{}
		}
		d, conn := onNodeSetup(c.files)
		_, err := SaveSnapshotOnNode(context.Background(), conn, kubeadmPods("cp-1", "cp-2", "cp-3"),
			OnNodeOptions{Path: c.path, Member: "cp-2", Force: c.force})
		if !errors.Is(err, c.is) || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("%s: want %v saying %q, got %v", c.name, c.is, c.want, err)
		}
		if !errors.Is(c.is, snapshot.ErrIntegrity) && len(d.lockHeld) != 0 {
			t.Errorf("%s: etcdctl snapshot save ran: %v", c.name, d.calls)
		}
		if len(d.c.Locks) != 0 {
			t.Errorf("%s: lock not released", c.name)
		}
	}
	// A result that does not verify is an integrity failure.
	d, conn := onNodeSetup(map[string]string{})
	d.corruptSaves = true
	_, err := SaveSnapshotOnNode(context.Background(), conn, kubeadmPods("cp-1", "cp-2", "cp-3"), OnNodeOptions{Path: "/var/lib/etcd/new.db", Member: "cp-2"})
	if !errors.Is(err, snapshot.ErrIntegrity) || !strings.Contains(err.Error(), "does not verify") || len(d.c.Locks) != 0 {
		t.Errorf("corrupt result: %v", err)
	}
	// --force does not replace an existing FILE either: etcdctl would rename the new snapshot
	// over it before it is verified, and a bad new one would cost the good old one.
	d, conn = onNodeSetup(map[string]string{"/var/lib/etcd/snap.db": "db"})
	_, err = SaveSnapshotOnNode(context.Background(), conn, kubeadmPods("cp-1", "cp-2", "cp-3"),
		OnNodeOptions{Path: "/var/lib/etcd/snap.db", Member: "cp-2", Force: true})
	if !errors.Is(err, snapshot.ErrExists) || !strings.Contains(err.Error(), "before it could be verified") || len(d.lockHeld) != 0 || d.files["/var/lib/etcd/snap.db"] != "db" {
		t.Errorf("--force over an existing file: %v %v", err, d.calls)
	}
}

// A member locked by another operation is not snapshotted on the node either.
func TestSaveSnapshotOnNodeTakesTheLock(t *testing.T) {
	d, conn := onNodeSetup(map[string]string{})
	d.c.Locks = map[string]string{LockKey(FormatID(id2)): `{"op":"defrag","host":"laptop","pid":7,"since":"2026-01-01T00:00:00Z"}`}
	_, err := SaveSnapshotOnNode(context.Background(), conn, kubeadmPods("cp-1", "cp-2", "cp-3"),
		OnNodeOptions{Path: "/var/lib/etcd/snap.db", Member: "cp-2"})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "busy") || len(d.lockHeld) != 0 {
		t.Errorf("want a busy refusal and no save, got %v, calls %v", err, d.calls)
	}
}

// The members are surveyed once: one status round over the pods it is given (no listing or
// probing of its own) picks the member, and one more session to that member's pod saves.
func TestSaveSnapshotOnNodeSurveysOnce(t *testing.T) {
	d, conn := onNodeSetup(map[string]string{})
	ps := kubeadmPods("cp-1", "cp-2", "cp-3")
	if _, err := SaveSnapshotOnNode(context.Background(), conn, ps, OnNodeOptions{Path: "/var/lib/etcd/snap.db"}); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, c := range d.c.Calls {
		count[c]++
	}
	for _, p := range ps {
		for _, op := range []string{"status", "health", "member list", "alarm list"} {
			if n := count[p.Pod+" "+op]; n != 1 {
				t.Errorf("%s %s: %d calls, want 1 (calls %v)", p.Pod, op, n, d.c.Calls)
			}
		}
	}
	// cp-1 leads, so a follower is chosen: that pod gets its survey session and the save's.
	chosen := ""
	for _, p := range ps {
		want := 1
		if count[p.Pod+" lock "+LockKey(FormatID(d.c.PodMember[p.Pod]))] == 1 {
			chosen, want = p.Pod, 2
		}
		if d.connects[p.Pod] != want {
			t.Errorf("%s: %d sessions, want %d", p.Pod, d.connects[p.Pod], want)
		}
	}
	if chosen == "" || chosen == "etcd-cp-1" {
		t.Errorf("saved through %q, want a follower (calls %v)", chosen, d.c.Calls)
	}
}
