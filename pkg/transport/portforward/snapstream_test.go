package portforward

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protowire"
)

// The decoder reads what etcd's own encoding writes, whole or split across buffers, and skips
// fields it does not use (remaining_bytes, and any field a later etcd adds).
func TestSnapshotChunkDecode(t *testing.T) {
	blob := make([]byte, 40<<10)
	_, _ = rand.Read(blob)
	in := &etcdserverpb.SnapshotResponse{Header: &etcdserverpb.ResponseHeader{ClusterId: 7, MemberId: 9, Revision: 42},
		RemainingBytes: 1 << 30, Blob: blob, Version: "3.6.16"}
	wire, err := marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	wire = protowire.AppendTag(wire, 99, protowire.VarintType) // a field this code does not know
	wire = protowire.AppendVarint(wire, 5)
	var ch snapshotChunk
	for _, parts := range []int{len(wire), 16 << 10, 1000} {
		if err := ch.decode(split(wire, parts)); err != nil {
			t.Fatalf("split every %d bytes: %v", parts, err)
		}
		if !bytes.Equal(ch.blob, blob) || ch.version != "3.6.16" || ch.header.GetRevision() != 42 || ch.header.GetClusterId() != 7 {
			t.Fatalf("split every %d bytes: blob equal %v, version %q, header %v", parts, bytes.Equal(ch.blob, blob), ch.version, ch.header)
		}
	}
	// The next message replaces everything, including a header and version it does not carry.
	last, _ := marshal(&etcdserverpb.SnapshotResponse{Blob: []byte("trailer")})
	if err := ch.decode(split(last, 3)); err != nil || string(ch.blob) != "trailer" || ch.header != nil || ch.version != "" {
		t.Fatalf("second message: %q %v %q %v", ch.blob, ch.header, ch.version, err)
	}
	if err := ch.decode(split(wire[:len(wire)/2], 1<<20)); err == nil {
		t.Fatal("a truncated message decoded without an error")
	}
}

type snapshotServer struct {
	etcdserverpb.UnimplementedMaintenanceServer
	chunks [][]byte
	fail   error // sent after the chunks instead of the end of the stream
}

func (s *snapshotServer) Snapshot(_ *etcdserverpb.SnapshotRequest, srv etcdserverpb.Maintenance_SnapshotServer) error {
	for i, c := range s.chunks {
		resp := &etcdserverpb.SnapshotResponse{Blob: c, RemainingBytes: uint64(len(s.chunks) - i - 1)}
		if i == 0 {
			resp.Header = &etcdserverpb.ResponseHeader{ClusterId: 11, Revision: 5}
			resp.Version = "3.7.3"
		}
		if err := srv.Send(resp); err != nil {
			return err
		}
	}
	return s.fail
}

func dialSnapshotServer(t *testing.T, srv *snapshotServer) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	etcdserverpb.RegisterMaintenanceServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient("passthrough:///snapshot",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Through a real gRPC stream, the reader gets every byte in order whatever its buffer size,
// the first message's header and version, and io.EOF at the end.
func TestOpenSnapshotReadsTheWholeStream(t *testing.T) {
	var chunks [][]byte
	var want []byte
	for _, n := range []int{32 << 10, 32 << 10, 100, 64 << 10, 1, 32} {
		c := make([]byte, n)
		_, _ = rand.Read(c)
		chunks = append(chunks, c)
		want = append(want, c...)
	}
	conn := dialSnapshotServer(t, &snapshotServer{chunks: chunks})
	for _, bufSize := range []int{7, 32 << 10, 1 << 20} {
		resp, err := openSnapshot(context.Background(), conn)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != "3.7.3" || resp.Header.GetClusterId() != 11 || resp.Header.GetRevision() != 5 {
			t.Fatalf("version %q header %v", resp.Version, resp.Header)
		}
		var got bytes.Buffer
		buf := make([]byte, bufSize)
		for {
			n, err := resp.Snapshot.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("read buffer %d: %v", bufSize, err)
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("read buffer %d: got %d bytes, want %d, equal %v", bufSize, got.Len(), len(want), bytes.Equal(got.Bytes(), want))
		}
		resp.Snapshot.Close()
	}
}

// A stream that breaks after some data is an error for the reader, never a short snapshot that
// ends in io.EOF; one that ends before any message is no snapshot at all.
func TestOpenSnapshotStreamErrors(t *testing.T) {
	broken := status.Error(codes.Unavailable, "member going away")
	conn := dialSnapshotServer(t, &snapshotServer{chunks: [][]byte{[]byte("some data")}, fail: broken})
	resp, err := openSnapshot(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(resp.Snapshot)
	if string(data) != "some data" || status.Code(err) != codes.Unavailable {
		t.Fatalf("read %q, %v; want the data then the Unavailable error", data, err)
	}
	if _, err := openSnapshot(context.Background(), dialSnapshotServer(t, &snapshotServer{})); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("empty stream: %v, want io.ErrUnexpectedEOF", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := openSnapshot(ctx, dialSnapshotServer(t, &snapshotServer{chunks: [][]byte{[]byte("x")}})); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}
}
