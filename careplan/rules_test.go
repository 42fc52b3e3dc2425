package careplan_test

import (
	"strings"
	"testing"

	"ucp/profiles"
)

// Only a clinician approves a plan: every other role is refused, whether
// the plan is approved at once or a draft is made active.
func TestOnlyClinicianApproves(t *testing.T) {
	for _, tc := range []struct {
		role string
		want int
	}{
		{"view", 403}, {"system", 403}, {"admin", 403}, {"patient:pat", 403}, {"clinical", 200},
	} {
		t.Run(tc.role, func(t *testing.T) {
			s := mustServer(t)
			plan := seed(s)
			s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentGiven, "active", "permit", "2026-10-01T09:00:00Z"), "clinical")
			s.must(201, "PUT", "CarePlan/plan", plan, "clinical")
			code, m := s.do("PUT", "CarePlan/plan", with(plan, "status", "active"), tc.role)
			if code != tc.want {
				t.Fatalf("approval by %s: %d %s, want %d", tc.role, code, diagnostics(m), tc.want)
			}
			if code == 403 {
				if !strings.Contains(diagnostics(m), "needs a clinician") {
					t.Errorf("refusal does not say why: %s", diagnostics(m))
				}
				if got := s.must(200, "GET", "CarePlan/plan", nil, "clinical")["status"]; got != "draft" {
					t.Errorf("after a refused approval the plan is %v, want draft", got)
				}
				s.must(403, "PUT", "CarePlan/other", with(with(plan, "id", "other"), "status", "active"), tc.role)
			}
		})
	}
}

// A plan on hold is still a published plan: like an active one it is
// revoked or completed, never deleted. A draft may be deleted.
func TestOnHoldPlanNotDeleted(t *testing.T) {
	s, plan := sharedPlan(t, "plan")
	s.must(200, "PUT", "CarePlan/plan", with(plan, "status", "on-hold"), "clinical")
	m := s.must(409, "DELETE", "CarePlan/plan", nil, "clinical")
	if d := diagnostics(m); !strings.Contains(d, "on-hold") || !strings.Contains(d, "revoke") {
		t.Errorf("refusal does not say why: %s", d)
	}
	s.must(200, "GET", "CarePlan/plan", nil, "view")
	s.must(201, "PUT", "CarePlan/draft", with(plan, "id", "draft"), "clinical")
	s.must(204, "DELETE", "CarePlan/draft", nil, "clinical")
}

// A plan that is no longer current is hidden from urgent care, even with
// break-glass: break-glass reveals only a plan hidden because its patient
// withdrew consent. Clinicians and the patient see them all.
func TestNoLongerSharedPlans(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(s *server, plan map[string]any) // stops sharing the active plan
		btg  int                                  // view+btg reads it with this status
	}{
		{"revoked", func(s *server, plan map[string]any) {
			s.must(200, "PUT", "CarePlan/plan", revoked(plan), "clinical")
		}, 404},
		{"completed", func(s *server, plan map[string]any) {
			s.must(200, "PUT", "CarePlan/plan", with(revoked(plan), "status", "completed"), "clinical")
		}, 404},
		{"entered-in-error", func(s *server, plan map[string]any) {
			s.must(200, "PUT", "CarePlan/plan", with(revoked(plan), "status", "entered-in-error"), "clinical")
		}, 404},
		{"consent withdrawn", func(s *server, _ map[string]any) {
			s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentWithdrawn, "active", "deny", "2026-11-10T09:00:00Z"), "clinical")
		}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, plan := sharedPlan(t, "plan")
			tc.end(s, plan)
			for _, role := range []string{"view", "system", "patient:other"} {
				s.must(404, "GET", "CarePlan/plan", nil, role)
				if n, total := count(s.must(200, "GET", "CarePlan?patient=Patient/pat", nil, role)); n != 0 || total != 0 {
					t.Errorf("%s: %d plans (total %v), want 0 (0)", role, n, total)
				}
			}
			s.must(tc.btg, "GET", "CarePlan/plan", nil, "view+btg")
			s.must(200, "GET", "CarePlan/plan", nil, "clinical")
			s.must(200, "GET", "CarePlan/plan", nil, "patient:pat")
		})
	}
}

// Only the latest consent-to-share decision counts, and only as its
// provision says: a decision that denies withdraws sharing whatever its
// code, and one that permits must say permit.
func TestConsentDecision(t *testing.T) {
	given := func(provision string) map[string]any {
		c := consentRes(profiles.CodeConsentGiven, "active", provision, "2026-11-10T09:00:00Z")
		if provision == "" {
			c = without(c, "provision")
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		consent  map[string]any
		view     int    // urgent care reads the approved plan with this status
		write    int    // a clinician reviews it (active again) with this status
		refusal  string // and the refusal says this
		newDraft int    // a new draft plan is written with this status
	}{
		{"given, permit", given("permit"), 200, 200, "", 201},
		{"given, deny", given("deny"), 404, 422, "withdrawn consent", 422},
		{"given, no provision type", given(""), 200, 422, "no active Consent", 422},
		{"withdrawn", consentRes(profiles.CodeConsentWithdrawn, "active", "deny", "2026-11-10T09:00:00Z"), 404, 422, "withdrawn consent", 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, plan := sharedPlan(t, "plan")
			s.must(201, "POST", "Consent", tc.consent, "clinical")
			s.must(tc.view, "GET", "CarePlan/plan", nil, "view")
			code, m := s.do("PUT", "CarePlan/plan", with(with(plan, "status", "active"), "description", "reviewed"), "clinical")
			if code != tc.write || !strings.Contains(diagnostics(m), tc.refusal) {
				t.Errorf("review: %d %s, want %d saying %q", code, diagnostics(m), tc.write, tc.refusal)
			}
			if code, m := s.do("PUT", "CarePlan/new", with(plan, "id", "new"), "clinical"); code != tc.newDraft {
				t.Errorf("new draft: %d %s, want %d", code, diagnostics(m), tc.newDraft)
			}
		})
	}
}
