package procmem

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReleaseStartupPages unmaps the read-only pages of the executable (code, read-only data) from
// the process; they stay in the page cache, and the pages still used fault back in as they are
// touched, from memory. Start-up (package initialisation: API type registration, flag and
// command set-up, discovery) touches tens of MiB of a binary this size that a stream never
// touches again, and the kernel counts them in the resident size for as long as they are
// mapped. Only mappings whose every page is still the file's own are released: a page written
// since it was mapped (relocations the dynamic loader applied before making it read-only, a
// debugger's breakpoint) would be lost. Errors are ignored: nothing depends on it but the
// resident size.
func ReleaseStartupPages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	defer f.Close()
	for _, m := range cleanReadOnlyMappings(f, exe) {
		// The raw call: the ranges are not Go memory, so they are not made into slices.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED)
	}
}

type mapping struct{ start, end uintptr }

// cleanReadOnlyMappings returns, from smaps (the format of /proc/PID/smaps), the address ranges
// of path's private mappings that are not writable and hold no anonymous (copied-on-write) page.
func cleanReadOnlyMappings(smaps io.Reader, path string) []mapping {
	var out []mapping
	var cur *mapping // the mapping whose fields are being read, if it is a candidate
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if !strings.HasSuffix(fs[0], ":") { // a mapping's header line
			if cur != nil {
				out = append(out, *cur)
			}
			cur = candidate(fs, path)
			continue
		}
		if cur != nil && fs[0] == "Anonymous:" && (len(fs) < 2 || fs[1] != "0") {
			cur = nil
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

// candidate parses a header line (address perms offset dev inode path) and returns its range
// when it maps path privately without write permission. A deleted file has " (deleted)" after
// its path, so it is never a candidate.
func candidate(fs []string, path string) *mapping {
	if len(fs) != 6 || fs[5] != path || len(fs[1]) != 4 || fs[1][1] == 'w' || fs[1][3] != 'p' {
		return nil
	}
	lo, hi, ok := strings.Cut(fs[0], "-")
	if !ok {
		return nil
	}
	a, err1 := strconv.ParseUint(lo, 16, 64)
	b, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || b <= a {
		return nil
	}
	return &mapping{uintptr(a), uintptr(b)}
}
