package usage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/usage/usagetest"
)

func TestReadFile(t *testing.T) {
	cm := "/registry/configmaps/team-a/big"
	ops := []usagetest.Op{
		{Key: cm, Value: strings.Repeat("a", 100)},
		{Key: cm, Value: strings.Repeat("b", 200)},
		{Key: cm, Value: strings.Repeat("c", 300)}, // live: len(cm)+300
		{Key: "/registry/events/team-a/e1", Value: strings.Repeat("e", 50)},
		{Key: "/registry/events/team-a/e1", Del: true}, // deleted: 50+key and the tombstone are history
		{Key: "/registry/namespaces/team-a", Value: "ns"},
		{Key: "/registry/example.com/widgets/team-b/w1", Value: "widget"},
		{Key: "compact_rev_key", Value: "4"},
		{Key: "/app/config", Value: "v"},
	}
	path := usagetest.WriteBackend(t, ops, 3, 4)
	r, err := ReadFile(path, FileOptions{Top: 5})
	if err != nil {
		t.Fatal(err)
	}
	e1 := int64(len("/registry/events/team-a/e1"))
	cmLive := int64(len(cm) + 300)
	wantHistory := int64(len(cm)+100) + int64(len(cm)+200) + (e1 + 50) + e1
	if r.Revision != int64(len(ops)+1) || r.CompactRevision != 4 || r.KubeCompactRevision != 4 || r.Leases != 3 {
		t.Errorf("revision %d compacted %d kube %d leases %d", r.Revision, r.CompactRevision, r.KubeCompactRevision, r.Leases)
	}
	if r.Totals.Keys != 5 || r.Totals.HistoryBytes != wantHistory || r.Totals.HistoryRevisions != 4 {
		t.Errorf("totals = %+v, want 5 keys, 4 history revisions of %d bytes", r.Totals, wantHistory)
	}
	byName := map[string]ResourceUsage{}
	for _, x := range append(r.Resources, r.Prefixes...) {
		byName[x.Resource] = x
	}
	if c := byName["configmaps"]; c.Objects != 1 || c.Bytes != cmLive || c.HistoryRevisions != 2 || c.Largest == nil || c.Largest.Bytes != cmLive {
		t.Errorf("configmaps = %+v", c)
	}
	if e := byName["events"]; e.Objects != 0 || e.Bytes != 0 || e.HistoryBytes != 2*e1+50 {
		t.Errorf("events = %+v", e)
	}
	if w := byName["widgets"]; w.Group != "example.com" || w.Objects != 1 {
		t.Errorf("widgets = %+v", w)
	}
	if byName["compact_rev_key"].Objects != 1 || byName["/app"].Objects != 1 {
		t.Errorf("prefixes = %+v", r.Prefixes)
	}
	if len(r.Objects) == 0 || r.Objects[0].Key != cm {
		t.Errorf("largest objects = %+v", r.Objects)
	}
	if r.DB.Size <= 0 || r.DB.InUse > r.DB.Size || r.DB.LiveData != r.Totals.Bytes || r.DB.History != wantHistory {
		t.Errorf("db = %+v", r.DB)
	}
	st, _ := os.Stat(path)
	if r.DB.Size != st.Size() {
		t.Errorf("db size %d, file %d", r.DB.Size, st.Size())
	}
	// A snapshot stream's 32-byte sha256 trailer is not database.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if r2, err := ReadFile(path, FileOptions{}); err != nil || r2.DB.Size != st.Size() || r2.DB.Free != r.DB.Free {
		t.Errorf("with a trailer: %v %+v, want size %d free %d", err, r2.DB, st.Size(), r.DB.Free)
	}

	// --prefix narrows every number to the matching keys.
	r, err = ReadFile(path, FileOptions{Prefix: "/registry/configmaps/"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Totals.Keys != 1 || r.Totals.Bytes != cmLive || len(r.Prefixes) != 0 || len(r.Resources) != 1 || r.DB.Overhead != 0 {
		t.Errorf("with a prefix: %+v", r.Breakdown)
	}
}

// A key deleted and written again is live with its last value; only the older ones are history.
func TestReadFileRecreated(t *testing.T) {
	k := "/registry/secrets/n/s"
	path := usagetest.WriteBackend(t, []usagetest.Op{{Key: k, Value: "1"}, {Key: k, Del: true}, {Key: k, Value: "22"}}, 0, 0)
	r, err := ReadFile(path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Totals.Keys != 1 || r.Totals.Bytes != int64(len(k)+2) || r.Totals.HistoryBytes != int64(len(k)+1+len(k)) {
		t.Errorf("totals = %+v", r.Totals)
	}
}

func TestReadFileNotEtcd(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(junk, FileOptions{}); err == nil || !strings.Contains(err.Error(), "cannot open") {
		t.Errorf("junk file: %v", err)
	}
	empty := filepath.Join(dir, "empty.db")
	db, err := bolt.Open(empty, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := ReadFile(empty, FileOptions{}); err == nil || !strings.Contains(err.Error(), "not an etcd database") {
		t.Errorf("bbolt file without a key bucket: %v", err)
	}
}

// decode agrees with etcd's generated type on every field layout, and rejects a cut record.
func TestDecodeKeyValue(t *testing.T) {
	for _, in := range []*mvccpb.KeyValue{
		{Key: []byte("/registry/pods/a/b"), Value: []byte("value"), CreateRevision: 3, ModRevision: 9, Version: 4, Lease: 0x7fffffffffff},
		{Key: []byte("k")},
		{Key: []byte("k"), Value: bytes.Repeat([]byte{0xff}, 300)},
	} {
		b, err := proto.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var kv keyValue
		if err := kv.decode(b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(kv.Key, in.Key) || kv.ValueLen != len(in.Value) || !bytes.Equal(kv.Value, in.Value) {
			t.Errorf("decode(%v) = %q, %d", in, kv.Key, kv.ValueLen)
		}
		if len(b) > 2 {
			if err := kv.decode(b[:len(b)-1]); err == nil && len(in.Value) > 0 {
				t.Errorf("a cut record of %v decoded", in)
			}
		}
	}
}

// A fragmented file: the pages freed by deleting most revisions are free, not in use. bbolt
// opened read-only reads no freelist unless asked, and every free page then counted as in use.
func TestReadFileCountsFreePages(t *testing.T) {
	for _, noFreelistSync := range []bool{false, true} { // etcd does not sync its freelist
		path := usagetest.WriteBackend(t, []usagetest.Op{{Key: "/registry/configmaps/a/keep", Value: "v"}}, 0, 0)
		db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: noFreelistSync})
		if err != nil {
			t.Fatal(err)
		}
		big := bytes.Repeat([]byte("x"), 8<<10)
		err = db.Update(func(tx *bolt.Tx) error {
			kb := tx.Bucket([]byte("key"))
			for i := range 400 {
				v, _ := proto.Marshal(&mvccpb.KeyValue{Key: []byte("/registry/secrets/a/s"), Value: big})
				if err := kb.Put(usagetest.RevKey(int64(100+i), false), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			// What a compaction does: the old revisions go, their pages become free.
			err = db.Update(func(tx *bolt.Tx) error {
				kb := tx.Bucket([]byte("key"))
				for i := range 400 {
					if err := kb.Delete(usagetest.RevKey(int64(100+i), false)); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := ReadFile(path, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// 400 values of 8 KiB were freed: most of the file is free.
		if r.DB.Free < r.DB.Size/2 || r.DB.InUse+r.DB.Free != r.DB.Size {
			t.Errorf("NoFreelistSync %v: db %+v, want more than half of it free", noFreelistSync, r.DB)
		}
	}
}

// A database another process holds open for writing (a running etcd) is refused as locked,
// not waited for without end.
func TestReadFileLocked(t *testing.T) {
	path := usagetest.WriteBackend(t, []usagetest.Op{{Key: "/a", Value: "b"}}, 0, 0)
	db, err := bolt.Open(path, 0o600, nil) // holds the exclusive lock, as etcd does
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = ReadFile(path, FileOptions{})
	if !errors.Is(err, snapshot.ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadFile of a locked file: %v, want ErrLocked naming it", err)
	}
}
