package portforward

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/transport"
)

// A page over gRPC's receive limit (ResourceExhausted, also wrapped) is an answer too large, so
// that a walk asks again with fewer keys; other failures are not.
func TestTooLarge(t *testing.T) {
	exhausted := status.Error(codes.ResourceExhausted, "grpc: received message larger than max (70000000 vs. 67108864)")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{exhausted, true},
		{fmt.Errorf("range: %w", exhausted), true},
		{status.Error(codes.Unavailable, "connection refused"), false},
		{errors.New("context deadline exceeded"), false},
	} {
		got := tooLarge(c.err)
		if errors.Is(got, transport.ErrTooLarge) != c.want || !errors.Is(got, c.err) {
			t.Errorf("tooLarge(%v) = %v, want ErrTooLarge %v and the cause kept", c.err, got, c.want)
		}
	}
	if tooLarge(nil) != nil {
		t.Error("tooLarge(nil) != nil")
	}
}
