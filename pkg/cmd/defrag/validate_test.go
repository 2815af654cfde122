package defrag

import (
	"math"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		minFrag float64
		minSize int64
		timeout time.Duration
		wantErr string
	}{
		{name: "defaults", minFrag: etcd.DefaultMinFragmentation, minSize: etcd.DefaultMinDefragSize},
		{name: "zero thresholds", minFrag: 0, minSize: 0},
		{name: "every member", minFrag: 100, minSize: 1 << 30},
		{name: "negative share", minFrag: -1, wantErr: "--min-fragmentation must be between 0 and 100"},
		{name: "share over 100", minFrag: 100.5, wantErr: "--min-fragmentation must be between 0 and 100"},
		{name: "negative size", minFrag: 50, minSize: -1, wantErr: "--min-size must not be negative"},
		{name: "NaN share", minFrag: math.NaN(), wantErr: "--min-fragmentation must be between 0 and 100"},
		{name: "+Inf share", minFrag: math.Inf(1), wantErr: "--min-fragmentation must be between 0 and 100"},
		{name: "-Inf share", minFrag: math.Inf(-1), wantErr: "--min-fragmentation must be between 0 and 100"},
		{name: "fixed defrag timeout", minFrag: 50, timeout: time.Minute},
		{name: "negative defrag timeout", minFrag: 50, timeout: -time.Second, wantErr: "--defrag-timeout must not be negative (0: scale with the database size)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{GlobalOptions: &cmdutil.GlobalOptions{}, cmdPath: "kubectl etcd defrag"}
			o.MinFragmentation, o.MinSize, o.DefragOptions.Timeout = tt.minFrag, tt.minSize, tt.timeout
			cmdtest.WantValidate(t, o.Validate(), tt.wantErr)
		})
	}
}
