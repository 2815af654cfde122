package usage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// TestUsageLargeValues writes 80 values of 1 MiB (Helm release Secrets come close): a page of
// 500 keys is over gRPC's 64 MiB receive limit and, base64-encoded, over exec's 64 MiB output
// cap. Both transports shrink the page and count every key.
func TestUsageLargeValues(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w := &written{objects: map[string]int64{}, bytes: map[string]int64{}, nsBytes: map[string]int64{}}
	for i := range 80 {
		w.put(t, ctx, c, fmt.Sprintf("/registry/secrets/team-a/sh.helm.release.v1.app.v%02d", i), 1<<20, "secrets", "team-a")
	}
	dir := t.TempDir()
	for _, tr := range [][]string{{"--transport", "exec"}, plugintest.PFArgs(c)} {
		r := usage(t, c, dir, append(tr, "--rate", "0")...)
		if r.Totals.Keys != 80 || r.Totals.Bytes != w.bytes["secrets"] {
			t.Errorf("%v: totals %+v, want 80 keys of %d bytes", tr, r.Totals, w.bytes["secrets"])
		}
	}
}
