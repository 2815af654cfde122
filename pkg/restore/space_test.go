package restore

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNeed(t *testing.T) {
	upload, restored := Need(2 << 30)
	if upload != 2<<30+8<<20 || restored != 2<<30+96<<20 {
		t.Errorf("Need(2 GiB) = %s, %s; want the upload + 8 MiB and the db + 64 MiB WAL + 32 MiB margin", MiB(upload), MiB(restored))
	}
	if MiB(1) != "1 MiB" || MiB(1<<20) != "1 MiB" || MiB(1<<20+1) != "2 MiB" {
		t.Errorf("MiB rounds up: %s %s %s", MiB(1), MiB(1<<20), MiB(1<<20+1))
	}
}

func TestParseFreeSpace(t *testing.T) {
	fss, err := ParseFreeSpace("df /host/data-parent 254:0 /dev/vda 32066004\nstat /scratch 254:1 40397f98186ca8b6 8016499 4096\nnone /x -\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]FS{
		"/host/data-parent": {Path: "/host/data-parent", Dev: "254:0", ID: "df:/dev/vda", Avail: 32066004 << 10, Known: true},
		"/scratch":          {Path: "/scratch", Dev: "254:1", ID: "stat:40397f98186ca8b6", Avail: 8016499 * 4096, Known: true},
		"/x":                {Path: "/x"},
	}
	for p, w := range want {
		if fss[p] != w {
			t.Errorf("%s: %+v, want %+v", p, fss[p], w)
		}
	}
	for _, bad := range []string{"", "df /p 1:2 /dev/x", "df /p 1:2 /dev/x -5", "stat /p 1:2 id 10", "what /p 1:2", "stat /p - id x 4096"} {
		if _, err := ParseFreeSpace(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCheckSpace(t *testing.T) {
	p := testPlan(t, nil)
	n := p.Nodes[0]
	const size = 1 << 30 // needs: upload 1032 MiB, restored 1120 MiB, both 2152 MiB
	fs := func(path, dev string, mib int64) FS {
		return FS{Path: path, Dev: dev, ID: "df:" + dev, Avail: mib << 20, Known: mib >= 0}
	}
	for _, c := range []struct {
		name          string
		parent, scr   FS
		kubelet       int64
		short, unknow string
	}{
		{name: "two filesystems with room", parent: fs(SpaceParentMount, "8:1", 1120), scr: fs(SpaceScratchMount, "8:2", 1032), kubelet: -1},
		{name: "one filesystem: the sum", parent: fs(SpaceParentMount, "8:1", 2000), scr: fs(SpaceScratchMount, "8:1", 2000), kubelet: -1,
			short: "node cp-1: /var/lib has 2000 MiB free, staging needs 2152 MiB for the restored member in /var/lib/etcd-restore-20261206T131200Z (the 1024 MiB database, a 64 MiB WAL segment and a 32 MiB margin) and the uploaded snapshot (1024 MiB) in the helper's emptyDir; nothing was changed"},
		{name: "the kubelet's filesystem is short", parent: fs(SpaceParentMount, "8:1", 5000), scr: fs(SpaceScratchMount, "8:2", 1000), kubelet: -1,
			short: "node cp-1: the kubelet's directory (/var/lib/kubelet by default) has 1000 MiB free, staging needs 1032 MiB for the uploaded snapshot (1024 MiB) in the helper's emptyDir; nothing was changed"},
		{name: "no tool: the kubelet's figure, one device", parent: fs(SpaceParentMount, "8:1", -1), scr: fs(SpaceScratchMount, "8:1", -1), kubelet: 2100 << 20,
			short: "node cp-1: /var/lib has 2100 MiB free, staging needs 2152 MiB"},
		{name: "no tool: the kubelet's figure, another device", parent: fs(SpaceParentMount, "8:1", -1), scr: fs(SpaceScratchMount, "8:2", -1), kubelet: 2000 << 20,
			unknow: "node cp-1: could not measure the free space for the restored member in /var/lib/etcd-restore-20261206T131200Z"},
		{name: "no tool, no kubelet figure", parent: fs(SpaceParentMount, "8:1", -1), scr: fs(SpaceScratchMount, "8:1", -1), kubelet: -1,
			unknow: "(the helper image has neither df nor stat: --helper-image names one that has); it needs 1120 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := CheckSpace(n, size, map[string]FS{SpaceParentMount: c.parent, SpaceScratchMount: c.scr}, c.kubelet)
			short, unknown := strings.Join(got.Short, "\n"), strings.Join(got.Unknown, "\n")
			if (c.short == "") != (short == "") || !strings.Contains(short, c.short) {
				t.Errorf("short: %q\nwant %q", short, c.short)
			}
			if (c.unknow == "") != (unknown == "") || !strings.Contains(unknown, c.unknow) {
				t.Errorf("unknown: %q\nwant %q", unknown, c.unknow)
			}
		})
	}
}

// The script under /bin/sh: with df, with only stat, with neither (then /proc/self/mountinfo
// still names the device of a mount point).
func TestFreeSpaceScript(t *testing.T) {
	run := func(path string, args ...string) map[string]FS {
		t.Helper()
		cmd := exec.Command("/bin/sh", append([]string{"-c", FreeSpaceScript, "sh"}, args...)...)
		cmd.Env = []string{"PATH=" + path}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		fss, err := ParseFreeSpace(string(out))
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return fss
	}
	tool := func(name, script string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir := t.TempDir()
	df := tool("df", `[ "$1 $2 $3" = "-P -k `+dir+`" ] || exit 1
printf 'Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdz9 1000 400 600 40%% /x\n'`)
	if got := run(df, dir)[dir]; !got.Known || got.Avail != 600<<10 || got.ID != "df:/dev/sdz9" {
		t.Errorf("with df: %+v", got)
	}
	stat := tool("stat", `[ "$1 $2 $3 $4" = "-f -c %i %a %S `+dir+`" ] || exit 1
echo 'abc 10 4096'`)
	if got := run(stat, dir)[dir]; !got.Known || got.Avail != 10*4096 || got.ID != "stat:abc" {
		t.Errorf("with stat only: %+v", got)
	}
	// A df that fails falls through to stat.
	broken := tool("df", "exit 1")
	if got := run(broken+":"+stat, dir)[dir]; !got.Known || got.Avail != 10*4096 {
		t.Errorf("with a failing df and stat: %+v", got)
	}
	got := run(t.TempDir(), "/", dir)
	if root := got["/"]; root.Known || root.Dev == "" {
		t.Errorf("neither tool, /: %+v (want the device from mountinfo)", root)
	}
	if d := got[dir]; d.Known || d.Dev != "" {
		t.Errorf("neither tool, a directory that is no mount point: %+v", d)
	}
	if here := run(os.Getenv("PATH"), dir)[dir]; !here.Known || here.Avail <= 0 {
		t.Errorf("with this machine's tools: %+v", here)
	}
}
