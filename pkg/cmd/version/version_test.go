package version

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		format printers.Format
		err    string
	}{
		{format: printers.Table}, {format: printers.Wide}, {format: printers.JSON}, {format: printers.YAML},
		{format: "jsonpath", err: `unable to match a printer suitable for the output format "jsonpath", allowed formats are: table,wide,json,yaml`},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			o := &Options{GlobalOptions: cmdutil.NewGlobalOptions(), cmdPath: "kubectl etcd version"}
			o.Format = tt.format
			err := o.Validate()
			var ue *cmdutil.UsageError
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &ue)):
				t.Errorf("error %v, want a usage error saying %q", err, tt.err)
			}
		})
	}
}

// The table line and the -o default; -o json holds the same fields.
func TestRun(t *testing.T) {
	for _, o := range []string{"", "table", "wide", "json"} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		g := cmdutil.NewGlobalOptions()
		g.Output = o
		root := &cobra.Command{Use: "kubectl-etcd"}
		root.AddCommand(NewCmdVersion(g, streams))
		root.SetArgs([]string{"version"})
		if err := root.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("-o %q: %v", o, err)
		}
		want := "kubectl-etcd "
		if o == "json" {
			want = `"version": `
		}
		if !strings.Contains(out.String(), want) || bytes.Count(out.Bytes(), []byte("\n")) < 1 {
			t.Errorf("-o %q: %q", o, out.String())
		}
	}
}
