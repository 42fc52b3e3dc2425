package rest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestRoundTrip proves principle 1 of DESIGN.md: what a client GETs back is
// what it sent, except id and meta.versionId/meta.lastUpdated, for
// hand-made edge cases (testdata/roundtrip) and, when FHIR_EXAMPLES names
// the folder, every official R4 example.
func TestRoundTrip(t *testing.T) {
	ts := mustServer(t)
	files, _ := filepath.Glob("testdata/roundtrip/*.json")
	if len(files) == 0 {
		t.Fatal("no testdata/roundtrip files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { roundTrip(t, ts, f) })
	}
	dir := os.Getenv("FHIR_EXAMPLES")
	if dir == "" {
		t.Log("FHIR_EXAMPLES unset: official examples skipped")
		return
	}
	ex, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(ex) == 0 {
		t.Fatalf("no examples in FHIR_EXAMPLES=%s", dir)
	}
	for _, f := range ex {
		t.Run(filepath.Base(f), func(t *testing.T) { roundTrip(t, ts, f) })
	}
}

func roundTrip(t *testing.T, ts *testServer, file string) {
	sent, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := mustDecode(t, sent)
	typ := str(want["resourceType"])
	r := ts.do(t, "POST", "/"+typ, string(sent))
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := str(r.JSON(t)["id"])
	got := ts.do(t, "GET", "/"+typ+"/"+id).want(t, http.StatusOK).JSON(t)
	stripServerFields(want)
	stripServerFields(got)
	if !reflect.DeepEqual(want, got) {
		w, _ := json.MarshalIndent(want, "", " ")
		g, _ := json.MarshalIndent(got, "", " ")
		t.Errorf("round trip differs:\n%s", lineDiff(string(w), string(g)))
	}
	// Decimals keep their written form byte for byte, not just their value.
	for _, lit := range decimalLiterals(sent) {
		if !regexp.MustCompile(`[:,\[]` + regexp.QuoteMeta(lit) + `[,\]}]`).Match(r.Body) {
			t.Errorf("decimal %s not kept as written", lit)
		}
	}
}

func stripServerFields(m map[string]any) {
	delete(m, "id")
	if meta, ok := m["meta"].(map[string]any); ok {
		delete(meta, "versionId")
		delete(meta, "lastUpdated")
		if len(meta) == 0 {
			delete(m, "meta")
		}
	}
}

// decimalLiterals returns the number literals with a fraction or exponent.
func decimalLiterals(b []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []string
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		if n, ok := tok.(json.Number); ok && strings.ContainsAny(string(n), ".eE") {
			out = append(out, string(n))
		}
	}
}

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var sb strings.Builder
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			fmt.Fprintf(&sb, "line %d\n-want %s\n+got  %s\n", i+1, x, y)
			if sb.Len() > 2000 {
				break
			}
		}
	}
	return sb.String()
}
