package doctor

import (
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

func TestNewDoctorOptionsDefaults(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	if o := NewOptions(&cmdutil.GlobalOptions{}, streams); !o.Usage || o.PageSize != 500 {
		t.Fatalf("NewOptions() = usage %v page size %d, want true (--usage defaults to on) and 500", o.Usage, o.PageSize)
	}
}

// --page-size is checked as usage checks it (a bad -o or --transport is refused earlier, by
// GlobalOptions.Complete).
func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		usage    bool
		format   printers.Format
		pageSize int64
		wantErr  string
	}{
		{name: "default", usage: true, format: printers.Table, pageSize: 500},
		{name: "usage off", usage: false, format: printers.Table, pageSize: 500},
		{name: "json", usage: true, format: printers.JSON, pageSize: 500},
		{name: "page size 1", usage: true, format: printers.Table, pageSize: 1},
		{name: "page size 0", usage: true, format: printers.Table, pageSize: 0, wantErr: "--page-size must be between 1 and 10000"},
		{name: "page size huge", usage: true, format: printers.Table, pageSize: 10001, wantErr: "--page-size must be between 1 and 10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{GlobalOptions: &cmdutil.GlobalOptions{Format: tt.format}, Usage: tt.usage, PageSize: tt.pageSize, cmdPath: "kubectl etcd doctor"}
			cmdtest.WantValidate(t, o.Validate(), tt.wantErr)
		})
	}
}
