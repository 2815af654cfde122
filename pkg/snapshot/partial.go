package snapshot

import (
	"os"
	"sync"
)

// partials are the .part files this process has created and not yet renamed or removed.
var partials sync.Map

func trackPartial(part string) (untrack func()) {
	partials.Store(part, struct{}{})
	return func() { partials.Delete(part) }
}

// RemovePartials removes the .part files of writes still in progress. main calls it before it
// exits at once on a second Ctrl-C, which does not wait for the writers to clean up.
func RemovePartials() {
	partials.Range(func(k, _ any) bool {
		_ = os.Remove(k.(string))
		partials.Delete(k)
		return true
	})
}
