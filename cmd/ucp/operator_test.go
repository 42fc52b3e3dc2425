package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/auth/devissuer"
)

// mint is a development token for req.
func mint(t *testing.T, srv *server, req devissuer.TokenRequest) string {
	t.Helper()
	tok, err := srv.dev.Mint(req)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// TestServeAgreementsAreTheOperators: only an admin of the organisation
// that runs the service (--operator-ods; F84012 in --dev) records or ends an
// information-sharing agreement, reads the audit or runs $reindex; an
// organisation without an agreement gets nothing through its own admin,
// and an agreement takes effect, and ends, at once.
func TestServeAgreementsAreTheOperators(t *testing.T) {
	srv := startTestServer(t, filepath.Join(t.TempDir(), "ucp.db"), false)
	defer srv.Close()
	operator := token(t, srv, auth.RoleAdmin) // F84012, the --dev operator
	otherAdmin := mint(t, srv, devissuer.TokenRequest{Role: auth.RoleAdmin, Org: "Y11111", User: "y-admin"})
	otherClinician := mint(t, srv, devissuer.TokenRequest{Role: auth.RoleClinical, Org: "Y11111", User: "y-clinician"})
	agreement := func(status string) []byte {
		return []byte(`{"resourceType":"Contract","id":"isa-y11111","status":"` + status + `","applies":{"start":"2020-01-01"},` +
			`"authority":[{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"Y11111"}}]}`)
	}
	type step struct {
		name, method, path, tok string
		body                    []byte
		want                    int
	}
	run := func(steps []step) {
		t.Helper()
		for _, s := range steps {
			code, _, b := call(t, s.method, srv.base+s.path, s.tok, s.body, "Content-Type: application/fhir+json")
			if code != s.want {
				t.Errorf("%s: %s %s = %d %.300s, want %d", s.name, s.method, s.path, code, b, s.want)
			}
			if code >= 400 && !strings.Contains(string(b), "OperationOutcome") {
				t.Errorf("%s: %d without an OperationOutcome: %s", s.name, code, b)
			}
		}
	}
	writer := mint(t, srv, devissuer.TokenRequest{Role: auth.RoleSystem, Scope: "system/*.cruds"})
	run([]step{
		{"a system client records an agreement", "PUT", "/Contract/isa-y11111", writer, agreement("executed"), 403},
		{"an organisation's admin records its own agreement", "PUT", "/Contract/isa-y11111", otherAdmin, agreement("executed"), 403},
		{"nor by POST", "POST", "/Contract", otherAdmin, agreement("executed"), 403},
		{"nor reads the audit", "GET", "/AuditEvent?_summary=count", otherAdmin, nil, 403},
		{"nor reads anything else", "GET", "/Organization", otherAdmin, nil, 403},
		{"nor runs $reindex", "POST", "/$reindex", otherAdmin, nil, 403},
		{"its clinicians read nothing", "GET", "/Patient", otherClinician, nil, 403},
		{"the operator records the agreement", "PUT", "/Contract/isa-y11111", operator, agreement("executed"), 201},
		{"its clinicians read at once", "GET", "/Patient", otherClinician, nil, 200},
		{"its admin now acts for it", "GET", "/Organization", otherAdmin, nil, 200},
		{"but changes no agreement", "PUT", "/Contract/isa-y11111", otherAdmin, agreement("terminated"), 403},
		{"nor reads the audit", "GET", "/AuditEvent?_summary=count", otherAdmin, nil, 403},
		{"nor runs $reindex", "POST", "/Patient/$reindex", otherAdmin, nil, 403},
		{"the operator reads the audit", "GET", "/AuditEvent?_summary=count", operator, nil, 200},
		{"the operator ends the agreement", "PUT", "/Contract/isa-y11111", operator, agreement("terminated"), 200},
		{"its clinicians read nothing at once", "GET", "/Patient", otherClinician, nil, 403},
	})

	// $reindex is an operator's act: the operator's admins and systems that
	// may write every type it touches.
	clinical, view := token(t, srv, auth.RoleClinical), token(t, srv, auth.RoleView)
	system := token(t, srv, auth.RoleSystem) // system/*.rs
	carePlanWriter := mint(t, srv, devissuer.TokenRequest{Role: auth.RoleSystem, Scope: "system/*.rs system/CarePlan.u"})
	empty := []byte(`{"resourceType":"Parameters"}`)
	run([]step{
		{"clinician, a type", "POST", "/Patient/$reindex", clinical, nil, 403},
		{"clinician", "POST", "/$reindex", clinical, nil, 403},
		{"viewer", "POST", "/$reindex", view, nil, 403},
		{"reading system", "POST", "/$reindex", system, nil, 403},
		{"system writing CarePlan only, every type", "POST", "/$reindex", carePlanWriter, nil, 403},
		{"system writing CarePlan only, CarePlan", "POST", "/CarePlan/$reindex", carePlanWriter, empty, 200},
		{"system writing every type", "POST", "/$reindex", writer, empty, 200},
		{"operator admin", "POST", "/$reindex", operator, empty, 200},
		{"operator admin, a type", "POST", "/Patient/$reindex", operator, nil, 200},
	})
}

// TestServeOperatorNeedsNoAgreement: the organisation that runs the service
// has no agreement with itself.
func TestServeOperatorNeedsNoAgreement(t *testing.T) {
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
		OperatorODS: "X26"}
	srv := serveTest(t, cfg)
	for _, test := range []struct {
		org  string
		want int
	}{{"X26", 200}, {"Y11111", 403}} {
		tok := mint(t, srv, devissuer.TokenRequest{Role: auth.RoleClinical, Org: test.org})
		if code, _, b := call(t, "GET", srv.base+"/Patient", tok, nil); code != test.want {
			t.Errorf("a clinician of %s: GET /Patient = %d %.300s, want %d", test.org, code, b, test.want)
		}
	}
}

// TestServeAuditNeedsItsOwnScope: a system client reads AuditEvents only
// with a scope that names AuditEvent; system/*.rs reaches the clinical
// record, not who opened it, by any road: read, search, a search or
// history of every type, or a chain.
func TestServeAuditNeedsItsOwnScope(t *testing.T) {
	srv := startTestServer(t, filepath.Join(t.TempDir(), "ucp.db"), false)
	defer srv.Close()
	wildcard := token(t, srv, auth.RoleSystem) // system/*.rs
	auditor := mint(t, srv, devissuer.TokenRequest{Role: auth.RoleSystem, Scope: "system/*.rs system/AuditEvent.rs"})
	// A write is audited in its own transaction: this patient has an
	// AuditEvent at once.
	code, _, b := call(t, "POST", srv.base+"/Patient", token(t, srv, auth.RoleClinical),
		[]byte(`{"resourceType":"Patient","name":[{"family":"Jones"}],"gender":"female","birthDate":"1951-04-02"}`), "Content-Type: application/fhir+json")
	if code != 201 {
		t.Fatalf("create a patient: %d %s", code, b)
	}
	for _, test := range []struct {
		path            string
		wildcard, audit int
		// mixed: both get 200, and only the auditor sees AuditEvents.
		mixed bool
	}{
		{"/AuditEvent", 403, 200, false},
		{"/AuditEvent/_history", 403, 200, false},
		{"/_history", 403, 200, false},
		{"?_type=AuditEvent", 403, 200, false},
		{"?_count=1000", 200, 200, true},
		{"/Patient?_revinclude=AuditEvent:patient", 200, 200, true},
		{"/Patient?_has:AuditEvent:patient:subtype=create", 403, 200, false},
	} {
		for _, who := range []struct {
			name, tok string
			want      int
		}{{"system/*.rs", wildcard, test.wildcard}, {"with system/AuditEvent.rs", auditor, test.audit}} {
			code, _, b := call(t, "GET", srv.base+test.path, who.tok, nil)
			if code != who.want {
				t.Errorf("%s: GET %s = %d %.300s, want %d", who.name, test.path, code, b, who.want)
			}
			if events := strings.Contains(string(b), `"resourceType":"AuditEvent"`); test.mixed && events != (who.tok == auditor) {
				t.Errorf("%s: GET %s returned AuditEvents: %v", who.name, test.path, events)
			}
		}
	}
}

// TestServeWithoutOperatorSaysSo: a production server (no --dev) started
// without --operator-ods serves, and says at once that nobody can record
// agreements.
func TestServeWithoutOperatorSaysSo(t *testing.T) {
	for _, test := range []struct {
		name     string
		operator string
		warned   bool
	}{
		{"no operator", "", true},
		{"operator", "X26", false},
	} {
		t.Run(test.name, func(t *testing.T) {
			var logs lockedBuffer
			cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), MaxBody: 1 << 20,
				Issuers: []string{"https://cis2.example.invalid"}, Audiences: []string{"ucp"}, MinIDAssurance: 3, OperatorODS: test.operator}
			srv, err := startServer(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			srv.Close()
			if got := strings.Contains(logs.String(), "no --operator-ods"); got != test.warned {
				t.Errorf("warned = %v, want %v; log:\n%s", got, test.warned, logs.String())
			}
		})
	}
	// --dev defaults the operator to the development organisation.
	cfg, err := parseServeFlags([]string{"--dev"}, io.Discard)
	if err != nil || cfg.operator() != devOrg {
		t.Errorf("--dev: operator %q, %v; want %s", cfg.operator(), err, devOrg)
	}
}
