package etcd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// ErrBadPath marks an --on-node path that is refused before anything runs (a usage error).
var ErrBadPath = errors.New("bad --on-node path")

// OnNodeResult is the result of a snapshot saved on a node through exec.
type OnNodeResult struct {
	Pod        string `json:"pod"`
	Node       string `json:"node"`
	MemberID   string `json:"memberID,omitempty"`
	MemberName string `json:"memberName,omitempty"`
	// Path is the path inside the pod; HostPath the same file on the node.
	Path     string `json:"path"`
	HostPath string `json:"hostPath"`
	// Trailer is "valid": etcdutl snapshot restore checked the sha256 trailer.
	Trailer        string `json:"trailer"`
	Hash           uint32 `json:"hash"`
	Revision       int64  `json:"revision"`
	TotalKeys      int    `json:"totalKeys"`
	TotalSize      int64  `json:"totalSize"`
	StorageVersion string `json:"storageVersion,omitempty"`
}

// OnNodePath checks an --on-node path against the member's pod. It must be absolute and, once
// cleaned, lie in the hostPath mount that holds the data directory — not in the PKI or any
// other mount, whose files (the CA key) must never be replaced — and outside the member's live
// data (DATA_DIR/member). It returns the cleaned path, which is what etcdctl is given, and the
// same file's path on the node.
func OnNodePath(m *discovery.Member, p string) (inPod, onNode string, err error) {
	if !path.IsAbs(p) {
		return "", "", fmt.Errorf("%w: %q must be absolute", ErrBadPath, p)
	}
	p = path.Clean(p)
	if m.DataDir == "" {
		return "", "", fmt.Errorf("%w: the etcd flags of %s name no --data-dir, so there is no place known to be safe for a snapshot", ErrBadPath, m)
	}
	dataDir := path.Clean(m.DataDir)
	mount := ""
	for mp := range m.HostPaths {
		if within(dataDir, path.Clean(mp)) && len(mp) > len(mount) {
			mount = path.Clean(mp)
		}
	}
	example := path.Join(dataDir, "snapshot.db")
	if mount == "" {
		return "", "", fmt.Errorf("%w: the data directory %s of %s is not a hostPath mount, so a file there would not reach the node's disk; mounted: %s",
			ErrBadPath, dataDir, m, mountList(m))
	}
	if within(p, path.Join(dataDir, "member")) {
		return "", "", fmt.Errorf("%w: %s is inside the member's live data (%s/member); use another name, e.g. %s", ErrBadPath, p, dataDir, example)
	}
	if p == mount || !within(p, mount) {
		return "", "", fmt.Errorf("%w: %s is not a file in the data directory's hostPath mount %s; only there may a snapshot be written (the other mounts, such as the PKI, hold files that must not be replaced), e.g. %s",
			ErrBadPath, p, mount, example)
	}
	if strings.HasSuffix(p, ".part") {
		return "", "", fmt.Errorf("%w: %s ends in .part, the suffix etcdctl uses for the file it is writing", ErrBadPath, p)
	}
	return p, path.Join(m.HostPaths[mount], strings.TrimPrefix(p, mount)), nil
}

// within says whether p is dir or inside it (both clean).
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func mountList(m *discovery.Member) string {
	var mounts []string
	for mp := range m.HostPaths {
		mounts = append(mounts, mp)
	}
	sort.Strings(mounts)
	if len(mounts) == 0 {
		return "none"
	}
	return strings.Join(mounts, ", ")
}

// OnNodeOptions tune SaveSnapshotOnNode.
type OnNodeOptions struct {
	// Path is the file inside the pod (--on-node).
	Path   string
	Member string
	Force  bool
	// Timeout bounds the save and its verification; zero means a default from the database
	// size (see onNodeDeadline).
	Timeout     time.Duration
	CallTimeout time.Duration
	// Chosen is told which member was picked; Warn about problems that do not fail the save.
	Chosen func(MemberStatus)
	Warn   func(string)
}

// onNodeDeadline is the default bound of an on-node save: generous (save and verify at 1 MiB/s
// together), because the member lock cannot be renewed through exec and has to last as long.
func onNodeDeadline(dbSize int64) time.Duration {
	return 10*time.Minute + time.Duration(dbSize>>20)*time.Second
}

// SaveSnapshotOnNode has etcdctl in the chosen member's pod save a snapshot to a file on the
// node's disk, under the member's lock, then proves the file's sha256 trailer with etcdutl and
// reports on it. conn must be the exec transport.
func SaveSnapshotOnNode(ctx context.Context, conn transport.Connector, pods []discovery.Member, o OnNodeOptions) (*OnNodeResult, error) {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	st := Status(ctx, conn, pods, StatusOptions{Timeout: o.CallTimeout})
	m, err := pickSnapshotSource(st, o.Member, o.Force, o.Warn)
	if err != nil {
		return nil, err
	}
	var pod *discovery.Member
	for i := range pods {
		if pods[i].Is(m.Pod, m.Name) {
			pod = &pods[i]
		}
	}
	if pod == nil {
		return nil, fmt.Errorf("pod %s vanished", m.Pod)
	}
	p, hostPath, err := OnNodePath(pod, o.Path)
	if err != nil {
		return nil, err
	}
	if o.Chosen != nil {
		o.Chosen(*m)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = onNodeDeadline(m.DBSize)
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := conn.Connect(sctx, pod)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	nf, ok := s.(transport.NodeFiles)
	if !ok {
		return nil, fmt.Errorf("transport %s cannot save snapshots on the node", s.Mode())
	}
	release, warning, err := lockMember(sctx, s, m.ID, m.Name, "snapshot", timeout+time.Minute)
	if err != nil {
		return nil, err
	}
	defer release()
	if warning != "" && o.Warn != nil {
		o.Warn(warning)
	}
	where := fmt.Sprintf("on node %s", pod.Node)
	// Refuse what is there. etcdctl would replace FILE, and truncate FILE.part or, when it is
	// a directory, delete it. Between this check and etcdctl's rename nothing stops a file
	// from appearing: only root on the node can write there, and it is documented.
	// An existing FILE is refused even with --force: etcdctl renames the new snapshot over it
	// before it can be verified, so a bad new one would cost the old one, and the image has
	// no mv to replace it only once the new one is verified.
	for _, q := range []string{p, p + ".part"} {
		_, err := nf.SnapshotFileStatus(sctx, q)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil && !isToolError(err):
			return nil, fmt.Errorf("cannot tell whether %s exists %s: %w", q, where, err)
		case q == p && o.Force:
			return nil, fmt.Errorf("%w: %s already exists %s, and --force does not replace a file on a node: etcdctl would rename the new snapshot over it before it could be verified (the etcd image has no mv to replace it afterwards); save under a new name, and remove the old file on the node once the new one is verified",
				snapshot.ErrExists, q, where)
		case q == p:
			return nil, fmt.Errorf("%w: %s already exists %s; choose another name", snapshot.ErrExists, q, where)
		default:
			return nil, fmt.Errorf("%w: %s exists %s: another snapshot may be writing it, or a run that died left it; remove it on the node", snapshot.ErrExists, q, where)
		}
	}
	if err := nf.SaveSnapshotFile(sctx, p); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", where, deadlineHint(sctx, ctx, timeout, err))
	}
	scratch := path.Join(path.Clean(pod.DataDir), ".kubectl-etcd-verify-"+randomHex()+".part")
	leftover, err := nf.VerifySnapshotFile(sctx, p, scratch)
	switch {
	case o.Warn == nil:
	case leftover != "":
		o.Warn(fmt.Sprintf("could not remove the verification directory %s %s; remove it on the node (it holds a copy of the database)", leftover, where))
	case sctx.Err() != nil:
		// etcdutl in the pod may go on after the exec stream was cut, and create it later.
		o.Warn(fmt.Sprintf("the verification was interrupted; etcdutl in the pod may still create %s %s: check, and remove it if it is there", scratch, where))
	}
	switch {
	case errors.Is(err, transport.ErrHashMismatch):
		return nil, fmt.Errorf("%w: the snapshot saved at %s %s does not verify (%v); it is corrupt: remove it on the node and save again",
			snapshot.ErrIntegrity, p, where, err)
	case err != nil:
		return nil, fmt.Errorf("the snapshot saved at %s %s could not be verified, so do not rely on it: %w", p, where, deadlineHint(sctx, ctx, timeout, err))
	}
	fst, err := nf.SnapshotFileStatus(sctx, p)
	if err != nil {
		return nil, fmt.Errorf("the snapshot at %s %s verified, but etcdutl snapshot status failed: %w", p, where, err)
	}
	return &OnNodeResult{Pod: m.Pod, Node: m.Node, MemberID: m.ID, MemberName: m.Name, Path: p, HostPath: hostPath, Trailer: "valid",
		Hash: fst.Hash, Revision: fst.Revision, TotalKeys: fst.TotalKeys, TotalSize: fst.TotalSize, StorageVersion: fst.Version}, nil
}

// isToolError says whether err is a tool's own failure (it ran and saw something it could not
// read) rather than a failure to run it at all.
func isToolError(err error) bool {
	var ue interface{ ToolFailed() bool }
	return errors.As(err, &ue) && ue.ToolFailed()
}

func deadlineHint(sctx, ctx context.Context, timeout time.Duration, err error) error {
	if ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("did not finish within %s (--timeout): %w", timeout, err)
	}
	return err
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
