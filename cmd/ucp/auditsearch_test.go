package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"ucp/auth"
)

// TestReadAuditSearchableSoon: a read's AuditEvent, journaled before the
// response and drained into the audit file in the background (no Drain
// called here), is found by an audit search by entity within seconds. The
// drainer gathers for 200 ms; the bound is wider only so that a loaded
// machine does not fail the test.
func TestReadAuditSearchableSoon(t *testing.T) {
	srv := startTestServer(t, t.TempDir()+"/ucp.db", false)
	defer srv.Close()
	clinical, admin := token(t, srv, auth.RoleClinical), token(t, srv, auth.RoleAdmin)
	code, hdr, _ := call(t, http.MethodPost, srv.base+"/Patient", clinical,
		[]byte(`{"resourceType":"Patient","name":[{"family":"Soon"}]}`), "Content-Type: application/fhir+json")
	if code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	loc := hdr.Get("Location")
	patient := loc[strings.Index(loc, "Patient/"):strings.Index(loc, "/_history")]
	if code, _, _ := call(t, http.MethodGet, srv.base+"/"+patient, clinical, nil); code != http.StatusOK {
		t.Fatalf("read: %d", code)
	}
	q := srv.base + "/AuditEvent?entity=" + url.QueryEscape(patient) + "&subtype=read&_summary=count"
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, b := call(t, http.MethodGet, q, admin, nil)
		if code == http.StatusOK && strings.Contains(string(b), `"total":1`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %s; the read's AuditEvent is not searchable after 10 s", q, code, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
