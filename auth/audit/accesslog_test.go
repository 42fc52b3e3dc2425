package audit_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/fhir/outcome"
	"ucp/fhir/service"
)

// The access log shows a patient who read their record, newest first, and
// nothing else of the audit: not the other patients an event names, not
// the break-glass reason, not the patient's own views or refused reads;
// and only to that patient.
func TestAccessLogShowsOnlyWhoLookedAtTheirOwnRecord(t *testing.T) {
	st, reg := mustSetup(t)
	for _, res := range []map[string]any{
		{"resourceType": "Patient", "id": "p1"},
		{"resourceType": "Patient", "id": "p2"},
		{"resourceType": "Organization", "id": "o1", "name": "Example Ambulance Service",
			"identifier": []any{map[string]any{"system": auth.ODSSystem, "value": "RX1"}}},
	} {
		mustPut(t, st, reg, res)
	}
	sink, err := audit.Open(t.TempDir(), st, reg, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	doctor := clinician()
	doctor.RoleName = "Paramedic"
	crew := &auth.Principal{Subject: "s2", UserID: "555021935108", Name: "Sam Lee", Role: auth.RoleView, Org: "RX1"}
	gp := &auth.Principal{Subject: "s3", UserID: "555021935109", Role: auth.RoleClinical, Org: "F84012"}
	self := &auth.Principal{Subject: "nhs-login-1", Role: auth.RolePatient, Patient: "p1"}
	record := func(p *auth.Principal, at time.Duration, status int, breakGlass string, patients ...string) {
		call := &service.Call{BreakGlass: breakGlass, Disclosure: &service.Disclosure{}}
		call.Disclosure.Shown(patients...)
		sink.Record(auth.NewContext(context.Background(), p), service.AuditRecord{
			Access: service.Access{Interaction: "search-type", Type: "CarePlan", Query: "subject=Patient/" + patients[0]},
			Call:   call, Method: http.MethodGet, Path: "/fhir/CarePlan", Status: status, Time: t0.Add(at)})
	}
	record(doctor, 0, http.StatusOK, "", "p1")
	record(doctor, time.Minute, http.StatusOK, "", "p1") // the same look
	record(gp, time.Hour, http.StatusOK, "", "p1")
	record(crew, 2*time.Hour, http.StatusOK, "unconscious, found by neighbour p2", "p1", "p2")
	record(self, 3*time.Hour, http.StatusOK, "", "p1")
	record(gp, 4*time.Hour, http.StatusForbidden, "", "p1")
	record(crew, 5*time.Hour, http.StatusOK, "", "p2")
	sink.Close()

	policy := auth.DefaultPolicy()
	policy.Compartment = auth.StoreCompartment(st)
	policy.Patients = reg.Patients
	svc, err := service.New(service.Config{Store: st, Registry: reg, Types: reg.Types(),
		Authorizer: auth.InProcess{Next: auth.OperationPolicy{Next: policy}, Trusted: []*auth.Principal{audit.AccessLogReader}},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RegisterOperation(audit.AccessLogOperation(svc)); err != nil {
		t.Fatal(err)
	}
	call := func(p *auth.Principal, patient string) (*service.OperationResult, error) {
		return svc.Operation(auth.NewContext(context.Background(), p), &service.OperationRequest{Name: "access-log", Method: http.MethodGet, Type: "Patient", ID: patient})
	}
	patient := &auth.Principal{Subject: "nhs-login-1", Role: auth.RolePatient, Patient: "p1"}
	patient.Scopes, _ = auth.ParseScopes("patient/*.rs")
	res, err := call(patient, "p1")
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"p2", "unconscious", "neighbour", "555021935", "nhs-login", "CarePlan"} {
		if strings.Contains(string(res.Body), secret) {
			t.Errorf("the access log discloses %q:\n%s", secret, res.Body)
		}
	}
	var got struct {
		Parameter []struct {
			Part []map[string]any
		}
	}
	if err := json.Unmarshal(res.Body, &got); err != nil {
		t.Fatal(err)
	}
	var looks []string
	for _, p := range got.Parameter {
		var parts []string
		for _, part := range p.Part {
			for k, v := range part {
				if k == "name" {
					continue
				}
				if m, ok := v.(map[string]any); ok {
					v = m["value"]
				}
				parts = append(parts, part["name"].(string)+"="+strings.TrimSpace(strings.ReplaceAll(toString(v), "\n", " ")))
			}
		}
		looks = append(looks, strings.Join(parts, " "))
	}
	want := []string{
		"when=2026-12-01T05:00:00Z organisation=RX1 organisationName=Example Ambulance Service role=view name=Sam Lee emergency=true",
		"when=2026-12-01T04:00:00Z organisation=F84012 role=clinical emergency=false",
		"when=2026-12-01T03:01:00Z organisation=RX1 organisationName=Example Ambulance Service role=clinical roleName=Paramedic name=Dr Who emergency=false",
	}
	if diff := cmp.Diff(want, looks); diff != "" {
		t.Errorf("access log of p1 (-want +got):\n%s", diff)
	}
	// Nobody else's, and not for staff: they look at the plan, not at
	// who else did.
	if _, err := call(patient, "p2"); outcome.KindOf(err) != outcome.Forbidden {
		t.Errorf("patient p1 reading p2's access log: %v, want forbidden", err)
	}
	for _, p := range []*auth.Principal{doctor, crew} {
		// With the scopes their sessions have, so only the operation's
		// rule stands between them and the log.
		p.Scopes, _ = auth.ParseScopes("user/*.rs")
		if _, err := call(p, "p1"); outcome.KindOf(err) != outcome.Forbidden {
			t.Errorf("%s reading p1's access log: %v, want forbidden", p.Role, err)
		}
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return strings.Trim(string(b), `"`)
}
