package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// LockTimeout is how long opening a database waits for the lock of the process that has it
// open (a running etcd holds its db file locked for as long as it runs).
var LockTimeout = 2 * time.Second

// ErrLocked says a database file is locked by another process: it is a member's live data file,
// or another tool has it open for writing. It is neither damaged nor readable now.
var ErrLocked = errors.New("locked by another process")

// LockedError is the error for a database file at path that stayed locked for LockTimeout.
func LockedError(path string) error {
	return fmt.Errorf("%s is %w (the data file of a running etcd?); read a snapshot or a copy taken while etcd was stopped", path, ErrLocked)
}

// OpenDB opens the bbolt database at path read-only, with its freelist loaded (bbolt reads it
// read-only only when asked; without it the free pages count as in use). A file that stays
// locked by another process for LockTimeout is a LockedError, not a wait without end.
func OpenDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, LockedError(path)
	}
	return db, err
}

// Verdicts.
const (
	VerdictOK      = "ok"
	VerdictCorrupt = "corrupt"
)

// Report is what "snapshot status" says about a file.
type Report struct {
	File string `json:"file"`
	// Size and SHA256 are those of the plain snapshot: the file itself, or what is inside a
	// compressed or encrypted one (then Layers say how it is stored, FileSize is its size).
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Layers
	FileSize int64 `json:"fileSize,omitempty"`
	// From etcdutl's snapshot status.
	Hash           uint32 `json:"hash"`
	Revision       int64  `json:"revision"`
	TotalKeys      int    `json:"totalKeys"`
	TotalSize      int64  `json:"totalSize"`
	StorageVersion string `json:"storageVersion,omitempty"`
	// Trailer is "valid", "mismatch" or "missing" (a file saved without one, e.g. copied from a
	// data directory, has none; etcdutl restore then needs --skip-hash-check).
	Trailer string `json:"trailer"`
	// Bolt is "ok" or the first problems bbolt's consistency check found.
	Bolt     string   `json:"bolt"`
	Verdict  string   `json:"verdict"`
	Problems []string `json:"problems,omitempty"`
	// Members and ClusterVersion are the membership the database records (a snapshot holds
	// the member list of the cluster it was taken from).
	Members        []Member `json:"members,omitempty"`
	ClusterVersion string   `json:"clusterVersion,omitempty"`
}

// DBCheck is the result of the database checks (bbolt's consistency check and etcdutl's status),
// which Inspect may run in a child process.
type DBCheck struct {
	Bolt           string `json:"bolt"`
	Hash           uint32 `json:"hash"`
	Revision       int64  `json:"revision"`
	TotalKeys      int    `json:"totalKeys"`
	TotalSize      int64  `json:"totalSize"`
	StorageVersion string `json:"storageVersion,omitempty"`
	StatusError    string `json:"statusError,omitempty"`
	// Locked is set when the file stayed locked by another process: nothing was checked.
	Locked bool `json:"locked,omitempty"`
	// Members and ClusterVersion are the membership the database records.
	Members        []Member `json:"members,omitempty"`
	ClusterVersion string   `json:"clusterVersion,omitempty"`
}

// CheckDB runs bbolt's consistency check and etcdutl's snapshot status on path, in this process.
// A damaged file can crash bbolt in ways no recover catches (a SIGBUS on a truncated mmap, a
// panic in a goroutine bbolt starts), so callers that must survive it use a child process.
func CheckDB(path string) DBCheck {
	var c DBCheck
	c.Bolt, c.Locked = boltCheck(path)
	if c.Bolt != "ok" {
		return c
	}
	ds, err := etcdutlStatus(path)
	if err != nil {
		c.StatusError = err.Error()
		return c
	}
	ms, err := readMembership(path)
	if err != nil {
		c.StatusError = "reading the member list: " + err.Error()
		return c
	}
	c.Members, c.ClusterVersion = ms.Members, ms.ClusterVersion
	c.Hash, c.Revision, c.TotalKeys, c.TotalSize, c.StorageVersion = ds.Hash, ds.Revision, ds.TotalKey, ds.TotalSize, ds.Version
	return c
}

// InspectOptions tune Inspect.
type InspectOptions struct {
	// CheckDB, when set, replaces the in-process database checks (the command runs them in a
	// child process of itself).
	CheckDB func(ctx context.Context, path string) (DBCheck, error)
	// Identities decrypt an age-encrypted file.
	Identities []age.Identity
}

// Inspect checks a snapshot file: the sha256 trailer against the data, bbolt's own consistency
// check, and etcdutl's status (hash, revision, keys, size, storage version).
// A file locked by another process (a running etcd's db) is refused with an error that wraps
// ErrLocked: it is not damaged, it cannot be read now.
func Inspect(ctx context.Context, path string, opts ...InspectOptions) (*Report, error) {
	var o InspectOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	plain, layers, cleanup, err := PlainFile(ctx, path, o.Identities)
	if errors.Is(err, ErrIntegrity) && ctx.Err() == nil {
		// A compression or encryption layer that does not verify: the file is corrupt.
		r := &Report{File: path, Layers: LayersFromName(path), Trailer: "unchecked", Bolt: "unchecked", Verdict: VerdictCorrupt, Problems: []string{err.Error()}}
		if st, serr := os.Stat(path); serr == nil {
			r.FileSize = st.Size()
		}
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	defer cleanup()
	st, err := os.Stat(plain)
	if err != nil {
		return nil, fmt.Errorf("cannot read snapshot %s: %w", plain, unwrapPath(err))
	}
	r := &Report{File: path, Size: st.Size(), Layers: layers}
	if !layers.Plain() {
		if fst, err := os.Stat(path); err == nil {
			r.FileSize = fst.Size()
		}
	}
	whole, trailer, err := checkTrailer(plain, st.Size())
	if err != nil {
		return nil, err
	}
	r.SHA256 = whole
	r.Trailer = trailer
	switch trailer {
	case "mismatch":
		r.Problems = append(r.Problems, "the sha256 trailer does not match the data: the file is corrupt")
	case "missing":
		r.Problems = append(r.Problems, "no sha256 trailer: truncated, or not a snapshot stream (a copied db file has none)")
	}
	var c DBCheck
	if o.CheckDB != nil {
		c, err = o.CheckDB(ctx, plain)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("checking %s: %w", path, ctx.Err())
		}
		if err != nil {
			c = DBCheck{Bolt: "damaged database: " + err.Error()}
		}
	} else {
		c = CheckDB(plain)
	}
	if c.Locked {
		return nil, LockedError(path)
	}
	r.Bolt = c.Bolt
	if r.Bolt != "ok" {
		r.Problems = append(r.Problems, "bbolt consistency check: "+r.Bolt)
	} else if c.StatusError != "" {
		r.Problems = append(r.Problems, "etcdutl snapshot status: "+c.StatusError)
	} else {
		r.Hash, r.Revision, r.TotalKeys, r.TotalSize, r.StorageVersion = c.Hash, c.Revision, c.TotalKeys, c.TotalSize, c.StorageVersion
		r.Members, r.ClusterVersion = c.Members, c.ClusterVersion
	}
	r.Verdict = VerdictOK
	if len(r.Problems) > 0 {
		r.Verdict = VerdictCorrupt
	}
	return r, nil
}

// checkTrailer hashes the file once: the whole file, and the data part against the trailer.
func checkTrailer(path string, size int64) (whole, verdict string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("cannot read snapshot %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	hw := sha256.New()
	if size < TrailerSize || (size-TrailerSize)%512 != 0 {
		if _, err := io.Copy(hw, f); err != nil {
			return "", "", err
		}
		return hex.EncodeToString(hw.Sum(nil)), "missing", nil
	}
	hd := sha256.New()
	if _, err := io.Copy(io.MultiWriter(hw, hd), io.LimitReader(f, size-TrailerSize)); err != nil {
		return "", "", fmt.Errorf("reading %s: %w", path, err)
	}
	tail := make([]byte, TrailerSize)
	if _, err := io.ReadFull(f, tail); err != nil {
		return "", "", fmt.Errorf("reading %s: %w", path, err)
	}
	hw.Write(tail)
	verdict = "valid"
	if !bytes.Equal(hd.Sum(nil), tail) {
		verdict = "mismatch"
	}
	return hex.EncodeToString(hw.Sum(nil)), verdict, nil
}

// etcdutlStatus runs etcdutl's snapshot status, turning a panic on a damaged file into an error.
func etcdutlStatus(path string) (ds snapshot.Status, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("damaged database: %v", r)
		}
	}()
	return snapshot.NewV3(zap.NewNop()).Status(path)
}

// boltCheck opens the database read-only and runs bbolt's consistency check. bbolt may panic on
// a damaged file; that is a finding, not a crash.
// A file that stays locked for LockTimeout is reported as locked, not checked.
func boltCheck(path string) (verdict string, locked bool) {
	defer func() {
		if r := recover(); r != nil {
			verdict = fmt.Sprintf("damaged database: %v", r)
		}
	}()
	db, err := OpenDB(path)
	if errors.Is(err, ErrLocked) {
		return "locked by another process", true
	}
	if err != nil {
		return "cannot open: " + err.Error(), false
	}
	defer db.Close()
	var problems []string
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			if len(problems) < 5 {
				problems = append(problems, e.Error())
			}
		}
		return nil
	})
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) == 0 {
		return "ok", false
	}
	return strings.Join(problems, "; "), false
}
