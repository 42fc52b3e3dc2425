package audit_test

import (
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/profiles"
)

// Every code and identifier system an AuditEvent carries is either a
// standard one (HL7, DICOM, IETF, NHS England's national identifiers) or
// under ucp's own canonical base: never a domain the project does not own.
func TestAuditEventSystemsAreOursOrStandard(t *testing.T) {
	ev := audit.Build(&audit.Event{
		Interaction: "operation", Operation: "export", Type: "Patient", ID: "p1",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Patients: []string{"p1"},
		Principal: &auth.Principal{
			Subject: "s", UserID: "u1", Name: "Dr A", Role: auth.RoleClinical,
			RoleCode: "S8000:G8000:R8000", RoleName: "Clinical Practitioner", Org: "A12345", ClientID: "app",
		},
	})
	standard := []string{
		"http://hl7.org/fhir/", "http://terminology.hl7.org/", "http://dicom.nema.org/",
		"urn:ietf:", "https://fhir.nhs.uk/Id/",
	}
	var systems []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if s, ok := c.(string); ok && k == "system" {
					systems = append(systems, s)
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(ev.Resource())
	ours := 0
	for _, s := range systems {
		if strings.HasPrefix(s, profiles.CodeSystemBaseURL) {
			ours++
			continue
		}
		known := false
		for _, p := range standard {
			known = known || strings.HasPrefix(s, p)
		}
		if !known {
			t.Errorf("system %q is neither standard nor under %s", s, profiles.CodeSystemBaseURL)
		}
	}
	if ours != 2 { // the ucp role of the agent and the operation subtype
		t.Errorf("%d systems under %s, want 2 (all: %q)", ours, profiles.CodeSystemBaseURL, systems)
	}
}
