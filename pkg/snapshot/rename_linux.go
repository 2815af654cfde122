//go:build linux

package snapshot

import (
	"errors"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames from to to unless to exists, atomically: renameat2(RENAME_NOREPLACE).
// Filesystems that do not support the flag (EINVAL) and old kernels (ENOSYS) get link+unlink,
// which fails the same way when to exists.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return linkUnlink(from, to)
	}
	return wrapRename(from, to, err)
}
