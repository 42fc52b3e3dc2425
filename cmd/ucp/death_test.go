package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/auth/devissuer"
	"ucp/profiles"
)

// TestServeRecordDeath: on the server as wired, a viewer (urgent care) may
// not record a death and a clinician may; the death completes the demo
// patient's plan, so urgent care no longer finds a plan in force.
func TestServeRecordDeath(t *testing.T) {
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true, DemoPatients: 1,
		MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
	srv := serveTest(t, cfg)
	clinical, view := token(t, srv, auth.RoleClinical), token(t, srv, auth.RoleView)
	search := func(tok, path string) []map[string]any {
		t.Helper()
		code, _, b := call(t, "GET", srv.base+"/"+path, tok, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		var bundle struct {
			Entry []struct{ Resource map[string]any }
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, e := range bundle.Entry {
			out = append(out, e.Resource)
		}
		return out
	}
	pats := search(view, "Patient?identifier="+profiles.SystemNHSNumber+"|9434765919")
	if len(pats) != 1 {
		t.Fatalf("%d demo patients, want 1", len(pats))
	}
	id := pats[0]["id"].(string)
	active := "CarePlan?status=active&subject=Patient/" + id
	if n := len(search(view, active)); n != 1 {
		t.Fatalf("%d active plans for the demo patient before the death, want 1", n)
	}
	body := []byte(`{"resourceType":"Parameters","parameter":[{"name":"date","valueDateTime":"2026-11-20"},{"name":"place","valueCode":"` + profiles.DeathLocationOwnHome + `"}]}`)
	op := srv.base + "/Patient/" + id + "/$record-death"
	if code, _, b := call(t, "POST", op, view, body, "Content-Type: application/fhir+json"); code != 403 || !strings.Contains(string(b), "OperationOutcome") {
		t.Errorf("a viewer records a death: %d %s, want 403", code, b)
	}
	if code, _, b := call(t, "POST", op, "", body, "Content-Type: application/fhir+json"); code != 401 {
		t.Errorf("an anonymous request records a death: %d %s, want 401", code, b)
	}
	if n := len(search(view, active)); n != 1 {
		t.Fatalf("refused requests changed the plan: %d active plans, want 1", n)
	}
	if code, _, b := call(t, "POST", op, clinical, body, "Content-Type: application/fhir+json"); code != 200 {
		t.Fatalf("a clinician records a death: %d %s", code, b)
	}
	if n := len(search(view, active)); n != 0 {
		t.Errorf("%d active plans after the death, want 0", n)
	}
	if got := search(clinical, "Patient/"+id+"/_history?_count=1"); len(got) != 1 || got[0]["deceasedDateTime"] != "2026-11-20" {
		t.Errorf("latest Patient version %v, want deceasedDateTime 2026-11-20", got)
	}

	// A system (a GP or hospital system told of the death) records it with
	// write scopes for what the death changes.
	code, h, b := call(t, "POST", srv.base+"/Patient", clinical, []byte(`{"resourceType":"Patient","name":[{"family":"Okafor"}],"birthDate":"1938-02-03"}`),
		"Content-Type: application/fhir+json")
	if code != 201 {
		t.Fatalf("create a patient: %d %s", code, b)
	}
	other := strings.Split(strings.TrimPrefix(h.Get("Location"), srv.base+"/Patient/"), "/")[0]
	sys, err := srv.dev.Mint(devissuer.TokenRequest{Role: auth.RoleSystem, Org: "F84012",
		Scope: "system/Patient.rus system/Observation.c system/CarePlan.rus system/Provenance.c"})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, b := call(t, "POST", srv.base+"/Patient/"+other+"/$record-death", sys.AccessToken, body, "Content-Type: application/fhir+json"); code != 200 {
		t.Errorf("a system records a death: %d %s", code, b)
	}
}
