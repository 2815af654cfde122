package usage

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// op is one write of the test backend: a put, or a delete (tombstone) when del is set.
type op struct {
	key, value string
	del        bool
}

func revKey(main int64, tomb bool) []byte {
	b := make([]byte, revBytesLen, revBytesLen+1)
	binary.BigEndian.PutUint64(b, uint64(main))
	b[8] = '_'
	if tomb {
		b = append(b, tombstoneMark)
	}
	return b
}

// writeBackend builds a bbolt file in etcd's layout: one revision per op, starting at 2.
func writeBackend(t *testing.T, ops []op, leases int, compacted int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		kb, _ := tx.CreateBucket(keyBucket)
		mb, _ := tx.CreateBucket(metaBucket)
		lb, _ := tx.CreateBucket(leaseBucket)
		for i, o := range ops {
			rev := int64(i + 2)
			kv := &mvccpb.KeyValue{Key: []byte(o.key), ModRevision: rev}
			if !o.del {
				kv.Value = []byte(o.value)
			}
			v, err := proto.Marshal(kv)
			if err != nil {
				return err
			}
			if err := kb.Put(revKey(rev, o.del), v); err != nil {
				return err
			}
		}
		for i := range leases {
			if err := lb.Put(binary.BigEndian.AppendUint64(nil, uint64(i+1)), []byte("x")); err != nil {
				return err
			}
		}
		if compacted > 0 {
			return mb.Put(finishedKey, revKey(compacted, false))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadFile(t *testing.T) {
	cm := "/registry/configmaps/team-a/big"
	ops := []op{
		{key: cm, value: strings.Repeat("a", 100)},
		{key: cm, value: strings.Repeat("b", 200)},
		{key: cm, value: strings.Repeat("c", 300)}, // live: len(cm)+300
		{key: "/registry/events/team-a/e1", value: strings.Repeat("e", 50)},
		{key: "/registry/events/team-a/e1", del: true}, // deleted: 50+key and the tombstone are history
		{key: "/registry/namespaces/team-a", value: "ns"},
		{key: "/registry/example.com/widgets/team-b/w1", value: "widget"},
		{key: "compact_rev_key", value: "4"},
		{key: "/app/config", value: "v"},
	}
	path := writeBackend(t, ops, 3, 4)
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
	path := writeBackend(t, []op{{key: k, value: "1"}, {key: k, del: true}, {key: k, value: "22"}}, 0, 0)
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
