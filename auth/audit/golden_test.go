package audit

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
)

var update = flag.Bool("update", false, "rewrite testdata/auditevents.json from Build")

// goldenEvents cover every branch of Build: each kind of principal, a
// write, a search, a refusal, a failure, an operation and break-glass.
func goldenEvents() map[string]*Event {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	user := &auth.Principal{Issuer: "https://cis2", Subject: "s1", UserID: "555021935107", Name: "Dr Who",
		Role: auth.RoleClinical, RoleCode: "S8000:G8000:R8000", RoleName: "Doctor", Org: "RX1", ClientID: "app-1",
		TokenID: "jti-1", FHIRUser: "https://example.org/fhir/Practitioner/555"}
	return map[string]*Event{
		"anonymous refused": {Interaction: "read", Type: "Patient", ID: "p1", Status: 401,
			Err: errors.New("no token"), Time: at},
		"clinician search": {Interaction: "search-type", Type: "CarePlan", Query: "subject=Patient/p1&status=active",
			Status: 200, Patients: []string{"p1", "p2"}, Principal: user, Time: at},
		"clinician update": {Interaction: "update", Type: "CarePlan", ID: "cp1", Version: 3,
			Patients: []string{"p1"}, Principal: user, Time: at},
		"break-glass refused": {Interaction: "read", Type: "Patient", ID: "p3", Status: 403, Err: errors.New("not shared"),
			Principal: user, BreakGlass: "cardiac arrest", Patients: []string{"p3"}, Time: at},
		"system export": {Interaction: "operation", Operation: "export", Type: "Patient", Status: 202,
			Principal: &auth.Principal{Subject: "sys", Role: auth.RoleSystem, ClientID: "nrl", TokenID: "jti-2"}, Time: at},
		"patient read": {Interaction: "read", Type: "CarePlan", ID: "cp2", Status: 200, Patients: []string{"p4"},
			Principal: &auth.Principal{Issuer: "https://nhs-login", Subject: "p4sub", Role: auth.RolePatient, Patient: "p4"}, Time: at},
		"in-process loader": {Interaction: "create", Type: "StructureDefinition", ID: "sd1", Version: 1,
			Principal: &auth.Principal{Subject: "definitions", Role: auth.RoleAdmin}, Time: at},
		"failed operation": {Interaction: "operation", Operation: "everything", Type: "Patient", ID: "p5", Status: 503,
			Err: errors.New("store unavailable"), Time: at},
		"type without id": {Interaction: "history-type", Type: "Observation", Status: 200, Time: at},
		"import with rejections": {Interaction: "operation", Operation: "import", Status: 422, Err: errors.New("1 of 2 resources rejected"),
			Principal: &auth.Principal{Subject: "ucp-import", UserID: "ucp-import", Name: "ucp import", Role: auth.RoleClinical},
			Details:   []Detail{{Type: "file", ValueString: "/data/Patient.ndjson"}, {Type: "run-by", ValueString: "ops@host"}, {Type: "read", ValueString: "2"}}, Time: at},
	}
}

// goldenRefused are the AuditEvents of refused logins: one with its
// request, a count over a window (with its period) and one from the
// address that stands for many.
func goldenRefused() map[string]any {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	counted := refusedEvent("192.0.2.7", at, "", "refused 3 more times", "id-2")
	addPeriod(counted, at.Add(-time.Minute), at)
	return map[string]any{
		"refused login":          refusedEvent("192.0.2.7", at, "GET /CarePlan", "refused: token is expired", "id-1"),
		"refused logins counted": counted,
		"refused from many":      refusedEvent(manyAddrs, at, "", "refused: no token", "id-3"),
	}
}

// Build's and refusedEvent's AuditEvents are pinned: the JSON stored for each kind of event
// must stay what it was (the id aside, which is new every time).
func TestBuildGolden(t *testing.T) {
	got := map[string]any{}
	for name, e := range goldenEvents() {
		b, err := json.Marshal(Build(e))
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		if id, _ := ev["id"].(string); len(id) != 36 {
			t.Errorf("%s: id %q, want a UUID", name, id)
		}
		delete(ev, "id")
		got[name] = ev
	}
	for name, ev := range goldenRefused() {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		got[name] = m
	}
	path := filepath.Join("testdata", "auditevents.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AuditEvents (-want +got):\n%s", diff)
	}
}

// BenchmarkBuildJSON measures what every audited request pays: building its
// AuditEvent and the journal line.
func BenchmarkBuildJSON(b *testing.B) {
	e := goldenEvents()["clinician search"]
	b.ReportAllocs()
	for b.Loop() {
		_ = Build(e).JSON()
	}
}
