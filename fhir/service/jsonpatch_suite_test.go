package service

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/store"
)

// TestJSONPatchSuite runs the HL7 copy of the RFC 6902 test cases
// ($PATCH_TESTS/json-patch-tests.json) through the server's JSON Patch path.
// Each document is given a resourceType and id (which no case touches) so it
// is a resource as PATCH needs.
func TestJSONPatchSuite(t *testing.T) {
	dir := os.Getenv("PATCH_TESTS")
	if dir == "" {
		t.Skip("PATCH_TESTS is not set: set it to the folder of the HL7 patch test cases (../shared/patch-tests)")
	}
	data, err := os.ReadFile(filepath.Join(dir, "json-patch-tests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Comment  string          `json:"comment"`
		Doc      map[string]any  `json:"doc"`
		Patch    json.RawMessage `json:"patch"`
		Expected map[string]any  `json:"expected"`
		Error    string          `json:"error"`
		Disabled bool            `json:"disabled"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	asResource := func(m map[string]any) map[string]any {
		out := map[string]any{"resourceType": "Basic", "id": "x"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	// normal compares through encoding/json so number types do not matter.
	normal := func(v any) any {
		var out any
		json.Unmarshal(resource.Marshal(v), &out)
		return out
	}
	for _, tc := range cases {
		if tc.Disabled {
			continue
		}
		t.Run(tc.Comment, func(t *testing.T) {
			apply, err := PatchFunc("Basic", "x", tc.Patch, true)
			var got map[string]any
			if err == nil {
				got, err = apply(&store.Version{Type: "Basic", ID: "x", VersionID: 1, JSON: resource.Marshal(asResource(tc.Doc))})
			}
			if tc.Error != "" {
				if err == nil {
					t.Fatalf("applied, want an error (%s); got %s", tc.Error, resource.Marshal(got))
				}
				if k := outcome.KindOf(err); k != outcome.Unprocessable && k != outcome.Invalid {
					t.Errorf("error kind %v, want a 4xx kind: %v", k, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := asResource(tc.Expected); !reflect.DeepEqual(normal(got), normal(want)) {
				t.Errorf("got  %s\nwant %s", resource.Marshal(got), resource.Marshal(want))
			}
		})
	}
}
