package main

import (
	"io"
	"strings"
	"unicode/utf8"
)

// colourCode is an ANSI foreground colour. Each is five bytes long.
type colourCode string

// The colours used.
const (
	red    colourCode = "\x1b[31m"
	green  colourCode = "\x1b[32m"
	yellow colourCode = "\x1b[33m"
	cyan   colourCode = "\x1b[36m"
	plain  colourCode = ""
	reset             = "\x1b[0m"
)

// paint colours s when on is set and c is a colour.
func paint(on bool, c colourCode, s string) string {
	if !on || c == plain || s == "" {
		return s
	}
	return string(c) + s + reset
}

// visibleWidth is the width of s on a terminal: its runes, less the
// colour escapes.
func visibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == '\x1b' {
			j := strings.IndexByte(s[i:], 'm')
			if j < 0 {
				break
			}
			i += j + 1
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return n
}

// table lays out rows in columns two spaces apart, measuring cells by
// their visible width so that coloured cells line up (text/tabwriter
// would count the escapes). The last cell of a row is not padded.
type table struct {
	rows [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], visibleWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		line := strings.Builder{}
		for i, c := range r {
			line.WriteString(c)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-visibleWidth(c)+2))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(w, b.String())
}
