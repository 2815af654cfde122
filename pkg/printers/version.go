package printers

import (
	"fmt"
	"io"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/version"
)

// PrintVersion renders the plugin's build information: one line for table and wide, the
// fields for json and yaml.
func PrintVersion(w io.Writer, f Format, info version.Info) error {
	if f.Structured() {
		return PrintStructured(w, f, info)
	}
	_, err := fmt.Fprintf(w, "kubectl-etcd %s (commit %s, built %s, %s, %s)\n",
		info.Version, info.Commit, info.Date, info.GoVersion, info.Platform)
	return err
}
