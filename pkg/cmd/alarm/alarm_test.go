package alarm

import (
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// "alarm list" has no flags of its own, and "alarm disarm" only the boolean --force whose
// checks need the cluster: every completed option set is valid (a bad -o or --transport is
// refused earlier, by GlobalOptions.Complete).
func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		validate func() error
		wantErr  string
	}{
		{name: "list table", validate: (&ListOptions{GlobalOptions: &cmdutil.GlobalOptions{Format: printers.Table}}).Validate},
		{name: "list json", validate: (&ListOptions{GlobalOptions: &cmdutil.GlobalOptions{Format: printers.JSON}}).Validate},
		{name: "disarm", validate: (&DisarmOptions{GlobalOptions: &cmdutil.GlobalOptions{Format: printers.Table}}).Validate},
		{name: "disarm --force", validate: (&DisarmOptions{GlobalOptions: &cmdutil.GlobalOptions{Format: printers.Table}, Force: true}).Validate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmdtest.WantValidate(t, tt.validate(), tt.wantErr)
		})
	}
}
