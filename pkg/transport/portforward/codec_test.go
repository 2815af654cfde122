package portforward

import (
	"bytes"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/mem"
)

func marshal(m *etcdserverpb.SnapshotResponse) ([]byte, error) {
	data, err := newRecvCodec().Marshal(m)
	if err != nil {
		return nil, err
	}
	defer data.Free()
	return data.Materialize(), nil
}

// split cuts b into buffers of at most n bytes, as gRPC hands over a message that arrived in
// several HTTP/2 frames.
func split(b []byte, n int) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > 0 {
		k := min(n, len(b))
		s = append(s, mem.SliceBuffer(append([]byte(nil), b[:k]...)))
		b = b[k:]
	}
	return s
}

// A snapshot chunk (32 KiB and a few bytes of framing) arriving in 16 KiB frames decodes the
// same through the scratch buffer as through gRPC's codec, and so do a one-frame message and one
// larger than the scratch buffer; the decoded blob does not alias the reused buffer.
func TestRecvCodec(t *testing.T) {
	c := newRecvCodec()
	for _, size := range []int{100, 32 << 10, scratchSize + 1} {
		in := &etcdserverpb.SnapshotResponse{Header: &etcdserverpb.ResponseHeader{ClusterId: 7, Revision: 42},
			RemainingBytes: 1 << 30, Blob: bytes.Repeat([]byte{0xab}, size), Version: "3.6.0"}
		wire, err := marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		data := split(wire, 16<<10)
		var out etcdserverpb.SnapshotResponse
		if err := c.Unmarshal(data, &out); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if !bytes.Equal(out.Blob, in.Blob) || out.RemainingBytes != in.RemainingBytes || out.Version != in.Version || out.Header.Revision != 42 {
			t.Fatalf("%d bytes: decoded %d bytes, remaining %d, version %q", size, len(out.Blob), out.RemainingBytes, out.Version)
		}
		// The next message reuses the scratch buffer: the first must not see it.
		other := &etcdserverpb.SnapshotResponse{Blob: bytes.Repeat([]byte{0xcd}, size)}
		w2, _ := marshal(other)
		var out2 etcdserverpb.SnapshotResponse
		if err := c.Unmarshal(split(w2, 16<<10), &out2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Blob, in.Blob) {
			t.Fatalf("%d bytes: the first blob changed when the buffer was reused", size)
		}
	}
}

// The chunk etcd sends (32 KiB of data) takes the 64 KiB scratch buffer, not gRPC's default
// pool, whose next tier above 32 KiB is 1 MiB, cleared on every message.
func TestRecvCodecTakesTheScratchBufferForASnapshotChunk(t *testing.T) {
	in := &etcdserverpb.SnapshotResponse{Header: &etcdserverpb.ResponseHeader{ClusterId: 7}, RemainingBytes: 1 << 30, Blob: make([]byte, 32<<10)}
	wire, _ := marshal(in)
	if len(wire) <= 32<<10 || len(wire) > scratchSize {
		t.Fatalf("a chunk is %d bytes on the wire; want between 32 KiB and the scratch size", len(wire))
	}
	var taken int
	c := recvCodec{CodecV2: newRecvCodec().CodecV2, took: func() { taken++ }}
	var out etcdserverpb.SnapshotResponse
	if err := c.Unmarshal(split(wire, 16<<10), &out); err != nil || len(out.Blob) != 32<<10 {
		t.Fatalf("%d bytes, %v", len(out.Blob), err)
	}
	if taken != 1 {
		t.Errorf("scratch buffer taken %d times, want 1", taken)
	}
}
