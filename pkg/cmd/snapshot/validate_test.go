package snapshot

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/cmd/cmdutil"
	"github.com/kubectl-etcd/kubectl-etcd/pkg/printers"
)

// checkValidate runs one Validate case: no error when want is "", else a usage error saying want.
func checkValidate(t *testing.T, err error, want string) {
	t.Helper()
	var ue *cmdutil.UsageError
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("error %v, want %q", err, want)
	case want != "" && !errors.As(err, &ue):
		t.Errorf("%v is not a usage error", err)
	}
}

func TestSaveValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(o *SaveOptions)
		err    string
	}{
		{name: "defaults"},
		{name: "file", change: func(o *SaveOptions) { o.Path = "/backup/etcd.db" }},
		{name: "on node", change: func(o *SaveOptions) { o.OnNode = "/var/lib/etcd/snapshot.db" }},
		{name: "timeout", change: func(o *SaveOptions) { o.SaveTimeout = time.Minute }},
		{name: "file and on node", change: func(o *SaveOptions) { o.Path, o.OnNode = "x.db", "/var/lib/etcd/x.db" },
			err: "give either FILE or --on-node PATH, not both"},
		{name: "negative timeout", change: func(o *SaveOptions) { o.SaveTimeout = -time.Second }, err: "--timeout must not be negative"},
		{name: "helper always", change: func(o *SaveOptions) { o.Helper = HelperAlways }},
		{name: "helper never", change: func(o *SaveOptions) { o.Helper = HelperNever }},
		{name: "helper bad", change: func(o *SaveOptions) { o.Helper = "sometimes" }, err: `invalid --helper "sometimes": want auto, never or always`},
		{name: "helper route exec", change: func(o *SaveOptions) { o.HelperRoute = "exec"; o.HelperImage = "sh:1" }},
		{name: "helper route bad", change: func(o *SaveOptions) { o.HelperRoute = "scp" }, err: `invalid --helper-route "scp": want auto, logs or exec`},
		{name: "on node with helper always", change: func(o *SaveOptions) { o.OnNode = "/var/lib/etcd/x.db"; o.Helper = HelperAlways },
			err: "--on-node saves through exec in the etcd pod; it does not take --helper=always"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &SaveOptions{cmdPath: "kubectl etcd snapshot save", Helper: HelperAuto, HelperRoute: "auto"}
			if tt.change != nil {
				tt.change(o)
			}
			checkValidate(t, o.Validate(), tt.err)
		})
	}
}

func TestStatusValidate(t *testing.T) {
	tests := []struct {
		format printers.Format
		err    string
	}{
		{format: printers.Table}, {format: printers.Wide}, {format: printers.JSON}, {format: printers.YAML},
		{format: "jsonpath", err: `unable to match a printer suitable for the output format "jsonpath", allowed formats are: table,wide,json,yaml`},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			o := &StatusOptions{GlobalOptions: cmdutil.NewGlobalOptions(), File: "/backup/etcd.db", cmdPath: "kubectl etcd snapshot status"}
			o.Format = tt.format
			checkValidate(t, o.Validate(), tt.err)
		})
	}
}

func TestRestorePlanValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(o *RestorePlanOptions)
		err    string
	}{
		{name: "defaults"},
		{name: "on node path", change: func(o *RestorePlanOptions) { o.OnNodePath = "/root/etcd.db" }},
		{name: "zero bump means the default", change: func(o *RestorePlanOptions) { o.BumpRevision = 0 }},
		{name: "negative bump", change: func(o *RestorePlanOptions) { o.BumpRevision = -1 }, err: "--bump-revision must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &RestorePlanOptions{File: "/backup/etcd.db", BumpRevision: 1000000000, cmdPath: "kubectl etcd snapshot restore-plan"}
			if tt.change != nil {
				tt.change(o)
			}
			checkValidate(t, o.Validate(), tt.err)
		})
	}
}
