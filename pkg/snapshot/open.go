package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Magic bytes of the layers, read from the content, never from the name.
var (
	magicZstd     = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicGzip     = []byte{0x1f, 0x8b}
	magicAge      = []byte("age-encryption.org/v1\n")
	magicAgeArmor = []byte("-----BEGIN AGE ENCRYPTED FILE-----")
)

// Reader reads the plain snapshot stream out of a stored snapshot file of any format.
type Reader struct {
	io.Reader
	// Layers are what was peeled off, found by their magic bytes.
	Layers Layers
	// Size is the size of the stored file.
	Size    int64
	closers []func()
}

// Close releases the file and the decoders.
func (r *Reader) Close() error {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
	return nil
}

// ioError marks an error of the file itself (not of its content).
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

// layerReader names the layer that failed: an error that is not the file's own means the
// layer's content does not verify (a zstd or gzip checksum, age's authentication, a
// truncation), and becomes an ErrIntegrity.
type layerReader struct {
	r     io.Reader
	layer string
	path  string
}

func (l *layerReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = l.classify(err)
	}
	return n, err
}

func (l *layerReader) classify(err error) error {
	var ie *ioError
	if errors.As(err, &ie) || errors.Is(err, ErrIntegrity) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the %s layer of %s ends too early: truncated", ErrIntegrity, l.layer, l.path)
	}
	return fmt.Errorf("%w: the %s layer of %s does not verify (%v): the file is corrupt", ErrIntegrity, l.layer, l.path, err)
}

type fileReader struct{ f *os.File }

func (r fileReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	if err != nil && err != io.EOF {
		err = &ioError{fmt.Errorf("reading %s: %w", r.f.Name(), unwrapPath(err))}
	}
	return n, err
}

// Open opens a snapshot file of any format — plain, zstd, gzip, age (binary or armored), and
// age around zstd or gzip — detected by magic bytes. ids decrypt age files. A damaged layer is
// an error that wraps ErrIntegrity, when opening or later while reading.
func Open(path string, ids []age.Identity) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read snapshot %s: %w", path, unwrapPath(err))
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read snapshot %s: %w", path, unwrapPath(err))
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is a directory, not a snapshot file", path)
	}
	r := &Reader{Size: st.Size(), closers: []func(){func() { f.Close() }}}
	br := bufio.NewReaderSize(fileReader{f}, 64<<10)
	var cur io.Reader = br
	for {
		head, err := br.Peek(len(magicAgeArmor))
		var ie *ioError
		if errors.As(err, &ie) {
			r.Close()
			return nil, err
		}
		switch {
		case r.Layers.Encryption == "" && r.Layers.Compression == "" && (bytes.HasPrefix(head, magicAge) || bytes.HasPrefix(head, magicAgeArmor)):
			r.Layers.Encryption = EncryptAge
			src := cur
			if bytes.HasPrefix(head, magicAgeArmor) {
				src = &layerReader{r: armor.NewReader(cur), layer: "age armor", path: path}
			}
			if len(ids) == 0 {
				r.Close()
				return nil, fmt.Errorf("%w: %s is encrypted with age; pass --identity FILE with a key of one of its recipients", ErrEncrypted, path)
			}
			dr, err := age.Decrypt(src, ids...)
			if err != nil {
				r.Close()
				var nm *age.NoIdentityMatchError
				if errors.As(err, &nm) {
					return nil, fmt.Errorf("%w: no key in --identity opens %s: it was encrypted to other recipients (or its header is damaged); pass the identity of one of its recipients", ErrWrongIdentity, path)
				}
				return nil, (&layerReader{layer: "age", path: path}).classify(err)
			}
			cur = &layerReader{r: dr, layer: "age", path: path}
		case r.Layers.Compression == "" && bytes.HasPrefix(head, magicZstd):
			r.Layers.Compression = CompressZstd
			zr, err := zstd.NewReader(cur, zstd.WithDecoderConcurrency(1))
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("zstd: %w", err)
			}
			r.closers = append(r.closers, zr.Close)
			cur = &layerReader{r: zr, layer: "zstd", path: path}
		case r.Layers.Compression == "" && bytes.HasPrefix(head, magicGzip):
			r.Layers.Compression = CompressGzip
			gr, err := gzip.NewReader(cur)
			if err != nil {
				r.Close()
				return nil, (&layerReader{layer: "gzip", path: path}).classify(err)
			}
			r.closers = append(r.closers, func() { gr.Close() })
			cur = &layerReader{r: gr, layer: "gzip", path: path}
		default:
			r.Reader = cur
			return r, nil
		}
		br = bufio.NewReaderSize(cur, 64<<10)
		cur = br
	}
}

// PlainFile returns a path to the plain snapshot inside path: path itself when it is stored
// plain, else a decoded copy, mode 0600 in a private temporary directory (0700, under $TMPDIR),
// which cleanup removes. The copy is needed where bbolt reads the database, which wants a file.
// ctx stops the copy; on any failure, Ctrl-C included, nothing is left behind, and a second
// Ctrl-C that quits at once removes the directory too (RemovePartials).
func PlainFile(ctx context.Context, path string, ids []age.Identity) (plain string, l Layers, cleanup func(), err error) {
	r, err := Open(path, ids)
	if err != nil {
		return "", l, nil, err
	}
	defer r.Close()
	l = r.Layers
	if l.Plain() {
		return path, l, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "kubectl-etcd-snapshot-")
	if err != nil {
		return "", l, nil, fmt.Errorf("cannot create a temporary directory for the plain copy of %s: %w", path, err)
	}
	untrack := trackTemp(dir)
	remove := func() {
		_ = os.RemoveAll(dir)
		untrack()
	}
	defer func() {
		if err != nil {
			remove()
		}
	}()
	if err = os.Chmod(dir, 0o700); err != nil {
		return "", l, nil, err
	}
	plain = filepath.Join(dir, PlainName(filepath.Base(path)))
	f, err := os.OpenFile(plain, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return "", l, nil, fmt.Errorf("cannot create the plain copy of %s: %w", path, unwrapPath(err))
	}
	_, err = io.CopyBuffer(f, ctxReader{ctx, r}, make([]byte, 1<<20))
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing the plain copy of %s in %s: %w", path, dir, unwrapPath(cerr))
	}
	if err != nil {
		var ie *ioError
		if !errors.Is(err, ErrIntegrity) && !errors.As(err, &ie) && ctx.Err() == nil {
			err = fmt.Errorf("writing the plain copy of %s in %s (set TMPDIR to a directory with room): %w", path, dir, unwrapPath(err))
		}
		return "", l, nil, err
	}
	return plain, l, remove, nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, fmt.Errorf("interrupted: %w", err)
	}
	return c.r.Read(p)
}

// hashCounter passes writes on to w, counting and hashing them.
type hashCounter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func newHashCounter(w io.Writer) *hashCounter { return &hashCounter{w: w, h: sha256.New()} }

func (c *hashCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}
