package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"ucp/auth"
)

// A patient sees on their own page who has looked at their plan: when,
// who in plain English and from which organisation, and not their own
// visits.
func TestPatientSeesWhoLookedAtTheirPlan(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	e.putRes(map[string]any{"resourceType": "Organization", "id": "ex-ambulance", "name": "Example Ambulance Service",
		"identifier": []any{map[string]any{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "F84012"}}})
	crew := e.open(auth.RoleView, "", "Paramedic Lee", "/app/patients/ex-patient")
	text(t, crew, "#cpr-decision")
	ctx := e.open(auth.RolePatient, "ex-patient", "Margaret Okafor", "/app/")
	text(t, ctx, "#cpr-decision")
	// The patient's first visit, then the paramedic's, are in the audit
	// store once drained; the second visit reads them.
	if _, err := e.sink.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#looks tbody tr')].map(r => r.innerText.replace(/\s+/g, ' ').trim())`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("the patient's page lists %d looks, want the paramedic's one (not their own visits):\n%s", len(rows), text(t, ctx, "main"))
	}
	for _, want := range []string{"Paramedic Lee", "an ambulance, NHS 111 or out-of-hours clinician", "Example Ambulance Service"} {
		if !strings.Contains(rows[0], want) {
			t.Errorf("the look %q does not say %q", rows[0], want)
		}
	}
	if strings.Contains(rows[0], "Emergency") {
		t.Errorf("an ordinary look is shown as emergency access: %q", rows[0])
	}
	axe(t, ctx)
	shoot(t, ctx, "patient-access-log")
}
