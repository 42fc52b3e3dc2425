package fhirpath

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSharedPrefixUnion checks that A.b.c | A.b.d, compiled to evaluate A.b
// once, answers exactly what the general union does.
func TestSharedPrefixUnion(t *testing.T) {
	dec := json.NewDecoder(strings.NewReader(`{"resourceType":"Patient","name":[
		{"family":"Smith","given":["Ann","Smith"]},{"family":"Jones","given":["Ann"]}]}`))
	dec.UseNumber()
	var pat map[string]any
	if err := dec.Decode(&pat); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ shared, general string }{
		{"Patient.name.given | Patient.name.family", "Patient.name.given.union(Patient.name.family)"},
		{"Patient.name.given | Patient.name.given", "Patient.name.given.union(Patient.name.given)"},
		{"name.family | name.given", "name.family.union(name.given)"},
	}
	for _, tt := range tests {
		e := MustCompile(tt.shared)
		if _, ok := e.root.(*sharedPrefixUnion); !ok {
			t.Errorf("%s: not compiled to a shared-prefix union (%T)", tt.shared, e.root)
		}
		got, err := e.Evaluate(pat, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := MustCompile(tt.general)
		if _, ok := g.root.(*sharedPrefixUnion); ok {
			t.Fatalf("%s: the reference form was compiled to the shared-prefix union too", tt.general)
		}
		want, err := g.Evaluate(pat, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d items, want %d", tt.shared, len(got), len(want))
		}
		for i := range got {
			if got[i].Data() != want[i].Data() {
				t.Errorf("%s: item %d = %v, want %v", tt.shared, i, got[i].Data(), want[i].Data())
			}
		}
	}
}
