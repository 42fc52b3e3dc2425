package web_test

import (
	"context"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/fhir/resource"
)

// patientEvents are the stored AuditEvents naming the patient, once the
// journal is drained.
func (e *env) patientEvents(patient string) []map[string]any {
	e.t.Helper()
	if _, err := e.sink.Drain(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	vs, err := e.loader.Find(context.Background(), "AuditEvent", "patient=Patient/"+patient, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]any
	for _, v := range vs {
		ev, err := resource.Parse(v.JSON)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// A page view is one AuditEvent, not one per read: it names the page, the
// patient and every resource the page showed (the plan, the approval's
// Composition and each section), so nothing disclosed goes unrecorded.
func TestAPageViewIsOneAuditEvent(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	before := len(e.patientEvents("ex-patient"))
	ctx := e.open(auth.RoleView, "", "Paramedic Lee", "/app/patients/ex-patient")
	text(t, ctx, "#cpr-decision")
	evs := e.patientEvents("ex-patient")
	if got := len(evs) - before; got != 1 {
		t.Fatalf("viewing the urgent care page recorded %d AuditEvents, want 1", got)
	}
	var ev map[string]any
	for _, x := range evs {
		for _, en := range resource.List(x["entity"]) {
			for _, d := range resource.List(en.(map[string]any)["detail"]) {
				if dm := d.(map[string]any); dm["type"] == "page" && dm["valueString"] == "/app/patients/ex-patient" {
					ev = x
				}
			}
		}
	}
	if ev == nil {
		t.Fatal("no AuditEvent names the page /app/patients/ex-patient")
	}
	var what []string
	for _, en := range resource.List(ev["entity"]) {
		what = append(what, resource.Str(resource.Obj(en.(map[string]any), "what"), "reference"))
	}
	all := strings.Join(what, " ")
	for _, want := range []string{"Patient/ex-patient", "CarePlan/ex-careplan/_history/", "Composition/", "Observation/ex-cpr-dnacpr/_history/",
		"Observation/ex-ppd-home/_history/", "RelatedPerson/ex-key-contact/_history/", "MedicationStatement/ex-med-morphine/_history/"} {
		if !strings.Contains(all, want) {
			t.Errorf("the page's AuditEvent does not name %s; it names %s", want, all)
		}
	}
	if resource.Str(ev, "outcome") != "0" || resource.Str(ev, "action") != "R" {
		t.Errorf("the page's AuditEvent has outcome %q, action %q; want a successful read", resource.Str(ev, "outcome"), resource.Str(ev, "action"))
	}
}
