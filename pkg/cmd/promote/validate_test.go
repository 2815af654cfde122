package promote

import (
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name              string
		timeout, interval time.Duration
		wantErr           string
	}{
		{name: "defaults", timeout: 5 * time.Minute, interval: 2 * time.Second},
		{name: "short poll", timeout: time.Second, interval: 10 * time.Millisecond},
		{name: "zero timeout", timeout: 0, interval: time.Second, wantErr: "--timeout must be positive, got 0s"},
		{name: "negative timeout", timeout: -time.Second, interval: time.Second, wantErr: "--timeout must be positive, got -1s"},
		{name: "zero poll interval", timeout: time.Minute, interval: 0, wantErr: "--poll-interval must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{GlobalOptions: &cmdutil.GlobalOptions{}, Timeout: tt.timeout, Interval: tt.interval, cmdPath: "kubectl etcd promote"}
			cmdtest.WantValidate(t, o.Validate(), tt.wantErr)
		})
	}
}
