// Package usagetest builds small etcd backend files for tests: a bbolt database in etcd's layout
// (the key bucket of revisions holding mvccpb.KeyValue, meta, lease), without running etcd.
package usagetest

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// Op is one write: a put, or a delete (a tombstone) when Del is set.
type Op struct {
	Key, Value string
	Del        bool
}

// RevKey is etcd's encoding of a revision: 8 bytes main, '_', 8 bytes sub, and a 't' for a
// tombstone.
func RevKey(main int64, tomb bool) []byte {
	b := make([]byte, 17, 18)
	binary.BigEndian.PutUint64(b, uint64(main))
	b[8] = '_'
	if tomb {
		b = append(b, 't')
	}
	return b
}

// WriteBackend writes one revision per op, starting at 2, plus leases leases and, when
// compacted > 0, the finished compaction revision; it returns the file's path.
func WriteBackend(t testing.TB, ops []Op, leases int, compacted int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		kb, _ := tx.CreateBucket([]byte("key"))
		mb, _ := tx.CreateBucket([]byte("meta"))
		lb, _ := tx.CreateBucket([]byte("lease"))
		for i, o := range ops {
			rev := int64(i + 2)
			kv := &mvccpb.KeyValue{Key: []byte(o.Key), ModRevision: rev}
			if !o.Del {
				kv.Value = []byte(o.Value)
			}
			v, err := proto.Marshal(kv)
			if err != nil {
				return err
			}
			if err := kb.Put(RevKey(rev, o.Del), v); err != nil {
				return err
			}
		}
		for i := range leases {
			if err := lb.Put(binary.BigEndian.AppendUint64(nil, uint64(i+1)), []byte("x")); err != nil {
				return err
			}
		}
		if compacted > 0 {
			return mb.Put([]byte("finishedCompactRev"), RevKey(compacted, false))
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
