package search

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExtractExamples extracts every official R4 example of the served types
// (../shared/fhir-r4-examples, or $FHIR_R4_EXAMPLES): no expression may fail
// on real-world shaped data. It skips when the folder is absent.
func TestExtractExamples(t *testing.T) {
	dir := os.Getenv("FHIR_R4_EXAMPLES")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "fhir-r4-examples")
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
		es, _, err := r.Extract(res)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if len(es) == 0 && res["resourceType"] != "Binary" {
			t.Errorf("%s: no entries", filepath.Base(f))
		}
	}
}
