package careplan_test

import (
	"testing"

	"ucp/profiles"
)

// What a read may show is decided afresh on every read, although a plan
// version's decoded head is remembered: a revoked version, a withdrawal and
// a renewed consent each take effect on the very next read of a plan that
// was just shown.
func TestSharingDecidedOnEveryRead(t *testing.T) {
	s := mustServer(t)
	plan := seed(s)
	s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentGiven, "active", "permit", "2026-10-01T09:00:00Z"), "clinical")
	s.must(201, "PUT", "CarePlan/plan", with(plan, "status", "active"), "clinical")
	const urgent = "CarePlan?patient=Patient/pat&_include=CarePlan:subject"
	for _, step := range []struct {
		name    string
		change  func()
		visible bool
	}{
		{"active plan, consent given", func() {}, true},
		{"read again", func() {}, true},
		{"consent withdrawn", func() {
			s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentWithdrawn, "active", "deny", "2026-11-10T09:00:00Z"), "clinical")
		}, false},
		{"consent given again", func() {
			s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentGiven, "active", "permit", "2026-11-11T09:00:00Z"), "clinical")
		}, true},
		{"plan revoked", func() { s.must(200, "PUT", "CarePlan/plan", revoked(with(plan, "status", "active")), "clinical") }, false},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.change()
			es := entries(s.must(200, "GET", urgent, nil, "view"))
			want := 0
			if step.visible {
				want = 2 // the plan and its patient
			}
			if len(es) != want {
				t.Errorf("urgent care sees %d entries, want %d", len(es), want)
			}
			code := 404
			if step.visible {
				code = 200
			}
			s.must(code, "GET", "CarePlan/plan", nil, "view")
		})
	}
}
