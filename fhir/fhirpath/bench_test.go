package fhirpath

import "testing"

// Expressions of R4 search parameters on CarePlan and Patient.
var searchExprs = []string{
	"CarePlan.subject.where(resolve() is Patient)",
	"Patient.name.given | Patient.name.family",
	"CarePlan.status",
	"CarePlan.category",
	"CarePlan.period",
	"CarePlan.activity.detail.code",
	"CarePlan.activity.detail.scheduled",
	"CarePlan.instantiatesCanonical",
	"Patient.identifier",
	"Patient.birthDate",
	"Patient.telecom.where(system='phone')",
	"Patient.deceased.exists() and Patient.deceased != false",
	"Patient.name",
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range searchExprs {
			if _, err := Compile(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	resources := map[string]map[string]any{
		"CarePlan": mustLoad(b, "careplan.json"),
		"Patient":  mustLoad(b, "patient.json"),
	}
	for _, s := range searchExprs {
		e := MustCompile(s)
		res := resources["CarePlan"]
		if s[0] == 'P' {
			res = resources["Patient"]
		}
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Evaluate(res, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
