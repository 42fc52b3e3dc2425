package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"ucp/fhir/outcome"
	"ucp/fhir/rest"
	"ucp/fhir/service"
	"ucp/store"
)

// hideByFamily hides the Patients and CarePlans whose JSON names a hidden
// family, as the care-plan rules hide withdrawn plans. It says it may hide
// only the types in mayHide, and counts the probes (AllowRead calls made
// only to count) and the AllowRead calls made for versions it returns.
type hideByFamily struct {
	mayHide []string
	mu      sync.Mutex
	probes  int
	reads   int
}

func (h *hideByFamily) AllowRead(_ context.Context, v *store.Version, purpose service.Purpose, _ *service.Call) error {
	h.mu.Lock()
	if purpose == service.Count {
		h.probes++
	} else {
		h.reads++
	}
	h.mu.Unlock()
	if strings.Contains(string(v.JSON), "Hidden") {
		return outcome.Errorf(outcome.NotFound, "%s/%s is not shared", v.Type, v.ID)
	}
	return nil
}

func (h *hideByFamily) MayHide(_ context.Context, typ string) bool {
	for _, t := range h.mayHide {
		if t == typ {
			return true
		}
	}
	return false
}

func (h *hideByFamily) counts() (probes, reads int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.probes, h.reads
}

// A search's total counts only what the caller may see: a total that
// counts hidden matches tells the caller something is hidden, and a crew
// shown "total": 1 with no plan in the bundle does not know what to do.
func TestTotalCountsWhatTheCallerSees(t *testing.T) {
	h := &hideByFamily{mayHide: []string{"Patient"}}
	ts := mustServer(t, func(c *rest.Config) { c.ReadInterceptor = h })
	patient := func(family string) string {
		return `{"resourceType":"Patient","gender":"female","name":[{"family":"` + family + `"}]}`
	}
	for _, f := range []string{"Shown", "Hidden", "Shown", "Hidden", "Shown"} {
		ts.create(t, patient(f))
	}
	// Five female patients, two of them hidden.
	tests := []struct {
		name, query string
		total       int // -1: left out
		entries     int
	}{
		{"one page", "/Patient?gender=female", 3, 3},
		{"one page, _total=accurate", "/Patient?gender=female&_total=accurate", 3, 3},
		{"first of several pages", "/Patient?gender=female&_count=2", 3, -1},
		{"_summary=count", "/Patient?gender=female&_summary=count", 3, 0},
		{"_total=none", "/Patient?gender=female&_total=none", -1, 3},
		{"nothing hidden", "/Patient?family=Shown", 3, 3},
		{"everything hidden", "/Patient?family=Hidden", 0, 0},
		{"no matches", "/Patient?family=Nobody&_summary=count", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := ts.do(t, "GET", tc.query).want(t, http.StatusOK).JSON(t)
			got := -1
			if n, ok := b["total"].(json.Number); ok {
				v, _ := n.Int64()
				got = int(v)
			}
			if got != tc.total {
				t.Errorf("total = %d, want %d (-1: left out)", got, tc.total)
			}
			if es, _ := b["entry"].([]any); tc.entries >= 0 && len(es) != tc.entries {
				t.Errorf("%d entries, want %d", len(es), tc.entries)
			}
		})
	}

	// Every page of a paged search gives the same total, and the pages
	// together show each visible match once.
	next, seen := "/Patient?gender=female&_count=2", 0
	for next != "" {
		b := ts.do(t, "GET", next).want(t, http.StatusOK).JSON(t)
		if n, _ := b["total"].(json.Number).Int64(); n != 3 {
			t.Errorf("page %s: total %d, want 3", next, n)
		}
		es, _ := b["entry"].([]any)
		seen += len(es)
		next = ""
		for _, l := range b["link"].([]any) {
			if l := l.(map[string]any); l["relation"] == "next" {
				next = l["url"].(string)
			}
		}
	}
	if seen != 3 {
		t.Errorf("the pages showed %d patients, want 3", seen)
	}

	// A type the interceptor never hides is counted by the store alone: no
	// probes.
	ts.create(t, `{"resourceType":"Practitioner","name":[{"family":"Seen"}]}`)
	before, _ := h.counts()
	if n := ts.total(t, "/Practitioner?_summary=count"); n != 1 {
		t.Errorf("Practitioner count = %d, want 1", n)
	}
	if after, _ := h.counts(); after != before {
		t.Errorf("%d probes for a type the interceptor never hides", after-before)
	}
	// Across types, only those that may be hidden are checked: the five
	// Patients, not the Practitioner.
	before, _ = h.counts()
	if n := ts.total(t, "/?_type=Patient,Practitioner&_count=2"); n != 4 {
		t.Errorf("Patient and Practitioner total = %d, want 4", n)
	}
	if after, _ := h.counts(); after-before != 5 {
		t.Errorf("%d probes across Patient and Practitioner, want 5 (the Patients)", after-before)
	}
}

// Past maxRecount matches, a total that would have to check each one is
// left out rather than given wrong.
func TestTotalLeftOutWhenTooManyToCheck(t *testing.T) {
	h := &hideByFamily{mayHide: []string{"Patient"}}
	ts := mustServer(t, func(c *rest.Config) { c.ReadInterceptor = h })
	for start := 0; start < 1001; start += 500 { // a bundle holds at most 1,000
		var entries []string
		for i := start; i < min(start+500, 1001); i++ {
			entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Patient","gender":"male","name":[{"family":"Many%d"}]},"request":{"method":"POST","url":"Patient"}}`, i))
		}
		ts.do(t, "POST", "/", `{"resourceType":"Bundle","type":"batch","entry":[`+strings.Join(entries, ",")+`]}`).want(t, http.StatusOK)
	}
	b := ts.do(t, "GET", "/Patient?gender=male&_count=10").want(t, http.StatusOK).JSON(t)
	if tot, ok := b["total"]; ok {
		t.Errorf("total %v over 1,001 matches that may be hidden; want it left out", tot)
	}
	if es, _ := b["entry"].([]any); len(es) != 10 {
		t.Errorf("%d entries, want 10", len(es))
	}
	// One page holds all of at most 1,000: the total is exact again.
	if n := ts.total(t, "/Patient?gender=male&name=Many1&_count=1000"); n != 112 {
		t.Errorf("Many1… total = %d, want 112", n) // Many1, Many10–19, Many100–199, Many1000
	}
}
