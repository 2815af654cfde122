package usage

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := func() *Options {
		return &Options{By: "resource", Top: 10, PageSize: 500, Rate: 10, cmdPath: "kubectl etcd usage"}
	}
	tests := []struct {
		name   string
		change func(o *Options)
		err    string
	}{
		{name: "defaults"},
		{name: "file", change: func(o *Options) { o.File = "/backup/etcd.db" }},
		{name: "by object", change: func(o *Options) { o.By = "object" }},
		{name: "by namespace", change: func(o *Options) { o.By = "namespace" }},
		{name: "unlimited rate", change: func(o *Options) { o.Rate = 0 }},
		{name: "bad by", change: func(o *Options) { o.By = "pod" }, err: `invalid --by "pod": want resource, namespace, object`},
		{name: "top 0", change: func(o *Options) { o.Top = 0 }, err: "--top must be between 1 and 10000"},
		{name: "top huge", change: func(o *Options) { o.Top = 10001 }, err: "--top must be between 1 and 10000"},
		{name: "page size 0", change: func(o *Options) { o.PageSize = 0 }, err: "--page-size must be between 1 and 10000"},
		{name: "negative rate", change: func(o *Options) { o.Rate = -1 }, err: "--rate must not be negative"},
		{name: "file with live flags", change: func(o *Options) { o.File = "x"; o.liveOnly = []string{"--member", "--rate"} },
			err: "--member, --rate: only for a live walk, not with --file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok()
			if tt.change != nil {
				tt.change(o)
			}
			err := o.Validate()
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func TestFileCmdValidate(t *testing.T) {
	tests := []struct {
		name string
		top  int
		err  string
	}{
		{name: "default", top: 10},
		{name: "one", top: 1},
		{name: "most", top: 10000},
		{name: "zero", top: 0, err: "--top must be between 1 and 10000"},
		{name: "too many", top: 10001, err: "--top must be between 1 and 10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &FileCmdOptions{File: "/backup/etcd.db"}
			o.Read.Top = tt.top
			err := o.Validate()
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}
