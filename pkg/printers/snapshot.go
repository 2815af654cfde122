package printers

import (
	"fmt"
	"io"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

// PrintSnapshotSaved renders the result of "snapshot save" (a snapshot streamed into a local
// file): in table formats two lines, where, what and how long, then the checksums and the
// metadata file.
func PrintSnapshotSaved(w io.Writer, f Format, md *etcd.SnapshotMetadata) error {
	if f.Structured() {
		return PrintStructured(w, f, md)
	}
	from := md.MemberID
	if md.Pod != "" {
		from += ", pod " + md.Pod // an external member has none
	}
	if _, err := fmt.Fprintf(w, "Snapshot saved to %s (%s, revision %d, etcd %s) from member %s (%s) in %s\nsha256 %s (database sha256 %s verified)\n",
		md.File, Bytes(md.Size), md.Revision, md.EtcdVersion, md.MemberName, from, md.Took,
		md.SHA256, md.DBSHA256); err != nil {
		return err
	}
	if !md.Plain() {
		stored := fmt.Sprintf("stored %s: %s", md.Layers, Bytes(md.FileSize))
		if md.Compression != "" && md.FileSize > 0 {
			stored += fmt.Sprintf(" (%.1f%% of the snapshot)", 100*float64(md.FileSize)/float64(max(md.Size, 1)))
		}
		if len(md.Recipients) > 0 {
			stored += fmt.Sprintf(", encrypted to %d recipient(s)", len(md.Recipients))
		}
		if _, err := fmt.Fprintf(w, "%s, file sha256 %s\n", stored, md.FileSHA256); err != nil {
			return err
		}
	}
	for _, r := range md.Removed {
		if _, err := fmt.Fprintf(w, "removed older snapshot %s (--keep)\n", r); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "metadata %s.json\n", md.File)
	return err
}

// PrintSnapshotOnNode renders the result of "snapshot save --on-node": in table formats one line
// with the file on the node and what etcdutl reported on it.
func PrintSnapshotOnNode(w io.Writer, f Format, r *etcd.OnNodeResult) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	_, err := fmt.Fprintf(w, "Snapshot saved on node %s at %s (%s in pod %s): %s, revision %d, %d keys, etcdutl hash %08x, sha256 trailer verified\n",
		r.Node, r.HostPath, r.Path, r.Pod, Bytes(r.TotalSize), r.Revision, r.TotalKeys, r.Hash)
	return err
}

// PrintSnapshotStatus renders the report of "snapshot status": in table formats one "key: value"
// line per field, ending with the verdict. The problems of a file that is not ok are not
// printed here (callers print them to stderr).
func PrintSnapshotStatus(w io.Writer, f Format, r *snap.Report) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	rows := [][]string{
		{"File", r.File}, {"Size", fmt.Sprintf("%s (%d bytes)", Bytes(r.Size), r.Size)},
	}
	if !r.Plain() {
		rows = append(rows, []string{"Stored", fmt.Sprintf("%s, %s (%d bytes)", r.Layers, Bytes(r.FileSize), r.FileSize)})
	}
	rows = append(rows, [][]string{
		{"SHA256", r.SHA256}, {"Trailer", r.Trailer}, {"Bolt check", r.Bolt},
		{"Hash", fmt.Sprintf("%08x", r.Hash)}, {"Revision", fmt.Sprint(r.Revision)},
		{"Total keys", fmt.Sprint(r.TotalKeys)}, {"Total size", fmt.Sprint(r.TotalSize)},
		{"Storage version", OrDash(r.StorageVersion)}, {"Verdict", r.Verdict},
	}...)
	for _, row := range rows {
		if _, err := fmt.Fprintf(w, "%-16s %s\n", row[0]+":", row[1]); err != nil {
			return err
		}
	}
	return nil
}

// restoreCommandsStep is the index of the step after which the per-node commands are listed.
const restoreCommandsStep = 4

// PrintRestorePlan renders the plan of "snapshot restore-plan": in table formats a heading, then
// the numbered steps with each node's etcdutl command under the restore step. The plan's
// warnings are not printed here (callers print them to stderr).
func PrintRestorePlan(w io.Writer, f Format, p *etcd.RestorePlan) error {
	if f.Structured() {
		return PrintStructured(w, f, p)
	}
	if _, err := fmt.Fprintf(w, "Restore plan for %s onto %d member(s); initial cluster %s\n", p.Snapshot, len(p.Nodes), p.InitialCluster); err != nil {
		return err
	}
	for _, s := range p.Sources {
		if _, err := fmt.Fprintf(w, "- %s\n", s); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintln(w); err != nil {
		return err
	}
	for i, s := range p.Steps {
		if _, err := fmt.Fprintf(w, "%2d. %s\n", i+1, s); err != nil {
			return err
		}
		if i != restoreCommandsStep {
			continue
		}
		for _, n := range p.Nodes {
			if _, err := fmt.Fprintf(w, "      node %s (member %s, data dir %s):\n        %s\n", n.Node, n.Name, n.DataDir, n.CommandLine); err != nil {
				return err
			}
		}
	}
	return nil
}
