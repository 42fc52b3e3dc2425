package validate_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ucp/fhir/resource"
	"ucp/fhir/validate"
)

// coreDir is the official R4 definitions folder, read (never copied) by
// tests that exercise real profiles. Tests skip when it is absent.
func coreDir(t *testing.T) string {
	dir := os.Getenv("FHIR_CORE")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "fhir-r4-core")
	}
	if _, err := os.Stat(filepath.Join(dir, "StructureDefinition-vitalsigns.json")); err != nil {
		t.Skip("official R4 definitions not found (set FHIR_CORE)")
	}
	return dir
}

func mustParseFile(t testing.TB, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := resource.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return res
}

// TestVitalSignsProfiles validates the official vital-signs examples against
// the official vital-signs profiles (snapshot and differential, category
// sliced by pattern, component slicing, fixed codes, derived profiles).
func TestVitalSignsProfiles(t *testing.T) {
	core := coreDir(t)
	examples := os.Getenv("FHIR_EXAMPLES")
	if examples == "" {
		t.Skip("FHIR_EXAMPLES is not set")
	}
	names := []string{"vitalsigns", "bp", "bmi", "bodyheight", "bodytemp", "bodyweight", "headcircum",
		"heartrate", "oxygensat", "resprate", "vitalspanel"}
	var sds []map[string]any
	for _, n := range names {
		sds = append(sds, mustParseFile(t, filepath.Join(core, "StructureDefinition-"+n+".json")))
	}
	v := validate.New(validate.Options{Profiles: validate.NewProfileMap(sds...)})
	files, _ := filepath.Glob(filepath.Join(examples, "Observation-*.json"))
	n := 0
	for _, f := range files {
		res := mustParseFile(t, f)
		meta, _ := res["meta"].(map[string]any)
		if meta["profile"] == nil {
			continue
		}
		n++
		for _, is := range v.Validate(context.Background(), res) {
			if is.Severity == validate.SeverityError && !strings.Contains(is.Message, "dom-6") {
				t.Errorf("%s: %s", filepath.Base(f), is)
			}
		}
	}
	if n == 0 {
		t.Fatal("no profiled examples found")
	}
	t.Logf("validated %d profiled Observation examples", n)

	// A blood pressure without its systolic component breaks the bp profile.
	bp := mustParseFile(t, filepath.Join(examples, "Observation-blood-pressure.json"))
	comps := bp["component"].([]any)
	bp["component"] = comps[1:]
	issues := v.Validate(context.Background(), bp, "http://hl7.org/fhir/StructureDefinition/bp")
	t.Log(issues)
	if !hasIssue(issues, "required", "Observation.component") {
		t.Errorf("want a required issue at Observation.component, got %v", issues)
	}
}
