package snapshot

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	bolt "go.etcd.io/bbolt"
)

// stream builds a snapshot-shaped stream: n*512 bytes of data followed by their sha256.
func stream(n int) []byte {
	data := bytes.Repeat([]byte("etcd-snapshot-data-"), n*512/19+1)[:n*512]
	sum := sha256.Sum256(data)
	return append(data, sum[:]...)
}

func TestWriteVerifiesAndRenames(t *testing.T) {
	for _, chunk := range []int{1, 7, 31, 32, 33, 4096, 1 << 20} {
		dir := t.TempDir()
		path := filepath.Join(dir, "snap.db")
		in := stream(64)
		r := io.Reader(bytes.NewReader(in))
		if chunk < len(in) {
			r = iotest.HalfReader(&chunked{data: in, n: chunk})
		}
		var last int64
		w, err := Write(r, path, WriteOptions{Progress: func(n int64) { last = n }})
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		got, _ := os.ReadFile(path)
		if !bytes.Equal(got, in) || w.Size != int64(len(in)) || last != w.Size {
			t.Fatalf("chunk %d: content or size differ", chunk)
		}
		st, _ := os.Stat(path)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v", st.Mode())
		}
		if _, err := os.Stat(PartPath(path)); !os.IsNotExist(err) {
			t.Error(".part left behind")
		}
	}
}

type chunked struct {
	data []byte
	n    int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func TestWriteFailuresLeaveNothing(t *testing.T) {
	good := stream(16)
	flipped := append([]byte{}, good...)
	flipped[100] ^= 0xff
	cases := []struct {
		name string
		r    io.Reader
		want string
		is   error
	}{
		{"truncated", bytes.NewReader(good[:len(good)-100]), "without a sha256 trailer", ErrIntegrity},
		{"flipped byte", bytes.NewReader(flipped), "does not match the data received", ErrIntegrity},
		{"stream broke", io.MultiReader(bytes.NewReader(good[:3000]), iotest.ErrReader(errors.New("lost connection to pod"))), "snapshot stream broke after 3000 bytes: lost connection to pod", nil},
	}
	for _, c := range cases {
		dir := t.TempDir()
		path := filepath.Join(dir, "snap.db")
		_, err := Write(c.r, path, WriteOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("%s: %v", c.name, err)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 0 {
			t.Errorf("%s: left %v", c.name, entries)
		}
	}
}

func TestWriteDoesNotOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	_ = os.WriteFile(path, []byte("precious"), 0o600)
	if _, err := Write(bytes.NewReader(stream(4)), path, WriteOptions{}); !errors.Is(err, ErrExists) {
		t.Fatalf("want ErrExists, got %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Error("existing file changed")
	}
	if _, err := Write(bytes.NewReader(stream(4)), path, WriteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	// A .part from another writer is never clobbered.
	_ = os.WriteFile(PartPath(path), []byte("busy"), 0o600)
	if _, err := Write(bytes.NewReader(stream(4)), path, WriteOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "another snapshot may be writing it") {
		t.Errorf("existing .part: %v", err)
	}
	if b, _ := os.ReadFile(PartPath(path)); string(b) != "busy" {
		t.Error("someone else's .part was touched")
	}
}

func TestInspectVerdicts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "not-bolt.db")
	_ = os.WriteFile(path, stream(16), 0o600)
	r, err := Inspect(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	// A valid trailer over data that is no bbolt database is still corrupt.
	if r.Trailer != "valid" || r.Verdict != VerdictCorrupt || !strings.Contains(r.Bolt, "cannot open") {
		t.Errorf("%+v", r)
	}
	if _, err := Inspect(t.Context(), filepath.Join(dir, "absent.db")); err == nil || !strings.Contains(err.Error(), "absent.db") {
		t.Errorf("missing file: %v", err)
	}
}

// A FILE that appears while the stream runs (after the early check) is not replaced: the final
// rename refuses to overwrite without --force.
func TestWriteNoClobberAtRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	planted := false
	_, err := Write(bytes.NewReader(stream(4)), path, WriteOptions{Progress: func(int64) {
		if !planted {
			planted = true
			_ = os.WriteFile(path, []byte("appeared meanwhile"), 0o600)
		}
	}})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), path) {
		t.Fatalf("want ErrExists naming %s, got %v", path, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "appeared meanwhile" {
		t.Errorf("the file that appeared during the stream was overwritten: %q", truncateBytes(b))
	}
	if _, err := os.Lstat(PartPath(path)); !os.IsNotExist(err) {
		t.Errorf(".part left behind: %v", err)
	}
}

// A symlink planted at FILE.part or FILE.json.part must not redirect the write.
func TestWritesDoNotFollowPlantedSymlink(t *testing.T) {
	for _, sidecar := range []bool{false, true} {
		dir := t.TempDir()
		victim := filepath.Join(dir, "ca.key")
		_ = os.WriteFile(victim, []byte("KEY"), 0o600)
		path := filepath.Join(dir, "snap.db")
		if sidecar {
			path += ".json"
		}
		if err := os.Symlink(victim, PartPath(path)); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
		var err error
		if sidecar {
			err = WriteFileAtomic(path, []byte("{}\n"), true)
		} else {
			_, err = Write(bytes.NewReader(stream(4)), path, WriteOptions{Force: true})
		}
		if err == nil || !strings.Contains(err.Error(), PartPath(path)) {
			t.Errorf("sidecar=%v: want a refusal naming %s, got %v", sidecar, PartPath(path), err)
		}
		if b, _ := os.ReadFile(victim); string(b) != "KEY" {
			t.Errorf("sidecar=%v: the symlink target was written: %q", sidecar, truncateBytes(b))
		}
		if _, err := os.Lstat(path); !os.IsNotExist(err) {
			t.Errorf("sidecar=%v: %s was created", sidecar, path)
		}
	}
}

func TestWriteFileAtomicNoClobber(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db.json")
	_ = os.WriteFile(path, []byte("old"), 0o600)
	if err := WriteFileAtomic(path, []byte("new"), false); !errors.Is(err, ErrExists) {
		t.Fatalf("want ErrExists, got %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("existing %s overwritten without force: %q", path, b)
	}
	if err := WriteFileAtomic(path, []byte("new"), true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("force did not replace: %q", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left %v", entries)
	}
}

// The fallback for filesystems without a no-replace rename refuses an existing target too.
func TestLinkUnlinkRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "a.part"), filepath.Join(dir, "a")
	_ = os.WriteFile(from, []byte("new"), 0o600)
	_ = os.WriteFile(to, []byte("old"), 0o600)
	if err := linkUnlink(from, to); !errors.Is(err, ErrExists) {
		t.Fatalf("want ErrExists, got %v", err)
	}
	if b, _ := os.ReadFile(to); string(b) != "old" {
		t.Errorf("overwritten: %q", b)
	}
	_ = os.Remove(to)
	if err := linkUnlink(from, to); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(to); string(b) != "new" {
		t.Errorf("content %q", b)
	}
	if _, err := os.Lstat(from); !os.IsNotExist(err) {
		t.Errorf("source left: %v", err)
	}
}

// A failed fsync of the directory after the rename is reported, not ignored; the verified file
// is kept and named.
func TestWriteReportsDirectoryFsyncFailure(t *testing.T) {
	saved := syncDir
	t.Cleanup(func() { syncDir = saved })
	syncDir = func(string) error { return errors.New("input/output error") }
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	w, err := Write(bytes.NewReader(stream(4)), path, WriteOptions{})
	if !errors.Is(err, ErrNotDurable) || !strings.Contains(err.Error(), "input/output error") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("want ErrNotDurable naming the directory and the cause, got %v", err)
	}
	if w == nil || w.Path != path {
		t.Fatalf("Written %+v, want the kept file", w)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the verified file was not kept: %v", err)
	}
	if err := WriteFileAtomic(path+".json", []byte("{}"), false); !errors.Is(err, ErrNotDurable) {
		t.Errorf("metadata: want ErrNotDurable, got %v", err)
	}
}

func truncateBytes(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// The .part of a write in progress is known, so that a second Ctrl-C, which quits without waiting
// for the writer, can still remove it.
func TestRemovePartialsDuringWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	_, err := Write(bytes.NewReader(stream(4)), path, WriteOptions{Progress: func(int64) {
		RemovePartials()
		if _, err := os.Lstat(PartPath(path)); !os.IsNotExist(err) {
			t.Errorf("RemovePartials left %s: %v", PartPath(path), err)
		}
	}})
	if err == nil {
		t.Error("a write whose .part was removed must fail")
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("%s exists", path)
	}
}

// A database another process holds open for writing (a running etcd's db file) is refused as
// locked: bbolt's read-only open used to wait for the lock forever.
func TestInspectLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := bolt.Open(path, 0o600, nil) // holds the exclusive lock, as etcd does
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if c := CheckDB(path); !c.Locked || c.Revision != 0 {
		t.Errorf("CheckDB of a locked file: %+v, want locked", c)
	}
	_, err = Inspect(t.Context(), path)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("Inspect of a locked file: %v, want ErrLocked naming it", err)
	}
}

// The stream delivers one etcd chunk (32 KiB) per read; the file is written (and progress
// reported) once per full copy buffer, not once per chunk.
func TestWriteFillsTheBufferBeforeWriting(t *testing.T) {
	in := stream(4 * copyBufferSize / 512)
	var updates int
	w, err := Write(&chunked{data: in, n: 32 << 10}, filepath.Join(t.TempDir(), "snap.db"), WriteOptions{Progress: func(int64) { updates++ }})
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(in) + copyBufferSize - 1) / copyBufferSize; updates != want || w.Size != int64(len(in)) {
		t.Errorf("%d writes for %d bytes, want %d", updates, w.Size, want)
	}
}
