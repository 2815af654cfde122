package perf

import (
	"context"
	"io"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/metrics"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// Watch runs etcd.Perf over window with a progress line on errOut when it is a terminal (the
// part doctor shares). wait, when set, replaces the timer (tests).
func Watch(ctx context.Context, g *cmdutil.GlobalOptions, errOut io.Writer, sc metrics.Scraper, pods []discovery.Member, window time.Duration,
	wait func(ctx context.Context, d time.Duration) error) (*etcd.PerfReport, error) {
	opts := etcd.PerfOptions{Window: window, Timeout: g.Timeout(), Wait: wait}
	if cmdutil.IsTerminal(errOut) {
		bar := printers.NewProgress(errOut, true)
		defer bar.Done()
		opts.Progress = func(elapsed, window time.Duration) {
			bar.Update("watching etcd's metrics", uint64(elapsed.Seconds()), uint64(window.Seconds()), "s")
		}
	}
	opts.FirstRead = func(n int) {
		g.Logf(1, "perf: first read of /metrics done (%d of %d members answered); reading again in %s", n, len(pods), window)
	}
	g.Logf(1, "perf: reading /metrics of %d members, %s apart, through %s", len(pods), window, etcd.PerfRoute)
	return etcd.Perf(ctx, sc, pods, opts)
}
