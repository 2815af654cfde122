package usage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

// The bbolt layout of an etcd backend (etcd's server/storage/schema and mvcc revision encoding).
var (
	keyBucket   = []byte("key")
	metaBucket  = []byte("meta")
	leaseBucket = []byte("lease")
	finishedKey = []byte("finishedCompactRev")
)

// A revision is stored as 8 bytes of main revision, '_', 8 bytes of sub revision (17 bytes); a
// tombstone adds a trailing 't'.
const (
	revBytesLen    = 8 + 1 + 8
	tombstoneMark  = 't'
	defaultTopKeep = 10
)

// DBSplit divides the database file.
type DBSplit struct {
	// Size is the file (or, live, the backend) size; InUse the part bbolt uses; Free the pages
	// it keeps free for reuse (a defrag returns them).
	Size  int64 `json:"size"`
	InUse int64 `json:"inUse"`
	Free  int64 `json:"free"`
	// LiveData is the keys and values of the live revisions measured.
	LiveData int64 `json:"liveData"`
	// History is the keys and values of older revisions and tombstones (measured from a file;
	// live it is InUse - LiveData, which also holds bbolt's own overhead).
	History int64 `json:"history"`
	// Overhead is the rest of InUse: bbolt pages, revision keys, protobuf framing, leases,
	// cluster metadata.
	Overhead int64 `json:"overhead"`
}

// Report is what "kubectl etcd usage" says.
type Report struct {
	// Source is "file" or "live".
	Source string `json:"source"`
	File   string `json:"file,omitempty"`
	// Member, Pod and Transport name where a live report was read.
	Member    string `json:"member,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Transport string `json:"transport,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	// Revision is the current revision; CompactRevision the one etcd compacted to (from a
	// file only); KubeCompactRevision the value of kube-apiserver's compact_rev_key.
	Revision            int64 `json:"revision"`
	CompactRevision     int64 `json:"compactRevision,omitempty"`
	KubeCompactRevision int64 `json:"kubeCompactRevision,omitempty"`
	// Leases is the number of leases (from a file only).
	Leases int64   `json:"leases,omitempty"`
	DB     DBSplit `json:"db"`
	Breakdown
	// Unavailable names what this source cannot measure.
	Unavailable []string `json:"unavailable,omitempty"`
	Took        string   `json:"took"`
}

// FileOptions tune ReadFile.
type FileOptions struct {
	// Prefix keeps only keys that start with it.
	Prefix string
	// Top is how many objects and namespaces to keep.
	Top int
}

// latest is what ReadFile keeps per distinct key while it walks: the size of the latest revision
// seen and whether it was a tombstone. Revisions come in ascending order, so the last one wins.
type latest struct {
	size    int64
	deleted bool
}

// ReadFile walks the key bucket of the etcd backend at path, opened read-only. Revisions are
// ordered by revision, not by key, so deciding which revision of a key is the latest needs one
// map entry per distinct key (its name, the size of its latest revision, a tombstone flag) for
// the length of the walk; values are never kept. Everything else is aggregated as it comes.
// bbolt can crash the process on a damaged file: callers that must survive run this in a child.
func ReadFile(path string, o FileOptions) (*Report, error) {
	start := time.Now()
	// With the freelist loaded: without it every free page would count as in use, and a
	// fragmented file would look as if a defrag freed nothing.
	db, err := snapshot.OpenDB(path)
	if errors.Is(err, snapshot.ErrLocked) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open %s as an etcd database: %w", path, err)
	}
	defer db.Close()
	r := &Report{Source: "file", File: path, Prefix: o.Prefix}
	agg := NewAggregator(o.Top)
	prefix := []byte(o.Prefix)
	err = db.View(func(tx *bolt.Tx) error {
		if fi, err := os.Stat(path); err == nil && fi.Size() < tx.Size() {
			return fmt.Errorf("%s is shorter (%d bytes) than its database (%d bytes): truncated", path, fi.Size(), tx.Size())
		}
		kb := tx.Bucket(keyBucket)
		if kb == nil {
			return fmt.Errorf("%s has no %q bucket: not an etcd database", path, keyBucket)
		}
		keys := map[string]latest{}
		kv := &keyValue{}
		err := kb.ForEach(func(rk, v []byte) error {
			if len(rk) < revBytesLen {
				return fmt.Errorf("bad revision key %x in the key bucket", rk)
			}
			main := int64(binary.BigEndian.Uint64(rk[:8]))
			if main > r.Revision {
				r.Revision = main
			}
			if err := kv.decode(v); err != nil {
				return fmt.Errorf("revision %d: cannot decode the key-value: %w", main, err)
			}
			if string(kv.Key) == KubeCompactKey {
				if n, err := strconv.ParseInt(string(kv.Value), 10, 64); err == nil {
					r.KubeCompactRevision = n
				}
			}
			if !bytes.HasPrefix(kv.Key, prefix) {
				return nil
			}
			size := int64(len(kv.Key) + kv.ValueLen)
			tomb := len(rk) > revBytesLen && rk[revBytesLen] == tombstoneMark
			if prev, ok := keys[string(kv.Key)]; ok && !prev.deleted {
				agg.AddHistory(kv.Key, prev.size)
			}
			if tomb {
				agg.AddHistory(kv.Key, size)
			}
			keys[string(kv.Key)] = latest{size: size, deleted: tomb}
			return nil
		})
		if err != nil {
			return err
		}
		for k, l := range keys {
			if !l.deleted {
				agg.Add([]byte(k), l.size)
			}
		}
		if mb := tx.Bucket(metaBucket); mb != nil {
			if v := mb.Get(finishedKey); len(v) >= 8 {
				r.CompactRevision = int64(binary.BigEndian.Uint64(v[:8]))
			}
		}
		if lb := tx.Bucket(leaseBucket); lb != nil {
			r.Leases = int64(lb.Stats().KeyN)
		}
		// Like etcd's dbSizeInUse: the pages up to the high-water mark less the free ones. The
		// file can be longer than the high-water mark; that tail is free as well.
		st := db.Stats()
		inUse := tx.Size() - int64(st.FreePageN+st.PendingPageN)*int64(db.Info().PageSize)
		size := tx.Size()
		// A snapshot stream ends with a 32-byte sha256 trailer: only whole pages are database.
		ps := int64(db.Info().PageSize)
		if fi, err := os.Stat(path); err == nil && fi.Size()/ps*ps > size {
			size = fi.Size() / ps * ps
		}
		r.DB = DBSplit{Size: size, InUse: inUse, Free: size - inUse}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.Breakdown = agg.Breakdown()
	r.DB.LiveData = r.Totals.Bytes
	r.DB.History = r.Totals.HistoryBytes
	if o.Prefix == "" {
		r.DB.Overhead = max(0, r.DB.InUse-r.DB.LiveData-r.DB.History)
	}
	r.Took = time.Since(start).Round(time.Millisecond).String()
	return r, nil
}

// The field numbers of mvccpb.KeyValue's key and value, from etcd's own generated type.
var (
	kvFields   = (&mvccpb.KeyValue{}).ProtoReflect().Descriptor().Fields()
	keyField   = kvFields.ByName("key").Number()
	valueField = kvFields.ByName("value").Number()
)

// keyValue is the part of an mvccpb.KeyValue the walk needs: the key (aliasing the database's
// memory, valid for the transaction) and the length of the value, which is never copied.
type keyValue struct {
	Key      []byte
	Value    []byte // set only when the caller asks for it (compact_rev_key)
	ValueLen int
}

// decode reads the wire format of an mvccpb.KeyValue without copying its value; fields it does
// not need are skipped, a malformed record is an error.
func (kv *keyValue) decode(b []byte) error {
	*kv = keyValue{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == keyField || num == valueField) {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return protowire.ParseError(m)
			}
			if num == keyField {
				kv.Key = v
			} else {
				kv.Value, kv.ValueLen = v, len(v)
			}
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		b = b[m:]
	}
	return nil
}
