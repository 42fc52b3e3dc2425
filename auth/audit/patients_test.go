package audit

import (
	"slices"
	"testing"

	"ucp/fhir/search"
	"ucp/store"
)

// The patients of a version are remembered per version and content: a new
// version, or the same version number with other content (another store),
// is worked out afresh.
func TestVersionPatientsPerVersionAndContent(t *testing.T) {
	reg, err := search.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	plan := func(version int64, patient string) *store.Version {
		return &store.Version{Type: "CarePlan", ID: "cp1", VersionID: version,
			JSON: []byte(`{"resourceType":"CarePlan","id":"cp1","status":"active","intent":"plan","subject":{"reference":"Patient/` + patient + `"}}`)}
	}
	for _, tc := range []struct {
		name string
		v    *store.Version
		want []string
	}{
		{"first read", plan(1, "p1"), []string{"p1"}},
		{"again", plan(1, "p1"), []string{"p1"}},
		{"moved to another patient", plan(2, "p2"), []string{"p2"}},
		{"same version, other content", plan(1, "p3"), []string{"p3"}},
		{"the first again", plan(1, "p1"), []string{"p1"}},
		{"a Patient is its own", &store.Version{Type: "Patient", ID: "p9", VersionID: 1, JSON: []byte(`{"resourceType":"Patient","id":"p9"}`)}, []string{"p9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionPatients(reg, tc.v); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
