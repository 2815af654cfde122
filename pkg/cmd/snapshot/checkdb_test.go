package snapshot

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	snap "github.com/kubectl-etcd/kubectl-etcd/pkg/snapshot"
)

func TestCheckDBValidate(t *testing.T) {
	if err := (&CheckDBOptions{File: "/backup/etcd.db"}).Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
	if err := (&CheckDBOptions{}).Validate(); err == nil {
		t.Error("Validate() of no file = nil, want an error")
	}
}

// The child process writes one JSON verdict on stdout, also for a file that is not a database.
func TestCheckDBWritesAVerdict(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "not-a-db")
	if err := os.WriteFile(bad, []byte("not bbolt"), 0o600); err != nil {
		t.Fatal(err)
	}
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := &CheckDBOptions{IOStreams: streams}
	if err := o.Complete(&cobra.Command{}, []string{bad}); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	var c snap.DBCheck
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		t.Fatalf("stdout %q is not a DBCheck: %v", out.String(), err)
	}
	if !strings.Contains(c.Bolt, "invalid database") || c.Revision != 0 {
		t.Errorf("verdict on a file that is not a database: %+v; want bbolt's refusal and no revision", c)
	}
}
