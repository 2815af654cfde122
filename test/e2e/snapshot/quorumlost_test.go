package snapshot_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// TestRestorePlanQuorumLost: with a majority of the members stopped the member list cannot be
// read, and that is when a restore is needed. The plan comes from the member list recorded in
// the snapshot (real etcd's members bucket), paired with the pods the API server still lists,
// and says so.
func TestRestorePlanQuorumLost(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	F := filepath.Join(dir, "F.db")
	names := c.MemberNames()
	// A snapshot stream from the first member, sha256 trailer included.
	cli := c.Client(t)
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(F, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	for _, n := range names[1:] {
		if err := c.StopMember(n); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, c, dir, "snapshot", "restore-plan", "F.db", "-o", "json", "--request-timeout", "5s")
	plugintest.WantCode(t, r, 0)
	var plan struct {
		restorePlan
		Sources []string `json:"sources"`
	}
	plugintest.Decode(t, r, &plan)
	if len(plan.Nodes) != len(names) {
		t.Fatalf("plan has %d nodes, want %d\n%s", len(plan.Nodes), len(names), r)
	}
	if len(plan.Sources) != 2 || !strings.Contains(plan.Sources[0], "from the snapshot file") || !strings.Contains(plan.Sources[1], "etcd pods") {
		t.Errorf("sources %q: want the member list from the snapshot and the nodes from the pods", plan.Sources)
	}
	for i, n := range plan.Nodes {
		if n.Name != names[i] || n.Pod != "etcd-"+names[i] || !strings.Contains(plan.InitialCluster, names[i]+"=") {
			t.Errorf("node %+v: want member %s in pod etcd-%s, in the initial cluster %s", n, names[i], names[i], plan.InitialCluster)
		}
	}
	// The text form names where the member list came from.
	r = run(t, c, dir, "snapshot", "restore-plan", "F.db", "--request-timeout", "5s")
	plugintest.WantCode(t, r, 0)
	if !strings.Contains(r.Stdout, "the member list comes from the snapshot file") {
		t.Errorf("text plan does not say where the member list came from\n%s", r)
	}
}
