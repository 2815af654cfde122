package usage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/harness"
	"github.com/kubectl-etcd/kubectl-etcd/test/e2e/plugintest"
)

// written is what the test put, per resource (name.group or prefix) and namespace.
type written struct {
	objects, bytes map[string]int64
	nsBytes        map[string]int64
	largest        string
}

func (w *written) put(t *testing.T, ctx context.Context, c *harness.Cluster, key string, size int, resource, ns string) {
	t.Helper()
	if _, err := c.Client(t).Put(ctx, key, strings.Repeat("u", size)); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	w.objects[resource]++
	w.bytes[resource] += int64(len(key) + size)
	if ns != "" {
		w.nsBytes[ns] += int64(len(key) + size)
	}
}

// check compares a report with what was written.
func (w *written) check(t *testing.T, r *report) {
	t.Helper()
	for name, n := range w.objects {
		res, group, _ := strings.Cut(name, ".")
		if strings.HasPrefix(name, "/") {
			res, group = name, ""
		}
		got := r.resource(res, group)
		if got.Objects != n || got.Bytes != w.bytes[name] {
			t.Errorf("%s report: %s has %d objects, %d bytes; wrote %d, %d", r.Source, name, got.Objects, got.Bytes, n, w.bytes[name])
		}
	}
	for _, ns := range r.Namespaces {
		if want, ok := w.nsBytes[ns.Namespace]; ok && ns.Bytes != want {
			t.Errorf("%s report: namespace %s has %d bytes, wrote %d", r.Source, ns.Namespace, ns.Bytes, want)
		}
	}
	if len(r.Objects) == 0 || r.Objects[0].Key != w.largest {
		t.Errorf("%s report: largest objects %+v, want %s first", r.Source, r.Objects, w.largest)
	}
	if r.Revision <= 0 || r.DB.Size <= 0 || r.DB.InUse <= 0 || r.DB.InUse > r.DB.Size || r.DB.LiveData != r.Totals.Bytes {
		t.Errorf("%s report: revision %d db %+v totals %+v", r.Source, r.Revision, r.DB, r.Totals)
	}
}

func usage(t *testing.T, c *harness.Cluster, dir string, a ...string) *report {
	t.Helper()
	p := plugintest.Start(t, c, plugintest.Options{Dir: dir}, append([]string{"usage", "-o", "json", "--top", "3"}, a...)...)
	r := p.Wait(t)
	plugintest.WantCode(t, r, 0)
	var rep report
	plugintest.Decode(t, r, &rep)
	return &rep
}

// TestUsage writes kube-shaped keys of known sizes into the members, checks the live report
// through both transports and the --file report of a snapshot against them, then overwrites one
// key many times: the file shows that history, and after "defrag --compact" it is gone.
func TestUsage(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w := &written{objects: map[string]int64{}, bytes: map[string]int64{}, nsBytes: map[string]int64{}}
	for i := range 3 {
		w.put(t, ctx, c, fmt.Sprintf("/registry/configmaps/team-a/cm-%d", i), 10_000+i, "configmaps", "team-a")
	}
	w.largest = "/registry/configmaps/team-a/cm-2"
	for i := range 2 {
		w.put(t, ctx, c, fmt.Sprintf("/registry/configmaps/team-b/cm-%d", i), 2_000, "configmaps", "team-b")
	}
	for i := range 5 {
		w.put(t, ctx, c, fmt.Sprintf("/registry/events/team-a/web-0.%d", i), 500, "events", "team-a")
	}
	w.put(t, ctx, c, "/registry/namespaces/team-a", 300, "namespaces", "")
	w.put(t, ctx, c, "/registry/example.com/widgets/team-b/w1", 1_000, "widgets.example.com", "team-b")
	w.put(t, ctx, c, "/usage-e2e/config", 50, "/usage-e2e", "")
	dir := t.TempDir()

	t.Run("live exec", func(t *testing.T) {
		r := usage(t, c, dir, "--transport", "exec", "--page-size", "3")
		if r.Source != "live" || r.Transport != "exec" || r.Pod == "" {
			t.Errorf("source %s transport %s pod %s", r.Source, r.Transport, r.Pod)
		}
		w.check(t, r)
	})
	t.Run("live port-forward", func(t *testing.T) {
		r := usage(t, c, dir, append(plugintest.PFArgs(c), "--page-size", "4", "--rate", "0")...)
		if r.Transport != "port-forward" {
			t.Errorf("transport %s", r.Transport)
		}
		w.check(t, r)
	})

	// One configmap overwritten 40 times with 4000-byte values: 39 old revisions in the file.
	hot := "/registry/configmaps/team-c/hot"
	for range 39 {
		if _, err := c.Client(t).Put(ctx, hot, strings.Repeat("h", 4000)); err != nil {
			t.Fatal(err)
		}
	}
	w.put(t, ctx, c, hot, 4000, "configmaps", "team-c")
	wantHistory := int64(39 * (len(hot) + 4000))

	save := func(t *testing.T, name string) string {
		t.Helper()
		r := plugintest.Start(t, c, plugintest.Options{Dir: dir}, append([]string{"snapshot", "save", name}, plugintest.PFArgs(c)...)...).Wait(t)
		plugintest.WantCode(t, r, 0)
		return filepath.Join(dir, name)
	}
	t.Run("file", func(t *testing.T) {
		f := save(t, "before.db")
		r := usage(t, nil, dir, "--file", f)
		if r.Source != "file" {
			t.Errorf("source %s", r.Source)
		}
		w.check(t, r)
		if cm := r.resource("configmaps", ""); cm.HistoryBytes != wantHistory || cm.HistoryRevisions != 39 {
			t.Errorf("configmaps history %d bytes in %d revisions, want %d in 39", cm.HistoryBytes, cm.HistoryRevisions, wantHistory)
		}
		if ev := r.resource("events", ""); ev.HistoryBytes != 0 {
			t.Errorf("events history %d, want 0 (written once)", ev.HistoryBytes)
		}
		// The table names the history a compaction frees.
		tr := plugintest.Start(t, nil, plugintest.Options{Dir: dir}, "usage", "--file", f).Wait(t)
		plugintest.WantCode(t, tr, 0)
		if !strings.Contains(tr.Stdout, "what a compaction frees") || !strings.Contains(tr.Stdout, "HISTORY") {
			t.Errorf("table:\n%s", tr.Stdout)
		}
	})
	t.Run("file after defrag --compact", func(t *testing.T) {
		r := plugintest.Run(t, c, "--transport", "exec", "defrag", "--compact", "--force")
		plugintest.WantCode(t, r, 0)
		f := save(t, "after.db")
		rep := usage(t, nil, dir, "--file", f)
		w.check(t, rep)
		if cm := rep.resource("configmaps", ""); cm.HistoryBytes != 0 {
			t.Errorf("configmaps history %d bytes after compaction, want 0", cm.HistoryBytes)
		}
		// Only the defrag's own member locks, written after its compaction, may have history.
		for _, x := range append(rep.Resources, rep.Prefixes...) {
			if x.HistoryBytes != 0 && x.Resource != "/kubectl-etcd" {
				t.Errorf("%s.%s: history %d bytes after compaction, want 0", x.Resource, x.Group, x.HistoryBytes)
			}
		}
	})
	t.Run("damaged file", func(t *testing.T) {
		f := filepath.Join(dir, "before.db")
		bad := filepath.Join(dir, "bad.db")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bad, data[:len(data)/3], 0o600); err != nil {
			t.Fatal(err)
		}
		r := plugintest.Start(t, nil, plugintest.Options{Dir: dir}, "usage", "--file", bad).Wait(t)
		plugintest.WantCode(t, r, 8)
		if r.Stdout != "" || !slices.ContainsFunc(r.ErrorLines(), func(l string) bool { return strings.Contains(l, "damaged") }) {
			t.Errorf("damaged file:\n%s", r)
		}
	})
}

// TestDoctorNamesWhatFillsTheQuota fills a small quota past 80% under /fill/ and a few
// configmaps: every member's quota finding names /fill as what holds the data.
func TestDoctorNamesWhatFillsTheQuota(t *testing.T) {
	plugintest.SkipShort(t)
	c := harness.Start(t, harness.Options{QuotaBackendBytes: 16 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Fill(ctx, 14); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.Client(t).Put(ctx, fmt.Sprintf("/registry/configmaps/team-a/cm-%d", i), "small"); err != nil {
			t.Fatal(err)
		}
	}
	r := plugintest.Run(t, c, "--transport", "exec", "doctor", "-o", "json")
	plugintest.WantCode(t, r, 2)
	var rep struct {
		Findings []struct {
			Check   string `json:"check"`
			Finding string `json:"finding"`
		} `json:"findings"`
	}
	plugintest.Decode(t, r, &rep)
	found := false
	for _, f := range rep.Findings {
		if f.Check == "quota" {
			found = true
			// 14 MiB under /fill/ against three tiny configmaps: no namespace holds 10%.
			if !strings.Contains(f.Finding, "/fill hold 100% of the live data (14.0 MiB)") || strings.Contains(f.Finding, "namespace") {
				t.Errorf("quota finding does not name /fill: %s", f.Finding)
			}
		}
	}
	if !found {
		t.Fatalf("no quota finding:\n%s", r)
	}
}
