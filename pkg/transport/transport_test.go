package transport

import (
	"context"
	"testing"
	"time"
)

type ctxKey struct{}

// A clean-up context outlives the caller's cancellation, keeps its values and is bounded.
func TestCleanupContext(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	cancel()
	ctx, done := CleanupContext(parent)
	defer done()
	if ctx.Err() != nil {
		t.Fatalf("clean-up context already ended: %v", ctx.Err())
	}
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) > CleanupTimeout || time.Until(dl) <= 0 {
		t.Errorf("deadline %v (set %v); want within %s", dl, ok, CleanupTimeout)
	}
	if ctx.Value(ctxKey{}) != "v" {
		t.Error("values of the caller's context are lost")
	}
}
