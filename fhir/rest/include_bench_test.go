package rest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkUrgentQuery is the urgent-care round trip through the REST layer
// and SQLite: a patient's active plan by NHS number with its patient and
// goals included and its provenance reverse-included.
func BenchmarkUrgentQuery(b *testing.B) {
	ts := mustServer(b)
	const n = 300
	for i := range n {
		p := ts.create(b, patientWith(fmt.Sprintf("8%09d", i)))
		g1 := ts.create(b, `{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"comfort"},"subject":{"reference":"Patient/`+p+`"}}`)
		g2 := ts.create(b, `{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"home"},"subject":{"reference":"Patient/`+p+`"}}`)
		cp := ts.create(b, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p+`"},"goal":[{"reference":"Goal/`+g1+`"},{"reference":"Goal/`+g2+`"}]}`)
		ts.create(b, `{"resourceType":"Provenance","target":[{"reference":"CarePlan/`+cp+`"}],"recorded":"2024-01-01T00:00:00Z","agent":[{"who":{"display":"Dr A"}}]}`)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		q := fmt.Sprintf("/fhir/CarePlan?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|8%09d&status=active"+
			"&_include=CarePlan:subject&_include=CarePlan:goal&_revinclude=Provenance:target", i%n)
		rec := serve(b, ts, "GET", q, "")
		if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `"fullUrl"`) != 5 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
