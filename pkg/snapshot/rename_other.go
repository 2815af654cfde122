//go:build !linux && !darwin

package snapshot

// renameNoReplace renames from to to unless to exists. Without an atomic no-replace rename here
// (Windows' os.Rename replaces), a hard link does it: creating it fails when to exists.
func renameNoReplace(from, to string) error { return linkUnlink(from, to) }
