package snapshot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// storedMetadata is FILE.json of a compressed or encrypted snapshot.
type storedMetadata struct {
	snapshotMetadata
	Compression string   `json:"compression"`
	Encryption  string   `json:"encryption"`
	FileSize    int64    `json:"fileSize"`
	FileSHA256  string   `json:"fileSHA256"`
	Recipients  []string `json:"recipients"`
	Removed     []string `json:"removed"`
}

// TestSnapshotCompressedEncrypted saves .db.zst and .db.zst.age snapshots through port-forward
// (the latter into a directory with --keep), reads them with snapshot status, usage --file and
// restore-plan, turns them back into plain .db files with zstd -d and age's decryption, and
// restores them with the real etcdutl into a data directory that a real etcd serves.
func TestSnapshotCompressedEncrypted(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl := c.Client(t)
	for i := 0; i < numKeys; i++ {
		if _, err := cl.Put(ctx, keyName(i), value(i)); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	if err := c.Fill(ctx, 2); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "backup.key")
	if err := os.WriteFile(keyFile, []byte("# test key\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	readMD := func(t *testing.T, path string) storedMetadata {
		t.Helper()
		raw, err := os.ReadFile(path + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var md storedMetadata
		if err := json.Unmarshal(raw, &md); err != nil {
			t.Fatalf("%v\n%s", err, raw)
		}
		return md
	}
	// readers runs status, usage --file and restore-plan on a stored file.
	readers := func(t *testing.T, path string, md storedMetadata, extra ...string) {
		r := run(t, c, dir, args("snapshot", "status", path, "-o", "json", extra)...)
		plugintest.WantCode(t, r, 0)
		var s struct {
			statusReport
			Compression string `json:"compression"`
			Encryption  string `json:"encryption"`
			FileSize    int64  `json:"fileSize"`
		}
		plugintest.Decode(t, r, &s)
		if s.Verdict != "ok" || s.Trailer != "valid" || s.SHA256 != md.SHA256 || s.Size != md.Size || s.Revision != md.Revision ||
			s.Compression != md.Compression || s.Encryption != md.Encryption || s.FileSize != md.FileSize {
			t.Errorf("status %+v, metadata %+v", s, md)
		}
		r = run(t, c, dir, args("usage", "--file", path, "--prefix", keyPrefix, "-o", "json", extra)...)
		plugintest.WantCode(t, r, 0)
		var u struct {
			File   string `json:"file"`
			Totals struct {
				Keys int `json:"keys"`
			} `json:"totals"`
		}
		plugintest.Decode(t, r, &u)
		if u.File != path || u.Totals.Keys != numKeys {
			t.Errorf("usage --file: file %q keys %d, want %q %d\n%s", u.File, u.Totals.Keys, path, numKeys, r)
		}
		r = run(t, c, dir, args("snapshot", "restore-plan", path, "-o", "json", plugintest.PFArgs(c), extra)...)
		plugintest.WantCode(t, r, 0)
		var plan restorePlan
		plugintest.Decode(t, r, &plan)
		steps := strings.Join(plan.Steps, "\n")
		if !strings.Contains(steps, "zstd -d") || (md.Encryption != "" && !strings.Contains(steps, "age -d")) {
			t.Errorf("restore-plan does not say how to get the plain snapshot:\n%s", steps)
		}
		for _, w := range plan.Warnings {
			if strings.Contains(w, "could not be read") || strings.Contains(w, "corrupt") {
				t.Errorf("restore-plan warning: %s", w)
			}
		}
	}

	t.Run("zst", func(t *testing.T) {
		F := filepath.Join(dir, "F.db.zst")
		r := run(t, c, dir, args("snapshot", "save", "F.db.zst", plugintest.PFArgs(c))...)
		plugintest.WantCode(t, r, 0)
		wantAbsent(t, r, F+".part", F+".json.part")
		md := readMD(t, F)
		head := make([]byte, 4)
		f, err := os.Open(F)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadFull(f, head)
		f.Close()
		if !bytes.Equal(head, []byte{0x28, 0xb5, 0x2f, 0xfd}) || md.Compression != "zstd" || md.FileSHA256 != sha256File(t, F) || md.FileSize >= md.Size {
			t.Errorf("F.db.zst starts %x; metadata %+v", head, md)
		}
		readers(t, F, md)
		plain := filepath.Join(t.TempDir(), "F.db")
		zstdDecompress(t, F, plain)
		if got := sha256File(t, plain); got != md.SHA256 {
			t.Errorf("zstd -d gives sha256 %s, F.json says %s", got, md.SHA256)
		}
		testRestore(t, c, plain, md.snapshotMetadata)
	})

	t.Run("zst.age into a directory with --keep", func(t *testing.T) {
		backups := filepath.Join(dir, "backups")
		if err := os.Mkdir(backups, 0o700); err != nil {
			t.Fatal(err)
		}
		unrelated := filepath.Join(backups, "notes.txt")
		_ = os.WriteFile(unrelated, []byte("mine"), 0o600)
		var saved []string
		for i := range 3 {
			if i > 0 {
				time.Sleep(1100 * time.Millisecond) // names carry the time to the second
			}
			r := run(t, c, dir, args("snapshot", "save", "backups/", "--compress", "zstd", "--encrypt-to", id.Recipient().String(), "--keep", "2", "-o", "json", plugintest.PFArgs(c))...)
			plugintest.WantCode(t, r, 0)
			var out storedMetadata
			plugintest.Decode(t, r, &out)
			saved = append(saved, out.File)
			if i == 2 && (len(out.Removed) != 1 || out.Removed[0] != saved[0]) {
				t.Errorf("third save removed %v, want [%s]", out.Removed, saved[0])
			}
		}
		ents, _ := os.ReadDir(backups)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		want := []string{filepath.Base(saved[1]), filepath.Base(saved[1]) + ".json", filepath.Base(saved[2]), filepath.Base(saved[2]) + ".json", "notes.txt"}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("backups holds %v, want %v", names, want)
		}
		F := filepath.Join(dir, saved[2])
		if !strings.HasPrefix(filepath.Base(F), "etcd-") || !strings.HasSuffix(F, ".db.zst.age") {
			t.Errorf("saved as %s, want backups/etcd-<cluster id>-<time>.db.zst.age", F)
		}
		md := readMD(t, F)
		if md.Compression != "zstd" || md.Encryption != "age" || len(md.Recipients) != 1 || md.Recipients[0] != id.Recipient().String() {
			t.Errorf("metadata %+v", md)
		}
		raw, _ := os.ReadFile(F)
		if !bytes.HasPrefix(raw, []byte("age-encryption.org/v1\n")) {
			t.Errorf("%s does not start with the age header", F)
		}
		readers(t, F, md, "--identity", keyFile)

		// Without the identity, or with another one, the readers say so.
		r := run(t, c, dir, "snapshot", "status", F)
		plugintest.WantCode(t, r, 1)
		if !strings.Contains(r.Stderr, "encrypted with age; pass --identity") {
			t.Errorf("no identity:\n%s", r)
		}
		other, _ := age.GenerateX25519Identity()
		otherFile := filepath.Join(dir, "other.key")
		_ = os.WriteFile(otherFile, []byte(other.String()+"\n"), 0o600)
		r = run(t, c, dir, "snapshot", "status", F, "--identity", otherFile)
		plugintest.WantCode(t, r, 1)
		if !strings.Contains(r.Stderr, "encrypted to other recipients") {
			t.Errorf("wrong identity:\n%s", r)
		}
		// A flipped byte in the encrypted payload: exit 8, the age layer named.
		bad := append([]byte{}, raw...)
		bad[len(bad)-100] ^= 1
		badFile := filepath.Join(dir, "bad.db.zst.age")
		_ = os.WriteFile(badFile, bad, 0o600)
		r = run(t, c, dir, "snapshot", "status", badFile, "--identity", keyFile)
		plugintest.WantCode(t, r, 8)
		if !strings.Contains(r.Stderr, "age layer") {
			t.Errorf("flipped byte:\n%s", r)
		}

		// age -d, then zstd -d, then the real etcdutl.
		zst := filepath.Join(t.TempDir(), "F.db.zst")
		ageDecrypt(t, F, zst, id)
		plain := strings.TrimSuffix(zst, ".zst")
		zstdDecompress(t, zst, plain)
		if got := sha256File(t, plain); got != md.SHA256 {
			t.Errorf("decrypted and decompressed sha256 %s, F.json says %s", got, md.SHA256)
		}
		testRestore(t, c, plain, md.snapshotMetadata)
	})
}

// zstdDecompress runs the zstd tool when the machine has it (what the README tells operators
// to run), else decodes with the Go library.
func zstdDecompress(t *testing.T, in, out string) {
	t.Helper()
	if zstdBin, err := exec.LookPath("zstd"); err == nil {
		if b, err := exec.Command(zstdBin, "-q", "-d", in, "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("zstd -d %s: %v\n%s", in, err, b)
		}
		return
	}
	t.Logf("no zstd tool here: decompressing %s with the Go library", in)
	src, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	zr, err := zstd.NewReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	writeFrom(t, out, zr)
}

// ageDecrypt does what age -d -i KEY does (there is no age tool on the test machines).
func ageDecrypt(t *testing.T, in, out string, id age.Identity) {
	t.Helper()
	src, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r, err := age.Decrypt(src, id)
	if err != nil {
		t.Fatal(err)
	}
	writeFrom(t, out, r)
}

func writeFrom(t *testing.T, out string, r io.Reader) {
	t.Helper()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, r); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
