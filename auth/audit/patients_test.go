package audit

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"ucp/auth"
	"ucp/fhir/resource"
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
	ps := NewPatients(reg)
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
			if got := ps.of(tc.v); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// An AuditEvent is indexed alike whether it comes to the store as the write
// interceptor's resource (Resource) or as the drainer's parsed journal line
// (JSON), and the line is stored byte for byte.
func TestChangeFromBuiltEventMatchesJournalLine(t *testing.T) {
	reg, err := search.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	p := &auth.Principal{Issuer: "https://cis2", Subject: "s1", UserID: "555021935107", Name: "Dr Who",
		Role: auth.RoleClinical, RoleCode: "S8000:G8000:R8000", RoleName: "Doctor", Org: "RX1", ClientID: "app-1",
		TokenID: "jti-1", FHIRUser: "Practitioner/555"}
	for _, e := range []*Event{
		{Interaction: "search-type", Type: "CarePlan", Query: "subject:identifier=x|1&status=active", Status: 200,
			Patients: []string{"p1", "p2"}, Principal: p, Time: time.Now()},
		{Interaction: "read", Type: "Patient", ID: "p3", Status: 404, Err: errors.New("not shared"),
			Principal: p, BreakGlass: "cardiac arrest", Time: time.Now()},
		{Interaction: "operation", Operation: "everything", Type: "Patient", ID: "p4", Status: 500, Time: time.Now()},
	} {
		built := Build(e)
		ev, line := built.Resource(), built.JSON()
		parsed, err := resource.Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		fromLine, err := changeWithJSON(reg, parsed, nil)
		if err != nil {
			t.Fatal(err)
		}
		fromEvent, err := changeWithJSON(reg, ev, line)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromEvent.Entries, fromLine.Entries) || !slices.Equal(fromEvent.Patients, fromLine.Patients) {
			t.Errorf("%s: entries from the built event\n%+v\nfrom its journal line\n%+v", e.Interaction, fromEvent, fromLine)
		}
		if string(fromEvent.JSON) != string(line) || len(fromEvent.Entries) < 10 {
			t.Errorf("%s: %d entries, JSON %s", e.Interaction, len(fromEvent.Entries), fromEvent.JSON)
		}
	}
}
