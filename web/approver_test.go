package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/fhir/service"
)

// putAs writes res as the trusted loader, as p.
func (e *env) putAs(p *auth.Principal, res map[string]any) {
	e.t.Helper()
	ctx := auth.NewContext(context.Background(), p)
	if _, err := e.loader.Write(ctx, &service.Write{Interaction: "update", Method: http.MethodPut, Type: resource.Type(res),
		ID: resource.ID(res), Resource: res, CreateOnMissing: true}); err != nil {
		e.t.Fatalf("put %s/%s: %v", resource.Type(res), resource.ID(res), err)
	}
}

// The urgent care view reads the approver from the approval's
// Composition, the history from its Provenance: for every kind of
// approver (a fhirUser, only an SDS user id as the demo loader has, or a
// name alone) the two name the same person.
func TestUrgentViewAndHistoryNameTheSameApprover(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *auth.Principal
		want string
	}{
		{"fhirUser", &auth.Principal{Role: auth.RoleClinical, Name: "Dr Priya Shah", FHIRUser: "Practitioner/ex-gp"}, "Dr Priya Shah"},
		{"SDS user id only", &auth.Principal{Role: auth.RoleClinical, Subject: "ucp-demo-loader", UserID: "ucp-demo-loader", Name: "ucp demo data loader"}, "ucp demo data loader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.put("organization-gp", "practitioner-gp", "practitioner-nurse", "patient", "consent-given", "condition",
				"prognosis", "cpr-dnacpr", "document-respect", "treatment-escalation", "preferred-place-death-home", "key-contact",
				"careteam", "adrt-flag", "document-adrt", "medication-morphine")
			e.putAs(tc.p, e.load("careplan-active"))
			ctx := e.open(auth.RoleClinical, "", "Dr Sam Okoro", "/app/patients/ex-patient")
			onView := text(t, ctx, "#plan-approver")
			if onView != tc.want {
				t.Errorf("the urgent care view names approver %q, want %q", onView, tc.want)
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/app/plans/ex-careplan/history")); err != nil {
				t.Fatal(err)
			}
			if got := text(t, ctx, ".ucp-history__who"); got != "Approved by "+onView {
				t.Errorf("the history says %q of the approved version; the urgent care view named %q", got, onView)
			}
		})
	}
}

// An older approved version, opened from a link, shows what was approved
// then (its own approval's Composition), not the current one's content.
func TestAnOlderApprovedVersionShowsItsOwnDocument(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	// Version 2, approved with the change: for CPR now.
	if code, body := e.postForm(auth.RoleClinical, "/app/plans/ex-careplan/sections", url.Values{"section": {"cpr"}, "cpr": {"http://snomed.info/sct|450475007"}}, true); code != http.StatusSeeOther {
		t.Fatalf("changing the CPR decision: %d\n%s", code, body)
	}
	if s, v := e.planStatus("ex-careplan"); s != "active" || v != 2 {
		t.Fatalf("after the change the plan is %s version %d, want active version 2", s, v)
	}
	ctx := e.open(auth.RoleClinical, "", "Dr Sam Okoro", "/app/patients/ex-patient")
	if got := text(t, ctx, "#cpr-decision"); strings.Contains(got, "Not for") {
		t.Fatalf("the current version shows CPR decision %q, want the changed one", got)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/app/patients/ex-patient?plan=ex-careplan&version=1")); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#cpr-decision"); !strings.Contains(got, "Not for attempted cardiopulmonary resuscitation") {
		t.Errorf("version 1 shows CPR decision %q, want the one approved then", got)
	}
	if got := text(t, ctx, ".ucp-source"); !strings.Contains(got, "as approved (version 1)") {
		t.Errorf("version 1 says %q, want it shown from its own approval", got)
	}
	if !exists(t, ctx, "#newer-version") {
		t.Error("version 1 does not say a newer version exists")
	}
}
