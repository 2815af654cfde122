package printers

import (
	"fmt"
	"io"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

var consistencyHeaders = []string{"MEMBER", "ID", "POD", "HASH", "REVISION", "COMPACTED"}

// PrintConsistency renders a "check consistency" report: each member's hash (wide is the same
// table) and, when the members agree and nothing went wrong, a closing "consistent:" line; or the
// report as JSON or YAML. The problems are not printed here (the command prints them to stderr).
func PrintConsistency(w io.Writer, f Format, r *etcd.ConsistencyReport) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	rows := make([][]string, 0, len(r.Members))
	for _, m := range r.Members {
		hash := fmt.Sprintf("%08x", m.Hash)
		if m.Error != "" {
			hash = "error"
		}
		rows = append(rows, []string{m.Name, m.ID, m.Pod, hash, fmt.Sprint(m.HashRevision), fmt.Sprint(m.CompactRevision)})
	}
	if err := PrintTable(w, consistencyHeaders, rows); err != nil {
		return err
	}
	if !r.Consistent || len(r.Problems) > 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "consistent: %d members agree at revision %d\n", len(r.Members), r.Revision)
	return err
}
