package doctor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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

// slowFsync is a member's /metrics before and after a window in which 100 WAL fsyncs took
// 10-20 ms each: a slow disk.
func slowFsync(id uint64, fsyncs int) string {
	return fmt.Sprintf(`# TYPE etcd_server_id gauge
etcd_server_id{server_id="%x"} 1
# TYPE etcd_disk_wal_fsync_duration_seconds histogram
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.01"} 0
etcd_disk_wal_fsync_duration_seconds_bucket{le="0.02"} %d
etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} %d
etcd_disk_wal_fsync_duration_seconds_sum 0
etcd_disk_wal_fsync_duration_seconds_count %d
`, id, fsyncs, fsyncs, fsyncs)
}

// doctor lists perf's findings with its own; a member whose metrics cannot be read is a skipped
// check, not a finding; --perf-window=0 reads no metrics.
func TestDoctorPerfChecks(t *testing.T) {
	objs, cl := cmdtest.KubeadmCluster(t)
	cl.Members[0].Metrics = []string{slowFsync(cl.Members[0].ID, 0), slowFsync(cl.Members[0].ID, 100)}
	cl.Members[1].Metrics = []string{slowFsync(cl.Members[1].ID, 0)}
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cmdtest.Globals(t, objs, cl, "kubectl etcd doctor")
	var window time.Duration
	o := NewOptions(g, streams)
	o.Usage = false
	o.wait = func(_ context.Context, d time.Duration) error { window = d; return nil }
	err := o.Run(context.Background())
	if code := cmdutil.ExitCode(err); code != cmdutil.ExitDegraded || window != DefaultPerfWindow {
		t.Errorf("exit code %d window %s, want 2 and %s", code, window, DefaultPerfWindow)
	}
	if !strings.Contains(out.String(), "wal-fsync") || !strings.Contains(out.String(), "WAL fsync p99 19.9 ms over 5s") || strings.Contains(out.String(), "metrics-unreachable") {
		t.Errorf("stdout:\n%s", out)
	}
	if !strings.Contains(errOut.String(), "skipped perf checks of etcd-cp-3 (reading /metrics before the window") {
		t.Errorf("stderr:\n%s", errOut)
	}

	_, cl = cmdtest.KubeadmCluster(t)
	streams, _, out, _ = genericiooptions.NewTestIOStreams()
	o = NewOptions(cmdtest.Globals(t, objs, cl, "kubectl etcd doctor"), streams)
	o.Usage, o.PerfWindow = false, 0
	if err := o.Run(context.Background()); err != nil || cmdtest.Called(cl, "scrape") {
		t.Errorf("--perf-window=0: %v, calls %v\n%s", err, cl.Calls, out)
	}
}
