package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/profiles"
)

// urgentQuery is the one request the README gives urgent care (with the
// NHS number left off): the active plan with its patient and everything an
// ambulance crew needs from it.
const urgentQuery = "/CarePlan?status=active&_include=CarePlan:subject&_include=CarePlan:supporting-info" +
	"&_include=CarePlan:condition&_include=CarePlan:care-team&_include:iterate=CareTeam:participant" +
	"&subject:identifier=https://fhir.nhs.uk/Id/nhs-number|"

// urgentBundle runs urgentQuery for nhs as the view role and returns the
// resources of the answer by "Type/id".
func urgentBundle(t *testing.T, base, tok, nhs string) map[string]map[string]any {
	t.Helper()
	code, _, b := call(t, "GET", base+urgentQuery+nhs, tok, nil)
	if code != 200 {
		t.Fatalf("urgent query: %d %s", code, b)
	}
	var bundle struct {
		Entry []struct{ Resource map[string]any }
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]any{}
	for _, e := range bundle.Entry {
		typ, _ := e.Resource["resourceType"].(string)
		id, _ := e.Resource["id"].(string)
		got[typ+"/"+id] = e.Resource
	}
	return got
}

// TestServeUrgentQueryBringsThePlanContent: the README's urgent-care request
// answers, in one round trip, the plan, the patient, the CPR decision, the
// ceiling of treatment, the preferred places and the key contacts.
func TestServeUrgentQueryBringsThePlanContent(t *testing.T) {
	srv := startTestServer(t, filepath.Join(t.TempDir(), "ucp.db"), true)
	defer srv.Close()
	got := urgentBundle(t, srv.base, token(t, srv, auth.RoleView), "9434765919")

	has := func(typ string, ok func(map[string]any) bool) bool {
		for _, r := range got {
			if r["resourceType"] == typ && ok(r) {
				return true
			}
		}
		return false
	}
	code := func(system, c string) func(map[string]any) bool {
		return func(r map[string]any) bool {
			cc, _ := r["code"].(map[string]any)
			codings, _ := cc["coding"].([]any)
			return slices.ContainsFunc(codings, func(x any) bool {
				m, _ := x.(map[string]any)
				return m["system"] == system && m["code"] == c
			})
		}
	}
	anyOne := func(map[string]any) bool { return true }
	for _, want := range []struct {
		what, typ string
		ok        func(map[string]any) bool
	}{
		{"the plan", "CarePlan", anyOne},
		{"the patient", "Patient", anyOne},
		{"the CPR decision", "Observation", code(profiles.SystemSNOMED, profiles.CodeResuscitationStatus)},
		{"the ceiling of treatment", "Observation", code(profiles.SystemSNOMED, profiles.CodeTreatmentEscalation)},
		{"the preferred place of death", "Observation", code(profiles.SystemUCP, profiles.CodePreferredPlaceOfDeath)},
		{"the key contact", "RelatedPerson", anyOne},
		{"the medical background", "Condition", anyOne},
	} {
		if !has(want.typ, want.ok) {
			t.Errorf("the urgent query did not bring %s (a %s); got %d resources", want.what, want.typ, len(got))
		}
	}
}

// TestImportIndexesSupportingInfo: plans loaded by `ucp import` are indexed
// for CarePlan:supporting-info, so the urgent query brings their sections
// (and their care teams' contacts) too.
func TestImportIndexesSupportingInfo(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"generate", "--patients", "6"}, &out, &errb); code != 0 {
		t.Fatalf("generate: %d %s", code, errb.String())
	}
	reg := filepath.Join(dir, "register.ndjson")
	if err := os.WriteFile(reg, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "ucp.db")
	out.Reset()
	errb.Reset()
	if code := run(ctx, []string{"import", "--store", onTestStore(t, serveConfig{Store: "sqlite:" + db}).Store, reg}, &out, &errb); code != 0 {
		t.Fatalf("import: %d %s %s", code, out.String(), errb.String())
	}
	srv := startTestServer(t, db, false)
	defer srv.Close()
	tok := token(t, srv, auth.RoleView)

	// Every active plan urgent care sees: its sections and contacts come
	// with it.
	code, _, b := call(t, "GET", srv.base+"/CarePlan?status=active&_count=100&_include=CarePlan:subject", tok, nil)
	if code != 200 {
		t.Fatalf("plans: %d %s", code, b)
	}
	var plans struct {
		Entry []struct {
			Resource struct {
				ResourceType   string
				ID             string
				Identifier     []struct{ System, Value string }
				SupportingInfo []struct{ Reference string }
				CareTeam       []struct{ Reference string }
			}
		}
	}
	if err := json.Unmarshal(b, &plans); err != nil {
		t.Fatal(err)
	}
	nhs := map[string]string{} // Patient/id → NHS number
	for _, e := range plans.Entry {
		for _, id := range e.Resource.Identifier {
			if e.Resource.ResourceType == "Patient" && id.System == profiles.SystemNHSNumber {
				nhs["Patient/"+e.Resource.ID] = id.Value
			}
		}
	}
	checked := 0
	for _, e := range plans.Entry {
		if e.Resource.ResourceType != "CarePlan" {
			continue
		}
		var subject struct{ Subject struct{ Reference string } }
		_, _, pb := call(t, "GET", srv.base+"/CarePlan/"+e.Resource.ID, tok, nil)
		json.Unmarshal(pb, &subject)
		got := urgentBundle(t, srv.base, tok, nhs[subject.Subject.Reference])
		for _, ref := range append(e.Resource.SupportingInfo, e.Resource.CareTeam...) {
			if _, ok := got[ref.Reference]; !ok && !strings.HasPrefix(ref.Reference, "#") {
				t.Errorf("CarePlan/%s: the urgent query left out %s", e.Resource.ID, ref.Reference)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no active plan with sections to check")
	}
}
