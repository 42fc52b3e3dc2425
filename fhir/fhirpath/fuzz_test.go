package fhirpath

import (
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, s := range append(searchExprs,
		"Patient.name.where(use = 'official').given.first()",
		"(1.2 / 1.8).round(2) = 0.67",
		"@2012-04-15T15:00:00+02:00 = @2012-04-15T16:00:00+03:00",
		"4 'g' ~ 4000 'mg' and 7 days = 1 week",
		"Patient.children().ofType(FHIR.HumanName).select(given.join(' ') & ' ' & family)",
		"iif(%resource.active, 'y', 'n').toChars().aggregate($this + $total, '')",
		"`name`.`given`[0] // comment\n /* block */",
		"-(3).abs() | {} | true xor false implies 1 in (1 | 2)",
		"'\\u0041\\'x'.matches('[A-Z]+') and %`vs-x`.exists()",
		"Bundle.entry.resource.descendants().repeat(children()).count()",
	) {
		f.Add(s)
	}
	pt := map[string]any{"resourceType": "Patient", "id": "1", "active": true,
		"name": []any{map[string]any{"given": []any{"A", "B"}, "family": "C"}}}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Compile(s)
		if err != nil {
			return
		}
		if e.String() != s {
			t.Fatalf("String() = %q", e.String())
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.Evaluate(pt, &Env{Now: func() time.Time { return time.Unix(0, 0) }})
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("evaluation of %q did not finish", s)
		}
	})
}
