// Package procmem keeps the plugin's own memory small during a long stream (a snapshot) with a
// soft limit on the Go heap.
package procmem

import (
	"os"
	"runtime/debug"
)

// StreamLimit is the soft memory limit (runtime/debug.SetMemoryLimit) for a streamed snapshot.
// The stream's live heap is about 10 MiB (the gRPC and port-forward buffers for the bytes in
// flight); with the default GOGC the heap would grow to twice that and more between collections.
const StreamLimit = 32 << 20

// LimitForStream sets StreamLimit as the soft memory limit unless the user set GOMEMLIMIT, and
// returns a function that restores the previous limit.
func LimitForStream() (restore func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prev := debug.SetMemoryLimit(StreamLimit)
	return func() { debug.SetMemoryLimit(prev) }
}
