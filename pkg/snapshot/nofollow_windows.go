//go:build windows

package snapshot

// oNoFollow: Windows has no such open flag; O_EXCL already refuses an existing name, a link
// included.
const oNoFollow = 0

// syncDirOS: Windows cannot fsync a directory; NTFS journals the rename itself.
func syncDirOS(string) error { return nil }
