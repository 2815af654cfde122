// Package printers renders the plugin's result structures as a table, a wide table, JSON or YAML.
// Every command produces one result struct; this package never needs to know where it came from.
// One file per result: status.go (status, member list), alarms.go, consistency.go, defrag.go,
// doctor.go, downgrade.go, membership.go (member add, remove plan), moveleader.go, promote.go,
// snapshot.go (save, save --on-node, status, restore-plan), upgrade.go, usage.go, version.go;
// progress.go draws progress bars on a terminal.
package printers

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"
)

// Format is an output format accepted by -o.
type Format string

const (
	Table Format = "table"
	Wide  Format = "wide"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// Formats lists the accepted -o values.
var Formats = []Format{Table, Wide, JSON, YAML}

// ParseFormat validates an -o value; "" means table.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return Table, nil
	}
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: %s", s, FormatNames())
}

// FormatNames is the comma-separated list of formats, for help and errors.
func FormatNames() string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return strings.Join(names, ",")
}

// Structured reports whether the format is machine-readable.
func (f Format) Structured() bool { return f == JSON || f == YAML }

// PrintStructured writes v as indented JSON or as YAML (from the same JSON field names).
func PrintStructured(w io.Writer, f Format, v any) error {
	data, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	switch f {
	case JSON:
		_, err = fmt.Fprintf(w, "%s\n", data)
	case YAML:
		var y []byte
		y, err = yaml.JSONToYAML(data)
		if err == nil {
			_, err = w.Write(y)
		}
	default:
		err = fmt.Errorf("%s is not a structured output format", f)
	}
	return err
}

// PrintTable writes headers and rows through kubectl's tab writer.
func PrintTable(w io.Writer, headers []string, rows [][]string) error {
	tw := printers.GetNewTabWriter(w)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// Bytes renders a byte count in IEC units with one decimal ("2.6 MiB").
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Bool renders true/false as the tables show them.
func Bool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// OrDash renders an empty value as "-".
func OrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
