package snapshot

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// --compress, the recipients and FILE's suffixes decide the layers; FILE gets the suffixes it
// lacks; contradictions and --keep without a directory are usage errors.
func TestSaveLayersFromFlagsAndName(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	rec := []age.Recipient{id.Recipient()}
	tests := []struct {
		name   string
		change func(o *SaveOptions)
		path   string
		layers snap.Layers
		err    string
	}{
		{name: "plain", change: func(o *SaveOptions) { o.Path = "x.db" }, path: "x.db"},
		{name: "zst suffix", change: func(o *SaveOptions) { o.Path = "x.db.zst" }, path: "x.db.zst", layers: snap.Layers{Compression: "zstd"}},
		{name: "gz suffix", change: func(o *SaveOptions) { o.Path = "x.db.gz" }, path: "x.db.gz", layers: snap.Layers{Compression: "gzip"}},
		{name: "--compress adds the suffix", change: func(o *SaveOptions) { o.Path, o.Compress = "x.db", "zstd" }, path: "x.db.zst", layers: snap.Layers{Compression: "zstd"}},
		{name: "encryption adds .age", change: func(o *SaveOptions) { o.Path, o.recipients = "x.db.zst", rec }, path: "x.db.zst.age", layers: snap.Layers{Compression: "zstd", Encryption: "age"}},
		{name: "named .age", change: func(o *SaveOptions) { o.Path, o.recipients = "x.db.zst.age", rec }, path: "x.db.zst.age", layers: snap.Layers{Compression: "zstd", Encryption: "age"}},
		{name: "default name", change: func(o *SaveOptions) { o.Compress, o.recipients = "gzip", rec }, layers: snap.Layers{Compression: "gzip", Encryption: "age"}},
		{name: "directory with keep", change: func(o *SaveOptions) { o.dir, o.Keep, o.Compress = "/backup", 7, "zstd" }, layers: snap.Layers{Compression: "zstd"}},
		{name: ".age without recipients", change: func(o *SaveOptions) { o.Path = "x.db.age" }, err: "names an age-encrypted file; give --encrypt-to or --encrypt-to-file"},
		{name: "conflicting compression", change: func(o *SaveOptions) { o.Path, o.Compress = "x.db.gz", "zstd" }, err: "x.db.gz names a gzip file, but --compress is zstd"},
		{name: "none with a suffix", change: func(o *SaveOptions) { o.Path, o.Compress = "x.db.zst", "none" }, err: "but --compress is none"},
		{name: "bad compress", change: func(o *SaveOptions) { o.Compress = "xz" }, err: `invalid --compress "xz": want zstd, gzip or none`},
		{name: "keep without directory", change: func(o *SaveOptions) { o.Path, o.Keep = "x.db", 3 }, err: "--keep needs a directory as FILE"},
		{name: "negative keep", change: func(o *SaveOptions) { o.dir, o.Keep = "/b", -1 }, err: "--keep must not be negative"},
		{name: "on node compressed", change: func(o *SaveOptions) { o.OnNode, o.Compress = "/var/lib/etcd/x.db", "zstd" }, err: "--on-node writes a plain snapshot on the node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &SaveOptions{cmdPath: "kubectl etcd snapshot save", Helper: HelperAuto, HelperRoute: "auto"}
			tt.change(o)
			err := o.Validate()
			checkValidate(t, err, tt.err)
			if tt.err == "" && (o.Path != tt.path || o.layers != tt.layers) {
				t.Errorf("path %q layers %+v, want %q %+v", o.Path, o.layers, tt.path, tt.layers)
			}
		})
	}
}

// status, restore-plan and usage --file read compressed and encrypted files as if they were
// plain; a flipped byte in a layer is exit 8 with the layer named; a wrong identity says so.
func TestReadersAcceptStoredFormats(t *testing.T) {
	e := newEnv(t)
	plain := e.snapshotFile(t)
	raw, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(dir, "key.txt")
	_ = os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	stored := filepath.Join(dir, "etcd.db.zst.age")
	if _, err := snap.Write(bytes.NewReader(raw), stored, snap.WriteOptions{Layers: snap.Layers{Compression: "zstd", Encryption: "age"}, Recipients: []age.Recipient{id.Recipient()}}); err != nil {
		t.Fatal(err)
	}

	e.run(t, "snapshot", "status", stored, "--identity", idFile)
	if e.code != 0 || !strings.Contains(e.stdout, "Stored:") || !strings.Contains(e.stdout, "zstd, age") || !strings.Contains(e.stdout, "Trailer:         valid") {
		t.Errorf("status of the stored file: exit %d\n%s%s", e.code, e.stdout, e.stderr)
	}

	e.run(t, "snapshot", "restore-plan", stored, "--identity", idFile)
	if e.code != 0 || !strings.Contains(e.stdout, "age -d -i "+idFile+" "+stored+" | zstd -d -o "+filepath.Join(dir, "etcd.db")) ||
		!strings.Contains(e.stdout, "/var/tmp/etcd.db ") || strings.Contains(e.stderr, "could not be read") {
		t.Errorf("restore-plan of the stored file: exit %d\n%s%s", e.code, e.stdout, e.stderr)
	}

	other, _ := age.GenerateX25519Identity()
	otherFile := filepath.Join(dir, "other.txt")
	_ = os.WriteFile(otherFile, []byte(other.String()+"\n"), 0o600)
	e.run(t, "snapshot", "status", stored, "--identity", otherFile)
	if e.code != 1 || !strings.Contains(e.stderr, "no key in --identity opens") || !strings.Contains(e.stderr, "encrypted to other recipients") {
		t.Errorf("wrong identity: exit %d\n%s", e.code, e.stderr)
	}
	e.run(t, "snapshot", "status", stored)
	if e.code != 1 || !strings.Contains(e.stderr, "is encrypted with age; pass --identity FILE") {
		t.Errorf("no identity: exit %d\n%s", e.code, e.stderr)
	}

	b, _ := os.ReadFile(stored)
	b[len(b)-20] ^= 1
	flipped := filepath.Join(dir, "flipped")
	_ = os.WriteFile(flipped, b, 0o600)
	e.run(t, "snapshot", "status", flipped, "--identity", idFile)
	if e.code != 8 || !strings.Contains(e.stderr, "age layer") || !strings.Contains(e.stdout, "corrupt") {
		t.Errorf("flipped byte: exit %d\n%s%s", e.code, e.stdout, e.stderr)
	}
}

// A compressed save says how the file is stored; an encrypted one into a directory with
// --keep also lists what it removed.
func TestSaveStoredOutput(t *testing.T) {
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i % 7)
	}
	sum := sha256.Sum256(data)
	newSaveEnv := func() *env {
		e := newEnv(t)
		for _, m := range e.cl.Members {
			m.SnapshotData = append(append([]byte{}, data...), sum[:]...)
		}
		e.wrap = func(c transport.Connector) transport.Connector { return portForward{c} }
		return e
	}
	dir := t.TempDir()
	e := newSaveEnv()
	e.run(t, "snapshot", "save", filepath.Join(dir, "s.db"), "--compress", "zstd")
	e.check(t, "save-zstd.table", dir, "DIR")

	id, _ := age.GenerateX25519Identity()
	old := filepath.Join(dir, "etcd-cdf818194e3a8c32-20260101T000000Z.db")
	_ = os.WriteFile(old, []byte("x"), 0o600)
	_ = os.WriteFile(old+".json", []byte(`{"clusterID":"cdf818194e3a8c32","pluginVersion":"v0"}`), 0o600)
	e = newSaveEnv()
	e.run(t, "snapshot", "save", dir+"/", "--encrypt-to", id.Recipient().String(), "--keep", "1")
	if e.code != 0 || !strings.Contains(e.stdout, "stored age: ") || !strings.Contains(e.stdout, "encrypted to 1 recipient(s)") ||
		!strings.Contains(e.stdout, "removed older snapshot "+old+" (--keep)") || !strings.Contains(e.stdout, ".db.age (") {
		t.Errorf("exit %d\n%s%s", e.code, e.stdout, e.stderr)
	}
	if _, err := os.Stat(old); err == nil {
		t.Errorf("%s was kept", old)
	}
}
