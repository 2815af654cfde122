package snapshot

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Rotate keeps exactly N of the cluster's snapshots that this plugin wrote (named by
// RotationName, with a sidecar recording the cluster), the new one always among them, and never
// touches anything else: files without a sidecar, a foreign sidecar, another cluster's
// snapshots, other names, directories.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	const id = "cdf818194e3a8c32"
	write := func(name, sidecar string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if sidecar != "" {
			if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(sidecar), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	ours := `{"clusterID": "` + id + `", "pluginVersion": "v1"}`
	t0 := time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)
	var mine []string
	for i, suffix := range []string{".zst.age", "", ".gz", ".zst", ".zst.age"} {
		n := RotationName(id, t0.Add(time.Duration(i)*time.Hour)) + suffix
		write(n, ours)
		mine = append(mine, n)
	}
	untouched := []string{
		RotationName(id, t0.Add(-time.Hour)),            // no sidecar
		RotationName(id, t0.Add(-2*time.Hour)) + ".zst", // a sidecar that is not ours
		RotationName("aaaa", t0.Add(-3*time.Hour)),      // another cluster
		"etcd-" + id + "-manual.db",                     // another name
		RotationName(id, t0.Add(-4*time.Hour)) + ".bak", // another suffix
		"notes.txt",
	}
	write(untouched[0], "")
	write(untouched[1], `{"something": "else"}`)
	write(untouched[2], `{"clusterID": "aaaa", "pluginVersion": "v1"}`)
	write(untouched[3], ours)
	write(untouched[4], ours)
	write(untouched[5], "")
	if err := os.Mkdir(filepath.Join(dir, RotationName(id, t0.Add(-5*time.Hour))), 0o700); err != nil {
		t.Fatal(err)
	}
	// The new one is the oldest by name (a clock set back): it is kept all the same.
	newest := mine[0]
	removed, err := Rotate(dir, id, 3, filepath.Join(dir, newest))
	if err != nil {
		t.Fatal(err)
	}
	wantRemoved := []string{filepath.Join(dir, mine[2]), filepath.Join(dir, mine[1])}
	if !slices.Equal(removed, wantRemoved) {
		t.Errorf("removed %v, want %v", removed, wantRemoved)
	}
	for _, n := range append([]string{mine[0], mine[3], mine[4]}, untouched...) {
		if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s is gone: %v", n, err)
		}
	}
	for _, n := range mine[1:3] {
		for _, p := range []string{n, n + ".json"} {
			if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
				t.Errorf("%s is still there", p)
			}
		}
	}
	// Fewer than N: nothing to do.
	if removed, err := Rotate(dir, id, 10, filepath.Join(dir, newest)); err != nil || len(removed) != 0 {
		t.Errorf("keep 10: removed %v, %v", removed, err)
	}
	if _, err := Rotate(dir, id, 0, newest); err == nil {
		t.Errorf("keep 0 accepted")
	}
}
