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
	if o := NewOptions(&cmdutil.GlobalOptions{}, streams); !o.Usage {
		t.Fatalf("NewOptions().Usage = false, want true (--usage defaults to on)")
	}
}

// doctor's only flag is the boolean --usage: every completed option set is valid
// (a bad -o or --transport is refused earlier, by GlobalOptions.Complete).
func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		usage   bool
		format  printers.Format
		wantErr string
	}{
		{name: "default", usage: true, format: printers.Table},
		{name: "usage off", usage: false, format: printers.Table},
		{name: "json", usage: true, format: printers.JSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{GlobalOptions: &cmdutil.GlobalOptions{Format: tt.format}, Usage: tt.usage, cmdPath: "kubectl etcd doctor"}
			cmdtest.WantValidate(t, o.Validate(), tt.wantErr)
		})
	}
}
