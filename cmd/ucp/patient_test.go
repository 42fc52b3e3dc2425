package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/auth/devissuer"
)

// TestServePatientReadsOwnRecord: a patient's app reads their own plan and
// its parts by id (as it does when it follows the plan's references), its
// versions and its history, and nothing of another patient's, through the
// real wiring (verifier, policy with the store's compartment index, care-plan
// read rules).
func TestServePatientReadsOwnRecord(t *testing.T) {
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true, DemoPatients: 2,
		MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
	srv := serveTest(t, cfg)

	// Two patients' plans. The patient's own is one urgent care sees (an
	// active plan, consent to share); the other's is any a clinician sees.
	planOf := map[string]string{} // patient id → a plan of theirs
	goalOf := map[string]string{} // patient id → a Goal reference of that plan
	plans := func(role auth.Role) []string {
		t.Helper()
		code, _, b := call(t, "GET", srv.base+"/CarePlan?_count=100", token(t, srv, role), nil)
		if code != 200 {
			t.Fatalf("CarePlan search: %d %s", code, b)
		}
		var bundle struct {
			Entry []struct {
				Resource struct {
					ID      string `json:"id"`
					Subject struct {
						Reference string `json:"reference"`
					} `json:"subject"`
					Goal []struct {
						Reference string `json:"reference"`
					} `json:"goal"`
				} `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			t.Fatal(err)
		}
		var patients []string
		for _, e := range bundle.Entry {
			p, ok := strings.CutPrefix(e.Resource.Subject.Reference, "Patient/")
			if !ok {
				continue
			}
			patients = append(patients, p)
			if planOf[p] == "" {
				planOf[p] = e.Resource.ID
				if len(e.Resource.Goal) > 0 {
					goalOf[p] = e.Resource.Goal[0].Reference
				}
			}
		}
		return patients
	}
	shared := plans(auth.RoleView)
	if len(shared) == 0 {
		t.Fatal("the demo has no plan that urgent care sees")
	}
	me, other := shared[0], ""
	for _, p := range plans(auth.RoleClinical) {
		if p != me {
			other = p
		}
	}
	if other == "" {
		t.Fatalf("the demo has plans for %d patients, want 2 or more", len(planOf))
	}

	tok, err := srv.dev.Mint(devissuer.TokenRequest{Role: auth.RolePatient, Patient: me})
	if err != nil {
		t.Fatal(err)
	}
	patient := tok.AccessToken
	tests := []struct {
		name, path string
		want       int
	}{
		{"own Patient", "/Patient/" + me, 200},
		{"own plan", "/CarePlan/" + planOf[me], 200},
		{"own plan, a version", "/CarePlan/" + planOf[me] + "/_history/1", 200},
		{"own plan's history", "/CarePlan/" + planOf[me] + "/_history", 200},
		{"own plans by search", "/CarePlan?patient=" + me, 200},
		{"own plans in the compartment", "/Patient/" + me + "/CarePlan", 200},
		{"another's Patient", "/Patient/" + other, 403},
		{"another's plan", "/CarePlan/" + planOf[other], 403},
		{"another's plan, a version", "/CarePlan/" + planOf[other] + "/_history/1", 403},
		{"another's plan's history", "/CarePlan/" + planOf[other] + "/_history", 403},
		{"another's plans by search", "/CarePlan?patient=" + other, 403},
		{"a plan that does not exist", "/CarePlan/no-such-plan", 403},
	}
	if g := goalOf[me]; g != "" {
		tests = append(tests, struct {
			name, path string
			want       int
		}{"a Goal of the own plan", "/" + g, 200})
	}
	if g := goalOf[other]; g != "" {
		tests = append(tests, struct {
			name, path string
			want       int
		}{"a Goal of another's plan", "/" + g, 403})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, b := call(t, "GET", srv.base+tc.path, patient, nil)
			if code != tc.want {
				t.Fatalf("GET %s = %d %s, want %d", tc.path, code, b, tc.want)
			}
			if code == 403 && !strings.Contains(string(b), "OperationOutcome") {
				t.Errorf("a 403 without an OperationOutcome: %s", b)
			}
		})
	}
}

// TestServePatientWritesOwnRecord: whatever a patient writes lands in their
// own compartment, and only there, as does what a staff app acting only
// through patient/ scopes writes, in single interactions and bundles alike;
// an update or patch also finds the resource theirs already.
func TestServePatientWritesOwnRecord(t *testing.T) {
	srv := startTestServer(t, filepath.Join(t.TempDir(), "ucp.db"), false)
	defer srv.Close()
	clinical := token(t, srv, auth.RoleClinical)
	create := func(typ, body string) string {
		t.Helper()
		code, h, b := call(t, "POST", srv.base+"/"+typ, clinical, []byte(body), "Content-Type: application/fhir+json")
		if code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		loc := h.Get("Location")
		return strings.Split(strings.TrimPrefix(loc, srv.base+"/"), "/")[1]
	}
	patient := `{"resourceType":"Patient","name":[{"family":"Jones"}],"gender":"female","birthDate":"1951-04-02"}`
	me, other := create("Patient", patient), create("Patient", patient)
	qr := func(subject string) string {
		s := `{"resourceType":"QuestionnaireResponse","status":"completed"`
		if subject != "" {
			s += `,"subject":{"reference":"Patient/` + subject + `"}`
		}
		return s + `}`
	}
	theirs := create("QuestionnaireResponse", qr(other))
	mine := create("QuestionnaireResponse", qr(me))
	pat := mint(t, srv, devissuer.TokenRequest{Role: auth.RolePatient, Patient: me})
	app := mint(t, srv, devissuer.TokenRequest{Role: auth.RoleClinical, Patient: me, Scope: "openid launch/patient patient/*.cruds"})
	txn := func(body string) string {
		return `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":` + body + `,"request":{"method":"POST","url":"QuestionnaireResponse"}}]}`
	}
	for _, test := range []struct {
		name, tok, method, path, body string
		want                          int
	}{
		{"patient, into their own record", pat, "POST", "/QuestionnaireResponse", qr(me), 201},
		{"patient, into another's record", pat, "POST", "/QuestionnaireResponse", qr(other), 403},
		{"patient, into nobody's record", pat, "POST", "/QuestionnaireResponse", qr(""), 403},
		{"patient, into another's record in a transaction", pat, "POST", "", txn(qr(other)), 403},
		{"app, into their own record", app, "POST", "/QuestionnaireResponse", qr(me), 201},
		{"app, into another's record", app, "POST", "/QuestionnaireResponse", qr(other), 403},
		{"app, into another's record in a transaction", app, "POST", "", txn(qr(other)), 403},
		{"app, update of their own", app, "PUT", "/QuestionnaireResponse/" + mine, `{"resourceType":"QuestionnaireResponse","id":"` + mine + `","status":"amended","subject":{"reference":"Patient/` + me + `"}}`, 200},
		{"app, moving their own to another", app, "PUT", "/QuestionnaireResponse/" + mine, `{"resourceType":"QuestionnaireResponse","id":"` + mine + `","status":"amended","subject":{"reference":"Patient/` + other + `"}}`, 403},
		{"app, patching their own to another", app, "PATCH", "/QuestionnaireResponse/" + mine, `[{"op":"replace","path":"/subject/reference","value":"Patient/` + other + `"}]`, 403},
		{"app, taking another's", app, "PUT", "/QuestionnaireResponse/" + theirs, `{"resourceType":"QuestionnaireResponse","id":"` + theirs + `","status":"amended","subject":{"reference":"Patient/` + me + `"}}`, 403},
		{"clinician, anyone's", clinical, "POST", "/QuestionnaireResponse", qr(other), 201},
	} {
		t.Run(test.name, func(t *testing.T) {
			ct := "application/fhir+json"
			if test.method == "PATCH" {
				ct = "application/json-patch+json"
			}
			code, _, b := call(t, test.method, srv.base+test.path, test.tok, []byte(test.body), "Content-Type: "+ct)
			if code != test.want {
				t.Fatalf("%s %s = %d %.400s, want %d", test.method, test.path, code, b, test.want)
			}
			if code == 403 && !strings.Contains(string(b), "OperationOutcome") {
				t.Errorf("a 403 without an OperationOutcome: %s", b)
			}
		})
	}
	// Nothing refused was written: another's record holds only the
	// clinician's two.
	code, _, b := call(t, "GET", srv.base+"/QuestionnaireResponse?subject=Patient/"+other+"&_summary=count", clinical, nil)
	if code != 200 || !strings.Contains(string(b), `"total":2`) {
		t.Errorf("QuestionnaireResponses of the other patient: %d %s, want 2", code, b)
	}
}

// TestServeEverythingShowsWhatTheCallerMayRead: Patient/$everything is
// authorized as a read of the Patient, but the compartment holds types some
// callers may not read: the AuditEvents of everyone who opened the record
// (auditors only), Practitioners (not a patient's to read). Each is left out
// for them.
func TestServeEverythingShowsWhatTheCallerMayRead(t *testing.T) {
	srv := startTestServer(t, filepath.Join(t.TempDir(), "ucp.db"), true)
	defer srv.Close()
	view := token(t, srv, auth.RoleView)
	system := token(t, srv, auth.RoleSystem) // system/*.rs: the clinical record, not the audit
	auditor := mint(t, srv, devissuer.TokenRequest{Role: auth.RoleSystem, Scope: "system/*.rs system/AuditEvent.rs"})
	code, _, b := call(t, "GET", srv.base+"/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919", view, nil)
	var found struct {
		Entry []struct {
			Resource struct {
				ID string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &found); code != 200 || err != nil || len(found.Entry) != 1 {
		t.Fatalf("the demo patient: %d %v %s", code, err, b)
	}
	id := found.Entry[0].Resource.ID
	// That read is audited; wait until its AuditEvent is stored.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, b := call(t, "GET", srv.base+"/AuditEvent?_summary=count&patient=Patient/"+id, auditor, nil)
		var c struct{ Total int }
		if json.Unmarshal(b, &c) == nil && c.Total > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no AuditEvent for Patient/%s after 10 s: %s", id, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tok, err := srv.dev.Mint(devissuer.TokenRequest{Role: auth.RolePatient, Patient: id})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who, tok string
		never    []string
		want     []string
	}{
		{"view", view, []string{"AuditEvent"}, []string{"Patient", "CarePlan", "Practitioner"}},
		{"patient", tok.AccessToken, []string{"AuditEvent", "Provenance", "Practitioner"}, []string{"Patient", "CarePlan"}},
		{"system", system, []string{"AuditEvent"}, []string{"Patient", "CarePlan"}},
		{"auditing system", auditor, nil, []string{"Patient", "CarePlan", "AuditEvent"}},
	} {
		t.Run(tc.who, func(t *testing.T) {
			code, _, b := call(t, "GET", srv.base+"/Patient/"+id+"/$everything?_count=1000", tc.tok, nil)
			if code != 200 {
				t.Fatalf("$everything: %d %s", code, b)
			}
			var bundle struct {
				Entry []struct {
					Resource struct {
						ResourceType string `json:"resourceType"`
					} `json:"resource"`
				} `json:"entry"`
			}
			if err := json.Unmarshal(b, &bundle); err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, e := range bundle.Entry {
				got[e.Resource.ResourceType]++
			}
			for _, typ := range tc.never {
				if got[typ] > 0 {
					t.Errorf("%d %s in the %s's $everything", got[typ], typ, tc.who)
				}
			}
			for _, typ := range tc.want {
				if got[typ] == 0 {
					t.Errorf("no %s in the %s's $everything (%v)", typ, tc.who, got)
				}
			}
		})
	}

	// Patient/{id}/* likewise: every type the viewer may search there.
	code, _, b = call(t, "GET", srv.base+"/Patient/"+id+"/*?_count=1000", view, nil)
	if code != 200 || strings.Contains(string(b), `"resourceType":"AuditEvent"`) || !strings.Contains(string(b), `"resourceType":"CarePlan"`) {
		t.Errorf("view: GET Patient/%s/* = %d, want 200 with the plan and no AuditEvent: %.300s", id, code, b)
	}

	// Nor does a viewer, or a system without a scope naming AuditEvent,
	// learn whose records were opened through _has: that is a search of
	// AuditEvents, which only auditors make.
	has := "/Patient?_has:AuditEvent:patient:subtype=read&_summary=count"
	for _, who := range []struct{ name, tok string }{{"view", view}, {"system", system}} {
		if code, _, b := call(t, "GET", srv.base+has, who.tok, nil); code != 403 || !strings.Contains(string(b), "AuditEvent") {
			t.Errorf("%s: GET %s = %d %s, want 403 naming AuditEvent", who.name, has, code, b)
		}
	}
	if code, _, b := call(t, "GET", srv.base+has, auditor, nil); code != 200 {
		t.Errorf("auditing system: GET %s = %d %s, want 200", has, code, b)
	}
}
