package cmdutil

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/spf13/cobra"
)

type recorder struct {
	calls                    []string
	completeErr, validateErr error
	gotArgs                  []string
}

func (r *recorder) Complete(_ *cobra.Command, args []string) error {
	r.calls, r.gotArgs = append(r.calls, "complete"), args
	return r.completeErr
}

func (r *recorder) Validate() error {
	r.calls = append(r.calls, "validate")
	return r.validateErr
}

func (r *recorder) Run(context.Context) error {
	r.calls = append(r.calls, "run")
	return nil
}

func TestRunEChainsAndStopsAtTheFirstError(t *testing.T) {
	bad := errors.New("bad")
	tests := []struct {
		name      string
		r         *recorder
		wantCalls []string
		wantErr   error
	}{
		{name: "all pass", r: &recorder{}, wantCalls: []string{"complete", "validate", "run"}},
		{name: "complete fails", r: &recorder{completeErr: bad}, wantCalls: []string{"complete"}, wantErr: bad},
		{name: "validate fails", r: &recorder{validateErr: bad}, wantCalls: []string{"complete", "validate"}, wantErr: bad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := &cobra.Command{Use: "x"}
			cmd.SetContext(context.Background())
			err := RunE(tt.r)(cmd, []string{"a"})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(tt.r.calls, tt.wantCalls) {
				t.Fatalf("calls = %v, want %v", tt.r.calls, tt.wantCalls)
			}
			if !reflect.DeepEqual(tt.r.gotArgs, []string{"a"}) {
				t.Fatalf("Complete got args %v", tt.r.gotArgs)
			}
		})
	}
}
