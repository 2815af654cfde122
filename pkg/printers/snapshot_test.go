package printers

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/etcd"
	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

// snapshotGoldens renders v in every format and compares each with
// testdata/snapshot-NAME.FORMAT.golden (wide is the table: these results have no wide columns).
func snapshotGoldens(t *testing.T, name string, render1 func(*bytes.Buffer, Format) error) {
	t.Helper()
	for _, f := range Formats {
		var buf bytes.Buffer
		if err := render1(&buf, f); err != nil {
			t.Fatal(err)
		}
		golden(t, "snapshot-"+name+"."+string(f)+".golden", buf.Bytes())
	}
}

func TestSnapshotSavedGolden(t *testing.T) {
	md := &etcd.SnapshotMetadata{
		File: "/backup/etcd.db", Size: 104857632,
		SHA256:    "f67b09b3354137d9adeb1fe4fafbbf381a3d4d0a3e850c4e164b8904bf5039bd",
		DBSHA256:  "c8f5d0341d54d951a71b136e6e2afcb14d11ed8489a7ae126a8fee0df6ecf193",
		ClusterID: "cdf818194e3a8c32", MemberID: "91bc3c398fb3c146", MemberName: "cp-2", Pod: "etcd-cp-2", Node: "cp-2",
		Revision: 4711, EtcdVersion: "3.6.16", StorageVersion: "3.6.0", DBSize: 104857600, KubernetesVersion: "v1.34.1",
		Time: "2026-12-03T08:00:00Z", Took: "2.345s", PluginVersion: "v0.9.0",
	}
	snapshotGoldens(t, "save", func(b *bytes.Buffer, f Format) error { return PrintSnapshotSaved(b, f, md) })
}

func TestSnapshotOnNodeGolden(t *testing.T) {
	r := &etcd.OnNodeResult{Pod: "etcd-cp-2", Node: "cp-2", MemberID: "91bc3c398fb3c146", MemberName: "cp-2",
		Path: "/var/lib/etcd/snapshot.db", HostPath: "/mnt/disk1/etcd/snapshot.db", Trailer: "valid",
		Hash: 0xabcd, Revision: 4711, TotalKeys: 1234, TotalSize: 104857600, StorageVersion: "3.6.0"}
	snapshotGoldens(t, "on-node", func(b *bytes.Buffer, f Format) error { return PrintSnapshotOnNode(b, f, r) })
}

func TestSnapshotStatusGolden(t *testing.T) {
	ok := &snap.Report{File: "/backup/etcd.db", Size: 104857632, SHA256: "f67b09b3354137d9adeb1fe4fafbbf381a3d4d0a3e850c4e164b8904bf5039bd",
		Hash: 0x22fa7e04, Revision: 4711, TotalKeys: 1234, TotalSize: 104857600, StorageVersion: "3.6.0",
		Trailer: "valid", Bolt: "ok", Verdict: snap.VerdictOK}
	snapshotGoldens(t, "status-ok", func(b *bytes.Buffer, f Format) error { return PrintSnapshotStatus(b, f, ok) })
	// A damaged file: no storage version, the problems in the structured output only.
	bad := &snap.Report{File: "/backup/cut.db", Size: 1000, SHA256: "edaee2f3d15eca6cc765809d33230a058ca75ed3d3cef408c3b358157b4ad107",
		Trailer: "missing", Bolt: "page 3: unreachable unfreed", Verdict: snap.VerdictCorrupt,
		Problems: []string{"no sha256 trailer: truncated, or not a snapshot stream (a copied db file has none)", "bbolt: page 3: unreachable unfreed"}}
	snapshotGoldens(t, "status-corrupt", func(b *bytes.Buffer, f Format) error { return PrintSnapshotStatus(b, f, bad) })
}

func TestRestorePlanGolden(t *testing.T) {
	c, pods := cluster()
	c.Members[2].Down = false
	ml, err := etcd.ListMembers(context.Background(), c.Connector(), pods, 0)
	if err != nil {
		t.Fatal(err)
	}
	pods[1].DataDir = "/data/etcd"
	plan := etcd.PlanRestore(ml, pods, etcd.RestorePlanOptions{Snapshot: "/backup/etcd.db", BumpRevision: 1000000000})
	if len(plan.Warnings) == 0 {
		t.Fatal("the learner is not left out with a warning")
	}
	snapshotGoldens(t, "restore-plan", func(b *bytes.Buffer, f Format) error { return PrintRestorePlan(b, f, plan) })
}

// A writer that fails makes the table printers fail with its error.
type failingWriter struct{}

var errWrite = errors.New("write failed")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestSnapshotPrintersReportWriteErrors(t *testing.T) {
	plan := &etcd.RestorePlan{Steps: []string{"a"}}
	for name, err := range map[string]error{
		"save":         PrintSnapshotSaved(failingWriter{}, Table, &etcd.SnapshotMetadata{}),
		"on-node":      PrintSnapshotOnNode(failingWriter{}, Table, &etcd.OnNodeResult{}),
		"status":       PrintSnapshotStatus(failingWriter{}, Table, &snap.Report{}),
		"restore-plan": PrintRestorePlan(failingWriter{}, Table, plan),
	} {
		if !errors.Is(err, errWrite) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
