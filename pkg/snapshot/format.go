package snapshot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/ssh"
)

// Compressions and the encryption a snapshot file can be stored with.
const (
	CompressNone = "none"
	CompressZstd = "zstd"
	CompressGzip = "gzip"
	EncryptAge   = "age"
)

// Compressions are the values of --compress.
var Compressions = []string{CompressZstd, CompressGzip, CompressNone}

// File name suffixes of the layers.
const (
	SuffixZstd = ".zst"
	SuffixGzip = ".gz"
	SuffixAge  = ".age"
)

// ErrEncrypted says a snapshot file is encrypted and no identity was given to open it.
var ErrEncrypted = errors.New("snapshot is encrypted")

// ErrWrongIdentity says none of the identities given opens an encrypted snapshot file.
var ErrWrongIdentity = errors.New("wrong identity")

// Layers says how a snapshot file is stored around the plain snapshot stream: compressed
// (zstd, gzip) and then encrypted (age). Empty fields mean plain.
type Layers struct {
	Compression string `json:"compression,omitempty"`
	Encryption  string `json:"encryption,omitempty"`
}

// Plain says the file is the snapshot stream itself.
func (l Layers) Plain() bool { return l.Compression == "" && l.Encryption == "" }

// String names the layers from the inside out: "zstd", "age", "zstd, age" or "plain".
func (l Layers) String() string {
	var s []string
	if l.Compression != "" {
		s = append(s, l.Compression)
	}
	if l.Encryption != "" {
		s = append(s, l.Encryption)
	}
	if len(s) == 0 {
		return "plain"
	}
	return strings.Join(s, ", ")
}

// Suffix is the file name suffix for the layers, e.g. ".zst.age".
func (l Layers) Suffix() string {
	s := ""
	switch l.Compression {
	case CompressZstd:
		s = SuffixZstd
	case CompressGzip:
		s = SuffixGzip
	}
	if l.Encryption == EncryptAge {
		s += SuffixAge
	}
	return s
}

// LayersFromName reads the layers a file name announces: ".age" last, then ".zst" or ".gz".
// The readers never rely on it: they look at the content.
func LayersFromName(name string) Layers {
	var l Layers
	if strings.HasSuffix(name, SuffixAge) {
		l.Encryption = EncryptAge
		name = strings.TrimSuffix(name, SuffixAge)
	}
	switch {
	case strings.HasSuffix(name, SuffixZstd):
		l.Compression = CompressZstd
	case strings.HasSuffix(name, SuffixGzip):
		l.Compression = CompressGzip
	}
	return l
}

// PlainName is the name of the plain snapshot inside a stored one: name without its .age,
// .zst and .gz suffixes; a name without them gets ".plain.db" or ".db", never itself.
func PlainName(name string) string {
	n := strings.TrimSuffix(name, SuffixAge)
	n = strings.TrimSuffix(strings.TrimSuffix(n, SuffixZstd), SuffixGzip)
	switch {
	case n == name && strings.HasSuffix(name, ".db"):
		return strings.TrimSuffix(name, ".db") + ".plain.db"
	case n == name || n == "" || strings.HasSuffix(n, "/"):
		return n + ".db"
	}
	return n
}

// ParseRecipients parses --encrypt-to values and the lines of --encrypt-to-file files: age
// X25519 recipients (age1...) and SSH public keys (ssh-ed25519, ssh-rsa). Empty lines and
// lines starting with "#" in files are skipped. It returns the recipients and their strings.
func ParseRecipients(args, files []string) ([]age.Recipient, []string, error) {
	var rs []age.Recipient
	var names []string
	add := func(s, where string) error {
		r, err := parseRecipient(s)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		rs = append(rs, r)
		names = append(names, s)
		return nil
	}
	for _, a := range args {
		if err := add(strings.TrimSpace(a), "--encrypt-to"); err != nil {
			return nil, nil, err
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot read the recipients file %s: %w", f, unwrapPath(err))
		}
		n := 0
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := add(line, fmt.Sprintf("%s line %d", f, i+1)); err != nil {
				return nil, nil, err
			}
			n++
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("the recipients file %s holds no recipient", f)
		}
	}
	return rs, names, nil
}

func parseRecipient(s string) (age.Recipient, error) {
	switch {
	case strings.HasPrefix(s, "age1pq1"):
		return age.ParseHybridRecipient(s)
	case strings.HasPrefix(s, "age1"):
		return age.ParseX25519Recipient(s)
	case strings.HasPrefix(s, "ssh-"):
		return agessh.ParseRecipient(s)
	case strings.HasPrefix(s, "AGE-SECRET-KEY-") || strings.Contains(s, "PRIVATE KEY"):
		// Never echo it: it is a private key.
		return nil, errors.New("this is a private key, not a recipient: give the public key (age-keygen -y, or the .pub file of an SSH key)")
	}
	return nil, errors.New("not an age recipient (age1...) or an SSH public key (ssh-ed25519 ..., ssh-rsa ...)")
}

// LoadIdentities reads --identity FILE: an age identity file (AGE-SECRET-KEY-... lines, as
// age-keygen writes) or an unencrypted SSH private key (ed25519 or RSA). A passphrase-protected
// SSH key is refused with advice.
func LoadIdentities(path string) ([]age.Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the identity file %s: %w", path, unwrapPath(err))
	}
	if bytes.Contains(b, []byte("-----BEGIN")) && bytes.Contains(b, []byte("PRIVATE KEY-----")) {
		id, err := agessh.ParseIdentity(b)
		if err != nil {
			var pm *ssh.PassphraseMissingError
			if errors.As(err, &pm) {
				return nil, fmt.Errorf("the SSH key %s is protected by a passphrase, which this plugin does not ask for: decrypt with age -d -i %s, or use an age identity file", path, path)
			}
			return nil, fmt.Errorf("the identity file %s is not a usable SSH private key: %w", path, err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("the identity file %s is not an age identity file or SSH private key: %w", path, err)
	}
	return ids, nil
}

// encoder is the chain of writers that turns the plain snapshot stream into the stored file:
// compression first, then encryption, then a buffer, counting and hashing the stored bytes.
type encoder struct {
	w       io.Writer
	closers []io.Closer // innermost (compression) first
	buf     *bufio.Writer
	stored  *hashCounter
}

// newEncoder builds the chain for l over dst; recipients are needed for encryption.
func newEncoder(dst io.Writer, l Layers, recipients []age.Recipient) (*encoder, error) {
	e := &encoder{stored: newHashCounter(dst)}
	e.buf = bufio.NewWriterSize(e.stored, 1<<20)
	var w io.Writer = e.buf
	var closers []io.Closer
	if l.Encryption == EncryptAge {
		if len(recipients) == 0 {
			return nil, errors.New("encryption needs at least one recipient")
		}
		aw, err := age.Encrypt(w, recipients...)
		if err != nil {
			return nil, fmt.Errorf("age: %w", err)
		}
		w = aw
		closers = append(closers, aw)
	}
	switch l.Compression {
	case CompressZstd:
		zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderCRC(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		w = zw
		closers = append(closers, zw)
	case CompressGzip:
		w2 := gzip.NewWriter(w)
		w = w2
		closers = append(closers, w2)
	}
	// Close from the inside out: compression flushes into the encryption, which flushes into
	// the buffer.
	for i := len(closers) - 1; i >= 0; i-- {
		e.closers = append(e.closers, closers[i])
	}
	e.w = w
	return e, nil
}

func (e *encoder) Write(p []byte) (int, error) { return e.w.Write(p) }

// Close ends every layer and flushes the buffer; the stored bytes are then all in dst.
func (e *encoder) Close() error {
	for _, c := range e.closers {
		if err := c.Close(); err != nil {
			return err
		}
	}
	return e.buf.Flush()
}

// abort releases the encoder's goroutines after a failure; nothing more is written.
func (e *encoder) abort() {
	for _, c := range e.closers {
		if zw, ok := c.(*zstd.Encoder); ok {
			zw.Reset(io.Discard)
			_ = zw.Close()
		}
	}
}
