package portforward

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The snapshot stream is read here rather than through clientv3's SnapshotWithVersion, which
// decodes every 32 KiB chunk into a new slice and hands it to the reader through an io.Pipe and a
// goroutine. On a port-forward every byte is already allocated once more by the tunnel's SPDY
// framer, so those per-chunk slices doubled the garbage of a snapshot: the collector's work and
// the heap between collections grew with it. Here each chunk is decoded into a buffer the stream
// owns and reuses, and the reader takes the bytes from it before the next message is asked for.

// SnapshotResponse fields (etcdserverpb, rpc.proto).
const (
	snapshotHeaderField  protowire.Number = 1
	snapshotBlobField    protowire.Number = 3
	snapshotVersionField protowire.Number = 4
)

// snapshotChunk is one SnapshotResponse as snapshotCodec decodes it. blob is only valid until the
// next message is decoded into the same chunk: it lies in buf or join, which are reused.
type snapshotChunk struct {
	header  *etcdserverpb.ResponseHeader
	version string
	blob    []byte
	buf     []byte // the blob of a message that arrived in one buffer (gRPC takes that buffer back)
	join    []byte // a message that arrived in several buffers, joined; blob points into it
}

// decode fills ch from one SnapshotResponse on the wire. Unknown fields (remaining_bytes among
// them) are skipped.
func (ch *snapshotChunk) decode(data mem.BufferSlice) error {
	var b []byte
	owned := false
	if len(data) == 1 {
		b = data[0].ReadOnlyData()
	} else {
		n := data.Len()
		if cap(ch.join) < n {
			ch.join = make([]byte, n)
		}
		b = ch.join[:n]
		data.CopyTo(b)
		owned = true
	}
	ch.header, ch.version, ch.blob = nil, "", nil
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("snapshot message: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType || (num != snapshotHeaderField && num != snapshotBlobField && num != snapshotVersionField) {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return fmt.Errorf("snapshot message: field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("snapshot message: field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case snapshotHeaderField:
			h := &etcdserverpb.ResponseHeader{}
			if err := proto.Unmarshal(v, h); err != nil {
				return fmt.Errorf("snapshot message header: %w", err)
			}
			ch.header = h
		case snapshotVersionField:
			ch.version = string(v)
		case snapshotBlobField:
			if owned {
				ch.blob = v
			} else {
				ch.buf = append(ch.buf[:0], v...)
				ch.blob = ch.buf
			}
		}
	}
	return nil
}

// snapshotCodec decodes into a *snapshotChunk itself and leaves every other message to the
// session's codec.
type snapshotCodec struct{ recvCodec }

func (c snapshotCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if ch, ok := v.(*snapshotChunk); ok {
		return ch.decode(data)
	}
	return c.recvCodec.Unmarshal(data, v)
}

// openSnapshot opens the member's snapshot stream and reads its first message (which carries the
// header and the member's version), as clientv3's SnapshotWithVersion does.
func openSnapshot(ctx context.Context, conn grpc.ClientConnInterface) (*clientv3.SnapshotResponse, error) {
	ss, err := etcdserverpb.NewMaintenanceClient(conn).Snapshot(ctx, &etcdserverpb.SnapshotRequest{},
		grpc.ForceCodecV2(snapshotCodec{newRecvCodec()}))
	if err != nil {
		return nil, clientv3.ContextError(ctx, err)
	}
	s := &snapshotStream{ctx: ctx, ss: ss}
	if err := ss.RecvMsg(&s.ch); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // a stream without a single message is no snapshot
		}
		return nil, clientv3.ContextError(ctx, err)
	}
	return &clientv3.SnapshotResponse{Header: s.ch.header, Version: s.ch.version, Snapshot: s}, nil
}

// snapshotStream reads the blobs of the stream's messages in order, one message at a time.
type snapshotStream struct {
	ctx context.Context
	ss  grpc.ClientStream
	ch  snapshotChunk
	off int // of the next unread byte in ch.blob
	err error
}

func (s *snapshotStream) Read(p []byte) (int, error) {
	for s.off == len(s.ch.blob) {
		if s.err != nil {
			return 0, s.err
		}
		if err := s.ss.RecvMsg(&s.ch); err != nil {
			s.ch.blob, s.off = nil, 0
			if errors.Is(err, io.EOF) {
				s.err = io.EOF
			} else {
				s.err = clientv3.ContextError(s.ctx, err)
			}
			return 0, s.err
		}
		s.off = 0
	}
	n := copy(p, s.ch.blob[s.off:])
	s.off += n
	return n, nil
}

// Close ends nothing by itself: the stream ends with the context the caller cancels
// (forwardedStream.Close).
func (s *snapshotStream) Close() error { return nil }
