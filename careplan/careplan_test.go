package careplan_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/careplan"
	"ucp/fhir/outcome"
	"ucp/fhir/rest"
	"ucp/internal/resttest"
	"ucp/profiles"
	"ucp/store"
)

// server is a real server wired as cmd/ucp wires it: SQLite in a temp file,
// the rest.Server with careplan's interceptors and operations, on loopback.
// A test-only wrapper turns X-Test-Role / X-Test-User / X-Test-Patient headers into an
// auth.Principal, standing in for the auth middleware.
type server struct {
	t    *testing.T
	hs   *resttest.Server
	base string
}

func mustServer(t *testing.T) *server {
	t.Helper()
	st, reg := resttest.OpenStore(t), resttest.NewRegistry(t)
	plans, err := careplan.New(careplan.Config{Store: st, Registry: reg, Validator: careplan.NewValidator(st, reg)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := rest.New(rest.Config{
		Store: st, Registry: reg, Types: reg.Types(),
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		WriteInterceptor: plans, ReadInterceptor: plans, Operations: plans.Operations(),
		BreakGlass: auth.BreakGlassReason,
	})
	if err != nil {
		t.Fatal(err)
	}
	// $record-death writes through the server's own service, so it is
	// registered once that exists, as cmd/ucp does.
	if err := srv.RegisterOperation(plans.RecordDeathOperation(srv.Service())); err != nil {
		t.Fatal(err)
	}
	hs := resttest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if role := r.Header.Get("X-Test-Role"); role != "" {
			p := &auth.Principal{Role: auth.Role(role), Subject: "test", FHIRUser: r.Header.Get("X-Test-User"), Name: "Dr Test",
				Patient: r.Header.Get("X-Test-Patient")}
			r = r.WithContext(auth.NewContext(r.Context(), p))
		}
		auth.BreakGlassHandler(srv).ServeHTTP(w, r)
	}))
	return &server{t: t, hs: hs, base: hs.Base}
}

// do sends a request; role "" sends no principal.
func (s *server) do(method, path string, body any, role string) (int, map[string]any) {
	s.t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			s.t.Fatal(err)
		}
	}
	var header []string
	if r, ok := strings.CutSuffix(role, "+btg"); ok {
		// Break-glass, with its stated reason.
		role = r
		header = append(header, auth.BreakGlassHeader+": Patient unconscious, family not reachable")
	}
	if r, patient, ok := strings.Cut(role, ":"); ok {
		// "patient:{id}": the patient themself.
		role = r
		header = append(header, "X-Test-Patient: "+patient)
	}
	if role != "" {
		header = append(header, "X-Test-Role: "+role, "X-Test-User: Practitioner/dr")
	}
	resp := s.hs.Do(s.t, method, "/"+path, string(b), header...)
	var m map[string]any
	if len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, &m); err != nil {
			s.t.Fatalf("%s %s: %d %s", method, path, resp.Status, resp.Body)
		}
	}
	return resp.Status, m
}

// must sends a request and fails unless the status is want.
func (s *server) must(want int, method, path string, body any, role string) map[string]any {
	s.t.Helper()
	got, m := s.do(method, path, body, role)
	if got != want {
		b, _ := json.Marshal(m)
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, b)
	}
	return m
}

func consentRes(code, status, provision, when string) map[string]any {
	return map[string]any{
		"resourceType": "Consent", "status": status,
		"scope":      resttest.Concept(profiles.SystemConsentScope, "patient-privacy", "Privacy Consent"),
		"category":   []any{resttest.Concept(profiles.SystemSNOMED, code, "")},
		"patient":    resttest.Ref("Patient/pat"),
		"dateTime":   when,
		"performer":  []any{resttest.Ref("Patient/pat")},
		"policyRule": resttest.Concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", "opt-in"),
		"provision":  map[string]any{"type": provision},
	}
}

// seed stores a patient, a practitioner and the plan's sections with fixed
// ids, and returns the plan (draft, with every section).
func seed(s *server) map[string]any {
	s.must(201, "PUT", "Patient/pat", map[string]any{"resourceType": "Patient", "id": "pat",
		"name": []any{map[string]any{"family": "Smith", "given": []any{"Ann"}}}}, "")
	s.must(201, "PUT", "Patient/other", map[string]any{"resourceType": "Patient", "id": "other"}, "")
	s.must(201, "PUT", "Practitioner/dr", map[string]any{"resourceType": "Practitioner", "id": "dr",
		"name": []any{map[string]any{"family": "Jones", "prefix": []any{"Dr"}}}}, "")
	s.must(201, "PUT", "Condition/cond", map[string]any{"resourceType": "Condition", "id": "cond",
		"code": map[string]any{"text": "Metastatic lung cancer <script>alert(1)</script>"}, "subject": resttest.Ref("Patient/pat")}, "")
	s.must(201, "PUT", "ClinicalImpression/prog", map[string]any{"resourceType": "ClinicalImpression", "id": "prog",
		"status": "completed", "subject": resttest.Ref("Patient/pat"), "date": "2026-11-01T10:00:00Z", "assessor": resttest.Ref("Practitioner/dr"),
		"prognosisCodeableConcept": []any{resttest.Concept(profiles.SystemSNOMED, profiles.CodePrognosisWeeks, "Weeks")}}, "")
	s.must(201, "PUT", "Observation/cpr", map[string]any{"resourceType": "Observation", "id": "cpr", "status": "final",
		"code": resttest.Concept(profiles.SystemSNOMED, profiles.CodeResuscitationStatus, "Resuscitation status"), "subject": resttest.Ref("Patient/pat"),
		"effectiveDateTime": "2026-11-01T10:00:00Z", "performer": []any{resttest.Ref("Practitioner/dr")},
		"valueCodeableConcept": resttest.Concept(profiles.SystemSNOMED, profiles.CodeNotForCPR, "Not for CPR")}, "")
	s.must(201, "PUT", "Observation/othercpr", map[string]any{"resourceType": "Observation", "id": "othercpr", "status": "final",
		"code": resttest.Concept(profiles.SystemSNOMED, profiles.CodeResuscitationStatus, "Resuscitation status"), "subject": resttest.Ref("Patient/other"),
		"valueCodeableConcept": resttest.Concept(profiles.SystemSNOMED, profiles.CodeForCPR, "For CPR")}, "")
	return map[string]any{
		"resourceType": "CarePlan", "id": "plan",
		"meta":   map[string]any{"profile": []any{profiles.ProfileCarePlan}},
		"status": "draft", "intent": "plan",
		"category":       []any{resttest.Concept(profiles.SystemSNOMED, profiles.CodeEndOfLifeCarePlan, "End of life care plan")},
		"title":          "Urgent care plan",
		"subject":        resttest.Ref("Patient/pat"),
		"period":         map[string]any{"start": "2026-11-01T10:00:00Z"},
		"author":         resttest.Ref("Practitioner/dr"),
		"addresses":      []any{resttest.Ref("Condition/cond")},
		"supportingInfo": []any{resttest.Ref("ClinicalImpression/prog"), resttest.Ref("Observation/cpr")},
		"activity": []any{map[string]any{"detail": map[string]any{"status": "not-started",
			"description": "Call the palliative care team; keep at home & comfortable"}}},
	}
}

func without(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

func with(m map[string]any, k string, v any) map[string]any {
	out := without(m)
	out[k] = v
	return out
}

// revoked is plan revoked, with the end date a revoked plan records.
func revoked(plan map[string]any) map[string]any {
	r := with(plan, "status", "revoked")
	r["period"] = map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-11-12T10:00:00Z"}
	return r
}

// valid reports whether an OperationOutcome has no error issue.
func valid(m map[string]any) bool {
	for _, is := range m["issue"].([]any) {
		if sev := is.(map[string]any)["severity"]; sev == "error" || sev == "fatal" {
			return false
		}
	}
	return true
}

func diagnostics(m map[string]any) string {
	b, _ := json.Marshal(m["issue"])
	return string(b)
}

func entries(m map[string]any) []map[string]any {
	var out []map[string]any
	es, _ := m["entry"].([]any)
	for _, e := range es {
		em := e.(map[string]any)
		if r, ok := em["resource"].(map[string]any); ok && r["resourceType"] != "OperationOutcome" {
			out = append(out, r)
		}
	}
	return out
}

func TestPlanLifecycle(t *testing.T) {
	s := mustServer(t)
	plan := seed(s)

	// No consent: no plan.
	m := s.must(422, "PUT", "CarePlan/plan", plan, "clinical")
	if !strings.Contains(diagnostics(m), "no active Consent") {
		t.Errorf("no-consent refusal does not say so: %s", diagnostics(m))
	}
	s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentGiven, "active", "permit", "2026-10-01T09:00:00Z"), "clinical")

	// A new plan may not start active-less-than-approved: revoked is refused.
	s.must(422, "PUT", "CarePlan/plan", revoked(plan), "clinical")
	// Draft create.
	s.must(201, "PUT", "CarePlan/plan", plan, "clinical")

	// A section of another patient is refused.
	m = s.must(422, "PUT", "CarePlan/plan", with(plan, "supportingInfo", []any{resttest.Ref("Observation/othercpr")}), "clinical")
	if !strings.Contains(diagnostics(m), "belongs to Patient/other") {
		t.Errorf("cross-patient refusal: %s", diagnostics(m))
	}

	// A plan does not move to another patient, not even as it is revoked.
	for _, moved := range []map[string]any{with(plan, "subject", resttest.Ref("Patient/other")), with(revoked(plan), "subject", resttest.Ref("Patient/other"))} {
		m = s.must(422, "PUT", "CarePlan/plan", moved, "clinical")
		if !strings.Contains(diagnostics(m), "cannot move to another patient") {
			t.Errorf("moving a plan: %s", diagnostics(m))
		}
	}

	// Activation without sections names each missing one.
	bare := with(without(plan, "addresses", "supportingInfo", "activity"), "status", "active")
	m = s.must(422, "PUT", "CarePlan/plan", bare, "clinical")
	d := diagnostics(m)
	for _, want := range []string{"medical background", "prognosis", "CPR decision", "emergency treatment plan"} {
		if !strings.Contains(d, want) {
			t.Errorf("missing-section refusal does not name %q: %s", want, d)
		}
	}
	expr, _ := json.Marshal(m["issue"]) // one issue per missing section, each located
	for _, want := range []string{`"CarePlan.addresses"`, `"CarePlan.supportingInfo"`, `"CarePlan.activity"`} {
		if !strings.Contains(string(expr), want) {
			t.Errorf("expression = %s, lacks %s", expr, want)
		}
	}

	// Only a clinician approves.
	active := with(plan, "status", "active")
	s.must(403, "PUT", "CarePlan/plan", active, "view")
	s.must(200, "PUT", "CarePlan/plan", active, "clinical")

	prov := s.must(200, "GET", "Provenance?target=CarePlan/plan/_history/2", nil, "clinical")
	pe := entries(prov)
	if len(pe) != 1 {
		t.Fatalf("Provenance for version 2: %d, want 1", len(pe))
	}
	if who := pe[0]["agent"].([]any)[0].(map[string]any)["who"].(map[string]any)["reference"]; who != "Practitioner/dr" {
		t.Errorf("approver = %v, want Practitioner/dr", who)
	}
	if v := pe[0]["meta"].(map[string]any)["versionId"]; v != "1" {
		t.Errorf("Provenance versionId = %v", v)
	}
	comps := entries(s.must(200, "GET", "Composition?subject=Patient/pat", nil, "clinical"))
	if len(comps) != 1 {
		t.Fatalf("Compositions: %d, want 1", len(comps))
	}
	comp := comps[0]

	t.Run("document", func(t *testing.T) {
		doc := s.must(200, "GET", "Composition/"+comp["id"].(string)+"/$document", nil, "view")
		if doc["type"] != "document" || doc["identifier"] == nil || doc["timestamp"] == nil {
			t.Fatalf("not a document bundle: type %v identifier %v timestamp %v", doc["type"], doc["identifier"], doc["timestamp"])
		}
		es := doc["entry"].([]any)
		got := map[string]bool{}
		for i, e := range es {
			em := e.(map[string]any)
			r := em["resource"].(map[string]any)
			if i == 0 && r["resourceType"] != "Composition" {
				t.Errorf("first entry is %v", r["resourceType"])
			}
			full := em["fullUrl"].(string)
			if !strings.HasPrefix(full, s.base+"/") {
				t.Errorf("fullUrl %q is not absolute on %s", full, s.base)
			}
			got[r["resourceType"].(string)+"/"+r["id"].(string)] = true
		}
		for _, want := range []string{"CarePlan/plan", "Patient/pat", "Condition/cond", "ClinicalImpression/prog", "Observation/cpr", "Practitioner/dr"} {
			if !got[want] {
				t.Errorf("document lacks %s (has %v)", want, got)
			}
		}
		var divs string
		for _, sec := range comp["section"].([]any) {
			div := sec.(map[string]any)["text"].(map[string]any)["div"].(string)
			if !strings.HasPrefix(div, `<div xmlns="http://www.w3.org/1999/xhtml">`) {
				t.Errorf("section div %q", div)
			}
			divs += div
		}
		if strings.Contains(divs, "<script>") || !strings.Contains(divs, "&lt;script&gt;") {
			t.Errorf("narrative not escaped: %s", divs)
		}
		// What the server authors must itself be valid.
		for _, p := range []string{"Composition/" + comp["id"].(string), "Provenance/" + pe[0]["id"].(string)} {
			if m := s.must(200, "GET", p+"/$validate", nil, "clinical"); !valid(m) {
				t.Errorf("generated %s is invalid: %s", p, diagnostics(m))
			}
		}
		for _, want := range []string{"Medical background", "Prognosis", "CPR decision", "Consent to share"} {
			if !strings.Contains(divs, want) {
				t.Errorf("document lacks section %q", want)
			}
		}
	})

	// An active plan is never deleted.
	m = s.must(409, "DELETE", "CarePlan/plan", nil, "clinical")
	if !strings.Contains(diagnostics(m), "revoke") {
		t.Errorf("delete refusal does not say to revoke: %s", diagnostics(m))
	}
	s.must(200, "GET", "CarePlan?patient=Patient/pat", nil, "view")
	if n := len(entries(s.must(200, "GET", "CarePlan?patient=Patient/pat", nil, "view"))); n != 1 {
		t.Errorf("view sees %d plans before withdrawal, want 1", n)
	}

	// Withdrawn consent hides the plan from urgent care at once.
	s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentWithdrawn, "active", "deny", "2026-11-10T09:00:00Z"), "clinical")
	if m := s.must(200, "GET", "CarePlan?patient=Patient/pat", nil, "view"); len(entries(m)) != 0 || m["total"] != 0.0 {
		t.Errorf("view sees %d plans (total %v) after withdrawal, want 0 (0)", len(entries(m)), m["total"])
	}
	if m := s.must(200, "GET", "CarePlan?patient=Patient/pat&_summary=count", nil, "view"); m["total"] != 0.0 {
		t.Errorf("view counts %v plans after withdrawal, want 0", m["total"])
	}
	// Nor in the plan's history, or the patient's record, on any page.
	for _, q := range []string{"CarePlan/plan/_history", "CarePlan/plan/_history?_count=1", "CarePlan/_history"} {
		if m := s.must(200, "GET", q, nil, "view"); len(entries(m)) != 0 || m["total"] != 0.0 {
			t.Errorf("%s: view sees %d versions (total %v) after withdrawal, want 0 (0)", q, len(entries(m)), m["total"])
		}
	}
	for _, q := range []string{"Patient/pat/$everything?_type=CarePlan", "Patient/pat/$everything?_type=CarePlan&_count=1"} {
		for role, want := range map[string]float64{"view": 0, "clinical": 1} {
			if m := s.must(200, "GET", q, nil, role); m["total"] != want {
				t.Errorf("%s as %s: total %v, want %v", q, role, m["total"], want)
			}
		}
	}
	s.must(404, "GET", "CarePlan/plan", nil, "view")
	s.must(404, "GET", "Composition/"+comp["id"].(string)+"/$document", nil, "view")
	// The patient still sees their own plan: consent is to share it with
	// others. Another patient does not.
	s.must(200, "GET", "CarePlan/plan", nil, "patient:pat")
	s.must(200, "GET", "Composition/"+comp["id"].(string)+"/$document", nil, "patient:pat")
	if m := s.must(200, "GET", "CarePlan?patient=Patient/pat", nil, "patient:pat"); len(entries(m)) != 1 || m["total"] != 1.0 {
		t.Errorf("the patient sees %d of their plans (total %v) after withdrawal, want 1 (1)", len(entries(m)), m["total"])
	}
	s.must(404, "GET", "CarePlan/plan", nil, "patient:other")
	// Break-glass, with a reason, shows it to urgent care in an emergency.
	if n := len(entries(s.must(200, "GET", "CarePlan?patient=Patient/pat", nil, "view+btg"))); n != 1 {
		t.Errorf("view with break-glass sees %d plans after withdrawal, want 1", n)
	}
	s.must(200, "GET", "CarePlan/plan", nil, "view+btg")
	if n := len(entries(s.must(200, "GET", "CarePlan?patient=Patient/pat", nil, "clinical"))); n != 1 {
		t.Errorf("clinician sees %d plans after withdrawal, want 1", n)
	}
	m = s.must(422, "PUT", "CarePlan/plan", with(active, "description", "reviewed"), "clinical")
	if !strings.Contains(diagnostics(m), "withdrawn consent") {
		t.Errorf("withdrawn-consent refusal: %s", diagnostics(m))
	}
	// Back to draft is refused; revoking needs no consent.
	s.must(422, "PUT", "CarePlan/plan", plan, "clinical")
	s.must(200, "PUT", "CarePlan/plan", revoked(plan), "clinical")
	if h := entries(s.must(200, "GET", "CarePlan/plan/_history", nil, "clinical")); len(h) != 3 {
		t.Errorf("clinician history has %d versions, want 3", len(h))
	}
}

func TestRevokedHidden(t *testing.T) {
	s := mustServer(t)
	plan := seed(s)
	s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentBestInterests, "active", "permit", "2026-10-01T09:00:00Z"), "clinical")
	// Approved at once on create: allowed, with its Provenance.
	s.must(201, "PUT", "CarePlan/plan", with(plan, "status", "active"), "")
	prov := entries(s.must(200, "GET", "Provenance?target=CarePlan/plan/_history/1", nil, ""))
	if len(prov) != 1 || !strings.Contains(diagnostics(map[string]any{"issue": prov[0]["agent"]}), "unknown") {
		t.Errorf("approval with no principal: %v", prov)
	}
	s.must(200, "PUT", "CarePlan/plan", revoked(plan), "clinical")
	if m := s.must(200, "GET", "CarePlan?patient=Patient/pat", nil, "view"); len(entries(m)) != 0 || m["total"] != 0.0 {
		t.Errorf("view sees %d revoked plans (total %v), want 0 (0)", len(entries(m)), m["total"])
	}
	s.must(200, "GET", "CarePlan/plan", nil, "patient:pat") // their own record, revoked or not
	s.must(404, "GET", "CarePlan/plan", nil, "patient:other")
	if m := s.must(200, "GET", "CarePlan?patient=Patient/pat", nil, "clinical"); len(entries(m)) != 1 || m["total"] != 1.0 {
		t.Errorf("clinician sees %d revoked plans (total %v), want 1 (1)", len(entries(m)), m["total"])
	}
	if m := s.must(200, "GET", "CarePlan?patient=Patient/pat&_summary=count", nil, "clinical"); m["total"] != 1.0 {
		t.Errorf("clinician counts %v revoked plans, want 1", m["total"])
	}
	s.must(204, "DELETE", "CarePlan/plan", nil, "clinical") // a revoked plan may be deleted; history stays
}

func TestInvalidResource(t *testing.T) {
	s := mustServer(t)
	m := s.must(422, "POST", "Patient", map[string]any{"resourceType": "Patient", "gender": "robot", "birthDate": "1 May 1950", "colour": "blue"}, "")
	// One issue per problem, each with its own code and location.
	got := map[string]string{}
	for _, is := range m["issue"].([]any) {
		im := is.(map[string]any)
		if expr, _ := im["expression"].([]any); len(expr) == 1 {
			got[expr[0].(string)] = im["code"].(string)
		}
	}
	for loc, code := range map[string]string{"Patient.gender": "code-invalid", "Patient.birthDate": "value", "Patient.colour": "structure"} {
		if got[loc] != code {
			t.Errorf("issue at %s: code %q, want %q (all: %s)", loc, got[loc], code, diagnostics(m))
		}
	}
	// A profile claimed in meta.profile is enforced.
	m = s.must(422, "POST", "CarePlan", map[string]any{"resourceType": "CarePlan", "status": "draft", "intent": "plan",
		"meta": map[string]any{"profile": []any{profiles.ProfileCarePlan}}, "subject": resttest.Ref("Patient/x")}, "")
	if !strings.Contains(diagnostics(m), "CarePlan.category") {
		t.Errorf("profile violations not located: %s", diagnostics(m))
	}
}

func TestValidateOperation(t *testing.T) {
	s := mustServer(t)
	plan := seed(s)
	s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentGiven, "active", "permit", "2026-10-01T09:00:00Z"), "")

	// Type level, resource as body: All OK.
	m := s.must(200, "POST", "Patient/$validate", map[string]any{"resourceType": "Patient", "gender": "female"}, "")
	if !valid(m) {
		t.Errorf("valid Patient: %s", diagnostics(m))
	}
	m = s.must(200, "POST", "Patient/$validate", map[string]any{"resourceType": "Patient", "gender": "female",
		"text": map[string]any{"status": "generated", "div": `<div xmlns="http://www.w3.org/1999/xhtml">Ann</div>`}}, "")
	if !strings.Contains(diagnostics(m), "All OK") {
		t.Errorf("no issues but no All OK: %s", diagnostics(m))
	}
	// Parameters with profile and mode: profile errors located; business rules run.
	params := func(res map[string]any, mode, profile string) map[string]any {
		ps := []any{map[string]any{"name": "resource", "resource": res}, map[string]any{"name": "mode", "valueCode": mode}}
		if profile != "" {
			ps = append(ps, map[string]any{"name": "profile", "valueUri": profile})
		}
		return map[string]any{"resourceType": "Parameters", "parameter": ps}
	}
	m = s.must(200, "POST", "CarePlan/$validate", params(without(plan, "meta", "category"), "create", profiles.ProfileCarePlan), "")
	if d := diagnostics(m); !strings.Contains(d, `"error"`) || !strings.Contains(d, "CarePlan.category") {
		t.Errorf("explicit profile not applied: %s", d)
	}
	m = s.must(200, "POST", "CarePlan/$validate", params(with(without(plan, "addresses"), "status", "active"), "create", ""), "clinical")
	if d := diagnostics(m); !strings.Contains(d, "medical background") {
		t.Errorf("mode create does not apply the activation rules: %s", d)
	}
	m = s.must(200, "POST", "CarePlan/$validate", params(plan, "create", ""), "clinical")
	if !valid(m) {
		t.Errorf("valid draft: %s", diagnostics(m))
	}
	if n := len(entries(s.must(200, "GET", "Provenance", nil, ""))); n != 0 {
		t.Errorf("$validate wrote %d Provenances", n)
	}

	// Instance level: the stored resource, and mode=delete.
	s.must(201, "PUT", "CarePlan/plan", with(plan, "status", "active"), "clinical")
	m = s.must(200, "GET", "CarePlan/plan/$validate", nil, "")
	if !valid(m) {
		t.Errorf("stored plan: %s", diagnostics(m))
	}
	m = s.must(200, "GET", "CarePlan/plan/$validate?mode=delete", nil, "")
	if d := diagnostics(m); !strings.Contains(d, "cannot be deleted") {
		t.Errorf("delete of active plan: %s", d)
	}
	m = s.must(200, "POST", "CarePlan/nope/$validate", map[string]any{"resourceType": "Parameters",
		"parameter": []any{map[string]any{"name": "mode", "valueCode": "delete"}}}, "")
	if d := diagnostics(m); !strings.Contains(d, "not-found") {
		t.Errorf("delete of missing plan: %s", d)
	}
	s.must(400, "GET", "CarePlan/$validate?mode=delete", nil, "")
	s.must(400, "GET", "CarePlan/plan/$validate?mode=sideways", nil, "")

	// Listed in the CapabilityStatement.
	cs := s.must(200, "GET", "metadata", nil, "")
	b, _ := json.Marshal(cs)
	if !strings.Contains(string(b), `"name":"validate"`) || !strings.Contains(string(b), `"name":"document"`) {
		t.Errorf("CapabilityStatement lacks the operations")
	}
}

func TestStoredProfile(t *testing.T) {
	s := mustServer(t)
	const url = "https://example.org/fhir/StructureDefinition/PatientWithBirthDate"
	s.must(201, "POST", "StructureDefinition", map[string]any{
		"resourceType": "StructureDefinition", "url": url, "name": "PatientWithBirthDate", "status": "active",
		"kind": "resource", "abstract": false, "type": "Patient", "derivation": "constraint",
		"baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
		"differential": map[string]any{"element": []any{
			map[string]any{"id": "Patient", "path": "Patient"},
			map[string]any{"id": "Patient.birthDate", "path": "Patient.birthDate", "min": 1},
		}},
	}, "")
	m := s.must(422, "POST", "Patient", map[string]any{"resourceType": "Patient", "meta": map[string]any{"profile": []any{url}}}, "")
	if !strings.Contains(diagnostics(m), "Patient.birthDate") {
		t.Errorf("stored profile not applied: %s", diagnostics(m))
	}
	s.must(201, "POST", "Patient", map[string]any{"resourceType": "Patient", "birthDate": "1950-05-01", "meta": map[string]any{"profile": []any{url}}}, "")
	m = s.must(200, "POST", "Patient/$validate?profile="+url, map[string]any{"resourceType": "Patient"}, "")
	if valid(m) {
		t.Errorf("profile parameter not applied: %s", diagnostics(m))
	}
}

// MayHide tells the REST layer from whom plans may be hidden, so that a
// clinician's paged search keeps its exact total without a recheck.
func TestMayHide(t *testing.T) {
	st, reg := resttest.OpenStore(t), resttest.NewRegistry(t)
	val := careplan.NewValidator(st, reg)
	def, err := careplan.New(careplan.Config{Store: st, Registry: reg, Validator: val})
	if err != nil {
		t.Fatal(err)
	}
	strict, err := careplan.New(careplan.Config{Store: st, Registry: reg, Validator: val,
		Sharing: func(context.Context, *auth.Principal, string, *store.Version, careplan.Hidden) error {
			return outcome.Errorf(outcome.NotFound, "not shared")
		}})
	if err != nil {
		t.Fatal(err)
	}
	as := func(role auth.Role) context.Context {
		return auth.NewContext(context.Background(), &auth.Principal{Role: role})
	}
	for _, tc := range []struct {
		name  string
		plans *careplan.Plans
		ctx   context.Context
		typ   string
		want  bool
	}{
		{"view, plans", def, as(auth.RoleView), "CarePlan", true},
		{"view, plan documents", def, as(auth.RoleView), "Composition", true},
		{"view, goals", def, as(auth.RoleView), "Goal", false},
		{"view, approval records", def, as(auth.RoleView), "Provenance", true},
		{"clinician, approval records", def, as(auth.RoleClinical), "Provenance", false},
		{"system, plans", def, as(auth.RoleSystem), "CarePlan", true},
		{"patient, plans", def, as(auth.RolePatient), "CarePlan", true},
		{"nobody, plans", def, context.Background(), "CarePlan", true},
		{"clinician, plans", def, as(auth.RoleClinical), "CarePlan", false},
		{"admin, plan documents", def, as(auth.RoleAdmin), "Composition", false},
		{"a custom policy without SharesAll, clinician", strict, as(auth.RoleClinical), "CarePlan", true},
		{"a custom policy, goals", strict, as(auth.RoleClinical), "Goal", false},
	} {
		if got := tc.plans.MayHide(tc.ctx, tc.typ); got != tc.want {
			t.Errorf("%s: MayHide = %v, want %v", tc.name, got, tc.want)
		}
	}
}
