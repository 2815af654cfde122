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

// kubectl's variables turn the WebSocket upgrade off only when set to false, in any case.
func TestWebsocketsDisabled(t *testing.T) {
	for v, want := range map[string]bool{"": false, "true": false, "false": true, "FALSE": true, "0": false} {
		t.Setenv(PortForwardWebsocketsEnv, v)
		if got := WebsocketsDisabled(PortForwardWebsocketsEnv); got != want {
			t.Errorf("%s=%q: disabled %v, want %v", PortForwardWebsocketsEnv, v, got, want)
		}
	}
}
