package snapshot

import (
	"os"
	"sync"
)

// partials are the .part files this process has created and not yet renamed or removed, and
// the temporary directories holding plain copies of stored snapshots, with how to remove each.
var partials sync.Map

func trackPartial(part string) (untrack func()) {
	partials.Store(part, os.Remove)
	return func() { partials.Delete(part) }
}

func trackTemp(dir string) (untrack func()) {
	partials.Store(dir, os.RemoveAll)
	return func() { partials.Delete(dir) }
}

// RemovePartials removes the .part files of writes still in progress and the temporary plain
// copies of stored snapshots. main calls it before it exits at once on a second Ctrl-C, which
// does not wait for the writers and readers to clean up.
func RemovePartials() {
	partials.Range(func(k, v any) bool {
		_ = v.(func(string) error)(k.(string))
		partials.Delete(k)
		return true
	})
}
