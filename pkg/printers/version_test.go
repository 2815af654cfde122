package printers

import (
	"bytes"
	"testing"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/version"
)

func TestVersionGolden(t *testing.T) {
	info := version.Info{Version: "v0.9.0", Commit: "0594294", Date: "2026-12-03T08:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	for _, f := range []Format{Table, JSON} {
		var b bytes.Buffer
		if err := PrintVersion(&b, f, info); err != nil {
			t.Fatal(err)
		}
		golden(t, "version."+string(f)+".golden", b.Bytes())
	}
	var table, wide bytes.Buffer
	_ = PrintVersion(&table, Table, info)
	_ = PrintVersion(&wide, Wide, info)
	if table.String() != wide.String() {
		t.Errorf("wide %q differs from table %q", wide.String(), table.String())
	}
}
