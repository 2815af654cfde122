package exec

import (
	"context"
	"reflect"
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
			if tail := argv[len(argv)-7:]; !reflect.DeepEqual(tail, []string{"get", "", "--from-key", "--limit=2", "--consistency=s", "-w", "json"}) {
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
			if tail := argv[len(argv)-7:]; !reflect.DeepEqual(tail, []string{"get", "/registry/", "/registry0", "--limit=500", "--consistency=s", "-w", "json"}) {
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
