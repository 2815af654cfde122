// Package snapshot writes etcd snapshot streams to disk safely and inspects snapshot files with
// etcd's own libraries (etcdutl's snapshot package and bbolt).
//
// An etcd snapshot stream is the bbolt database followed by the sha256 of that database (32
// bytes). The file keeps the trailer, as etcdctl's does, so that "etcdutl snapshot restore" can
// check it again.
package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"filippo.io/age"
)

// TrailerSize is the size of the sha256 trailer etcd appends to a snapshot stream.
const TrailerSize = sha256.Size

// ErrExists says the target file exists and --force was not given.
var ErrExists = errors.New("file exists")

// ErrIntegrity marks a snapshot whose content does not verify.
var ErrIntegrity = errors.New("snapshot integrity check failed")

// ErrNotDurable says a file was written, verified and renamed into place, but the directory
// holding it could not be fsynced, so the new name may not survive a crash of this machine.
var ErrNotDurable = errors.New("directory fsync failed")

// Written describes a snapshot file that was written and verified.
type Written struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// SHA256 is the sha256 of the whole file (database and trailer), for comparing copies.
	SHA256 string `json:"sha256"`
	// DBSHA256 is the sha256 of the database part, as carried in the trailer and verified.
	DBSHA256 string `json:"dbSHA256"`
	// Layers say how the file is stored; Size and SHA256 above are then those of the plain
	// snapshot inside, and FileSize and FileSHA256 those of the stored file.
	Layers
	FileSize   int64  `json:"fileSize,omitempty"`
	FileSHA256 string `json:"fileSHA256,omitempty"`
}

// WriteOptions tune Write.
type WriteOptions struct {
	// Force replaces an existing file (atomically, by rename). It never removes a FILE.part.
	Force bool
	// Progress, when set, is told the byte count so far after every chunk.
	Progress func(written int64)
	// Layers compress and encrypt the file on the way to disk; encryption needs Recipients.
	// The stream is verified as it comes, before any layer: the plaintext never reaches the disk.
	Layers     Layers
	Recipients []age.Recipient
}

// PartPath is where a snapshot is written before it is verified.
func PartPath(path string) string { return path + ".part" }

// Write streams r to path: first into path.part (created exclusively, never through a symlink,
// mode 0600), hashing as it goes; at the end it checks the sha256 trailer against the data
// received, fsyncs, and renames — without --force a rename that refuses to replace a path that
// appeared meanwhile. On any failure the .part file is removed and path is left as it was.
// Memory use does not depend on the snapshot size.
//
// When only the fsync of the directory fails after the rename, the file is kept and the
// error wraps ErrNotDurable; Written is returned with it.
func Write(r io.Reader, path string, o WriteOptions) (*Written, error) {
	if err := checkAbsent(path, o.Force); err != nil {
		return nil, err
	}
	part := PartPath(path)
	f, err := createPart(part)
	if err != nil {
		return nil, err
	}
	defer trackPartial(part)()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(part)
		}
	}()

	var out io.Writer = f
	var enc *encoder
	if !o.Layers.Plain() {
		if enc, err = newEncoder(f, o.Layers, o.Recipients); err != nil {
			return nil, err
		}
		defer func() {
			if !ok {
				enc.abort()
			}
		}()
		out = enc
	}
	v := newVerifier()
	// The stream delivers one etcd chunk (32 KiB) per read: fill the buffer before writing, so
	// that the file sees an eighth of the writes (and the progress bar of the updates).
	buf := make([]byte, copyBufferSize)
	var n int64
	for {
		k, rerr := io.ReadFull(r, buf)
		if rerr == io.ErrUnexpectedEOF {
			rerr = io.EOF
		}
		if k > 0 {
			if _, err := out.Write(buf[:k]); err != nil {
				return nil, fmt.Errorf("writing %s: %w", part, unwrapPath(err))
			}
			v.Write(buf[:k])
			n += int64(k)
			if o.Progress != nil {
				o.Progress(n)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("snapshot stream broke after %d bytes: %w", n, rerr)
		}
	}
	dbSum, err := v.verify(n)
	if err != nil {
		return nil, err
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("writing %s: %w", part, unwrapPath(err))
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fsync %s: %w", part, unwrapPath(err))
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("closing %s: %w", part, unwrapPath(err))
	}
	if err := commit(part, path, o.Force); err != nil {
		return nil, err
	}
	ok = true
	w := &Written{Path: path, Size: n, SHA256: hex.EncodeToString(v.wholeSum()), DBSHA256: hex.EncodeToString(dbSum), Layers: o.Layers}
	if enc != nil {
		w.FileSize, w.FileSHA256 = enc.stored.n, hex.EncodeToString(enc.stored.h.Sum(nil))
	}
	return w, durable(path)
}

// copyBufferSize is the buffer between the snapshot stream and the file.
const copyBufferSize = 256 << 10

// WriteFileAtomic writes small data (the metadata sidecar) the same careful way: an exclusive
// path.part, fsync, a rename that does not replace path unless force, and the directory fsync.
func WriteFileAtomic(path string, data []byte, force bool) error {
	if err := checkAbsent(path, force); err != nil {
		return err
	}
	part := PartPath(path)
	f, err := createPart(part)
	if err != nil {
		return err
	}
	defer trackPartial(part)()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(part)
		return fmt.Errorf("writing %s: %w", part, unwrapPath(err))
	}
	if err := commit(part, path, force); err != nil {
		_ = os.Remove(part)
		return err
	}
	return durable(path)
}

// CheckFree is the early check before a long stream: it refuses an existing path (a dangling
// symlink counts) unless force, and an existing path.part always. The writes check again,
// atomically.
func CheckFree(path string, force bool) error {
	if err := checkAbsent(path, force); err != nil {
		return err
	}
	if _, err := os.Lstat(PartPath(path)); err == nil {
		return partExistsError(PartPath(path))
	}
	return nil
}

func checkAbsent(path string, force bool) error {
	if force {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return existsError(path)
	}
	return nil
}

func existsError(path string) error {
	return fmt.Errorf("%w: %s already exists; choose another name or pass --force to replace it", ErrExists, path)
}

func partExistsError(part string) error {
	return fmt.Errorf("%w: %s exists: another snapshot may be writing it, or a run that died left it; check that none runs, then remove it",
		ErrExists, part)
}

// createPart creates part exclusively with mode 0600, refusing to follow a symlink planted
// there. An existing part is refused with its name even with --force: nothing tells a part left
// by a run that died from one another run is writing now, so the operator removes it.
func createPart(part string) (*os.File, error) {
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, partExistsError(part)
		}
		return nil, fmt.Errorf("cannot create %s: %w", part, unwrapPath(err))
	}
	return f, nil
}

// commit moves part to path: a plain (replacing) rename with force, else one that fails when
// path exists, so a file that appeared while the stream ran is never overwritten.
func commit(part, path string, force bool) error {
	if force {
		if err := os.Rename(part, path); err != nil {
			return fmt.Errorf("renaming %s to %s: %w", part, path, unwrapPath(err))
		}
		return nil
	}
	return renameNoReplace(part, path)
}

// linkUnlink is the no-replace rename for systems or filesystems without one: link fails when
// to exists. Where hard links are not supported either (FAT, some network filesystems), it
// falls back to a check and a rename, which leaves a window of a few microseconds.
func linkUnlink(from, to string) error {
	err := os.Link(from, to)
	if err == nil {
		if err := os.Remove(from); err != nil {
			return fmt.Errorf("removing %s after linking it to %s: %w", from, to, unwrapPath(err))
		}
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return existsError(to)
	}
	if err := checkAbsent(to, false); err != nil {
		return err
	}
	return wrapRename(from, to, os.Rename(from, to))
}

func wrapRename(from, to string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return existsError(to)
	default:
		return fmt.Errorf("renaming %s to %s: %w", from, to, unwrapPath(err))
	}
}

// syncDir is the directory fsync; tests replace it.
var syncDir = syncDirOS

// durable fsyncs the directory of path after a rename into it.
func durable(path string) error {
	dir := filepath.Dir(path)
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("%w: %s is complete, but fsync of its directory %s failed (%v): the new name may not survive a crash of this machine; run sync, or copy the file elsewhere",
			ErrNotDurable, path, dir, unwrapPath(err))
	}
	return nil
}

// verifier hashes a stream whose last TrailerSize bytes are the sha256 of everything before.
// It holds back the last TrailerSize bytes seen, so only the data part enters the db hash; the
// whole-file hash is derived from the db hash's state at the end, so every byte is hashed once.
type verifier struct {
	db   hash.Hash
	tail []byte
}

func newVerifier() *verifier {
	return &verifier{db: sha256.New(), tail: make([]byte, 0, 2*TrailerSize)}
}

// wholeSum is sha256(data || tail), continued from the data hash's state.
func (v *verifier) wholeSum() []byte {
	state, err := v.db.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err) // crypto/sha256 always supports it
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		panic(err)
	}
	h.Write(v.tail)
	return h.Sum(nil)
}

func (v *verifier) Write(p []byte) {
	if len(p) >= TrailerSize {
		v.db.Write(v.tail)
		v.db.Write(p[:len(p)-TrailerSize])
		v.tail = append(v.tail[:0], p[len(p)-TrailerSize:]...)
		return
	}
	v.tail = append(v.tail, p...)
	if extra := len(v.tail) - TrailerSize; extra > 0 {
		v.db.Write(v.tail[:extra])
		v.tail = append(v.tail[:0], v.tail[extra:]...)
	}
}

// verify checks the size shape and the trailer; it returns the verified db hash.
func (v *verifier) verify(size int64) ([]byte, error) {
	if size < TrailerSize || (size-TrailerSize)%512 != 0 {
		return nil, fmt.Errorf("%w: the stream ended after %d bytes without a sha256 trailer (truncated?)", ErrIntegrity, size)
	}
	sum := v.db.Sum(nil)
	if !bytes.Equal(sum, v.tail) {
		return nil, fmt.Errorf("%w: the sha256 trailer %x does not match the data received (%x): corrupted in transit",
			ErrIntegrity, v.tail, sum)
	}
	return sum, nil
}

// unwrapPath drops the op/path prefix of a *PathError when the message already names the file.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, syscall.ENOSPC) {
			return fmt.Errorf("disk full: %w", pe.Err)
		}
		return pe.Err
	}
	return err
}
