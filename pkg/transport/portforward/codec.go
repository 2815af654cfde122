package portforward

import (
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// scratchSize bounds the messages recvCodec decodes through its own scratch buffers: a snapshot
// chunk is 32 KiB of data plus a few bytes of framing, which gRPC's default pool serves from
// its 1 MiB tier (the next power of two it keeps), clearing a whole MiB for every 32 KiB chunk.
const scratchSize = 64 << 10

var scratch = sync.Pool{New: func() any { b := make([]byte, scratchSize); return &b }}

// recvCodec is gRPC's protobuf codec with a cheaper receive path for messages that arrive in
// several buffers (one per HTTP/2 frame) and fit in scratchSize: they are joined in a reused
// 64 KiB buffer that is not cleared (it is overwritten up to the message's length, and nothing
// reads past it) instead of a cleared 1 MiB one. The decoded message copies what it keeps, so
// the buffer goes back to the pool at once. Everything else goes to gRPC's codec unchanged.
type recvCodec struct {
	encoding.CodecV2
	took func() // tests: called when the scratch buffer is used
}

func newRecvCodec() recvCodec { return recvCodec{CodecV2: encoding.GetCodecV2(proto.Name)} }

func (c recvCodec) Unmarshal(data mem.BufferSlice, v any) error {
	n := data.Len()
	if len(data) < 2 || n > scratchSize {
		return c.CodecV2.Unmarshal(data, v)
	}
	if c.took != nil {
		c.took()
	}
	bp := scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	b := (*bp)[:n]
	data.CopyTo(b)
	// One buffer: gRPC's codec decodes it in place, without taking a pool buffer.
	return c.CodecV2.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, v)
}
