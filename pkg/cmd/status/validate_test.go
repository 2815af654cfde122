package status

import (
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// "status" has no flags of its own: every completed option set is valid (a bad -o or
// --transport is refused earlier, by GlobalOptions.Complete, which cmd tests cover).
func TestValidate(t *testing.T) {
	for _, f := range []printers.Format{printers.Table, printers.Wide, printers.JSON, printers.YAML} {
		t.Run(string(f), func(t *testing.T) {
			o := &Options{GlobalOptions: &cmdutil.GlobalOptions{Format: f}, cmdPath: "kubectl etcd status"}
			if err := o.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}
