package perf

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdtest"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	fakeetcd "github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		window  time.Duration
		wantErr string
	}{
		{30 * time.Second, ""},
		{time.Second, ""},
		{time.Hour, ""},
		{500 * time.Millisecond, "--window must be between 1s and 1h0m0s"},
		{2 * time.Hour, "--window must be between 1s and 1h0m0s"},
	} {
		o := &Options{GlobalOptions: &cmdutil.GlobalOptions{}, Window: tt.window, cmdPath: "kubectl etcd perf"}
		cmdtest.WantValidate(t, o.Validate(), tt.wantErr)
	}
}

// capture reads a real /metrics capture of pkg/metrics/testdata.
func capture(t *testing.T, member, when string) string {
	b, err := os.ReadFile(fmt.Sprintf("../../metrics/testdata/v3.6.16/%s.%s.txt", member, when))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// steady is an exposition with no activity: a member that is ok over any window.
func steady(id uint64) string {
	return fmt.Sprintf("# TYPE etcd_server_id gauge\netcd_server_id{server_id=\"%x\"} 1\n# TYPE process_max_fds gauge\nprocess_max_fds 1000\n", id)
}

// run runs perf against cl; midWindow, when set, runs between the two scrapes.
func run(t *testing.T, cl *fakeetcd.Cluster, mode transport.Mode, format printers.Format, midWindow func()) (stdout, stderr string, code int) {
	t.Helper()
	objs, _ := cmdtest.KubeadmCluster(t)
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	g := cmdtest.Globals(t, objs, cl, "kubectl etcd perf")
	g.Mode, g.Format = mode, format
	waited := false
	o := &Options{GlobalOptions: g, IOStreams: streams, Window: 30 * time.Second, cmdPath: "kubectl etcd perf",
		wait: func(context.Context, time.Duration) error {
			waited = true
			if midWindow != nil {
				midWindow()
			}
			return nil
		}}
	err := o.Run(context.Background())
	if !waited && cmdutil.ExitCode(err) != cmdutil.ExitQuorumLost {
		t.Errorf("the window was not waited out")
	}
	return out.String(), errOut.String(), cmdutil.ExitCode(err)
}

func TestRunExitCodes(t *testing.T) {
	t.Run("every member ok", func(t *testing.T) {
		_, cl := cmdtest.KubeadmCluster(t)
		for _, m := range cl.Members {
			m.Metrics = []string{steady(m.ID)}
		}
		out, errOut, code := run(t, cl, transport.ModeMetricsOnly, printers.Table, nil)
		if code != 0 || !strings.Contains(out, "verdict: ok (over 30s") || errOut != "" {
			t.Errorf("code %d\n%s\n%s", code, out, errOut)
		}
	})
	t.Run("real captures: slow disk is degraded", func(t *testing.T) {
		_, cl := cmdtest.KubeadmCluster(t)
		for i, m := range cl.Members {
			n := fmt.Sprintf("cp-%d", i+1)
			m.Metrics = []string{capture(t, n, "before"), capture(t, n, "after")}
		}
		out, errOut, code := run(t, cl, transport.ModeMetricsOnly, printers.Table, nil)
		if code != cmdutil.ExitDegraded || !strings.Contains(out, "verdict: slow disk, unstable leader") {
			t.Errorf("code %d\n%s\n%s", code, out, errOut)
		}
		// Not a terminal: no progress line.
		if errOut != "" {
			t.Errorf("stderr %q, want nothing (progress only on a terminal)", errOut)
		}
	})
	t.Run("member stopped mid-window", func(t *testing.T) {
		_, cl := cmdtest.KubeadmCluster(t)
		for _, m := range cl.Members {
			m.Metrics = []string{steady(m.ID)}
		}
		out, errOut, code := run(t, cl, transport.ModeExec, printers.Table, func() { cl.Members[1].Down = true })
		if code != cmdutil.ExitDegraded || !strings.Contains(out, "cp-2     unreachable") || !strings.Contains(out, "cp-1     ok") ||
			!strings.Contains(out, "reading /metrics after the window") {
			t.Errorf("code %d\n%s\n%s", code, out, errOut)
		}
		// --transport exec cannot read /metrics: perf says which route it takes.
		if !strings.Contains(errOut, "note: perf reads /metrics through a port-forward") {
			t.Errorf("stderr %q", errOut)
		}
	})
	t.Run("no member answers", func(t *testing.T) {
		_, cl := cmdtest.KubeadmCluster(t)
		out, _, code := run(t, cl, transport.ModeMetricsOnly, printers.JSON, nil)
		if code != cmdutil.ExitQuorumLost || !strings.Contains(out, `"verdict": "unreachable"`) {
			t.Errorf("code %d\n%s", code, out)
		}
	})
}
