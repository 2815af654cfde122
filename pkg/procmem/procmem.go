// Package procmem keeps the plugin's own memory small during a long stream (a snapshot) with a
// soft limit on the Go heap.
package procmem

import (
	"os"
	"runtime/debug"
)

// StreamLimit is the soft memory limit (runtime/debug.SetMemoryLimit) for a streamed snapshot.
//
// Every byte of a port-forwarded snapshot is allocated once more on its way in, per frame, by
// the SPDY framer of the tunnel, and the live heap under that churn is 5 to 11 MiB (the gRPC
// receive window and the frames in flight). With the default GOGC the heap grows to about
// 21 MiB between collections and the process's anonymous memory to 27 MiB. Measured on the
// kubeadm cluster (348 and 821 MB databases, alternating rounds, GOMEMLIMIT set from outside):
// 32 MiB gives anonymous memory 27 MiB; 24 MiB gives 20 MiB at the same CPU; 22 MiB saves one
// more MiB; 20 MiB costs about 15 % more CPU, 16 MiB twice the CPU.
const StreamLimit = 24 << 20

// LimitForStream sets StreamLimit as the soft memory limit unless the user set GOMEMLIMIT, and
// returns a function that restores the previous limit.
func LimitForStream() (restore func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prev := debug.SetMemoryLimit(StreamLimit)
	return func() { debug.SetMemoryLimit(prev) }
}
