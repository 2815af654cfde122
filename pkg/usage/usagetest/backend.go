// Package usagetest builds small etcd backend files for tests: a bbolt database in etcd's layout
// (the key bucket of revisions holding mvccpb.KeyValue, meta, lease), without running etcd.
package usagetest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
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

// Member is a member record as etcd stores it in the members bucket.
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name,omitempty"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// AddMembers records members and the cluster version in the database at path, in etcd's
// layout: the members bucket holds each member's JSON under its hex ID, the cluster bucket the
// cluster version.
func AddMembers(t testing.TB, path, clusterVersion string, members ...Member) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		mb, err := tx.CreateBucketIfNotExists([]byte("members"))
		if err != nil {
			return err
		}
		for _, m := range members {
			v, err := json.Marshal(m)
			if err != nil {
				return err
			}
			if err := mb.Put([]byte(strconv.FormatUint(m.ID, 16)), v); err != nil {
				return err
			}
		}
		cb, err := tx.CreateBucketIfNotExists([]byte("cluster"))
		if err != nil {
			return err
		}
		return cb.Put([]byte("clusterVersion"), []byte(clusterVersion))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// AddTrailer appends the sha256 of the file's contents, as etcd ends a snapshot stream.
func AddTrailer(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if err := os.WriteFile(path, append(data, sum[:]...), 0o600); err != nil {
		t.Fatal(err)
	}
}
