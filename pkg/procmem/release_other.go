//go:build !linux

package procmem

// ReleaseStartupPages does nothing outside Linux.
func ReleaseStartupPages() {}
