package etcd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/discovery"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport/fake"
)

func TestDefaultSnapshotName(t *testing.T) {
	at := time.Date(2026, 12, 2, 21, 5, 9, 0, time.FixedZone("CET", 3600))
	if got, want := DefaultSnapshotName("cdf818194e3a8c32", at), "etcd-snapshot-cdf818194e3a8c32-20261202T200509Z.db"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// A save streams from a serving follower (never the leader when a follower serves), writes the
// verified file with mode 0600 and the sidecar that describes it, and leaves no .part behind.
func TestSaveSnapshotFromAFollower(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	cl := threeMembers()
	stream := snapshotStream()
	for _, m := range cl.Members {
		m.SnapshotData = stream
	}
	var chosen string
	var progressed int64
	md, err := SaveSnapshot(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), SnapshotOptions{
		Path: path, PluginVersion: "v-test",
		Chosen:   func(m MemberStatus) { chosen = m.Name },
		Progress: func(n, _ int64) { progressed = n },
	})
	if err != nil {
		t.Fatal(err)
	}
	if chosen == "" || chosen == "cp-1" || md.MemberName != chosen || md.Pod != "etcd-"+chosen {
		t.Errorf("chosen %q, metadata member %q pod %q; want a follower (cp-1 leads)", chosen, md.MemberName, md.Pod)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(b, stream) {
		t.Fatalf("file differs from the stream (%d bytes, %v)", len(b), err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if md.Size != int64(len(stream)) || md.DBSize != int64(len(stream)-32) || md.ClusterID != "cdf818194e3a8c32" || md.PluginVersion != "v-test" {
		t.Errorf("metadata %+v", md)
	}
	if progressed != int64(len(stream)) {
		t.Errorf("progress saw %d bytes, want %d", progressed, len(stream))
	}
	var side SnapshotMetadata
	raw, _ := os.ReadFile(path + ".json")
	if err := json.Unmarshal(raw, &side); err != nil || side.SHA256 != md.SHA256 || side.MemberID != md.MemberID {
		t.Errorf("sidecar %s: %v", raw, err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*.part"))
	if len(leftovers) != 0 {
		t.Errorf("left behind: %v", leftovers)
	}
	if len(cl.Locks) != 0 {
		t.Errorf("member lock not released: %v", cl.Locks)
	}
}

// A stream whose sha256 trailer does not match is refused and nothing is kept.
func TestSaveSnapshotRefusesABadTrailer(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	cl := threeMembers()
	bad := snapshotStream()
	bad[10] ^= 0xff
	for _, m := range cl.Members {
		m.SnapshotData = bad
	}
	_, err := SaveSnapshot(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), SnapshotOptions{Path: path})
	if err == nil || !strings.Contains(err.Error(), "nothing was kept") {
		t.Fatalf("want a refused stream, got %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("kept %v", entries)
	}
}

func TestSaveSnapshotFromTheNamedMember(t *testing.T) {
	cl := threeMembers()
	for _, m := range cl.Members {
		m.SnapshotData = snapshotStream()
	}
	ps := pods("cp-1", "cp-2", "cp-3")
	md, err := SaveSnapshot(context.Background(), cl.Connector(), ps, SnapshotOptions{Path: filepath.Join(t.TempDir(), "s.db"), Member: "cp-1"})
	if err != nil || md.MemberName != "cp-1" {
		t.Fatalf("named leader: %+v %v", md, err)
	}
	cl.Find(id2).Down = true
	_, err = SaveSnapshot(context.Background(), cl.Connector(), ps, SnapshotOptions{Path: filepath.Join(t.TempDir(), "s.db"), Member: "cp-2", CallTimeout: time.Second})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("named member down: %v", err)
	}
	_, err = SaveSnapshot(context.Background(), cl.Connector(), ps, SnapshotOptions{Path: filepath.Join(t.TempDir(), "s.db"), Member: "cp-9"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown member: %v", err)
	}
}

func TestSaveSnapshotNoServingVoter(t *testing.T) {
	cl := threeMembers()
	for _, m := range cl.Members {
		m.Down = true
	}
	dir := t.TempDir()
	_, err := SaveSnapshot(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), SnapshotOptions{Path: filepath.Join(dir, "s.db"), CallTimeout: time.Second})
	if !errors.Is(err, ErrNoMemberReachable) {
		t.Errorf("got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("kept %v", entries)
	}
}

// A streamed save surveys the members once (one status round over the pods it is given) and
// streams from one of them.
func TestSaveSnapshotSurveysOnce(t *testing.T) {
	cl := threeMembers()
	for _, m := range cl.Members {
		m.SnapshotData = snapshotStream()
	}
	ps := pods("cp-1", "cp-2", "cp-3")
	if _, err := SaveSnapshot(context.Background(), cl.Connector(), ps, SnapshotOptions{Path: filepath.Join(t.TempDir(), "s.db")}); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, c := range cl.Calls {
		count[c]++
	}
	streams := 0
	for _, p := range ps {
		for _, op := range []string{"status", "health", "member list", "alarm list"} {
			if n := count[p.Pod+" "+op]; n != 1 {
				t.Errorf("%s %s: %d calls, want 1 (calls %v)", p.Pod, op, n, cl.Calls)
			}
		}
		streams += count[p.Pod+" snapshot"]
	}
	if streams != 1 {
		t.Errorf("%d streams, want 1 (calls %v)", streams, cl.Calls)
	}
}

// modeConn is a connector of a given mode, optionally wrapped by something that streams.
type modeConn struct {
	transport.Connector
	mode    transport.Mode
	streams bool
}

func (c modeConn) Mode() transport.Mode   { return c.mode }
func (c modeConn) StreamsSnapshots() bool { return c.streams }

func TestCheckStreamTransport(t *testing.T) {
	for _, c := range []struct {
		mode    transport.Mode
		streams bool
		ok      bool
	}{
		{transport.ModePortForward, false, true},
		{transport.ModeExec, false, false},
		{transport.ModeMetricsOnly, false, false},
		{transport.ModeExec, true, true}, // the node helper
		{transport.ModeMetricsOnly, true, true},
	} {
		err := CheckStreamTransport(modeConn{mode: c.mode, streams: c.streams})
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "transport "+string(c.mode)+" was chosen")) {
			t.Errorf("%s (helper %v): %v", c.mode, c.streams, err)
		}
	}
}

// --member naming a CORRUPT member or a learner is refused before anything is written, unless
// --force, which warns instead (the checks a picked member passes were skipped for a named one).
func TestSaveSnapshotNamedMemberChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(m *fake.Member)
		want   string
	}{
		{name: "corrupt", mutate: func(m *fake.Member) { m.Unhealthy = "Active Alarm(s): CORRUPT " }, want: "CORRUPT alarm"},
		{name: "learner", mutate: func(m *fake.Member) { m.Learner = true }, want: "is a learner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "snap.db")
			cl := threeMembers()
			for _, m := range cl.Members {
				m.SnapshotData = snapshotStream()
			}
			tc.mutate(cl.Members[2])
			o := SnapshotOptions{Path: path, Member: "cp-3"}
			_, err := SaveSnapshot(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), o)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--force") {
				t.Fatalf("named %s member: %v, want a refusal naming --force", tc.name, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a file was written despite the refusal: %v", err)
			}
			var warnings []string
			o.Force, o.Warn = true, func(w string) { warnings = append(warnings, w) }
			md, err := SaveSnapshot(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), o)
			if err != nil || md.MemberName != "cp-3" {
				t.Fatalf("with --force: %v %+v", err, md)
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], tc.want) {
				t.Errorf("with --force: warnings %q, want one naming the problem", warnings)
			}
		})
	}
}

// Ctrl-C while the member lock is being taken (the stream is already open: a helper pod may be
// writing on the node) says the snapshot was interrupted, not that the lock failed.
func TestSaveSnapshotInterruptedAtTheLock(t *testing.T) {
	dir := t.TempDir()
	cl := threeMembers()
	for _, m := range cl.Members {
		m.SnapshotData = snapshotStream()
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cl.OnLock = func(*fake.Cluster, string) error {
		cancel(errors.New("received interrupt"))
		return fmt.Errorf("etcdctl lease grant 11: %w", context.Canceled)
	}
	_, err := SaveSnapshot(ctx, cl.Connector(), pods("cp-1", "cp-2", "cp-3"), SnapshotOptions{Path: filepath.Join(dir, "snap.db")})
	if err == nil || !strings.Contains(err.Error(), "interrupted (received interrupt) while taking the member lock; nothing was kept") {
		t.Fatalf("error %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// A save into a directory names the file etcd-<cluster id>-<UTC time>.db with the layers'
// suffixes and, with Keep, removes the cluster's older snapshots beyond Keep, only once the new
// one is verified: a failed save removes nothing.
func TestSaveSnapshotIntoDirectoryKeeps(t *testing.T) {
	dir := t.TempDir()
	const id = "cdf818194e3a8c32"
	var old []string
	for i := range 3 {
		n := filepath.Join(dir, snapshot.RotationName(id, time.Date(2026, 1, 1, i, 0, 0, 0, time.UTC))+".zst")
		old = append(old, n)
		if err := os.WriteFile(n, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(n+".json", []byte(`{"clusterID":"`+id+`","pluginVersion":"v0"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	other := filepath.Join(dir, "keep-me.db")
	_ = os.WriteFile(other, []byte("x"), 0o600)

	cl := threeMembers()
	bad := snapshotStream()
	bad[10] ^= 1
	for _, m := range cl.Members {
		m.SnapshotData = bad
	}
	var warnings []string
	o := SnapshotOptions{Dir: dir, Keep: 1, Layers: snapshot.Layers{Compression: snapshot.CompressZstd}, PluginVersion: "v-test",
		Warn: func(w string) { warnings = append(warnings, w) }}
	if _, err := SaveSnapshot(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), o); !errors.Is(err, snapshot.ErrIntegrity) {
		t.Fatalf("bad stream: %v", err)
	}
	for _, n := range append(old, other) {
		if _, err := os.Stat(n); err != nil {
			t.Errorf("a failed save removed %s", n)
		}
	}

	good := snapshotStream()
	for _, m := range cl.Members {
		m.SnapshotData = good
	}
	md, err := SaveSnapshot(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), o)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(md.File) != dir || !strings.HasPrefix(filepath.Base(md.File), "etcd-"+id+"-") || !strings.HasSuffix(md.File, ".db.zst") {
		t.Errorf("file %s, want %s/etcd-%s-<time>.db.zst", md.File, dir, id)
	}
	if md.Compression != snapshot.CompressZstd || md.Size != int64(len(good)) || md.FileSize <= 0 || md.FileSHA256 == "" {
		t.Errorf("metadata %+v", md)
	}
	if len(md.Removed) != 3 {
		t.Errorf("removed %v, want the 3 older snapshots", md.Removed)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{filepath.Base(md.File), filepath.Base(md.File) + ".json", "keep-me.db"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("directory holds %v, want %v", names, want)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %v", warnings)
	}
}

// Once the member is chosen, the connections the survey opened to the other members are
// released before the stream opens (a port-forward each, with its buffers), and BeforeStream
// runs after that.
func TestSaveSnapshotReleasesTheOtherMembersBeforeStreaming(t *testing.T) {
	cl := threeMembers()
	for _, m := range cl.Members {
		m.SnapshotData = snapshotStream()
	}
	var before []string
	_, err := SaveSnapshot(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), SnapshotOptions{
		Path: filepath.Join(t.TempDir(), "snap.db"), Member: "cp-3",
		BeforeStream: func() { before = append([]string(nil), cl.Calls...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	release, stream := -1, -1
	for i, c := range cl.Calls {
		switch {
		case c == "release except etcd-cp-3":
			release = i
		case strings.HasSuffix(c, " snapshot"):
			stream = i
		}
	}
	if release < 0 || stream < release {
		t.Fatalf("release at %d, stream at %d; want the release before the stream (calls %v)", release, stream, cl.Calls)
	}
	if len(before) != release+1 {
		t.Errorf("BeforeStream ran after %d calls, want right after the release (calls %v)", len(before), cl.Calls)
	}
}

// interruptingConn's sessions fail Snapshot as an interrupt while the stream is being opened
// looks: the run's context is cancelled and the call under way (a helper pod's GET) says
// "context canceled".
type interruptingConn struct {
	transport.Connector
	cancel context.CancelFunc
}

type interruptingSession struct {
	transport.Session
	cancel context.CancelFunc
}

func (c interruptingConn) Connect(ctx context.Context, m *discovery.Member) (transport.Session, error) {
	s, err := c.Connector.Connect(ctx, m)
	if err != nil {
		return nil, err
	}
	return interruptingSession{Session: s, cancel: c.cancel}, nil
}

func (s interruptingSession) Snapshot(ctx context.Context) (*clientv3.SnapshotResponse, error) {
	s.cancel()
	<-ctx.Done()
	return nil, fmt.Errorf(`Get "https://127.0.0.1:6443/api/v1/namespaces/kube-system/pods/kubectl-etcd-snap-x": %w`, ctx.Err())
}

// An interrupt while the stream is being opened (a helper pod taking the snapshot on the node)
// says so, as one during the stream does, rather than passing on the cancelled call's error.
func TestSaveSnapshotInterruptedWhileOpening(t *testing.T) {
	dir := t.TempDir()
	cl := threeMembers()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := SaveSnapshot(ctx, interruptingConn{Connector: cl.Connector(), cancel: cancel}, pods("cp-1", "cp-2", "cp-3"),
		SnapshotOptions{Path: filepath.Join(dir, "snap.db")})
	if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "nothing was kept") || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want an interrupted snapshot that kept nothing", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}
