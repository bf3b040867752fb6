package main

import (
	"fmt"
	"io"
	"time"
)

// progress shows where a request stands while the plugin waits for the
// controller's answer. On a terminal it keeps one line with a spinner, the
// current step and the time waited, redrawn in place; each step it leaves
// stays printed above it. Elsewhere (a pipe, a log, CI) it prints one line
// per step, with the time since the request was written.
type progress struct {
	w      io.Writer
	tty    bool
	colour bool
	start  time.Time
	frame  int
	step   string
	drawn  bool
}

// spinner is the spinner's frames.
var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// clearLine returns the cursor to the start of the line and erases it.
const clearLine = "\r\x1b[K"

// Step records the current step; a step equal to the last is ignored.
func (p *progress) Step(now time.Time, step string) {
	if step == "" || step == p.step {
		return
	}
	if !p.tty {
		p.step = step
		fmt.Fprintf(p.w, "  [%s] %s\n", elapsed(now.Sub(p.start)), step)
		return
	}
	if p.drawn {
		fmt.Fprintf(p.w, "%s  %s\n", clearLine, p.step)
	}
	p.step = step
	p.draw(now)
}

// Tick turns the spinner (on a terminal only).
func (p *progress) Tick(now time.Time) {
	if p.tty && p.step != "" {
		p.frame++
		p.draw(now)
	}
}

func (p *progress) draw(now time.Time) {
	fmt.Fprintf(p.w, "%s%s %s  %s", clearLine, paint(p.colour, cyan, spinner[p.frame%len(spinner)]), p.step, elapsed(now.Sub(p.start)))
	p.drawn = true
}

// Done replaces the spinner with the last step and prints the outcome.
func (p *progress) Done(outcome string, c colourCode) {
	if p.tty && p.drawn {
		fmt.Fprintf(p.w, "%s  %s\n", clearLine, p.step)
		p.drawn = false
	}
	fmt.Fprintln(p.w, paint(p.colour, c, outcome))
}

// elapsed is a short duration: tenths of a second under a minute.
func elapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
