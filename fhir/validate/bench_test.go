package validate_test

import (
	"context"
	"path/filepath"
	"testing"

	"ucp/fhir/validate"
)

func benchmarkValidate(b *testing.B, file string, withProfile bool) {
	res := mustParseFile(b, filepath.Join("testdata", file))
	v := validate.New(validate.Options{})
	if withProfile {
		v = testValidator(b)
	} else {
		delete(res, "meta")
	}
	ctx := context.Background()
	if issues := v.Validate(ctx, res); validate.HasErrors(issues) {
		b.Fatalf("fixture has errors: %v", issues)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v.Validate(ctx, res)
	}
}

func BenchmarkValidatePatient(b *testing.B)  { benchmarkValidate(b, "Patient-valid.json", false) }
func BenchmarkValidateCarePlan(b *testing.B) { benchmarkValidate(b, "CarePlan-valid.json", false) }

// The same resources against their UCP profiles (base structure included).
func BenchmarkValidatePatientProfile(b *testing.B) { benchmarkValidate(b, "Patient-valid.json", true) }
func BenchmarkValidateCarePlanProfile(b *testing.B) {
	benchmarkValidate(b, "CarePlan-valid.json", true)
}
