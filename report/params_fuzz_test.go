package report

import (
	"net/url"
	"testing"

	"ucp/fhir/service"
)

// FuzzParams: any query is accepted as a period of whole days, at most ten
// years long, or refused with an outcome error; never a panic.
func FuzzParams(f *testing.F) {
	for _, s := range []string{
		"periodStart=2026-01-01&periodEnd=2026-03-31",
		"periodStart=2026-01-01&periodEnd=2026-03-31&subject=Organization/x&reportType=summary",
		"periodStart=2026-13-01&periodEnd=2026-03-31", "periodStart=&periodEnd=", "subject=Patient/1", "%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		in, err := params(&service.OperationRequest{Name: "evaluate-measure", ID: "ucp-uptake", Query: q})
		if err != nil {
			return
		}
		if !in.period.from.Before(in.period.to) || in.period.to.Sub(in.period.from) > maxPeriod {
			t.Errorf("%q: accepted the period %v to %v", s, in.period.from, in.period.to)
		}
		if in.org != "" && q.Get("subject") != "Organization/"+in.org {
			t.Errorf("%q: subject read as Organization/%s", s, in.org)
		}
	})
}
