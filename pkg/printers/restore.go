package printers

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/restore"
)

// PrintRestore shows what "snapshot restore" will do.
func PrintRestore(w io.Writer, f Format, p *restore.Plan) error {
	if f.Structured() {
		return PrintStructured(w, f, p)
	}
	s := p.Snapshot
	age := ""
	if p.Age != "" {
		age = ", file modified " + p.Age + " ago"
	}
	fmt.Fprintf(w, "Snapshot: %s (%s, revision %d, %d keys%s)\n", s.File, Bytes(s.Size), s.Revision, s.Keys, age)
	name := ""
	if p.ClusterName != "" {
		name = " (" + p.ClusterName + ")"
	}
	fmt.Fprintf(w, "Cluster:  %s%s at revision %d: the restore goes back %d revisions\n", p.ClusterID, name, p.LiveRevision, p.GoesBack)
	fmt.Fprintf(w, "Restored: a new cluster (token %s), revisions bumped by %d to at least %d\n", p.Token, p.BumpRevision, p.MinRevision)
	for _, n := range p.Nodes {
		fmt.Fprintf(w, "Node %s: member %s (%s), peer %s\n", n.Node, n.Member, n.ID, strings.Join(n.PeerURLs, ","))
		for _, c := range n.Changes() {
			fmt.Fprintf(w, "  - %s\n", c)
		}
	}
	if p.KubeadmDataDir[1] != "" {
		fmt.Fprintf(w, "kubeadm-config: etcd.local.dataDir %s -> %s\n", p.KubeadmDataDir[0], p.KubeadmDataDir[1])
	}
	for i, st := range p.Steps() {
		label := "Steps:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "%-9s %d. %s\n", label, i+1, st)
	}
	if len(p.Blocked) > 0 {
		_, err := fmt.Fprintf(w, "Verdict:  refused: %s\n", strings.Join(p.Blocked, "; "))
		return err
	}
	return printVerdict(w, "ready to restore", p.Refusals)
}

// RestoreResult is what a finished restore reports.
type RestoreResult struct {
	Plan      *restore.Plan `json:"plan"`
	ClusterID string        `json:"clusterID"`
	Revision  int64         `json:"revision"`
	Took      string        `json:"took"`
	// Cleanup are the commands that remove what the restore kept, per node.
	Cleanup map[string]string `json:"cleanup"`
	// StaleHelpers are helper pods the snapshot held, deleted after the restore.
	StaleHelpers []string `json:"staleHelpers,omitempty"`
}

// PrintRestoreResult says what the restore did and what it kept.
func PrintRestoreResult(w io.Writer, f Format, r *RestoreResult) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	fmt.Fprintf(w, "Restored %s (revision %d) in %s: cluster %s, %d members, all healthy voters\n",
		r.Plan.Snapshot.File, r.Plan.Snapshot.Revision, r.Took, r.ClusterID, len(r.Plan.Nodes))
	fmt.Fprintf(w, "Revision now %d; kubeadm-config etcd.local.dataDir = %s\n", r.Revision, r.Plan.KubeadmDataDir[1])
	if r.Plan.PreSnapshot != "" {
		fmt.Fprintf(w, "The state before the restore is in %s\n", r.Plan.PreSnapshot)
	}
	fmt.Fprintln(w, "Kept on each node (the old data directory and manifests); remove them once you are satisfied:")
	for _, n := range r.Plan.Nodes {
		fmt.Fprintf(w, "  %s: %s\n", n.Node, r.Cleanup[n.Node])
	}
	_, err := fmt.Fprintln(w, "Restart the kubelets too if workloads act on stale state (the Kubernetes docs recommend it after a restore).")
	return err
}
