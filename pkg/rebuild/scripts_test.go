package rebuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The node scripts run here with this machine's /bin/sh, on a data directory laid out as etcd's.
func sh(t *testing.T, stdin, script string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			b, _ := os.ReadFile(p)
			out = append(out, rel+"="+string(b))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestScriptsSetAsideAndPutBack(t *testing.T) {
	d := t.TempDir()
	a := filepath.Join(d, "kubectl-etcd-rebuild-x")
	write(t, filepath.Join(d, "member/snap/db"), "old-db")
	write(t, filepath.Join(d, "member/snap/0000000000000002-00000000000001fe.snap"), "old-snap")
	write(t, filepath.Join(d, "member/wal/0000000000000000-0000000000000000.wal"), "old-wal")
	write(t, filepath.Join(d, "member/wal/0.tmp"), "old-tmp")
	for _, s := range []string{"snap", "wal"} {
		if err := os.MkdirAll(filepath.Join(a, "member", s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := sh(t, "", hasWAL, d); err != nil || strings.TrimSpace(out) != "yes" {
		t.Fatalf("hasWAL: %q %v", out, err)
	}
	if out, err := sh(t, "", setAside, d, a); err != nil {
		t.Fatalf("setAside: %s %v", out, err)
	}
	if got := files(t, filepath.Join(d, "member")); len(got) != 0 {
		t.Errorf("member/ not empty: %v", got)
	}
	want := []string{"member/snap/0000000000000002-00000000000001fe.snap=old-snap", "member/snap/db=old-db",
		"member/wal/0.tmp=old-tmp", "member/wal/0000000000000000-0000000000000000.wal=old-wal"}
	if got := files(t, a); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("aside: %v", got)
	}
	if out, _ := sh(t, "", hasWAL, d); strings.TrimSpace(out) != "no" {
		t.Errorf("hasWAL after set-aside: %q", out)
	}
	// The aside directory holds files now: it is not dropped.
	if out, err := sh(t, "", dropAside, a); err == nil || !strings.Contains(out, "holds files") {
		t.Fatalf("dropAside of a full aside directory: %q %v", out, err)
	}
	// An empty one is.
	a2 := filepath.Join(d, "kubectl-etcd-rebuild-y")
	for _, s := range []string{"snap", "wal"} {
		_ = os.MkdirAll(filepath.Join(a2, "member", s), 0o755)
	}
	a = a2
	if out, err := sh(t, "", dropAside, a); err != nil {
		t.Fatalf("dropAside: %s %v", out, err)
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("aside still there: %v", err)
	}
}

// Anything etcd does not write in member/ stops the check and the set-aside before a file is
// linked or removed.
func TestScriptsSetAsideRefusesSurprises(t *testing.T) {
	d := t.TempDir()
	a := filepath.Join(d, "aside")
	write(t, filepath.Join(d, "member/snap/db"), "old-db")
	write(t, filepath.Join(d, "member/wal/x.wal"), "old-wal")
	write(t, filepath.Join(d, "member/wal/sub/y"), "nested")
	for _, s := range []string{"snap", "wal"} {
		_ = os.MkdirAll(filepath.Join(a, "member", s), 0o755)
	}
	if out, err := sh(t, "", checkData, d); err == nil || !strings.Contains(out, "unexpected directory") {
		t.Fatalf("checkData with a nested directory: %q %v", out, err)
	}
	if out, err := sh(t, "", setAside, d, a); err == nil || !strings.Contains(out, "unexpected directory") {
		t.Fatalf("setAside with a nested directory: %q %v", out, err)
	}
	if got := files(t, filepath.Join(d, "member")); strings.Join(got, " ") != "snap/db=old-db wal/sub/y=nested wal/x.wal=old-wal" {
		t.Errorf("originals: %v", got)
	}
	if got := files(t, a); len(got) != 0 {
		t.Errorf("linked before the check: %v", got)
	}
	write(t, filepath.Join(d, "member/extra"), "x")
	if out, err := sh(t, "", checkData, d); err == nil || !strings.Contains(out, "unexpected entry") {
		t.Fatalf("checkData with an extra entry: %q %v", out, err)
	}
	// A clean layout, and no member/ at all, pass.
	if out, err := sh(t, "", checkData, t.TempDir()); err != nil {
		t.Fatalf("checkData without member/: %q %v", out, err)
	}
}

func TestScriptsManifestFiles(t *testing.T) {
	d := t.TempDir()
	write(t, filepath.Join(d, "etcd.yaml"), "one")
	write(t, filepath.Join(d, ".hidden"), "x")
	if out, err := sh(t, "", listFiles, d); err != nil || out != "etcd.yaml\n" {
		t.Fatalf("listFiles: %q %v", out, err)
	}
	tmp := filepath.Join(d, ".etcd.yaml.kubectl-etcd")
	if _, err := sh(t, "two", writeFile, tmp); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(tmp); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("written file: %v %v", info, err)
	}
	if out, err := sh(t, "", linkFile, tmp, filepath.Join(d, "etcd.yaml"), "0"); err == nil {
		t.Fatalf("link over an existing manifest without replace: %q", out)
	}
	if out, err := sh(t, "", linkFile, tmp, filepath.Join(d, "etcd.yaml"), "1"); err != nil {
		t.Fatalf("linkFile: %q %v", out, err)
	}
	if got := files(t, d); strings.Join(got, " ") != ".hidden=x etcd.yaml=two" {
		t.Errorf("files: %v", got)
	}
}
