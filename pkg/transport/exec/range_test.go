package exec

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The get-page captures are "etcdctl get ” --from-key --limit=2 --consistency=s -w json" of a
// real single-member etcd of each version holding three keys, one with a non-UTF-8 value.
func TestRangeArgvAndDecode(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			rec := &recorder{answer: func([]string) capture { return load(t, v, "get-page") }}
			s := &Session{member: rke2Member(), exec: rec, etcdctl: "etcdctl"}
			r, err := s.Range(context.Background(), "\x00", "\x00", 2)
			if err != nil {
				t.Fatal(err)
			}
			argv := rec.calls[0]
			if tail := argv[len(argv)-8:]; !reflect.DeepEqual(tail, []string{"get", "--limit=2", "--consistency=s", "-w", "json", "--from-key", "--", ""}) {
				t.Errorf("argv ends with %q", tail)
			}
			if len(r.Kvs) != 2 || !r.More || r.Count != 3 || r.Header.Revision != 4 {
				t.Fatalf("decoded %+v", r)
			}
			if string(r.Kvs[0].Key) != "/registry/configmaps/default/a" || string(r.Kvs[0].Value) != "v\x01\xff" || string(r.Kvs[1].Value) != "hello" {
				t.Errorf("kvs %q=%q %q=%q", r.Kvs[0].Key, r.Kvs[0].Value, r.Kvs[1].Key, r.Kvs[1].Value)
			}

			if _, err := s.Range(context.Background(), "/registry/", "/registry0", 500); err != nil {
				t.Fatal(err)
			}
			argv = rec.calls[1]
			if tail := argv[len(argv)-8:]; !reflect.DeepEqual(tail, []string{"get", "--limit=500", "--consistency=s", "-w", "json", "--", "/registry/", "/registry0"}) {
				t.Errorf("argv ends with %q", tail)
			}
		})
	}
}

func TestRangeRefusesNULInArgv(t *testing.T) {
	rec := &recorder{answer: func([]string) capture { t.Fatal("etcdctl was run"); return capture{} }}
	s := &Session{member: rke2Member(), exec: rec, etcdctl: "etcdctl"}
	if _, err := s.Range(context.Background(), "a\x00b", "\x00", 1); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("err = %v", err)
	}
}

// Issue 21 item 15: a key the user gave (usage --prefix=-x) follows "--", so etcdctl reads it as
// a key and not as an option.
func TestRangeUserKeysAfterDoubleDash(t *testing.T) {
	rec := &recorder{answer: func([]string) capture { return load(t, "v3.6.16", "get-page") }}
	s := &Session{member: rke2Member(), exec: rec, etcdctl: "etcdctl"}
	for _, tc := range []struct {
		key, end string
		want     []string
	}{
		{"-x", "-y", []string{"--", "-x", "-y"}},
		{"--limit=1", "\x00", []string{"--from-key", "--", "--limit=1"}},
		{"-w", "", []string{"--", "-w"}},
	} {
		rec.calls = nil
		if _, err := s.Range(context.Background(), tc.key, tc.end, 10); err != nil {
			t.Fatal(err)
		}
		argv := rec.calls[0]
		if tail := argv[len(argv)-len(tc.want):]; !reflect.DeepEqual(tail, tc.want) {
			t.Errorf("Range(%q, %q): argv ends with %q, want %q", tc.key, tc.end, tail, tc.want)
		}
		dash := slices.Index(argv, "--")
		if dash < 0 || slices.Index(argv, "get") > dash {
			t.Errorf("Range(%q, %q): argv %q", tc.key, tc.end, argv)
		}
	}
}
