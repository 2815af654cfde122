package snapshot

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/ssh"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/usage/usagetest"
)

func newIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

var allLayers = []Layers{
	{Compression: CompressZstd},
	{Compression: CompressGzip},
	{Encryption: EncryptAge},
	{Compression: CompressZstd, Encryption: EncryptAge},
	{Compression: CompressGzip, Encryption: EncryptAge},
}

// Every format round-trips: Write compresses and encrypts after verifying the raw stream,
// Open finds the layers by their magic bytes (the file names say nothing) and gives the raw
// stream back; the sizes and hashes describe both the raw stream and the stored file.
func TestWriteLayersRoundTrip(t *testing.T) {
	id := newIdentity(t)
	in := stream(2048) // 1 MiB: several zstd blocks and age chunks
	for _, l := range allLayers {
		t.Run(l.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "snap") // no suffix: detection is by content
			w, err := Write(bytes.NewReader(in), path, WriteOptions{Layers: l, Recipients: []age.Recipient{id.Recipient()}})
			if err != nil {
				t.Fatal(err)
			}
			stored, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(stored, in[:4096]) {
				t.Errorf("the stored file holds the plain stream")
			}
			sum := sha256.Sum256(in)
			fsum := sha256.Sum256(stored)
			if w.Size != int64(len(in)) || w.SHA256 != hex.EncodeToString(sum[:]) || w.FileSize != int64(len(stored)) || w.FileSHA256 != hex.EncodeToString(fsum[:]) || w.Layers != l {
				t.Errorf("written %+v; raw %d bytes, stored %d", w, len(in), len(stored))
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v", st.Mode().Perm())
			}
			if _, err := os.Lstat(PartPath(path)); err == nil {
				t.Errorf(".part left behind")
			}
			r, err := Open(path, []age.Identity{id})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, in) || r.Layers != l {
				t.Errorf("read back %d bytes (%v), layers %v; want %d bytes, %v", len(got), err, r.Layers, len(in), l)
			}
		})
	}
}

// An armored age file (age -a) is read too.
func TestOpenArmoredAge(t *testing.T) {
	id := newIdentity(t)
	in := stream(8)
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	ew, err := age.Encrypt(aw, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = ew.Write(in)
	_ = ew.Close()
	_ = aw.Close()
	path := filepath.Join(t.TempDir(), "snap.db.age")
	_ = os.WriteFile(path, buf.Bytes(), 0o600)
	r, err := Open(path, []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, in) || r.Layers.Encryption != EncryptAge {
		t.Errorf("got %d bytes, %v, %v", len(got), err, r.Layers)
	}
}

// A stream that fails its sha256 trailer leaves nothing, whatever the layers.
func TestWriteLayersBadTrailerLeavesNothing(t *testing.T) {
	id := newIdentity(t)
	bad := stream(64)
	bad[100] ^= 1
	for _, l := range allLayers {
		dir := t.TempDir()
		path := filepath.Join(dir, "snap.db"+l.Suffix())
		_, err := Write(bytes.NewReader(bad), path, WriteOptions{Layers: l, Recipients: []age.Recipient{id.Recipient()}})
		if !errors.Is(err, ErrIntegrity) {
			t.Errorf("%v: %v, want an integrity error", l, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%v: left %v", l, ents)
		}
	}
}

// snapshotDB is a real etcd-layout bbolt database with its sha256 trailer, as a save writes.
func snapshotDB(t *testing.T) []byte {
	t.Helper()
	path := usagetest.WriteBackend(t, []usagetest.Op{{Key: "/registry/configmaps/a/b", Value: strings.Repeat("v", 5000)}}, 0, 0)
	usagetest.AddTrailer(t, path)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantNoCopies fails when a temporary plain copy is left in tmp.
func wantNoCopies(t *testing.T, tmp string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(tmp, "kubectl-etcd-snapshot-*"))
	if len(left) != 0 {
		t.Errorf("temporary plain copies left behind: %v", left)
	}
}

// Inspect reads every format as if it were plain, through a private temporary copy that is
// gone afterwards.
func TestInspectStoredFormats(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	id := newIdentity(t)
	in := snapshotDB(t)
	plain := filepath.Join(t.TempDir(), "plain.db")
	_ = os.WriteFile(plain, in, 0o600)
	want, err := Inspect(t.Context(), plain)
	if err != nil || want.Verdict != VerdictOK {
		t.Fatalf("plain: %+v %v", want, err)
	}
	for _, l := range allLayers {
		path := filepath.Join(t.TempDir(), "s.db"+l.Suffix())
		if _, err := Write(bytes.NewReader(in), path, WriteOptions{Layers: l, Recipients: []age.Recipient{id.Recipient()}}); err != nil {
			t.Fatal(err)
		}
		r, err := Inspect(t.Context(), path, InspectOptions{Identities: []age.Identity{id}})
		if err != nil {
			t.Fatalf("%v: %v", l, err)
		}
		st, _ := os.Stat(path)
		if r.Verdict != VerdictOK || r.Trailer != "valid" || r.Size != want.Size || r.SHA256 != want.SHA256 || r.Revision != want.Revision ||
			r.Layers != l || r.FileSize != st.Size() || r.File != path {
			t.Errorf("%v: %+v, want the plain report %+v with the layers", l, r, want)
		}
		wantNoCopies(t, tmp)
	}
}

// A flipped byte is caught in each layer: the zstd frame checksum, gzip's CRC, age's
// authentication, and the sha256 trailer of the snapshot inside an intact compression layer.
// Each is a corrupt verdict naming the layer, and nothing is left in TMPDIR.
func TestInspectFlippedByteInEachLayer(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	id := newIdentity(t)
	in := snapshotDB(t)
	write := func(l Layers) []byte {
		path := filepath.Join(t.TempDir(), "s")
		if _, err := Write(bytes.NewReader(in), path, WriteOptions{Layers: l, Recipients: []age.Recipient{id.Recipient()}}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		return b
	}
	flip := func(b []byte, at int) []byte {
		b = append([]byte{}, b...)
		b[at] ^= 0x01
		return b
	}
	zst := write(Layers{Compression: CompressZstd})
	gz := write(Layers{Compression: CompressGzip})
	enc := write(Layers{Compression: CompressZstd, Encryption: EncryptAge})
	// A zstd file whose content has a bad trailer: written by hand, Write refuses such streams.
	var badInner bytes.Buffer
	zw, _ := zstd.NewWriter(&badInner)
	_, _ = zw.Write(flip(in, len(in)/2))
	_ = zw.Close()
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"zstd frame checksum", flip(zst, len(zst)-2), "zstd layer"},
		{"zstd block", flip(zst, len(zst)/2), "zstd layer"},
		{"gzip crc", flip(gz, len(gz)-6), "gzip layer"},
		{"age payload", flip(enc, len(enc)-40), "age layer"},
		{"age header mac", flip(enc, bytes.Index(enc, []byte("\n---"))+10), "age layer"},
		{"truncated zstd", zst[:len(zst)/2], "zstd layer"},
		{"sha256 trailer inside zstd", badInner.Bytes(), "sha256 trailer does not match"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			_ = os.WriteFile(path, c.data, 0o600)
			r, err := Inspect(t.Context(), path, InspectOptions{Identities: []age.Identity{id}})
			if err != nil {
				t.Fatal(err)
			}
			if r.Verdict != VerdictCorrupt || !strings.Contains(strings.Join(r.Problems, "; "), c.want) {
				t.Errorf("verdict %q problems %q, want corrupt naming %q", r.Verdict, r.Problems, c.want)
			}
			wantNoCopies(t, tmp)
		})
	}
}

// An encrypted file without an identity, or with one that is not a recipient, says so.
func TestOpenWrongIdentity(t *testing.T) {
	id := newIdentity(t)
	path := filepath.Join(t.TempDir(), "s.db.zst.age")
	if _, err := Write(bytes.NewReader(stream(8)), path, WriteOptions{Layers: Layers{CompressZstd, EncryptAge}, Recipients: []age.Recipient{id.Recipient()}}); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, nil)
	if !errors.Is(err, ErrEncrypted) || !strings.Contains(err.Error(), "--identity") {
		t.Errorf("no identity: %v", err)
	}
	_, err = Open(path, []age.Identity{newIdentity(t)})
	if !errors.Is(err, ErrWrongIdentity) || !strings.Contains(err.Error(), "encrypted to other recipients") || errors.Is(err, ErrIntegrity) {
		t.Errorf("wrong identity: %v", err)
	}
	_, err = Inspect(t.Context(), path, InspectOptions{Identities: []age.Identity{newIdentity(t)}})
	if !errors.Is(err, ErrWrongIdentity) {
		t.Errorf("Inspect with the wrong identity: %v", err)
	}
}

// SSH keys work both ways: an ssh-ed25519 public key as recipient, the private key as
// --identity; identity and recipients files are parsed with their comments.
func TestSSHAndFileRecipients(t *testing.T) {
	dir := t.TempDir()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
	ageID := newIdentity(t)
	recFile := filepath.Join(dir, "recipients.txt")
	_ = os.WriteFile(recFile, []byte("# backup key\n"+ageID.Recipient().String()+"\n\n"), 0o600)
	idFile := filepath.Join(dir, "key.txt")
	_ = os.WriteFile(idFile, []byte("# created: now\n"+ageID.String()+"\n"), 0o600)

	rs, names, err := ParseRecipients([]string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))}, []string{recFile})
	if err != nil || len(rs) != 2 || len(names) != 2 {
		t.Fatalf("%d recipients %v: %v", len(rs), names, err)
	}
	path := filepath.Join(dir, "s.db.age")
	in := stream(8)
	if _, err := Write(bytes.NewReader(in), path, WriteOptions{Layers: Layers{Encryption: EncryptAge}, Recipients: rs}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{keyFile, idFile} {
		ids, err := LoadIdentities(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(path, ids)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, in) {
			t.Errorf("%s: read back differs", f)
		}
	}
	if _, _, err := ParseRecipients([]string{ageID.String()}, nil); err == nil || strings.Contains(err.Error(), ageID.String()) {
		t.Errorf("a private key as recipient: %v (must be refused without echoing it)", err)
	}
}

// A cancelled read (Ctrl-C) leaves no temporary copy.
func TestPlainFileCancelled(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	path := filepath.Join(t.TempDir(), "s.db.zst")
	if _, err := Write(bytes.NewReader(stream(64)), path, WriteOptions{Layers: Layers{Compression: CompressZstd}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, _, err := PlainFile(ctx, path, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want canceled", err)
	}
	wantNoCopies(t, tmp)
	// A plain file is its own plain file: no copy.
	p := filepath.Join(t.TempDir(), "p.db")
	_ = os.WriteFile(p, stream(8), 0o600)
	got, l, cleanup, err := PlainFile(t.Context(), p, nil)
	if err != nil || got != p || !l.Plain() {
		t.Errorf("plain: %s %v %v", got, l, err)
	}
	cleanup()
}

// The second Ctrl-C removes a temporary copy still in use.
func TestRemovePartialsRemovesPlainCopies(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	path := filepath.Join(t.TempDir(), "s.db.gz")
	if _, err := Write(bytes.NewReader(stream(8)), path, WriteOptions{Layers: Layers{Compression: CompressGzip}}); err != nil {
		t.Fatal(err)
	}
	plain, _, cleanup, err := PlainFile(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if st, err := os.Stat(filepath.Dir(plain)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("temporary directory: %v %v", st, err)
	}
	if st, _ := os.Stat(plain); st.Mode().Perm() != 0o600 {
		t.Errorf("plain copy mode %v", st.Mode().Perm())
	}
	RemovePartials()
	if _, err := os.Stat(filepath.Dir(plain)); !os.IsNotExist(err) {
		t.Errorf("the temporary directory survived RemovePartials: %v", err)
	}
}

func TestNames(t *testing.T) {
	for name, want := range map[string]string{"a.db.zst.age": "a.db", "a.db.gz": "a.db", "a.db": "a.plain.db", "snap.age": "snap", "x": "x.db"} {
		if got := PlainName(name); got != want {
			t.Errorf("PlainName(%s) = %s, want %s", name, got, want)
		}
	}
	if l := LayersFromName("x.db.zst.age"); l != (Layers{CompressZstd, EncryptAge}) || l.Suffix() != ".zst.age" || l.String() != "zstd, age" {
		t.Errorf("%+v", l)
	}
}
