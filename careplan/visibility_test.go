package careplan_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/internal/resttest"
	"ucp/profiles"
)

// sharedPlan is seed's plan with id, consent to share recorded, written as
// active (approved) by a clinician.
func sharedPlan(t *testing.T, id string) (*server, map[string]any) {
	t.Helper()
	s := mustServer(t)
	plan := with(seed(s), "id", id)
	s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentGiven, "active", "permit", "2026-10-01T09:00:00Z"), "clinical")
	s.must(201, "PUT", "CarePlan/"+id, with(plan, "status", "active"), "clinical")
	return s, plan
}

// count is the number of resources in a searchset or history bundle, and
// its total (-1 when left out).
func count(m map[string]any) (int, float64) {
	total, ok := m["total"].(float64)
	if !ok {
		total = -1
	}
	return len(entries(m)), total
}

// A plan that is no longer shared is hidden in every version and at every
// history level, by the plan's current state: its earlier active versions
// say what the patient no longer wants.
func TestHiddenPlanVersionsAndHistory(t *testing.T) {
	s, plan := sharedPlan(t, "plan")
	s.must(200, "PUT", "CarePlan/plan", with(with(plan, "status", "active"), "description", "reviewed"), "clinical")
	s.must(200, "PUT", "CarePlan/plan", revoked(plan), "clinical")

	for _, role := range []string{"view", "system", "patient:other", "view+btg"} {
		t.Run(role, func(t *testing.T) {
			for _, path := range []string{"CarePlan/plan", "CarePlan/plan/_history/1", "CarePlan/plan/_history/2", "CarePlan/plan/_history/3"} {
				if code, m := s.do("GET", path, nil, role); code != 404 || m["resourceType"] != "OperationOutcome" {
					t.Errorf("GET %s = %d %v, want 404 with an OperationOutcome", path, code, m["resourceType"])
				}
			}
			for _, path := range []string{"CarePlan/plan/_history", "CarePlan/plan/_history?_count=1", "CarePlan/_history", "CarePlan/_history?_count=1"} {
				if n, total := count(s.must(200, "GET", path, nil, role)); n != 0 || total != 0 {
					t.Errorf("GET %s: %d versions (total %v), want 0 (0)", path, n, total)
				}
			}
			for _, e := range entries(s.must(200, "GET", "_history?_count=100", nil, role)) {
				if rt := e["resourceType"]; rt == "CarePlan" || rt == "Composition" || rt == "Provenance" {
					t.Errorf("system history shows %s/%v", rt, e["id"])
				}
			}
		})
	}
	// Those who see the revoked plan see its history.
	for _, role := range []string{"clinical", "patient:pat"} {
		s.must(200, "GET", "CarePlan/plan/_history/2", nil, role)
		if n, _ := count(s.must(200, "GET", "CarePlan/plan/_history", nil, role)); n != 3 {
			t.Errorf("%s: plan history has %d versions, want 3", role, n)
		}
	}

	// Approved again, the plan is shared again, and so is its history.
	s.must(200, "PUT", "CarePlan/plan", with(plan, "status", "active"), "clinical")
	s.must(200, "GET", "CarePlan/plan/_history/1", nil, "view")
	if n, total := count(s.must(200, "GET", "CarePlan/plan/_history", nil, "view")); n != 4 || total != 4 {
		t.Errorf("view: history of the re-approved plan has %d versions (total %v), want 4 (4)", n, total)
	}
}

// A plan that is hidden is not found through _has or chains either, and
// its approval records and documents are hidden with it.
func TestHiddenPlanNotFoundThroughOthers(t *testing.T) {
	s, _ := sharedPlan(t, "plan")
	s.must(201, "PUT", "Observation/seen", map[string]any{"resourceType": "Observation", "id": "seen", "status": "final",
		"code": map[string]any{"text": "Seen by the palliative care team"}, "subject": resttest.Ref("Patient/pat"),
		"basedOn": []any{resttest.Ref("CarePlan/plan")}}, "clinical")
	comps := entries(s.must(200, "GET", "Composition?subject=Patient/pat", nil, "clinical"))
	if len(comps) != 1 {
		t.Fatalf("Compositions: %d, want 1", len(comps))
	}
	comp := "Composition/" + comps[0]["id"].(string)
	provs := entries(s.must(200, "GET", "Provenance?target=CarePlan/plan", nil, "clinical"))
	if len(provs) != 1 {
		t.Fatalf("Provenances: %d, want 1", len(provs))
	}
	prov := "Provenance/" + provs[0]["id"].(string)

	searches := []string{
		"Patient?_has:CarePlan:subject:_id=plan",
		"Patient?_has:CarePlan:subject:status=active",
		"Observation?based-on:CarePlan.status=active",
		"Observation?based-on:CarePlan._id=plan",
		"Provenance?target=CarePlan/plan",
		"Provenance?target=CarePlan/plan/_history/1",
		"Composition?subject=Patient/pat",
	}
	reads := []string{comp, prov, comp + "/$document"}
	check := func(role string, wantMatches int, wantRead int) {
		t.Helper()
		for _, q := range searches {
			n, total := count(s.must(200, "GET", q, nil, role))
			if n != wantMatches || total != float64(wantMatches) {
				t.Errorf("%s: GET %s: %d resources (total %v), want %d", role, q, n, total, wantMatches)
			}
			if _, total := count(s.must(200, "GET", q+"&_summary=count", nil, role)); total != float64(wantMatches) {
				t.Errorf("%s: GET %s&_summary=count: total %v, want %d", role, q, total, wantMatches)
			}
		}
		// The plan's approval comes with it, or not at all.
		if n, _ := count(s.must(200, "GET", "CarePlan?_id=plan&_revinclude=Provenance:target", nil, role)); n != 2*wantMatches {
			t.Errorf("%s: the plan with its Provenance: %d resources, want %d", role, n, 2*wantMatches)
		}
		for _, r := range reads {
			if code, _ := s.do("GET", r, nil, role); code != wantRead {
				t.Errorf("%s: GET %s = %d, want %d", role, r, code, wantRead)
			}
		}
	}
	for _, role := range []string{"view", "system"} {
		check(role, 1, 200)
	}

	s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentWithdrawn, "active", "deny", "2026-11-10T09:00:00Z"), "clinical")
	for _, role := range []string{"view", "system", "patient:other"} {
		check(role, 0, 404)
	}
	check("clinical", 1, 200)
	// The Observation is not hidden, only the plan it is based on.
	if n, _ := count(s.must(200, "GET", "Observation?_id=seen", nil, "view")); n != 1 {
		t.Errorf("view: %d Observations, want 1", n)
	}
}

// An unapproved plan (a draft, or one put on hold before any approval) is
// for clinicians and the patient: urgent care and systems see approved
// plans only, and count only those.
func TestUnapprovedPlanHiddenFromUrgentCare(t *testing.T) {
	s, plan := sharedPlan(t, "approved")
	s.must(201, "PUT", "CarePlan/draft", with(plan, "id", "draft"), "clinical")
	s.must(201, "PUT", "CarePlan/held", with(plan, "id", "held"), "clinical")
	s.must(200, "PUT", "CarePlan/held", with(with(plan, "id", "held"), "status", "on-hold"), "clinical")

	for _, role := range []string{"view", "system", "view+btg", "patient:other"} {
		for _, id := range []string{"draft", "held"} {
			code, m := s.do("GET", "CarePlan/"+id, nil, role)
			if code != 404 || !strings.Contains(diagnostics(m), "not been approved") {
				t.Errorf("%s: GET CarePlan/%s = %d %s, want 404 saying it is not approved", role, id, code, diagnostics(m))
			}
			s.must(404, "GET", "CarePlan/"+id+"/_history/1", nil, role)
		}
	}
	for _, tc := range []struct {
		role string
		want int
	}{
		{"view", 1}, {"system", 1}, {"view+btg", 1}, {"clinical", 3}, {"patient:pat", 3},
	} {
		for _, q := range []string{"CarePlan?patient=Patient/pat", "CarePlan?patient=Patient/pat&_count=1", "CarePlan?patient=Patient/pat&_summary=count", "Patient/pat/CarePlan"} {
			m := s.must(200, "GET", q, nil, tc.role)
			if _, total := count(m); total != float64(tc.want) {
				t.Errorf("%s: GET %s: total %v, want %d", tc.role, q, total, tc.want)
			}
		}
		if n, _ := count(s.must(200, "GET", "CarePlan?patient=Patient/pat", nil, tc.role)); n != tc.want {
			t.Errorf("%s: %d plans, want %d", tc.role, n, tc.want)
		}
	}

	// On hold after an approval, a plan is still shared.
	s.must(200, "PUT", "CarePlan/approved", with(with(plan, "id", "approved"), "status", "on-hold"), "clinical")
	s.must(200, "GET", "CarePlan/approved", nil, "view")
	// Approved, a draft is shared.
	s.must(200, "PUT", "CarePlan/draft", with(with(plan, "id", "draft"), "status", "active"), "clinical")
	s.must(200, "GET", "CarePlan/draft", nil, "view")
}

// A withdrawal of consent hides the plan from urgent care from the very next
// interaction, and from the rest of the interaction that records it: the
// consent is read once per interaction (Call.Remember), and a write of the
// interaction drops what it remembered.
func TestWithdrawalSeenByNextRead(t *testing.T) {
	s, _ := sharedPlan(t, "plan")
	query := "CarePlan?subject=Patient/pat&_revinclude=Provenance:target"
	s.must(200, "GET", "CarePlan/plan", nil, "view")
	if n, _ := count(s.must(200, "GET", query, nil, "view")); n == 0 {
		t.Fatalf("urgent query found nothing before the withdrawal")
	}

	// One batch: a read that reads the consent (permit), the withdrawal,
	// then the same read again.
	withdrawal := consentRes(profiles.CodeConsentWithdrawn, "active", "deny", "2026-11-01T09:00:00Z")
	b := s.must(200, "POST", "", map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{
		map[string]any{"request": map[string]any{"method": "GET", "url": "CarePlan/plan"}},
		map[string]any{"resource": withdrawal, "request": map[string]any{"method": "POST", "url": "Consent"}},
		map[string]any{"request": map[string]any{"method": "GET", "url": "CarePlan/plan"}},
	}}, "view")
	var got []string
	for _, e := range b["entry"].([]any) {
		got = append(got, e.(map[string]any)["response"].(map[string]any)["status"].(string))
	}
	if diff := cmp.Diff([]string{"200 OK", "201 Created", "404 Not Found"}, got); diff != "" {
		t.Errorf("batch read, withdraw, read: statuses (-want +got):\n%s", diff)
	}

	// The next interactions.
	s.must(404, "GET", "CarePlan/plan", nil, "view")
	for _, e := range entries(s.must(200, "GET", query, nil, "view")) {
		if rt := e["resourceType"]; rt == "CarePlan" || rt == "Provenance" {
			t.Errorf("urgent query after the withdrawal shows %s/%v", rt, e["id"])
		}
	}
}

// The consent one interaction remembers is its patient's: in one bundle, a
// patient's withdrawal hides their plan and not another's, whichever is
// read first.
func TestConsentRememberedPerPatient(t *testing.T) {
	s, plan := sharedPlan(t, "plan")
	s.must(201, "PUT", "ClinicalImpression/otherprog", map[string]any{"resourceType": "ClinicalImpression", "id": "otherprog",
		"status": "completed", "subject": resttest.Ref("Patient/other"), "date": "2026-11-01T10:00:00Z", "assessor": resttest.Ref("Practitioner/dr"),
		"prognosisCodeableConcept": []any{resttest.Concept(profiles.SystemSNOMED, profiles.CodePrognosisWeeks, "Weeks")}}, "")
	s.must(201, "PUT", "Condition/othercond", map[string]any{"resourceType": "Condition", "id": "othercond",
		"code": map[string]any{"text": "Heart failure"}, "subject": resttest.Ref("Patient/other")}, "")
	given := with(consentRes(profiles.CodeConsentGiven, "active", "permit", "2026-10-01T09:00:00Z"), "patient", resttest.Ref("Patient/other"))
	s.must(201, "POST", "Consent", given, "clinical")
	other := with(with(with(with(plan, "id", "otherplan"), "subject", resttest.Ref("Patient/other")),
		"addresses", []any{resttest.Ref("Condition/othercond")}),
		"supportingInfo", []any{resttest.Ref("ClinicalImpression/otherprog"), resttest.Ref("Observation/othercpr")})
	s.must(201, "PUT", "CarePlan/otherplan", with(other, "status", "active"), "clinical")
	withdrawn := with(consentRes(profiles.CodeConsentWithdrawn, "active", "deny", "2026-11-01T09:00:00Z"), "patient", resttest.Ref("Patient/other"))
	s.must(201, "POST", "Consent", withdrawn, "clinical")

	read := func(id string) any {
		return map[string]any{"request": map[string]any{"method": "GET", "url": "CarePlan/" + id}}
	}
	for _, tc := range []struct {
		name  string
		order []string
		want  []string
	}{
		{"shared first", []string{"plan", "otherplan", "plan"}, []string{"200 OK", "404 Not Found", "200 OK"}},
		{"withdrawn first", []string{"otherplan", "plan", "otherplan"}, []string{"404 Not Found", "200 OK", "404 Not Found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reads []any
			for _, id := range tc.order {
				reads = append(reads, read(id))
			}
			b := s.must(200, "POST", "", map[string]any{"resourceType": "Bundle", "type": "batch", "entry": reads}, "view")
			var got []string
			for _, e := range b["entry"].([]any) {
				got = append(got, e.(map[string]any)["response"].(map[string]any)["status"].(string))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("batch reads %v: statuses (-want +got):\n%s", tc.order, diff)
			}
		})
	}
}
