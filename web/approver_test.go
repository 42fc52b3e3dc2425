package web_test

import (
	"context"
	"net/http"
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
