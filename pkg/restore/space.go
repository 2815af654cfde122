package restore

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// What staging writes on a node, and where (see StageSpec and the scripts):
//   - the upload: the plain snapshot, FILE's plain size, in the helper's emptyDir (on the
//     kubelet's filesystem, /var/lib/kubelet by default), with the two small files the cutover
//     reads; StageSpec gives that emptyDir the same stageSlack over the size;
//   - the restored member, in <data-dir>-restore-<time> beside the old data directory:
//     etcdutl copies the database to member/snap/db (FILE's size; bbolt grows it by at most one
//     allocation step of 16 MiB while etcdutl rewrites the membership, bumps the revision and
//     marks it compacted), writes a small snap file, and preallocates the first WAL segment,
//     member/wal/0000000000000000-0000000000000000.wal, of 64 MiB.
//
// Both exist at once: the upload is removed only after etcdutl ended (Prepare). So when both
// lie on one filesystem it must hold their sum. spaceMargin covers bbolt's growth step, the
// snap file, the kept manifests and the filesystem's own rounding.
const (
	stageSlack  = 8 << 20
	walSegment  = 64 << 20
	spaceMargin = 32 << 20
)

// Need is the room staging needs on one node for a snapshot of size bytes: upload where the
// helper's emptyDir lies, restored where the new data directory goes.
func Need(size int64) (upload, restored int64) {
	return size + stageSlack, size + walSegment + spaceMargin
}

// Mount points of the free-space check's helper: the parent of the new data directory
// (read-only) and a small emptyDir of its own, which lies where the staging helper's will.
const (
	SpaceParentMount  = "/host/data-parent"
	SpaceScratchMount = "/scratch"
)

// FreeSpaceScript PATH...: one line per PATH, "TOOL PATH DEV VALUES...", where DEV is the
// major:minor of the filesystem mounted at PATH as /proc/self/mountinfo lists it ("-" when PATH
// is not a mount point) and TOOL the first of these the image has:
//
//	df   PATH DEV FILESYSTEM AVAILABLE-KIB   (df -P -k: the POSIX format, one line per filesystem)
//	stat PATH DEV FSID AVAILABLE-BLOCKS BLOCK-SIZE   (stat -f)
//	none PATH DEV
//
// kubeadm's kube-proxy image has neither df nor stat: then only the device is known, and the
// kubelet's own figure for its filesystem stands in (see Measure).
const FreeSpaceScript = `for p in "$@"; do
  dev=-
  while read -r _ _ d _ m _; do [ "$m" = "$p" ] && dev=$d; done < /proc/self/mountinfo
  r=
  if command -v df >/dev/null 2>&1; then
    r=$(df -P -k "$p" 2>/dev/null | { read -r _; read -r fs _ _ a _ && echo "$fs $a"; })
    [ -n "$r" ] && { echo "df $p $dev $r"; continue; }
  fi
  if command -v stat >/dev/null 2>&1; then
    r=$(stat -f -c '%i %a %S' "$p" 2>/dev/null)
    [ -n "$r" ] && { echo "stat $p $dev $r"; continue; }
  fi
  echo "none $p $dev"
done`

// FS is the free space of the filesystem at a mount point of the check's helper.
type FS struct {
	Path string
	// Dev is the filesystem's major:minor ("" when unknown); ID what the tool names it by.
	Dev, ID string
	// Avail is the free space in bytes (for an unprivileged writer, as df shows it); Known
	// is false when the image had no tool to measure it.
	Avail int64
	Known bool
}

// ParseFreeSpace reads FreeSpaceScript's output.
func ParseFreeSpace(out string) (map[string]FS, error) {
	fss := map[string]FS{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("cannot read the free space from %q", line)
		}
		fs := FS{Path: f[1]}
		if f[2] != "-" {
			fs.Dev = f[2]
		}
		num := func(s string) (int64, error) {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("cannot read the free space from %q", line)
			}
			return v, nil
		}
		switch {
		case f[0] == "df" && len(f) == 5:
			kib, err := num(f[4])
			if err != nil {
				return nil, err
			}
			fs.ID, fs.Avail, fs.Known = "df:"+f[3], kib<<10, true
		case f[0] == "stat" && len(f) == 6:
			blocks, err := num(f[4])
			if err != nil {
				return nil, err
			}
			bsize, err := num(f[5])
			if err != nil {
				return nil, err
			}
			fs.ID, fs.Avail, fs.Known = "stat:"+f[3], blocks*bsize, true
		case f[0] == "none" && len(f) == 3:
		default:
			return nil, fmt.Errorf("cannot read the free space from %q", line)
		}
		fss[fs.Path] = fs
	}
	return fss, nil
}

// sameFS reports whether a and b are one filesystem: by device when both are known, else by
// the tool's name for it; when neither tells, they are taken as one (their needs add up).
func sameFS(a, b FS) bool {
	switch {
	case a.Dev != "" && b.Dev != "":
		return a.Dev == b.Dev
	case a.ID != "" && b.ID != "":
		return a.ID == b.ID
	}
	return true
}

// SpaceCheck is the result of the free-space check on one node.
type SpaceCheck struct {
	// Short are the filesystems without room, one line each; Unknown what could not be
	// measured (a warning, not a refusal).
	Short   []string
	Unknown []string
}

// MiB renders bytes as whole MiB, rounded up (a need must not look smaller than it is).
func MiB(b int64) string { return strconv.FormatInt((b+(1<<20)-1)>>20, 10) + " MiB" }

// CheckSpace compares what the check's helper measured on node n (fss, from ParseFreeSpace)
// with what staging a snapshot of size bytes needs. kubeletAvail is the kubelet's figure of
// free space on its filesystem (where emptyDirs lie; -1 when unknown): it stands in for the
// measures the helper's image could not make.
func CheckSpace(n NodePlan, size int64, fss map[string]FS, kubeletAvail int64) SpaceCheck {
	upload, restored := Need(size)
	scratch, parent := fss[SpaceScratchMount], fss[SpaceParentMount]
	if !scratch.Known && kubeletAvail >= 0 {
		scratch.Avail, scratch.Known = kubeletAvail, true
	}
	same := sameFS(scratch, parent)
	if !parent.Known && scratch.Known && scratch.Dev != "" && scratch.Dev == parent.Dev {
		parent.Avail, parent.Known = scratch.Avail, true
	}
	parentDir := path.Dir(n.RestoreDir)
	var c SpaceCheck
	short := func(fs FS, need int64, what string) {
		if !fs.Known {
			c.Unknown = append(c.Unknown, fmt.Sprintf("node %s: could not measure the free space for %s (the helper image has neither df nor stat: --helper-image names one that has); it needs %s",
				n.Node, what, MiB(need)))
			return
		}
		if fs.Avail < need {
			c.Short = append(c.Short, fmt.Sprintf("node %s: %s has %s free, staging needs %s for %s; nothing was changed",
				n.Node, pathOf(fs, parentDir), MiB(fs.Avail), MiB(need), what))
		}
	}
	uploadWhat := fmt.Sprintf("the uploaded snapshot (%s) in the helper's emptyDir", MiB(size))
	restoredWhat := fmt.Sprintf("the restored member in %s (the %s database, a 64 MiB WAL segment and a 32 MiB margin)", n.RestoreDir, MiB(size))
	if same && parent.Known {
		// One filesystem holds both: its free space must hold their sum.
		short(parent, upload+restored, restoredWhat+" and "+uploadWhat)
		return c
	}
	short(parent, restored, restoredWhat)
	short(scratch, upload, uploadWhat)
	return c
}

// pathOf names the node's directory behind a mount point of the check's helper.
func pathOf(fs FS, parentDir string) string {
	if fs.Path == SpaceScratchMount {
		return "the kubelet's directory (/var/lib/kubelet by default)"
	}
	return parentDir
}
