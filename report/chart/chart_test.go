package chart_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/report/chart"
)

var sample = chart.Chart{
	Title: "Died in the preferred place, by practice <script>alert(1)</script>",
	Unit:  "%",
	Series: []chart.Series{
		{Name: "With a plan", Points: []chart.Point{{Label: "F83004", Value: 75}, {Label: "F83010", Suppressed: true, Text: "<5"}, {Label: "=cmd", Value: 12.5}}},
		{Name: "Without", Points: []chart.Point{{Label: "F83004", Value: 40}, {Label: "F83010", Value: 20}, {Label: "=cmd", Value: 0}}},
	},
}

// svgElements parses an SVG and counts its elements by name; a document
// that is not well-formed XML fails the test.
func svgElements(t *testing.T, svg []byte) map[string]int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	counts := map[string]int{}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return counts
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
}

func TestBar(t *testing.T) {
	svg := chart.Bar(sample)
	got := svgElements(t, svg)
	// 6 bars (one empty, suppressed), and 2 legend keys.
	if got["rect"] != 8 || got["svg"] != 1 {
		t.Errorf("elements %v, want 8 rect (6 bars, 2 legend keys) in one svg", got)
	}
	s := string(svg)
	for _, want := range []string{"&lt;script&gt;", "&lt;5", `stroke-dasharray`} {
		if !strings.Contains(s, want) {
			t.Errorf("bar chart lacks %q", want)
		}
	}
	if strings.Contains(s, "<script") {
		t.Error("a label reached the SVG unescaped")
	}
}

func TestLine(t *testing.T) {
	svg := chart.Line(sample)
	got := svgElements(t, svg)
	// The suppressed point breaks the first line: 2 circles there, 3 in
	// the second; each series one path.
	if got["circle"] != 5 || got["path"] != 2 {
		t.Errorf("elements %v, want 5 circles and 2 paths", got)
	}
	if !strings.Contains(string(svg), "&lt;5") {
		t.Error("the suppressed point is not labelled")
	}
}

func TestEmptyChart(t *testing.T) {
	for _, svg := range [][]byte{chart.Bar(chart.Chart{Title: "Nothing"}), chart.Line(chart.Chart{Title: "Nothing"})} {
		svgElements(t, svg)
	}
}

func TestCSV(t *testing.T) {
	var b bytes.Buffer
	if err := chart.CSV(&b, sample); err != nil {
		t.Fatal(err)
	}
	want := "label,With a plan,Without\nF83004,75,40\nF83010,<5,20\n'=cmd,12.5,0\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}
}

func TestTable(t *testing.T) {
	got := string(chart.Table(sample))
	for _, want := range []string{"<caption>Died in the preferred place, by practice &lt;script&gt;", "<th scope=\"row\">F83010</th><td>&lt;5</td><td>20</td>"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}
