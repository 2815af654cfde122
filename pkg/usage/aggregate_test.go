package usage

import (
	"fmt"
	"reflect"
	"testing"
)

func TestAggregator(t *testing.T) {
	a := NewAggregator(2)
	a.Add([]byte("/registry/configmaps/a/big"), 600)
	a.Add([]byte("/registry/configmaps/b/small"), 100)
	a.Add([]byte("/registry/events/a/e1"), 200)
	a.Add([]byte("/registry/namespaces/a"), 50)
	a.Add([]byte("/registry/example.com/widgets/b/w"), 30)
	a.Add([]byte("/other/x"), 20)
	a.AddHistory([]byte("/registry/configmaps/a/big"), 500)
	a.AddHistory([]byte("/registry/events/a/gone"), 40)
	b := a.Breakdown()

	if want := (Totals{Keys: 6, Bytes: 1000, HistoryRevisions: 2, HistoryBytes: 540}); b.Totals != want {
		t.Errorf("totals = %+v, want %+v", b.Totals, want)
	}
	var names []string
	for _, r := range b.Resources {
		names = append(names, fmt.Sprintf("%s.%s %d/%d %.1f%% h%d", r.Resource, r.Group, r.Objects, r.Bytes, r.Share, r.HistoryBytes))
	}
	want := []string{"configmaps. 2/700 70.0% h500", "events. 1/200 20.0% h40", "namespaces. 1/50 5.0% h0", "widgets.example.com 1/30 3.0% h0"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("resources = %q, want %q", names, want)
	}
	if l := b.Resources[0].Largest; l == nil || l.Key != "/registry/configmaps/a/big" || l.Bytes != 600 || l.Namespace != "a" || l.Name != "big" {
		t.Errorf("largest configmap = %+v", l)
	}
	if len(b.Prefixes) != 1 || b.Prefixes[0].Resource != "/other" || b.Prefixes[0].Bytes != 20 || b.Prefixes[0].Share != 2 {
		t.Errorf("prefixes = %+v", b.Prefixes)
	}
	// Top 2 namespaces: a = 600+200, b = 100+30; namespaces/a itself is cluster-scoped.
	if want := []NamespaceUsage{{"a", 2, 800, 80}, {"b", 2, 130, 13}}; !reflect.DeepEqual(b.Namespaces, want) {
		t.Errorf("namespaces = %+v, want %+v", b.Namespaces, want)
	}
	if len(b.Objects) != 2 || b.Objects[0].Bytes != 600 || b.Objects[1].Bytes != 200 || b.Objects[1].Resource != "events" {
		t.Errorf("top objects = %+v", b.Objects)
	}
}

// The heap keeps exactly the N largest, whatever the order they arrive in.
func TestAggregatorTopIsBounded(t *testing.T) {
	for _, order := range []string{"ascending", "descending", "mixed"} {
		a := NewAggregator(3)
		for i := range 100 {
			n := i
			switch order {
			case "descending":
				n = 99 - i
			case "mixed":
				n = (i * 37) % 100
			}
			a.Add(fmt.Appendf(nil, "/registry/secrets/ns%d/s%02d", n%7, n), int64(n))
		}
		b := a.Breakdown()
		var got []int64
		for _, o := range b.Objects {
			got = append(got, o.Bytes)
		}
		if !reflect.DeepEqual(got, []int64{99, 98, 97}) {
			t.Errorf("%s: top = %v", order, got)
		}
		if len(b.Namespaces) != 3 || b.Totals.Keys != 100 {
			t.Errorf("%s: namespaces %d keys %d", order, len(b.Namespaces), b.Totals.Keys)
		}
	}
}

// Equal sizes are ordered by key, so that two runs (or a live and a file report) agree.
func TestAggregatorTiesAreStable(t *testing.T) {
	keys := []string{"/registry/pods/n/c", "/registry/pods/n/a", "/registry/pods/n/b"}
	var first []Object
	for rot := range keys {
		a := NewAggregator(2)
		for i := range keys {
			a.Add([]byte(keys[(i+rot)%len(keys)]), 10)
		}
		b := a.Breakdown()
		if first == nil {
			first = b.Objects
		} else if !reflect.DeepEqual(first, b.Objects) {
			t.Errorf("rotation %d: %+v, want %+v", rot, b.Objects, first)
		}
		if b.Resources[0].Largest.Key != "/registry/pods/n/a" {
			t.Errorf("rotation %d: largest = %s", rot, b.Resources[0].Largest.Key)
		}
	}
	if first[0].Name != "a" || first[1].Name != "b" {
		t.Errorf("top = %+v", first)
	}
}

func TestHeadline(t *testing.T) {
	bytes := func(n int64) string { return fmt.Sprint(n) }
	a := NewAggregator(3)
	a.Add([]byte("/registry/events/a/e"), 600)
	a.Add([]byte("/registry/configmaps/b/c"), 300)
	a.Add([]byte("/fill/x"), 100)
	r := &Report{Breakdown: a.Breakdown()}
	if got, want := r.Headline(bytes), "events hold 60% of the live data (600); the largest namespace is a (60%)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	a = NewAggregator(3)
	a.Add([]byte("/fill/x"), 1000)
	a.Add([]byte("/registry/configmaps/b/c"), 20)
	r = &Report{Breakdown: a.Breakdown()}
	if got, want := r.Headline(bytes), "/fill hold 98% of the live data (1000)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := (&Report{}).Headline(bytes); got != "" {
		t.Errorf("empty report: %q", got)
	}
}
