package rebuild

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-etcd/kubectl-etcd/pkg/nodehelper"
)

// Node is what a rebuild does on the member's node. ShellNode does it with a shell helper pod;
// tests use a fake.
type Node interface {
	// Manifest finds the etcd static pod manifest named pod (the mirror pod's name without the
	// node suffix) in the manifest directory and returns its file name and bytes.
	Manifest(ctx context.Context, pod string) (file string, data []byte, err error)
	// Keep writes the original manifest to the kept path, and reads it back to compare.
	Keep(ctx context.Context, data []byte) error
	// RemoveManifest removes the manifest from the manifest directory: the kubelet stops etcd.
	RemoveManifest(ctx context.Context) error
	// InstallManifest puts data in the manifest directory under the manifest's name (atomically:
	// written beside it under a hidden name, read back, then linked), replacing a file there
	// when replace is set, else failing if one is there.
	InstallManifest(ctx context.Context, data []byte, replace bool) error
	// SetAside hard-links every file of the data directory's member/ to the aside directory and
	// then removes the originals, leaving member/snap and member/wal empty.
	SetAside(ctx context.Context) error
	// CheckData checks that the data directory's member/ holds only what etcd writes there
	// (files in snap/ and wal/), so that setting it aside cannot stop half-way on a surprise.
	CheckData(ctx context.Context) error
	// HasManifest says whether the manifest is in the manifest directory.
	HasManifest(ctx context.Context) (bool, error)
	// Discard deletes member/ with everything in it.
	Discard(ctx context.Context) error
	// DropAside removes the aside directory while it is still empty (an abort before step 3).
	DropAside(ctx context.Context) error
	// HasWAL says whether member/wal holds a WAL file.
	HasWAL(ctx context.Context) (bool, error)
	// Listening says whether a process of the node listens on one of the TCP ports.
	Listening(ctx context.Context, ports []int) (bool, error)
	// Close deletes the helper.
	Close(ctx context.Context)
}

// Where the shell helper sees the node's directories.
const (
	mntManifests = "/host/manifests"
	mntKeep      = "/host/keep"
	mntData      = "/host/data"
	mntAsideSnap = "/host/aside-snap"
	mntAsideWAL  = "/host/aside-wal"
)

// Scripts run by /bin/sh in the shell helper. They are constants: paths travel as $1, $2, ...
// and file contents on stdin. They use only what kubeadm's kube-proxy image has (sh, cat, chmod,
// grep, ln, rm, sleep, wc): no mv, cp or mkdir.
const (
	// listFiles DIR: the names of the regular, not hidden, files in DIR (what the kubelet reads).
	listFiles = `for f in "$1"/*; do [ -f "$f" ] && printf '%s\n' "${f##*/}"; done; true`
	// writeFile FILE: stdin to FILE, mode 0600 (FILE must not exist: a leftover is removed).
	writeFile = `set -eu; rm -f -- "$1"; cat > "$1"; chmod 600 "$1"`
	// linkFile TMP FILE REPLACE: TMP becomes FILE (REPLACE=1: over an existing FILE).
	linkFile = `set -eu; if [ "$3" = 1 ]; then rm -f -- "$2"; fi; ln -- "$1" "$2"; rm -f -- "$1"`
	// setAside DATA ASIDE: link member/{snap,wal}/* into ASIDE/member/{snap,wal}, then remove the
	// originals. Anything unexpected in member/ (a directory in snap/, another entry) stops it
	// before a file is removed.
	setAside = `set -eu
d=$1; a=$2
[ -d "$d/member" ] || exit 0
` + checkEntries + `
for s in snap wal; do
  for f in "$d/member/$s"/* "$d/member/$s"/.[!.]*; do
    [ -e "$f" ] || continue
    ln -- "$f" "$a/member/$s/"
  done
done
for s in snap wal; do
  for f in "$d/member/$s"/* "$d/member/$s"/.[!.]*; do
    [ -e "$f" ] || continue
    rm -f -- "$f"
  done
done`
	// checkData DATA: the checks of setAside alone.
	checkData = `set -eu
d=$1
[ -d "$d/member" ] || exit 0
` + checkEntries
	// checkEntries: member/ holds only snap/ and wal/, and they hold only files.
	checkEntries = `for e in "$d/member"/* "$d/member"/.[!.]*; do
  [ -e "$e" ] || continue
  case ${e##*/} in snap|wal) ;; *) echo "unexpected entry $e in the data directory" >&2; exit 3;; esac
done
for s in snap wal; do
  for f in "$d/member/$s"/* "$d/member/$s"/.[!.]*; do
    [ -e "$f" ] || continue
    if [ -d "$f" ]; then echo "unexpected directory $f in the data directory" >&2; exit 3; fi
  done
done`
	// hasWAL DATA: prints yes when member/wal holds a .wal file, else no.
	hasWAL = `for f in "$1"/member/wal/*.wal; do [ -f "$f" ] && { echo yes; exit 0; }; done; echo no`
	// removeTree DIR: rm -rf DIR.
	removeTree = `rm -rf -- "$1"`
	// dropAside ASIDE: removes ASIDE if it holds no file (only the empty member/{snap,wal}).
	dropAside = `set -eu
a=$1
for s in snap wal; do
  for f in "$a/member/$s"/* "$a/member/$s"/.[!.]*; do
    [ -e "$f" ] && { echo "$a holds files: left in place" >&2; exit 3; }
  done
done
rm -r -- "$a"`
	// chmodDir MODE DIR
	chmodDir = `chmod "$1" "$2"`
)

// ShellNode is the Node of a shell helper pod.
type ShellNode struct {
	Shell *nodehelper.Shell
	// ManifestFile is the manifest's name in the manifest directory, once Manifest found it.
	ManifestFile string
	// KeepFile is the kept copy's name in the keep directory.
	KeepFile string
	// Aside is the aside directory's name inside the data directory ("" with --discard-old-data).
	Aside string
}

// Layout is where a rebuild works on the node.
type Layout struct {
	// ManifestDir is the kubelet's static pod directory.
	ManifestDir string `json:"manifestDir"`
	// KeepDir holds the kept copy of the manifest (kubeadm keeps its own backups there too).
	KeepDir string `json:"keepDir"`
	// KeepFile is the kept copy's name.
	KeepFile string `json:"keepFile"`
	// DataDir is the member's data directory on the node.
	DataDir string `json:"dataDir"`
	// Aside is the directory, inside DataDir, that receives the old member/ ("" to delete it).
	Aside string `json:"aside,omitempty"`
}

// KeptManifest is the kept copy's path on the node.
func (l Layout) KeptManifest() string { return path.Join(l.KeepDir, l.KeepFile) }

// AsidePath is the aside directory's path on the node.
func (l Layout) AsidePath() string {
	if l.Aside == "" {
		return ""
	}
	return path.Join(l.DataDir, l.Aside)
}

// NewLayout names the kept manifest and the aside directory after the time of the run.
func NewLayout(manifestDir, keepDir, dataDir string, discard bool, now time.Time) Layout {
	stamp := now.UTC().Format("20060102T150405Z")
	l := Layout{ManifestDir: manifestDir, KeepDir: keepDir, KeepFile: "kubectl-etcd-rebuild-" + stamp + "-etcd.yaml", DataDir: dataDir}
	if !discard {
		l.Aside = "kubectl-etcd-rebuild-" + stamp
	}
	return l
}

// ShellDirs are the host directories the shell helper of layout l mounts. A real run mounts the
// manifest, keep and data
// directories read-write, and has the kubelet create the aside directory's member/snap and
// member/wal (the shell image has no mkdir). A dry run mounts the manifest and data directories
// read-only.
func ShellDirs(l Layout, dryRun bool) []nodehelper.HostDir {
	if dryRun {
		return []nodehelper.HostDir{
			{Name: "manifests", HostPath: l.ManifestDir, MountPath: mntManifests, ReadOnly: true},
			{Name: "data", HostPath: l.DataDir, MountPath: mntData, ReadOnly: true},
		}
	}
	dirs := []nodehelper.HostDir{
		{Name: "manifests", HostPath: l.ManifestDir, MountPath: mntManifests},
		{Name: "keep", HostPath: l.KeepDir, MountPath: mntKeep, Create: true},
		{Name: "data", HostPath: l.DataDir, MountPath: mntData},
	}
	if l.Aside != "" {
		dirs = append(dirs,
			nodehelper.HostDir{Name: "aside-snap", HostPath: path.Join(l.AsidePath(), "member", "snap"), MountPath: mntAsideSnap, Create: true, ReadOnly: true},
			nodehelper.HostDir{Name: "aside-wal", HostPath: path.Join(l.AsidePath(), "member", "wal"), MountPath: mntAsideWAL, Create: true, ReadOnly: true})
	}
	return dirs
}

// Manifest implements Node.
func (n *ShellNode) Manifest(ctx context.Context, pod string) (string, []byte, error) {
	out, err := n.Shell.Script(ctx, nil, listFiles, mntManifests)
	if err != nil {
		return "", nil, fmt.Errorf("listing the static pod manifests: %w", err)
	}
	var names []string
	var found string
	for _, f := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if f == "" {
			continue
		}
		data, err := n.Shell.Run(ctx, nil, "cat", path.Join(mntManifests, f))
		if err != nil {
			return "", nil, fmt.Errorf("reading manifest %s: %w", f, err)
		}
		if p, err := ManifestPod([]byte(data)); err == nil && p.Name == pod {
			names = append(names, f)
			found = data
		}
	}
	switch len(names) {
	case 0:
		return "", nil, fmt.Errorf("no manifest in the static pod directory defines pod %q", pod)
	case 1:
		n.ManifestFile = names[0]
		return names[0], []byte(found), nil
	}
	return "", nil, fmt.Errorf("several manifests define pod %q: %s", pod, strings.Join(names, ", "))
}

// write puts data at file (a path in the helper) and reads it back.
func (n *ShellNode) write(ctx context.Context, file string, data []byte) error {
	if _, err := n.Shell.Script(ctx, bytes.NewReader(data), writeFile, file); err != nil {
		return err
	}
	back, err := n.Shell.Run(ctx, nil, "cat", file)
	if err != nil {
		return err
	}
	if back != string(data) {
		return fmt.Errorf("on node %s: %s does not read back as written (%d bytes written, %d read)", n.Shell.Pod.Node, file, len(data), len(back))
	}
	return nil
}

// Keep implements Node.
func (n *ShellNode) Keep(ctx context.Context, data []byte) error {
	return n.write(ctx, path.Join(mntKeep, n.KeepFile), data)
}

// RemoveManifest implements Node.
func (n *ShellNode) RemoveManifest(ctx context.Context) error {
	_, err := n.Shell.Run(ctx, nil, "rm", "--", path.Join(mntManifests, n.ManifestFile))
	return err
}

// InstallManifest implements Node.
func (n *ShellNode) InstallManifest(ctx context.Context, data []byte, replace bool) error {
	// The kubelet ignores hidden files, so the half-written one is never read as a pod.
	tmp := path.Join(mntManifests, "."+n.ManifestFile+".kubectl-etcd")
	if err := n.write(ctx, tmp, data); err != nil {
		return err
	}
	r := "0"
	if replace {
		r = "1"
	}
	_, err := n.Shell.Script(ctx, nil, linkFile, tmp, path.Join(mntManifests, n.ManifestFile), r)
	return err
}

// SetAside implements Node.
func (n *ShellNode) SetAside(ctx context.Context) error {
	if _, err := n.Shell.Run(ctx, nil, "/bin/sh", "-c", chmodDir, "sh", "700", path.Join(mntData, n.Aside)); err != nil {
		return err
	}
	_, err := n.Shell.Script(ctx, nil, setAside, mntData, path.Join(mntData, n.Aside))
	return err
}

// CheckData implements Node.
func (n *ShellNode) CheckData(ctx context.Context) error {
	_, err := n.Shell.Script(ctx, nil, checkData, mntData)
	return err
}

// HasManifest implements Node.
func (n *ShellNode) HasManifest(ctx context.Context) (bool, error) {
	out, err := n.Shell.Script(ctx, nil, listFiles, mntManifests)
	if err != nil {
		return false, err
	}
	return slices.Contains(strings.Split(out, "\n"), n.ManifestFile), nil
}

// Discard implements Node.
func (n *ShellNode) Discard(ctx context.Context) error {
	_, err := n.Shell.Script(ctx, nil, removeTree, path.Join(mntData, "member"))
	return err
}

// DropAside implements Node.
func (n *ShellNode) DropAside(ctx context.Context) error {
	if n.Aside == "" {
		return nil
	}
	_, err := n.Shell.Script(ctx, nil, dropAside, path.Join(mntData, n.Aside))
	return err
}

// HasWAL implements Node.
func (n *ShellNode) HasWAL(ctx context.Context) (bool, error) {
	out, err := n.Shell.Script(ctx, nil, hasWAL, mntData)
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) == "yes", nil
}

// Listening implements Node: the helper is on the node's network, so /proc/net/tcp and tcp6
// list the node's sockets.
func (n *ShellNode) Listening(ctx context.Context, ports []int) (bool, error) {
	var all strings.Builder
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		out, err := n.Shell.Run(ctx, nil, "cat", f)
		if err != nil && f == "/proc/net/tcp" {
			return false, err
		}
		all.WriteString(out)
	}
	return ListeningIn(all.String(), ports), nil
}

// ListeningIn reads /proc/net/tcp text: is a socket in state LISTEN (0A) on one of the ports?
func ListeningIn(procNetTCP string, ports []int) bool {
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	for _, line := range strings.Split(procNetTCP, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		if i < 0 {
			continue
		}
		port, err := strconv.ParseUint(f[1][i+1:], 16, 16)
		if err == nil && want[int(port)] {
			return true
		}
	}
	return false
}

// Close implements Node.
func (n *ShellNode) Close(ctx context.Context) { n.Shell.Close(ctx) }
