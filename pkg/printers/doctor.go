package printers

import (
	"fmt"
	"io"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

var doctorHeaders = []string{"SEVERITY", "CHECK", "MEMBER", "FINDING", "FIX"}

// PrintDoctorReport renders a doctor report: one row per finding with its fix (wide is the same
// table), or, with nothing to fix, one "no findings:" line with the summary of st, the status the
// report was made from; JSON and YAML give the report. The checks the transport skipped are not
// printed here (the command warns about them on stderr).
func PrintDoctorReport(w io.Writer, f Format, r *etcd.DoctorReport, st *etcd.ClusterStatus) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	if len(r.Findings) == 0 {
		_, err := fmt.Fprintf(w, "no findings: %s\n", StatusSummary(st))
		return err
	}
	return printFindings(w, r.Findings)
}

// printFindings renders findings as the doctor table (doctor, perf).
func printFindings(w io.Writer, findings []etcd.Finding) error {
	rows := make([][]string, 0, len(findings))
	for _, x := range findings {
		rows = append(rows, []string{x.Severity, x.Check, OrDash(x.Member), x.Finding, x.Fix})
	}
	return PrintTable(w, doctorHeaders, rows)
}
