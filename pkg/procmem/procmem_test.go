package procmem

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestLimitForStreamSetsAndRestores(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	restore := LimitForStream()
	if got := debug.SetMemoryLimit(-1); got != StreamLimit {
		t.Fatalf("limit during the stream = %d, want %d", got, StreamLimit)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("limit after the stream = %d, want %d back", got, before)
	}
}

func TestLimitForStreamLeavesAnExplicitGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "100MiB")
	prev := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prev)
	restore := LimitForStream()
	defer restore()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("limit = %d, want the user's (here %d) untouched", got, int64(math.MaxInt64))
	}
}
