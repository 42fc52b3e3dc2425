package rest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"ucp/fhir/search"
)

// values returns n comma-separated values made by f, with extra appended.
func values(n int, f func(i int) string, extra ...string) string {
	vs := make([]string, 0, n+len(extra))
	for i := range n {
		vs = append(vs, f(i))
	}
	return strings.Join(append(vs, extra...), ",")
}

// repeated returns key=value n times, &-joined.
func repeated(n int, kv string) string {
	return strings.TrimSuffix(strings.Repeat(kv+"&", n), "&")
}

// TestSearchLimits: searches up to the stated limits run and answer
// correctly; beyond them they are refused with a 400 naming the limit,
// never a 500 from the database.
func TestSearchLimits(t *testing.T) {
	// The largest searches here are at the limits on purpose; under the
	// race detector on a small machine they take longer than the default
	// deadline, which is not what this test is about (TestSearchTimeout is).
	ts := mustServer(t, func(c *restConfig) { c.SearchTimeout = 5 * time.Minute })
	var ids []string
	for i := range 3 {
		ids = append(ids, ts.create(t, strings.Replace(patientWith(fmt.Sprintf("90000005%02d", i)), "Smith", fmt.Sprintf("Limit%d", i), 1)))
	}
	ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+ids[1]+`"}}`)
	name := func(i int) string { return fmt.Sprintf("n%d", i) }
	nhs := func(i int) string { return fmt.Sprintf("https://fhir.nhs.uk/Id/nhs-number|91%08d", i) }
	fakeID := func(i int) string { return fmt.Sprintf("no-such-id-%d", i) }
	for _, tc := range []struct {
		name, query string
		status      int
		total       int    // for 200
		mention     string // for 400
	}{
		{"names at the limit", "/Patient?name=" + values(search.MaxValues-2, name, "limit1", "limit2"), 200, 2, ""},
		{"names over the limit", "/Patient?name=" + values(search.MaxValues+1, name), 400, 0, fmt.Sprint(search.MaxValues)},
		{"600 names", "/Patient?name=" + values(600, name), 400, 0, fmt.Sprint(search.MaxValues)},
		{"names in a chain over the limit", "/CarePlan?subject:Patient.name=" + values(search.MaxValues+1, name), 400, 0, fmt.Sprint(search.MaxValues)},
		{"NHS numbers at the limit", "/CarePlan?status=active&subject:identifier=" + values(search.MaxValues-1, nhs, "https://fhir.nhs.uk/Id/nhs-number|9000000501"), 200, 1, ""},
		{"ids at the limit", "/Patient?_id=" + values(search.MaxIDValues-2, fakeID, ids[0], ids[2]), 200, 2, ""},
		{"ids at the limit, with another criterion", "/Patient?gender=female&_id=" + values(search.MaxIDValues-2, fakeID, ids[0], ids[2]), 200, 2, ""},
		{"ids at the limit, negated by another", "/Patient?_id:missing=false&_id=" + values(search.MaxIDValues-1, fakeID, ids[1]), 200, 1, ""},
		{"ids over the limit", "/Patient?_id=" + values(search.MaxIDValues+1, fakeID), 400, 0, fmt.Sprint(search.MaxIDValues)},
		{"parameters at the limit", "/Patient?" + repeated(search.MaxParams-1, "gender=female") + "&family=limit1", 200, 1, ""},
		{"parameters over the limit", "/Patient?" + repeated(search.MaxParams+1, "gender=female"), 400, 0, fmt.Sprint(search.MaxParams)},
		{"1000 parameters", "/Patient?" + repeated(1000, "family=limit"), 400, 0, fmt.Sprint(search.MaxParams)},
		{"every parameter at its value limit", "/Patient?" + repeated(search.MaxParams, "name="+values(search.MaxValues-1, name, "limit0")), 400, 0, fmt.Sprint(search.MaxTotalValues)},
		{"values at the total limit", "/Patient?" + repeated(search.MaxTotalValues/search.MaxValues, "name="+values(search.MaxValues-1, name, "limit0")), 200, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, method := range []string{"GET", "POST"} {
				var r *resp
				if method == "GET" {
					r = ts.do(t, "GET", tc.query)
				} else {
					p, q, _ := strings.Cut(tc.query, "?")
					r = ts.do(t, "POST", p+"/_search", q, "Content-Type: application/x-www-form-urlencoded")
				}
				r.want(t, tc.status)
				b := r.JSON(t)
				if tc.status == 200 && b["total"] != jsonNum(tc.total) {
					t.Errorf("%s: total %v, want %d", method, b["total"], tc.total)
				}
				if tc.mention != "" && !strings.Contains(string(r.Body), tc.mention) {
					t.Errorf("%s: error does not name the limit %s: %s", method, tc.mention, r.Body)
				}
			}
		})
	}

	doc := str(path(ts.do(t, "GET", "/metadata").want(t, 200).JSON(t), "rest.0.documentation"))
	for _, n := range []int{search.MaxValues, search.MaxIDValues, search.MaxParams, search.MaxTotalValues} {
		if !strings.Contains(doc, fmt.Sprint(n)) {
			t.Errorf("CapabilityStatement rest.documentation does not state the limit %d: %q", n, doc)
		}
	}
}
