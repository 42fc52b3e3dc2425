// Package chart draws the measures as server-rendered SVG (bar and line
// charts), each with the table of its numbers and a CSV of them, for a page
// that runs no script and loads nothing from elsewhere.
//
// A value that disclosure control suppressed (see report.Suppress) has no
// number: it is drawn as an empty bar or a gap in the line, labelled with
// its Text ("<5"), and written as that text in the table and the CSV, so a
// reader never sees a number that was not published.
package chart

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// Point is one published value: Value when Suppressed is false, else Text
// ("<5") stands for it.
type Point struct {
	Label      string
	Value      float64
	Suppressed bool
	Text       string
}

// Series is a named sequence of points; the series of a chart share their
// labels, in order.
type Series struct {
	Name   string
	Points []Point
}

// Chart is what is drawn: a title, the unit of the values ("patients",
// "%") and one or more series.
type Chart struct {
	Title  string
	Unit   string
	Series []Series
}

// The drawing's coordinate system; the SVG scales to its container.
const (
	width, height      = 640.0, 320.0
	left, right        = 56.0, 16.0
	top, bottom        = 56.0, 64.0
	plotW, plotH       = width - left - right, height - top - bottom
	ticks              = 4
	suppressedBarRatio = 0.04 // an empty bar's outline height, as a share of the plot
)

// palette is distinguishable in colour and in greyscale print.
var palette = []string{"#005eb8", "#ffb81c", "#007f3b", "#330072", "#d5281b"}

// Bar draws c as grouped vertical bars, one group per label.
func Bar(c Chart) []byte {
	var b bytes.Buffer
	max := scaleMax(c)
	open(&b, c)
	axes(&b, max, c.Unit)
	labels := labelsOf(c)
	n := max1(len(labels))
	groupW := plotW / float64(n)
	barW := groupW * 0.8 / float64(max1(len(c.Series)))
	for si, s := range c.Series {
		for i, p := range s.Points {
			x := left + float64(i)*groupW + groupW*0.1 + float64(si)*barW
			if p.Suppressed {
				h := plotH * suppressedBarRatio
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="%s" stroke-dasharray="3 2"><title>%s</title></rect>`,
					x, top+plotH-h, barW, h, palette[si%len(palette)], esc(s.Name+", "+p.Label+": "+p.Text))
				text(&b, x+barW/2, top+plotH-h-4, "middle", 11, p.Text)
				continue
			}
			h := plotH * p.Value / max
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
				x, top+plotH-h, barW, h, palette[si%len(palette)], esc(s.Name+", "+p.Label+": "+format(p.Value)))
		}
	}
	xLabels(&b, labels, groupW)
	legend(&b, c)
	b.WriteString("</svg>")
	return b.Bytes()
}

// Line draws c as lines over the labels (months, say); a suppressed point
// breaks the line and is marked with its text.
func Line(c Chart) []byte {
	var b bytes.Buffer
	max := scaleMax(c)
	open(&b, c)
	axes(&b, max, c.Unit)
	labels := labelsOf(c)
	n := max1(len(labels))
	step := plotW / float64(n)
	for si, s := range c.Series {
		colour := palette[si%len(palette)]
		var path strings.Builder
		pen := false
		for i, p := range s.Points {
			x := left + step*(float64(i)+0.5)
			if p.Suppressed {
				pen = false
				text(&b, x, top+plotH-6, "middle", 11, p.Text)
				continue
			}
			y := top + plotH - plotH*p.Value/max
			if pen {
				fmt.Fprintf(&path, " L%.1f %.1f", x, y)
			} else {
				fmt.Fprintf(&path, " M%.1f %.1f", x, y)
				pen = true
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s</title></circle>`, x, y, colour, esc(s.Name+", "+p.Label+": "+format(p.Value)))
		}
		if path.Len() > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.TrimSpace(path.String()), colour)
		}
	}
	xLabels(&b, labels, step)
	legend(&b, c)
	b.WriteString("</svg>")
	return b.Bytes()
}

func open(b *bytes.Buffer, c Chart) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="%s" font-family="Arial, sans-serif">`,
		width, height, esc(c.Title))
	fmt.Fprintf(b, `<title>%s</title>`, esc(c.Title))
	text(b, left, 20, "start", 16, c.Title)
}

// axes draws the value axis with its ticks and grid lines.
func axes(b *bytes.Buffer, max float64, unit string) {
	for i := 0; i <= ticks; i++ {
		v := max * float64(i) / ticks
		y := top + plotH - plotH*float64(i)/ticks
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d8dde0"/>`, left, y, width-right, y)
		text(b, left-6, y+4, "end", 11, format(v))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#425563"/>`, left, top+plotH, width-right, top+plotH)
	if unit != "" {
		fmt.Fprintf(b, `<text x="12" y="%.1f" font-size="11" fill="#425563" transform="rotate(-90 12 %.1f)" text-anchor="middle">%s</text>`,
			top+plotH/2, top+plotH/2, esc(unit))
	}
}

func xLabels(b *bytes.Buffer, labels []string, step float64) {
	// Long or many labels are turned, so that they never overlap.
	turn := len(labels) > 6
	for i, l := range labels {
		x := left + step*(float64(i)+0.5)
		y := top + plotH + 16
		if turn {
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" fill="#212b32" text-anchor="end" transform="rotate(-40 %.1f %.1f)">%s</text>`, x, y, x, y, esc(l))
			continue
		}
		text(b, x, y, "middle", 11, l)
	}
}

// legend is a row under the title, so that a long title never runs into
// it.
func legend(b *bytes.Buffer, c Chart) {
	if len(c.Series) < 2 {
		return
	}
	x := left
	for si, s := range c.Series {
		fmt.Fprintf(b, `<rect x="%.1f" y="29" width="10" height="10" fill="%s"/>`, x, palette[si%len(palette)])
		text(b, x+14, 38, "start", 12, s.Name)
		x += float64(len(s.Name))*7 + 32
	}
}

func text(b *bytes.Buffer, x, y float64, anchor string, size int, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="%d" fill="#212b32" text-anchor="%s">%s</text>`, x, y, size, anchor, esc(s))
}

// scaleMax is a round value above every published value (1 when none).
func scaleMax(c Chart) float64 {
	m := 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !p.Suppressed && p.Value > m {
				m = p.Value
			}
		}
	}
	if m <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(m)))
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if f*mag >= m {
			return f * mag
		}
	}
	return 10 * mag
}

func labelsOf(c Chart) []string {
	var out []string
	for _, s := range c.Series {
		if len(s.Points) > len(out) {
			out = out[:0]
			for _, p := range s.Points {
				out = append(out, p.Label)
			}
		}
	}
	return out
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

func format(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// published is a point as the table and CSV show it.
func published(p Point) string {
	if p.Suppressed {
		return p.Text
	}
	return format(p.Value)
}

var tableTmpl = template.Must(template.New("t").Parse(
	`<table class="nhsuk-table"><caption>{{.Title}}</caption><thead><tr><th scope="col"></th>{{range .Series}}<th scope="col">{{.}}</th>{{end}}</tr></thead>` +
		`<tbody>{{range .Rows}}<tr><th scope="row">{{.Label}}</th>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>{{end}}</tbody></table>`))

// Table is the chart's numbers as an HTML table (labels down, series
// across), escaped.
func Table(c Chart) template.HTML {
	type row struct {
		Label string
		Cells []string
	}
	data := struct {
		Title  string
		Series []string
		Rows   []row
	}{Title: c.Title}
	for _, s := range c.Series {
		data.Series = append(data.Series, s.Name)
	}
	for i, l := range labelsOf(c) {
		r := row{Label: l}
		for _, s := range c.Series {
			cell := ""
			if i < len(s.Points) {
				cell = published(s.Points[i])
			}
			r.Cells = append(r.Cells, cell)
		}
		data.Rows = append(data.Rows, r)
	}
	var b bytes.Buffer
	if err := tableTmpl.Execute(&b, data); err != nil {
		panic(err) // our template over strings: a failure is a bug
	}
	return template.HTML(b.String())
}

// CSV writes the chart's numbers: a header of "label" and the series
// names, then one row per label. A cell that starts like a formula is
// prefixed with an apostrophe, so a spreadsheet shows it rather than
// running it.
func CSV(w io.Writer, c Chart) error {
	cw := csv.NewWriter(w)
	head := []string{"label"}
	for _, s := range c.Series {
		head = append(head, safeCell(s.Name))
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	for i, l := range labelsOf(c) {
		row := []string{safeCell(l)}
		for _, s := range c.Series {
			cell := ""
			if i < len(s.Points) {
				cell = published(s.Points[i])
			}
			row = append(row, safeCell(cell))
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
