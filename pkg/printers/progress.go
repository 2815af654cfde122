package printers

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress shows how far a long operation has come: a bar redrawn in place on a terminal, plain
// lines (at most one per Every) when the output is a pipe or a file.
type Progress struct {
	w     io.Writer
	tty   bool
	Every time.Duration
	last  time.Time
	drawn bool
	now   func() time.Time
}

// NewProgress writes progress to w; tty says whether w is a terminal.
func NewProgress(w io.Writer, tty bool) *Progress {
	return &Progress{w: w, tty: tty, Every: 5 * time.Second, now: time.Now}
}

// Update reports done of total (total 0: unknown) with a label and a free-form note.
func (p *Progress) Update(label string, done, total uint64, note string) {
	pct := ""
	if total > 0 {
		f := float64(done) / float64(total)
		if f > 1 {
			f = 1
		}
		pct = fmt.Sprintf("%5.1f%%", f*100)
		if p.tty {
			const width = 30
			n := int(f * width)
			pct = "[" + strings.Repeat("#", n) + strings.Repeat(" ", width-n) + "] " + pct
		}
	}
	count := fmt.Sprintf("%d/%d", done, total)
	if total == 0 {
		count = fmt.Sprint(done) // unknown total: no "/0"
	}
	var parts []string
	for _, x := range []string{label, pct, count, note} {
		if x != "" {
			parts = append(parts, x)
		}
	}
	line := strings.Join(parts, " ")
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
		return
	}
	if now := p.now(); p.last.IsZero() || now.Sub(p.last) >= p.Every {
		p.last = now
		fmt.Fprintln(p.w, line)
	}
}

// Done ends the bar's line on a terminal.
func (p *Progress) Done() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
