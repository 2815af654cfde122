package printers

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress shows how far a long operation has come: a bar redrawn in place on a terminal (at
// most once per Redraw), plain lines (at most one per Every) when the output is a pipe or a file.
type Progress struct {
	w   io.Writer
	tty bool
	// Every is the least time between two lines when the output is not a terminal.
	Every time.Duration
	// Redraw is the least time between two redraws on a terminal (default 100ms: at most 10 a
	// second, whatever the size of the chunks reported); the last update left undrawn is drawn
	// by Done.
	Redraw time.Duration
	// Now is the clock (time.Now; tests give a fake one).
	Now func() time.Time

	last    time.Time
	drawn   bool
	pending string
	// rate keeps the (time, bytes) samples of UpdateBytes over the last rateWindow.
	rate []rateSample
}

type rateSample struct {
	at   time.Time
	done uint64
}

// rateWindow is how far back UpdateBytes looks for its rate: the speed of the last seconds, not
// the average since the start.
const rateWindow = 3 * time.Second

// NewProgress writes progress to w; tty says whether w is a terminal.
func NewProgress(w io.Writer, tty bool) *Progress {
	return &Progress{w: w, tty: tty, Every: 5 * time.Second, Redraw: 100 * time.Millisecond, Now: time.Now}
}

// Update reports done of total (total 0: unknown) with a label and a free-form note.
func (p *Progress) Update(label string, done, total uint64, note string) {
	count := fmt.Sprintf("%d/%d", done, total)
	if total == 0 {
		count = fmt.Sprint(done) // unknown total: no "/0"
	}
	p.show(label, done, total, count, note)
}

// UpdateBytes reports done of total bytes (total 0: unknown) in MiB, never past the total, with
// the rate over the last seconds.
func (p *Progress) UpdateBytes(label string, done, total uint64) {
	if total > 0 && done > total {
		done = total // a snapshot's 32-byte sha256 trailer is not part of the database size
	}
	now := p.Now()
	p.rate = append(p.rate, rateSample{now, done})
	i := 0
	for i < len(p.rate)-2 && now.Sub(p.rate[i+1].at) >= rateWindow {
		i++
	}
	p.rate = p.rate[i:]
	count := mib(done)
	if total > 0 {
		count += "/" + mib(total)
	}
	count += " MiB"
	note := ""
	if first := p.rate[0]; now.Sub(first.at) > 0 {
		note = fmt.Sprintf("%.1f MiB/s", float64(done-first.done)/now.Sub(first.at).Seconds()/(1<<20))
	}
	p.show(label, done, total, count, note)
}

func mib(n uint64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<20)) }

func (p *Progress) show(label string, done, total uint64, count, note string) {
	pct := ""
	if total > 0 {
		f := min(float64(done)/float64(total), 1)
		pct = fmt.Sprintf("%5.1f%%", f*100)
		if p.tty {
			const width = 30
			n := int(f * width)
			pct = "[" + strings.Repeat("#", n) + strings.Repeat(" ", width-n) + "] " + pct
		}
	}
	var parts []string
	for _, x := range []string{label, pct, count, note} {
		if x != "" {
			parts = append(parts, x)
		}
	}
	line := strings.Join(parts, " ")
	now := p.Now()
	if p.tty {
		if !p.last.IsZero() && now.Sub(p.last) < p.Redraw {
			p.pending = line
			return
		}
		p.last, p.pending = now, ""
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	if p.last.IsZero() || now.Sub(p.last) >= p.Every {
		p.last = now
		fmt.Fprintln(p.w, line)
	}
}

// Done draws the last update left undrawn and ends the bar's line on a terminal.
func (p *Progress) Done() {
	if p.tty && p.pending != "" {
		fmt.Fprintf(p.w, "\r\033[K%s", p.pending)
		p.drawn, p.pending = true, ""
	}
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
	p.last = time.Time{}
}
