package moveleader

import (
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name       string
		nargs      int
		healthiest bool
		wantErr    string
	}{
		{name: "member", nargs: 1},
		{name: "to-healthiest", healthiest: true},
		{name: "neither", wantErr: "give either MEMBER or --to-healthiest"},
		{name: "both", nargs: 1, healthiest: true, wantErr: "give either MEMBER or --to-healthiest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{ToHealthiest: tt.healthiest, nargs: tt.nargs, cmdPath: "kubectl etcd move-leader"}
			cmdtest.WantValidate(t, o.Validate(), tt.wantErr)
		})
	}
}
