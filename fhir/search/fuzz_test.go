package search

import (
	"context"
	"net/url"
	"testing"
)

// FuzzParse checks that no query string makes Parse panic, and that every
// error is a *outcome.Error.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009&status=active&_include=CarePlan:subject",
		"date=ap2024-03&_sort=-date&_count=10", "subject:Patient.name:exact=a\\,b", "_has:CarePlan:subject:_has:Provenance:target:agent=Practitioner/1",
		"value-quantity=ge1e2|http://unitsofmeasure.org|mg", "_lastUpdated=2024-03-05T10:00:00.123+01:00", "a\\", "_include:iterate=*",
	} {
		f.Add("CarePlan", s)
	}
	r, err := NewRegistry()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, typ, q string) {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		for _, strict := range []bool{false, true} {
			for _, tp := range []string{"CarePlan", "Patient", "Observation", "", typ} {
				if _, err := r.Parse(context.Background(), tp, vals, strict); err != nil && kindedErr(err) == nil {
					t.Fatalf("Parse(%q, %q): error %v is not a *outcome.Error", tp, q, err)
				}
			}
		}
		r.ParseCondition(context.Background(), "Patient", q)
	})
}
