package printers

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func redraws(terminal *bytes.Buffer) int { return strings.Count(terminal.String(), "\r\033[K") }
func lastDraw(terminal *bytes.Buffer) string {
	s := terminal.String()
	return s[strings.LastIndex(s, "\r\033[K")+4:]
}

// A 285 MiB snapshot arrives in 32 KiB chunks, one every 100µs (about 312 MiB/s, so about 0.9 s):
// the terminal gets at most 10 redraws a second, not one per chunk (9 120), and the last one,
// drawn by Done, shows the whole database even though the stream's 32-byte sha256 trailer came
// on top of it.
func TestProgressBytesRedrawsAtMostTenTimesASecond(t *testing.T) {
	const total = 285 << 20
	var terminal bytes.Buffer
	clock := newFakeClock()
	p := NewProgress(&terminal, true)
	p.Now = clock.now
	start := clock.t
	var n uint64
	for n < total+32 {
		n = min(n+32<<10, total+32)
		p.UpdateBytes("snapshot", n, total)
		clock.add(100 * time.Microsecond)
	}
	p.Done()
	elapsed := clock.t.Sub(start)
	if limit := int(elapsed/(100*time.Millisecond)) + 2; redraws(&terminal) > limit {
		t.Errorf("%d redraws in %s, want at most %d", redraws(&terminal), elapsed, limit)
	}
	last := lastDraw(&terminal)
	if !strings.Contains(last, "100.0%") || !strings.Contains(last, "285.0/285.0 MiB") {
		t.Errorf("last draw %q: want 100.0%% and 285.0/285.0 MiB", last)
	}
	if strings.Contains(terminal.String(), "298844192") || strings.Contains(terminal.String(), "100.0%%") {
		t.Errorf("raw byte counts or more than 100%%: %q", last)
	}
	if terminal.Len() > 20<<10 {
		t.Errorf("%d bytes written to the terminal, want a few KiB", terminal.Len())
	}
}

// The rate is that of the last seconds: after a fast start and a stall, it says the stream is
// slow now, not the average since the start.
func TestProgressBytesRateIsOverTheLastSeconds(t *testing.T) {
	var terminal bytes.Buffer
	clock := newFakeClock()
	p := NewProgress(&terminal, true)
	p.Now = clock.now
	var n uint64
	for i := 0; i < 50; i++ { // 10 s at 10 MiB/s
		n += 1 << 20
		p.UpdateBytes("snapshot", n, 1<<30)
		clock.add(100 * time.Millisecond)
	}
	for i := 0; i < 50; i++ { // then 10 s at 1 MiB/s
		n += 100 << 10
		p.UpdateBytes("snapshot", n, 1<<30)
		clock.add(100 * time.Millisecond)
	}
	if last := lastDraw(&terminal); !strings.HasSuffix(last, " 1.0 MiB/s") {
		t.Errorf("last draw %q: want the rate of the last seconds, 1.0 MiB/s", last)
	}
}

// Redraws are throttled, but the last update always shows: Done draws it before ending the line.
func TestProgressDoneDrawsTheLastUpdate(t *testing.T) {
	var terminal bytes.Buffer
	clock := newFakeClock()
	p := NewProgress(&terminal, true)
	p.Now = clock.now
	p.Update("usage", 1, 0, "keys")
	p.Update("usage", 2, 0, "keys") // within 100ms: not drawn yet
	if redraws(&terminal) != 1 {
		t.Fatalf("%d redraws, want 1: %q", redraws(&terminal), terminal.String())
	}
	p.Done()
	if got := terminal.String(); !strings.HasSuffix(got, "usage 2 keys\n") {
		t.Errorf("after Done: %q", got)
	}
}
