package check

import (
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// "check consistency" has no flags of its own: every completed option set is valid
// (a bad -o or --transport is refused earlier, by GlobalOptions.Complete).
func TestConsistencyValidate(t *testing.T) {
	tests := []struct {
		name    string
		format  printers.Format
		wantErr string
	}{
		{name: "table", format: printers.Table},
		{name: "json", format: printers.JSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &ConsistencyOptions{GlobalOptions: &cmdutil.GlobalOptions{Format: tt.format}, cmdPath: "kubectl etcd check consistency"}
			cmdtest.WantValidate(t, o.Validate(), tt.wantErr)
		})
	}
}
