package search

import (
	"context"
	"net/url"
	"testing"

	"ucp/fhir/outcome"
)

func kindedErr(err error) *outcome.Error { return outcome.AsError(err) }

func benchmarkExtract(b *testing.B, js string) {
	r := MustRegistry(b)
	res := MustResource(b, js)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Extract(res); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExtractCarePlan(b *testing.B) { benchmarkExtract(b, carePlanJSON) }
func BenchmarkExtractPatient(b *testing.B)  { benchmarkExtract(b, patientJSON) }

func BenchmarkParseHotPath(b *testing.B) {
	r := MustRegistry(b)
	q, _ := url.ParseQuery("subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009&status=active&_include=CarePlan:subject&_include=CarePlan:care-team")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Parse(context.Background(), "CarePlan", q, true); err != nil {
			b.Fatal(err)
		}
	}
}
