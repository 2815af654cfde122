package printers

import (
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/usage"
)

// Views of a usage report (--by).
const (
	ByResource  = "resource"
	ByNamespace = "namespace"
	ByObject    = "object"
)

// UsageViews lists the values --by accepts.
var UsageViews = []string{ByResource, ByNamespace, ByObject}

// PrintUsage renders a usage report: a summary and the table that by selects (table, wide), or
// the whole report (json, yaml; by does not narrow it).
func PrintUsage(w io.Writer, f Format, by string, r *usage.Report) error {
	if f.Structured() {
		return PrintStructured(w, f, r)
	}
	wide := f == Wide
	for _, l := range UsageSummary(r) {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	switch by {
	case ByNamespace:
		rows := make([][]string, 0, len(r.Namespaces))
		for _, n := range r.Namespaces {
			rows = append(rows, []string{n.Namespace, fmt.Sprint(n.Objects), bytesCell(n.Bytes, wide), pct(n.Share)})
		}
		return PrintTable(w, []string{"NAMESPACE", "OBJECTS", "BYTES", "SHARE"}, rows)
	case ByObject:
		headers := []string{"RESOURCE", "NAMESPACE", "NAME", "BYTES"}
		if wide {
			headers = append(headers, "KEY")
		}
		rows := make([][]string, 0, len(r.Objects))
		for _, o := range r.Objects {
			row := []string{o.Resource, OrDash(o.Namespace), OrDash(o.Name), bytesCell(o.Bytes, wide)}
			if wide {
				row = append(row, o.Key)
			}
			rows = append(rows, row)
		}
		return PrintTable(w, headers, rows)
	}
	if err := resourceTable(w, "RESOURCE", r.Resources, r.Source == "file", wide); err != nil {
		return err
	}
	if len(r.Prefixes) > 0 {
		fmt.Fprintln(w)
		return resourceTable(w, "PREFIX", r.Prefixes, r.Source == "file", wide)
	}
	return nil
}

func resourceTable(w io.Writer, first string, rs []usage.ResourceUsage, history, wide bool) error {
	headers := []string{first, "OBJECTS", "BYTES", "SHARE"}
	if history {
		headers = append(headers, "HISTORY")
		if wide {
			headers = append(headers, "OLD-REVISIONS")
		}
	}
	headers = append(headers, "LARGEST")
	if wide {
		headers = append(headers, "LARGEST-BYTES")
	}
	rows := make([][]string, 0, len(rs))
	for _, x := range rs {
		name := x.Resource
		if x.Group != "" {
			name += "." + x.Group
		}
		row := []string{name, fmt.Sprint(x.Objects), bytesCell(x.Bytes, wide), pct(x.Share)}
		if history {
			row = append(row, bytesCell(x.HistoryBytes, wide))
			if wide {
				row = append(row, fmt.Sprint(x.HistoryRevisions))
			}
		}
		largest, size := "-", "-"
		if l := x.Largest; l != nil {
			largest = l.Name
			if l.Namespace != "" {
				largest = l.Namespace + "/" + l.Name
			}
			if wide || largest == "" {
				largest = l.Key
			}
			size = bytesCell(l.Bytes, true)
		}
		row = append(row, largest)
		if wide {
			row = append(row, size)
		}
		rows = append(rows, row)
	}
	return PrintTable(w, headers, rows)
}

// UsageSummary is the lines above the table: where the report comes from, the revisions, and
// the database split.
func UsageSummary(r *usage.Report) []string {
	var lines []string
	src := "Source:   "
	if r.Source == "file" {
		src += "file " + r.File
	} else {
		src += fmt.Sprintf("member %s (pod %s, %s transport), read in serializable pages", OrDash(r.Member), OrDash(r.Pod), OrDash(r.Transport))
	}
	if r.Prefix != "" {
		src += fmt.Sprintf(", keys under %q only", r.Prefix)
	}
	lines = append(lines, src)
	rev := fmt.Sprintf("Revision: %d", r.Revision)
	if r.Source == "file" {
		rev += fmt.Sprintf(", compacted to %s", revOrNone(r.CompactRevision))
	}
	rev += fmt.Sprintf(", kube-apiserver compact_rev_key %s", revOrNone(r.KubeCompactRevision))
	if r.Source == "file" {
		rev += fmt.Sprintf("; %d leases", r.Leases)
	}
	lines = append(lines, rev)
	d := r.DB
	lines = append(lines, fmt.Sprintf("Database: %s, %s in use, %s free pages (a defrag returns them to the file system)", Bytes(d.Size), Bytes(d.InUse), Bytes(d.Free)))
	live := fmt.Sprintf("Live:     %s in %d keys (keys and values of the latest revisions)", Bytes(r.Totals.Bytes), r.Totals.Keys)
	lines = append(lines, live)
	switch {
	case r.Source == "file":
		h := fmt.Sprintf("History:  %s in %d old revisions and tombstones: what a compaction frees", Bytes(r.Totals.HistoryBytes), r.Totals.HistoryRevisions)
		if r.Prefix == "" {
			h += fmt.Sprintf("; %s other (bbolt pages, revision keys, leases, metadata)", Bytes(d.Overhead))
		}
		lines = append(lines, h)
	case r.Prefix == "":
		lines = append(lines, fmt.Sprintf("History:  %s in use beyond the live data: revisions not yet compacted and bbolt's own overhead (a snapshot file shows it exactly: --file)", Bytes(d.History)))
	}
	return lines
}

func revOrNone(n int64) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", f) }

// bytesCell is IEC units, or exact bytes in the wide table.
func bytesCell(n int64, exact bool) string {
	if exact {
		return fmt.Sprint(n)
	}
	return strings.ReplaceAll(Bytes(n), " ", "")
}
