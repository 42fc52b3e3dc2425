package search

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestExtractExamples extracts every official R4 example of the served types
// (../shared/fhir-r4-examples, or $FHIR_R4_EXAMPLES): no expression may fail
// on real-world shaped data. It skips when the folder is absent.
func TestExtractExamples(t *testing.T) {
	dir := os.Getenv("FHIR_EXAMPLES")
	if dir == "" {
		t.Skip("FHIR_EXAMPLES is not set: set it to a folder of FHIR R4 JSON examples (../shared/fhir-r4-examples)")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Skipf("no examples in %s", dir)
	}
	r := MustRegistry(t)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res := MustResource(t, string(b))
		if typ, _ := res["resourceType"].(string); !r.knownType(typ) {
			continue
		}
		es, patients, err := r.Extract(res)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		// Patients is the compartment part of Extract alone: same answer.
		if got, err := r.Patients(res); err != nil || !slices.Equal(got, patients) {
			t.Errorf("%s: Patients = %v, %v; Extract's patients = %v", filepath.Base(f), got, err, patients)
		}
		if len(es) == 0 && res["resourceType"] != "Binary" {
			t.Errorf("%s: no entries", filepath.Base(f))
		}
	}
}
