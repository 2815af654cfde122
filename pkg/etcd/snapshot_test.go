package etcd

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

func snapshotStream() []byte {
	data := make([]byte, 4*512)
	for i := range data {
		data[i] = byte(i)
	}
	sum := sha256.Sum256(data)
	return append(data, sum[:]...)
}

// An existing FILE.json (or a FILE.part, FILE.json.part) stops the save before anything is
// streamed; --force replaces FILE and FILE.json but never a .part.
func TestSaveSnapshotRefusesExistingSidecars(t *testing.T) {
	for _, c := range []struct {
		existing string
		force    bool
		want     string
	}{
		{"snap.db.json", false, "snap.db.json already exists"},
		{"snap.db.part", true, "snap.db.part exists"},
		{"snap.db.json.part", true, "snap.db.json.part exists"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "snap.db")
		if err := os.WriteFile(filepath.Join(dir, c.existing), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		cl := threeMembers()
		for _, m := range cl.Members {
			m.SnapshotData = snapshotStream()
		}
		_, err := SaveSnapshot(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), SnapshotOptions{Path: path, Force: c.force})
		if !errors.Is(err, snapshot.ErrExists) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want ErrExists saying %q, got %v", c.existing, c.want, err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, c.existing)); string(b) != "mine" {
			t.Errorf("%s was changed", c.existing)
		}
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Errorf("%s: snap.db was written", c.existing)
		}
		for _, call := range cl.Calls {
			if strings.Contains(call, "snapshot") {
				t.Errorf("%s: streamed although refused: %v", c.existing, cl.Calls)
			}
		}
	}
	// With --force an existing FILE.json is replaced by the new metadata.
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	_ = os.WriteFile(path+".json", []byte("old"), 0o600)
	cl := threeMembers()
	for _, m := range cl.Members {
		m.SnapshotData = snapshotStream()
	}
	if _, err := SaveSnapshot(context.Background(), cl.Connector(), pods("cp-1", "cp-2", "cp-3"), SnapshotOptions{Path: path, Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path + ".json"); !strings.Contains(string(b), `"clusterID"`) {
		t.Errorf("FILE.json not replaced: %q", b)
	}
}
