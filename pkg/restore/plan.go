package restore

import (
	"fmt"
	"path"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/nodehelper"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

// Plan is what a restore will do, shown before it is confirmed.
type Plan struct {
	Snapshot SnapshotInfo `json:"snapshot"`
	// The live cluster the restore replaces.
	ClusterID    string `json:"clusterID"`
	ClusterName  string `json:"clusterName,omitempty"`
	LiveRevision int64  `json:"liveRevision"`
	// GoesBack is how many revisions the cluster loses (the live revision minus the
	// snapshot's), and Age how old the snapshot file is.
	GoesBack int64  `json:"goesBackRevisions"`
	Age      string `json:"age,omitempty"`
	// BumpRevision and Token are etcdutl's --bump-revision and --initial-cluster-token.
	BumpRevision   int64  `json:"bumpRevision"`
	Token          string `json:"token"`
	InitialCluster string `json:"initialCluster"`
	// MinRevision is the revision the restored cluster must at least report.
	MinRevision int64      `json:"minRevision"`
	Nodes       []NodePlan `json:"nodes"`
	// KubeadmDataDir is the etcd.local.dataDir kubeadm-config gets afterwards (from, to).
	KubeadmDataDir [2]string `json:"kubeadmDataDir"`
	// PreSnapshot is where the snapshot of the current state goes ("" when skipped).
	PreSnapshot string   `json:"preSnapshot,omitempty"`
	Warnings    []string `json:"warnings,omitempty"`
	// Blocked are reasons the restore cannot run at all; Refusals reasons it does not run
	// without --force.
	Blocked  []string `json:"blocked,omitempty"`
	Refusals []string `json:"refusals,omitempty"`
}

// SnapshotInfo is what the plan shows of the file.
type SnapshotInfo struct {
	File     string    `json:"file"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	Revision int64     `json:"revision"`
	Keys     int       `json:"keys"`
	Taken    time.Time `json:"modified"`
}

// NodePlan is one member's part.
type NodePlan struct {
	Layout
	Member   string   `json:"member"`
	ID       string   `json:"id"`
	PeerURLs []string `json:"peerURLs"`
	Pod      string   `json:"pod"`
	// Namespace is the etcd pod's; Image its image (etcdutl runs from it).
	Namespace string `json:"namespace"`
	Image     string `json:"image"`
	// Command is the etcdutl command the helper runs.
	Command []string `json:"command"`
	// EtcdFile and Components are the manifests staging found on the node.
	EtcdFile   string      `json:"etcdFile,omitempty"`
	Components []Component `json:"components,omitempty"`
}

// ComponentFiles are the names of the control-plane manifests staging found.
func (n NodePlan) ComponentFiles() []string {
	var out []string
	for _, c := range n.Components {
		out = append(out, c.File)
	}
	return out
}

// Changes says in words what the restore changes on the node.
func (n NodePlan) Changes() []string {
	return []string{
		fmt.Sprintf("etcdutl restores member %s into %s (the old %s is not touched)", n.Member, n.RestoreDir, n.DataDir),
		fmt.Sprintf("etcd manifest: --data-dir, the data hostPath and its mount %s -> %s (original kept as %s)", n.DataDir, n.RestoreDir, n.Kept("<manifest>")),
		fmt.Sprintf("kube-apiserver, kube-controller-manager and kube-scheduler stop while etcd restarts, then start again (progress in %s)", n.Log()),
	}
}

// Inputs are what a plan is made from.
type Inputs struct {
	Report *snapshot.Report
	// ModTime is the snapshot file's modification time; Now the time of the plan.
	ModTime, Now time.Time
	Status       *etcd.ClusterStatus
	Members      *etcd.MemberList
	Pods         []discovery.Member
	// ClusterConfig is kubeadm-config's ClusterConfiguration ("" when not found), and
	// ClusterName its clusterName.
	ClusterConfig string
	ClusterName   string
	ManifestDir   string
	KeepDir       string
	BumpRevision  int64
	Force         bool
}

// Stamp is the time in the names a restore gives (data directories, kept manifests, token).
func Stamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// NewPlan plans the restore of in.Report's snapshot onto the members of the live cluster.
func NewPlan(in Inputs) *Plan {
	stamp := Stamp(in.Now)
	p := &Plan{
		Snapshot: SnapshotInfo{File: in.Report.File, Size: in.Report.Size, SHA256: in.Report.SHA256,
			Revision: in.Report.Revision, Keys: in.Report.TotalKeys, Taken: in.ModTime},
		ClusterID: in.Status.ClusterID, ClusterName: in.ClusterName, BumpRevision: in.BumpRevision,
		Token: "kubectl-etcd-restore-" + stamp,
	}
	for _, m := range in.Status.Members {
		p.LiveRevision = max(p.LiveRevision, m.Revision)
	}
	p.GoesBack = p.LiveRevision - p.Snapshot.Revision
	if !in.ModTime.IsZero() {
		p.Age = in.Now.Sub(in.ModTime).Round(time.Second).String()
	}
	if p.GoesBack < 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("the snapshot's revision %d is newer than the cluster's %d: is it from another cluster?", p.Snapshot.Revision, p.LiveRevision))
	}
	p.MinRevision = p.Snapshot.Revision + p.BumpRevision

	// Every member must be a started voter with a node: a learner or a member that never
	// started would be left running the old cluster's data beside the restored one.
	keep := &etcd.MemberList{ClusterID: in.Members.ClusterID}
	for _, m := range in.Members.Members {
		switch {
		case m.Learner:
			p.Blocked = append(p.Blocked, fmt.Sprintf("member %s (%s) is a learner: promote it (kubectl etcd promote) or remove it first", orID(m.Name, m.ID), m.ID))
		case !m.Started:
			p.Blocked = append(p.Blocked, fmt.Sprintf("member %s never started: remove it first (kubectl etcd member remove %s)", m.ID, m.ID))
		case !m.HasPod || m.Node == "":
			p.Refusals = append(p.Refusals, fmt.Sprintf("member %s (%s) has no etcd pod on a live node, so nothing can be restored there", orID(m.Name, m.ID), m.ID))
			if in.Force {
				p.Warnings = append(p.Warnings, fmt.Sprintf("member %s is left out of the restored cluster (--force): rejoin its node afterwards (kubeadm reset, then kubeadm join --control-plane)", orID(m.Name, m.ID)))
			}
		default:
			keep.Members = append(keep.Members, m)
		}
	}
	if len(keep.Members) == 0 {
		p.Blocked = append(p.Blocked, "no member has an etcd pod on a node to restore onto")
		return p
	}
	rp := etcd.PlanRestore(keep, in.Pods, etcd.RestorePlanOptions{Snapshot: in.Report.File, SnapshotOnNode: snapshotFile,
		BumpRevision: in.BumpRevision, Suffix: "restore-" + stamp, Token: p.Token})
	p.InitialCluster = rp.InitialCluster
	byPod := map[string]discovery.Member{}
	for _, pm := range in.Pods {
		byPod[pm.Pod] = pm
	}
	dirs := map[string]bool{}
	for i, step := range rp.Nodes {
		m := keep.Members[i]
		pm := byPod[step.Pod]
		hostData, err := nodehelper.HostPathOf(&pm, step.DataDir)
		if err != nil || !path.IsAbs(hostData) || path.Clean(hostData) == "/" {
			p.Blocked = append(p.Blocked, fmt.Sprintf("member %s: the data directory %s is not a hostPath directory of its own on node %s", m.Name, step.DataDir, step.Node))
			continue
		}
		if hostData != step.DataDir {
			p.Blocked = append(p.Blocked, fmt.Sprintf("member %s: the data directory is %s in the pod but %s on the node; restore by hand (kubectl etcd snapshot restore-plan)", m.Name, step.DataDir, hostData))
			continue
		}
		dirs[step.RestoreDir] = true
		p.Nodes = append(p.Nodes, NodePlan{
			Layout: Layout{Node: step.Node, ManifestDir: in.ManifestDir, KeepDir: in.KeepDir, Prefix: "kubectl-etcd-restore-" + stamp,
				DataDir: step.DataDir, RestoreDir: step.RestoreDir},
			Member: m.Name, ID: m.ID, PeerURLs: m.PeerURLs, Pod: step.Pod, Namespace: pm.Namespace, Image: pm.Image,
			Command: step.Command,
		})
		if pm.Image == "" {
			p.Blocked = append(p.Blocked, fmt.Sprintf("member %s: the etcd pod %s names no image to run etcdutl from", m.Name, step.Pod))
		}
	}
	if len(dirs) > 1 {
		p.Warnings = append(p.Warnings, "the members' data directories differ, but kubeadm-config holds one: it gets the first node's")
	}
	if in.ClusterConfig == "" {
		p.Warnings = append(p.Warnings, "kubeadm-config has no ClusterConfiguration: etcd.local.dataDir is not updated")
	} else if len(p.Nodes) > 0 {
		old, err := KubeadmDataDir(in.ClusterConfig)
		if err != nil {
			p.Blocked = append(p.Blocked, fmt.Sprintf("kubeadm-config: %v", err))
		}
		p.KubeadmDataDir = [2]string{old, p.Nodes[0].RestoreDir}
	}
	return p
}

func orID(name, id string) string {
	if name == "" {
		return id
	}
	return name
}

// Steps are the run's steps in words.
func (p *Plan) Steps() []string {
	pre := "no snapshot of the current state (--no-pre-snapshot)"
	if p.PreSnapshot != "" {
		pre = "save the current state to " + p.PreSnapshot + " (the way back)"
	}
	return []string{
		pre,
		fmt.Sprintf("start a helper pod on each of the %d nodes, upload the snapshot and run etcdutl snapshot restore into the new data directory (a failure here changes nothing)", len(p.Nodes)),
		"cut every node over at once: stop the control plane and etcd, start etcd from the restored data, start the control plane again",
		fmt.Sprintf("wait for the API server; check every member is a healthy voter of one new cluster at revision %d or later", p.MinRevision),
		fmt.Sprintf("set kubeadm-config's etcd.local.dataDir to %s", p.KubeadmDataDir[1]),
	}
}
