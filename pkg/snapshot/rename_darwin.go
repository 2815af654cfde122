//go:build darwin

package snapshot

import (
	"errors"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames from to to unless to exists, atomically: renamex_np(RENAME_EXCL).
// Filesystems that do not support the flag get link+unlink, which fails the same way when to
// exists.
func renameNoReplace(from, to string) error {
	err := unix.RenamexNp(from, to, unix.RENAME_EXCL)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTSUP) {
		return linkUnlink(from, to)
	}
	return wrapRename(from, to, err)
}
