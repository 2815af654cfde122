package procmem

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const smapsSample = `00400000-01db6000 r-xp 00000000 fe:00 9977857                            /usr/bin/kubectl-etcd
Size:              26328 kB
Rss:               19196 kB
Anonymous:             0 kB
01db6000-03b2d000 r--p 019b6000 fe:00 9977857                            /usr/bin/kubectl-etcd
Size:              30172 kB
Anonymous:             0 kB
03b2d000-03b40000 r--p 0372d000 fe:00 9977857                            /usr/bin/kubectl-etcd
Size:                 76 kB
Anonymous:            76 kB
03b40000-03c2a000 rw-p 03740000 fe:00 9977857                            /usr/bin/kubectl-etcd
Anonymous:           628 kB
03c2a000-05c7f000 rw-p 00000000 00:00 0
Anonymous:           140 kB
7f0000000000-7f0000001000 r--p 00000000 fe:00 1234                       /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000002000-7f0000003000 r--s 00000000 fe:00 9977857                    /usr/bin/kubectl-etcd
Anonymous:             0 kB
7f0000004000-7f0000005000 r-xp 00000000 fe:00 9977857                    /usr/bin/kubectl-etcd (deleted)
Anonymous:             0 kB
`

// Only the executable's private, read-only mappings whose pages are all the file's own are
// released: not the relocated read-only data (anonymous pages), the writable data, other files,
// shared mappings or a deleted executable.
func TestCleanReadOnlyMappings(t *testing.T) {
	got := cleanReadOnlyMappings(strings.NewReader(smapsSample), "/usr/bin/kubectl-etcd")
	want := []mapping{{0x400000, 0x1db6000}, {0x1db6000, 0x3b2d000}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %x, want %x", got, want)
	}
}

// The process keeps working after its start-up pages are released: they fault back from the
// file. In a test binary linked dynamically (cgo), the read-only data the loader relocated is
// kept: releasing it crashed on the next call through a relocated pointer.
func TestReleaseStartupPagesKeepsTheProcessWorking(t *testing.T) {
	ReleaseStartupPages()
	b, err := json.Marshal(map[string]any{"a": []int{1, 2}, "b": fmt.Sprintf("%x", 255)})
	if err != nil || string(b) != `{"a":[1,2],"b":"ff"}` {
		t.Fatalf("after release: %s, %v", b, err)
	}
	restore := LimitForStream()
	restore()
}
