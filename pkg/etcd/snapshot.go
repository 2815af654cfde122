package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// SnapshotMetadata is written next to a snapshot as FILE.json.
type SnapshotMetadata struct {
	File              string `json:"file"`
	Size              int64  `json:"size"`
	SHA256            string `json:"sha256"`
	DBSHA256          string `json:"dbSHA256"`
	ClusterID         string `json:"clusterID"`
	MemberID          string `json:"memberID"`
	MemberName        string `json:"memberName"`
	Pod               string `json:"pod"`
	Node              string `json:"node,omitempty"`
	Revision          int64  `json:"revision"`
	EtcdVersion       string `json:"etcdVersion"`
	StorageVersion    string `json:"storageVersion,omitempty"`
	DBSize            int64  `json:"dbSize"`
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
	Time              string `json:"time"`
	Took              string `json:"took"`
	PluginVersion     string `json:"pluginVersion"`
	// Route says how the bytes came: "port-forward", or a node helper's route ("helper-logs",
	// "helper-exec") with the helper pod that took the snapshot (namespace/name).
	Route     string `json:"route,omitempty"`
	HelperPod string `json:"helperPod,omitempty"`
	// Compression and Encryption say how the file is stored (absent: a plain .db); Size,
	// SHA256 and DBSHA256 are then those of the plain snapshot inside, FileSize and
	// FileSHA256 those of the stored file, and Recipients the public keys it was encrypted to.
	snapshot.Layers
	FileSize   int64    `json:"fileSize,omitempty"`
	FileSHA256 string   `json:"fileSHA256,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	// Removed are the older snapshots --keep removed after this one was saved (not in FILE.json).
	Removed []string `json:"removed,omitempty"`
}

// SnapshotOptions tune SaveSnapshot.
type SnapshotOptions struct {
	// Path is the file to write; empty: a default name (DefaultSnapshotName, or
	// snapshot.RotationName inside Dir), with the layers' suffix.
	Path   string
	Dir    string
	Member string
	Force  bool
	// Layers compress and encrypt the file (to Recipients, whose strings RecipientNames are).
	Layers         snapshot.Layers
	Recipients     []age.Recipient
	RecipientNames []string
	// Keep, with Dir, removes the oldest snapshots of the cluster in Dir beyond Keep once the
	// new one is saved and verified (see snapshot.Rotate).
	Keep int
	// Timeout bounds the whole stream; zero means none (a large database takes minutes).
	Timeout           time.Duration
	CallTimeout       time.Duration
	KubernetesVersion string
	PluginVersion     string
	// Progress is told the bytes written and the database size.
	Progress func(written, total int64)
	// Chosen is told which member was picked before the stream starts.
	Chosen func(MemberStatus)
	// BeforeStream runs once the survey of the members is over and the other members'
	// connections are released, just before the stream is opened.
	BeforeStream func()
	// Warn is told about problems that do not stop the snapshot.
	Warn func(string)
}

// DefaultSnapshotName is etcd-snapshot-<cluster id>-<UTC time>.db.
func DefaultSnapshotName(clusterID string, t time.Time) string {
	return fmt.Sprintf("etcd-snapshot-%s-%s.db", clusterID, t.UTC().Format("20060102T150405Z"))
}

// PickSnapshotMember chooses where to take a snapshot from: the named member, else a serving
// voting follower (the leader is spared the extra load), else the leader. A member under a
// NOSPACE alarm serves reads and so can stream a snapshot; see MemberStatus.ServingVoter.
func PickSnapshotMember(st *ClusterStatus, arg string) (*MemberStatus, error) {
	if arg != "" {
		m, err := FindStatusMember(st, arg)
		if err != nil {
			return nil, err
		}
		if !m.HasPod {
			return nil, fmt.Errorf("%w: member %s has no etcd pod to stream from", ErrRefused, m.ID)
		}
		if !m.Reachable {
			return nil, fmt.Errorf("%w: member %s (%s) does not answer: %s", ErrRefused, orUnknown(m.Name), m.ID, strings.Join(m.Problems, "; "))
		}
		return m, nil
	}
	var cands []MemberStatus
	for _, m := range st.Members {
		if m.HasPod && m.ServingVoter() {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: no serving voting member to take a snapshot from", ErrNoMemberReachable)
	}
	sort.SliceStable(cands, func(i, j int) bool { return !cands[i].Leader && cands[j].Leader })
	return &cands[0], nil
}

// CheckSnapshotSource refuses a member named with --member that is no sound source: one under a
// CORRUPT alarm (its data differ from the others') or a learner (it may lag behind the leader,
// and its snapshot then misses the latest writes). With force it returns the same sentence as
// a warning instead. A member picked by PickSnapshotMember itself is never either.
func CheckSnapshotSource(m MemberStatus, force bool) (warning string, err error) {
	var why string
	switch {
	case hasAlarm(m, "CORRUPT"):
		why = "has a CORRUPT alarm: its data may differ from the other members'"
	case m.Learner:
		why = "is a learner: it may lag behind the leader, and its snapshot then misses the latest writes"
	default:
		return "", nil
	}
	msg := fmt.Sprintf("member %s (%s) %s", orUnknown(m.Name), m.ID, why)
	if force {
		return msg + "; taking the snapshot from it anyway (--force)", nil
	}
	return "", fmt.Errorf("%w: %s; name a healthy voting member, leave out --member to let the plugin pick one, or pass --force to take it from this member anyway", ErrRefused, msg)
}

// pickSnapshotSource is PickSnapshotMember, then, for a member named with --member,
// CheckSnapshotSource (whose warning goes to warn).
func pickSnapshotSource(st *ClusterStatus, arg string, force bool, warn func(string)) (*MemberStatus, error) {
	m, err := PickSnapshotMember(st, arg)
	if err != nil || arg == "" {
		return m, err
	}
	w, err := CheckSnapshotSource(*m, force)
	if err != nil {
		return nil, err
	}
	if w != "" && warn != nil {
		warn(w)
	}
	return m, nil
}

// CheckStreamTransport refuses a transport that cannot stream a snapshot to this machine: only
// port-forward carries etcd's snapshot stream, or a transport wrapped in the node helper (a pod
// on the member's node takes it). Exec alone has etcdctl write it inside the pod, which is what
// SaveSnapshotOnNode does.
func CheckStreamTransport(conn transport.Connector) error {
	if !transport.CanStream(conn) {
		return fmt.Errorf("streaming a snapshot needs the port-forward transport and etcd client certificates (--cacert/--cert/--key or --cert-secret), or a helper pod on the member's node (--helper); transport %s was chosen. Use --on-node PATH to save it on a node through exec instead", conn.Mode())
	}
	return nil
}

// SaveSnapshot streams a snapshot from one member into a verified local file and writes the
// metadata sidecar next to it.
func SaveSnapshot(ctx context.Context, conn transport.Connector, pods []discovery.Member, o SnapshotOptions) (*SnapshotMetadata, error) {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.Path != "" {
		if err := checkTargets(o.Path, o.Force); err != nil {
			return nil, err
		}
	}
	st := Status(ctx, conn, pods, StatusOptions{Timeout: o.CallTimeout})
	m, err := pickSnapshotSource(st, o.Member, o.Force, o.Warn)
	if err != nil {
		return nil, err
	}
	if o.Path == "" {
		if o.Dir != "" {
			o.Path = filepath.Join(o.Dir, snapshot.RotationName(orUnknown(st.ClusterID), time.Now())+o.Layers.Suffix())
		} else {
			o.Path = DefaultSnapshotName(orUnknown(st.ClusterID), time.Now()) + o.Layers.Suffix()
		}
		if err := checkTargets(o.Path, o.Force); err != nil {
			return nil, err
		}
	}
	if o.Chosen != nil {
		o.Chosen(*m)
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
	// The survey opened a connection to every member; only the chosen one's is needed now.
	transport.ReleaseExcept(conn, pod)
	if o.BeforeStream != nil {
		o.BeforeStream()
	}
	sctx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	// Opening can take long (a helper pod takes the snapshot on the node first): an interrupt
	// or the deadline then surfaces as whatever call was under way, and is named as such.
	opening := func(err error) error {
		if errors.Is(sctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("snapshot from %s did not finish within --timeout %s; nothing was kept: %w", pod, o.Timeout, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("snapshot from %s interrupted (%v); nothing was kept: %w", pod, context.Cause(ctx), err)
		}
		return nil
	}
	s, err := conn.Connect(sctx, pod)
	if err != nil {
		if oerr := opening(err); oerr != nil {
			return nil, oerr
		}
		return nil, err
	}
	defer s.Close()
	start := time.Now()
	resp, err := s.Snapshot(sctx)
	if err != nil {
		if oerr := opening(err); oerr != nil {
			return nil, oerr
		}
		return nil, fmt.Errorf("snapshot from %s: %w", pod, err)
	}
	defer resp.Snapshot.Close()
	// Lock only once the stream is open: the snapshot is a point-in-time read taken when the
	// stream opened, so the lock key does not end up inside it.
	// A short lease, renewed while the stream runs: if this member or this process dies, the
	// lock expires within seconds instead of blocking the next snapshot or defrag.
	release, warning, err := lockMember(sctx, s, m.ID, m.Name, "snapshot", 10*time.Second)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("snapshot from %s interrupted (%v) while taking the member lock; nothing was kept: %w", pod, context.Cause(ctx), err)
		}
		return nil, err
	}
	defer release()
	if warning != "" && o.Warn != nil {
		o.Warn(warning)
	}
	w, err := snapshot.Write(resp.Snapshot, o.Path, snapshot.WriteOptions{Force: o.Force, Layers: o.Layers, Recipients: o.Recipients, Progress: func(n int64) {
		if o.Progress != nil {
			o.Progress(n, m.DBSize)
		}
	}})
	var notDurable error
	if err != nil && w != nil && errors.Is(err, snapshot.ErrNotDurable) {
		notDurable, err = err, nil // complete and verified: write the metadata, then report it
	}
	if err != nil {
		if errors.Is(sctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("snapshot from %s did not finish within --timeout %s: %w", pod, o.Timeout, err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("snapshot from %s interrupted (%v); nothing was kept: %w", pod, ctx.Err(), err)
		}
		return nil, fmt.Errorf("snapshot from %s failed; nothing was kept: %w", pod, err)
	}
	md := &SnapshotMetadata{
		File: w.Path, Size: w.Size, SHA256: w.SHA256, DBSHA256: w.DBSHA256,
		ClusterID: st.ClusterID, MemberID: m.ID, MemberName: m.Name, Pod: m.Pod, Node: m.Node,
		EtcdVersion: m.Version, StorageVersion: resp.Version, DBSize: w.Size - snapshot.TrailerSize, Revision: m.Revision,
		KubernetesVersion: o.KubernetesVersion, PluginVersion: o.PluginVersion,
		Time: start.UTC().Format(time.RFC3339), Took: time.Since(start).Round(time.Millisecond).String(),
		Route:  string(s.Mode()),
		Layers: w.Layers, FileSize: w.FileSize, FileSHA256: w.FileSHA256,
	}
	if w.Encryption != "" {
		md.Recipients = o.RecipientNames
	}
	if r, ok := s.(transport.SnapshotRouter); ok {
		md.Route, md.HelperPod = r.SnapshotRoute()
	}
	if resp.Header != nil {
		if resp.Header.Revision != 0 {
			md.Revision = resp.Header.Revision
		}
		if md.ClusterID == "" {
			md.ClusterID = FormatID(resp.Header.ClusterId)
		}
	}
	data, _ := json.MarshalIndent(md, "", "  ")
	if err := snapshot.WriteFileAtomic(w.Path+".json", append(data, '\n'), o.Force); err != nil {
		return md, fmt.Errorf("the snapshot %s is saved and verified, but its metadata could not be written: %w", w.Path, err)
	}
	if notDurable != nil {
		return md, fmt.Errorf("the snapshot is saved and verified, but: %w", notDurable)
	}
	if o.Keep > 0 && o.Dir != "" {
		// Only now: the new snapshot and its sidecar are verified and durable.
		removed, err := snapshot.Rotate(filepath.Dir(w.Path), md.ClusterID, o.Keep, w.Path)
		md.Removed = removed
		if err != nil && o.Warn != nil {
			o.Warn(fmt.Sprintf("--keep %d: %v", o.Keep, err))
		}
	}
	return md, nil
}

// checkTargets refuses, before anything is streamed, a FILE or FILE.json that exists (unless
// force) and a FILE.part or FILE.json.part (always).
func checkTargets(path string, force bool) error {
	if err := snapshot.CheckFree(path, force); err != nil {
		return err
	}
	return snapshot.CheckFree(path+".json", force)
}

// ---- restore plan ----

// RestoreStep is one node's part of a restore.
type RestoreStep struct {
	Node        string   `json:"node"`
	Pod         string   `json:"pod"`
	Name        string   `json:"name"`
	PeerURLs    []string `json:"peerURLs"`
	DataDir     string   `json:"dataDir"`
	RestoreDir  string   `json:"restoreDir"`
	Command     []string `json:"command"`
	CommandLine string   `json:"commandLine"`
}

// RestorePlan is the whole procedure for the current member list.
type RestorePlan struct {
	Snapshot       string        `json:"snapshot"`
	SnapshotOnNode string        `json:"snapshotOnNode"`
	InitialCluster string        `json:"initialCluster"`
	BumpRevision   int64         `json:"bumpRevision"`
	Nodes          []RestoreStep `json:"nodes"`
	Steps          []string      `json:"steps"`
	Warnings       []string      `json:"warnings,omitempty"`
	// Sources says where each part of the plan comes from: the member list (the live cluster
	// or the snapshot file) and the nodes and data directories (the etcd pods, or guessed).
	Sources []string `json:"sources,omitempty"`
}

// RestoreInputs is what PlanRestoreFrom builds a plan from: whatever could be read, and why the
// rest could not.
type RestoreInputs struct {
	// Live is the member list the cluster answered (nil with LiveErr when it did not).
	Live    *MemberList
	LiveErr error
	// File is the member list recorded in the snapshot (nil with FileErr when it could not
	// be read).
	File    []snapshot.Member
	FileErr error
	// Pods are the etcd pods the API server listed (nil with PodsErr when it did not answer).
	Pods    []discovery.Member
	PodsErr error
}

// PlanRestoreFrom plans a restore from the live member list when the cluster answered, else
// from the member list recorded in the snapshot (with quorum lost the cluster cannot answer,
// and that is when a restore is needed), pairing members with the etcd pods the API server still
// lists. The plan's Sources say which is which; differences between the two member lists are
// warnings. With neither member list there is no plan.
func PlanRestoreFrom(in RestoreInputs, o RestorePlanOptions) (*RestorePlan, error) {
	var ml *MemberList
	var src string
	switch {
	case in.Live != nil:
		ml, src = in.Live, "the member list comes from the live cluster"
	case len(in.File) > 0:
		resp := &clientv3.MemberListResponse{}
		for _, m := range in.File {
			id, err := ParseID(m.ID)
			if err != nil {
				return nil, fmt.Errorf("the snapshot's member list: %w", err)
			}
			resp.Members = append(resp.Members, &etcdserverpb.Member{ID: id, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.Learner})
		}
		ml = JoinMembers(resp, in.Pods, "snapshot", "")
		src = fmt.Sprintf("the member list comes from the snapshot file %s (the cluster did not answer: %v)", o.Snapshot, in.LiveErr)
	default:
		why := "it records no members"
		if in.FileErr != nil {
			why = in.FileErr.Error()
		}
		return nil, fmt.Errorf("%w: no member list to plan from: the cluster did not answer (%v), and the snapshot %s gave none (%s)",
			ErrNoMemberReachable, in.LiveErr, o.Snapshot, why)
	}
	p := PlanRestore(ml, in.Pods, o)
	p.Sources = append(p.Sources, src)
	if in.PodsErr != nil {
		p.Sources = append(p.Sources, fmt.Sprintf("the nodes and data directories are guessed from the member names and %s (no etcd pods listed: %v)", defaultDataDir, in.PodsErr))
	} else {
		p.Sources = append(p.Sources, "the nodes and data directories come from the etcd pods listed by the API server")
	}
	if in.FileErr != nil {
		p.Warnings = append(p.Warnings, fmt.Sprintf("the snapshot could not be read (%v): check it before restoring", in.FileErr))
	}
	if in.Live != nil && in.File != nil {
		p.Warnings = append(p.Warnings, compareMemberLists(in.Live, in.File)...)
	}
	return p, nil
}

// compareMemberLists names the members that joined or left since the snapshot was taken.
func compareMemberLists(live *MemberList, file []snapshot.Member) []string {
	inFile := map[string]bool{}
	for _, m := range file {
		inFile[m.ID] = true
	}
	var out []string
	for _, m := range live.Members {
		if !inFile[m.ID] {
			out = append(out, fmt.Sprintf("member %s (%s) joined after the snapshot was taken; the plan restores onto the current members", nameOrUnstarted(m.Name), m.ID))
		}
		delete(inFile, m.ID)
	}
	for _, m := range file {
		if inFile[m.ID] {
			out = append(out, fmt.Sprintf("member %s (%s) is in the snapshot but no longer in the cluster; the plan leaves it out", nameOrUnstarted(m.Name), m.ID))
		}
	}
	return out
}

// RestorePlanOptions tune PlanRestore.
type RestorePlanOptions struct {
	Snapshot string
	// SnapshotOnNode is where the file will be on each node (default /var/tmp/<base name>).
	SnapshotOnNode string
	// BumpRevision is added to the revision so that clients' watches see every key as changed.
	BumpRevision int64
	// Suffix names the new data directory: <data-dir>-<suffix>.
	Suffix string
	// Token is the restored cluster's --initial-cluster-token ("" leaves etcdutl's default).
	// A new token gives the restored cluster a new cluster ID and new member IDs, so that no
	// member of the old cluster can talk to it.
	Token string
	// Layers say how Snapshot is stored; a compressed or encrypted file is first turned into
	// a plain one (etcdutl reads only those), with Identity (the --identity file) for age.
	Layers   snapshot.Layers
	Identity string
}

// PlainCommand is the shell command that turns a stored snapshot into the plain snapshot out
// with the standard tools (age, zstd, gzip); "" for a plain one.
func PlainCommand(in, out string, l snapshot.Layers, identity string) string {
	if identity == "" {
		identity = "KEY_FILE"
	}
	var decompress []string
	switch l.Compression {
	case snapshot.CompressZstd:
		decompress = []string{"zstd", "-d", "-o", out}
	case snapshot.CompressGzip:
		decompress = []string{"gzip", "-dc"}
	}
	redirect := ""
	if l.Compression == snapshot.CompressGzip {
		redirect = " > " + shellJoin([]string{out})
	}
	switch {
	case l.Encryption != "" && decompress != nil:
		return shellJoin([]string{"age", "-d", "-i", identity, in}) + " | " + shellJoin(decompress) + redirect
	case l.Encryption != "":
		return shellJoin([]string{"age", "-d", "-i", identity, "-o", out, in})
	case l.Compression == snapshot.CompressZstd:
		return shellJoin([]string{"zstd", "-d", in, "-o", out})
	case decompress != nil:
		return shellJoin(append(decompress, in)) + redirect
	}
	return ""
}

// defaultDataDir is kubeadm's etcd data directory, assumed for a member without a pod.
const defaultDataDir = "/var/lib/etcd"

// PlanRestore writes the per-node etcdutl commands and the steps around them for the members
// of ml. It runs nothing.
func PlanRestore(ml *MemberList, pods []discovery.Member, o RestorePlanOptions) *RestorePlan {
	plain := o.Snapshot
	if !o.Layers.Plain() {
		plain = snapshot.PlainName(o.Snapshot)
	}
	if o.SnapshotOnNode == "" {
		o.SnapshotOnNode = path.Join("/var/tmp", path.Base(plain))
	}
	if o.BumpRevision == 0 {
		o.BumpRevision = 1000000000
	}
	if o.Suffix == "" {
		o.Suffix = "restored"
	}
	p := &RestorePlan{Snapshot: o.Snapshot, SnapshotOnNode: o.SnapshotOnNode, BumpRevision: o.BumpRevision}
	var ic []string
	for _, m := range ml.Members {
		if m.Learner {
			p.Warnings = append(p.Warnings, fmt.Sprintf("learner %s (%s) is left out: restore voting members only and add learners again afterwards", nameOrUnstarted(m.Name), m.ID))
			continue
		}
		if !m.Started {
			p.Warnings = append(p.Warnings, fmt.Sprintf("member %s never started and is left out", m.ID))
			continue
		}
		for _, u := range m.PeerURLs {
			ic = append(ic, m.Name+"="+u)
		}
	}
	p.InitialCluster = strings.Join(ic, ",")
	byPod := map[string]*discovery.Member{}
	for i := range pods {
		byPod[pods[i].Pod] = &pods[i]
	}
	for _, m := range ml.Members {
		if m.Learner || !m.Started {
			continue
		}
		dataDir := defaultDataDir
		if pm := byPod[m.Pod]; pm != nil && pm.DataDir != "" {
			dataDir = pm.DataDir
		}
		node := m.Node
		if !m.HasPod {
			// kubeadm names a member after its node.
			node = m.Name
			p.Warnings = append(p.Warnings, fmt.Sprintf("member %s (%s) has no pod; its node and data directory are guessed (%s, %s)", m.Name, m.ID, orUnknown(node), dataDir))
		}
		restoreDir := strings.TrimSuffix(dataDir, "/") + "-" + o.Suffix
		cmd := []string{"etcdutl", "snapshot", "restore", o.SnapshotOnNode,
			"--name", m.Name,
			"--initial-cluster", p.InitialCluster,
			"--initial-advertise-peer-urls", strings.Join(m.PeerURLs, ","),
			"--data-dir", restoreDir,
			"--bump-revision", fmt.Sprint(o.BumpRevision),
			"--mark-compacted"}
		if o.Token != "" {
			cmd = append(cmd, "--initial-cluster-token", o.Token)
		}
		p.Nodes = append(p.Nodes, RestoreStep{Node: orUnknown(node), Pod: m.Pod, Name: m.Name, PeerURLs: m.PeerURLs,
			DataDir: dataDir, RestoreDir: restoreDir, Command: cmd, CommandLine: shellJoin(cmd)})
	}
	check := shellJoin([]string{"kubectl", "etcd", "snapshot", "status", o.Snapshot})
	copyStep := fmt.Sprintf("Copy %s to %s on every control-plane node listed below.", o.Snapshot, o.SnapshotOnNode)
	if !o.Layers.Plain() {
		if o.Identity != "" {
			check += " " + shellJoin([]string{"--identity", o.Identity})
		}
		copyStep = fmt.Sprintf("Turn the %s file into the plain snapshot etcdutl reads: %s; copy %s to %s on every control-plane node listed below.",
			o.Layers, PlainCommand(o.Snapshot, plain, o.Layers, o.Identity), plain, o.SnapshotOnNode)
	}
	p.Steps = []string{
		fmt.Sprintf("Check the snapshot first: %s", check),
		copyStep,
		"Stop every kube-apiserver: on each control-plane node move /etc/kubernetes/manifests/kube-apiserver.yaml out of the manifests directory (e.g. to /etc/kubernetes/), and wait until the API server container is gone.",
		"Stop etcd on every node the same way: move /etc/kubernetes/manifests/etcd.yaml out, and wait until the etcd container is gone.",
		"On each node run its etcdutl snapshot restore command below (it creates the new data directory; it must not exist yet).",
		"On each node swap the data directories: move the old data directory aside (keep it until the cluster is back) and move the restored one into its place, or point the etcd manifest's data-dir flag and hostPath at the restored directory.",
		"Move etcd.yaml back into /etc/kubernetes/manifests on every node and wait until kubectl etcd status (or etcdctl) shows all members healthy.",
		"Move kube-apiserver.yaml back on every node.",
		"Restart kube-controller-manager, kube-scheduler and the kubelets (the Kubernetes docs recommend it so that no component acts on stale cached state).",
		"Verify: kubectl etcd status, kubectl get nodes, and your workloads.",
	}
	return p
}

func shellJoin(argv []string) string {
	var out []string
	for _, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>*?()[]{}!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}
