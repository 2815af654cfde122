package cmdutil

import (
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
)

// --request-timeout bounds every call to a member; a value no call can meet (or none at all)
// is a usage error, not a cluster whose members all seem not to answer.
func TestRequestTimeout(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		wantErr string
	}{
		{value: "", want: DefaultTimeout},
		{value: "0", want: DefaultTimeout},
		{value: "30s", want: 30 * time.Second},
		{value: "2m", want: 2 * time.Minute},
		{value: "5", want: 5 * time.Second},
		{value: "1s", want: time.Second},
		{value: "1ms", wantErr: "--request-timeout 1ms is too short: each call to a member goes through the API server; give at least 1s (0: the default, 10s)"},
		{value: "999ms", wantErr: "--request-timeout 999ms is too short: each call to a member goes through the API server; give at least 1s (0: the default, 10s)"},
		{value: "-5s", wantErr: "--request-timeout -5s is too short: each call to a member goes through the API server; give at least 1s (0: the default, 10s)"},
		{value: "soon", wantErr: `invalid --request-timeout "soon": want a duration such as 30s or 2m, or whole seconds`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			g := NewGlobalOptions()
			g.Client = fake.NewSimpleClientset()
			v := tt.value
			g.ConfigFlags.Timeout = &v
			err := g.Complete("kubectl etcd status")
			if tt.wantErr != "" {
				var ue *UsageError
				if err == nil || err.Error() != tt.wantErr || !errors.As(err, &ue) {
					t.Fatalf("Complete() = %v, want the usage error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := g.Timeout(); got != tt.want {
				t.Errorf("Timeout() = %s, want %s", got, tt.want)
			}
		})
	}
}
