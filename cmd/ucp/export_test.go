package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/auth/devissuer"
)

// TestServeBulkExport runs $export through the real wiring: dev tokens
// through the verifier, the policy's operation mapping, the care-plan read
// rules, the audit.
func TestServeBulkExport(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ucp.db")
	srv := startTestServer(t, db, true)
	mint := func(req devissuer.TokenRequest) string {
		tok, err := srv.dev.Mint(req)
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	system := mint(devissuer.TokenRequest{Role: auth.RoleSystem})
	other := mint(devissuer.TokenRequest{Role: auth.RoleSystem, ClientID: "another-system", User: "another-system"})
	clinical := token(t, srv, auth.RoleClinical)
	send := func(method, u, tok string, headers ...string) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, u, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(k, strings.TrimSpace(v))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}

	for _, tc := range []struct {
		name, path, tok string
		headers         []string
		status          int
	}{
		{"anonymous", "/$export", "", []string{"Prefer: respond-async"}, 401},
		{"clinician at system level", "/$export", clinical, []string{"Prefer: respond-async"}, 403},
		{"not async", "/$export", system, nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, b := send("GET", srv.base+tc.path, tc.tok, tc.headers...); code != tc.status || !bytes.Contains(b, []byte("OperationOutcome")) {
				t.Errorf("%d %s, want %d", code, b, tc.status)
			}
		})
	}

	code, h, b := send("GET", srv.base+"/$export?_type=Patient,CarePlan", system, "Prefer: respond-async", "Accept: application/fhir+json")
	loc := h.Get("Content-Location")
	if code != http.StatusAccepted || !strings.HasPrefix(loc, srv.base+"/_bulk/") {
		t.Fatalf("kick-off: %d %q %s", code, loc, b)
	}
	if code, _, _ := send("GET", loc, other); code != http.StatusNotFound {
		t.Errorf("another system polls: %d, want 404", code)
	}
	var man struct {
		Output []struct {
			Type, URL string
			Count     int
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, h, b = send("GET", loc, system)
		if code == http.StatusOK {
			if err := json.Unmarshal(b, &man); err != nil {
				t.Fatal(err)
			}
			break
		}
		if code != http.StatusAccepted || h.Get("X-Progress") == "" || time.Now().After(deadline) {
			t.Fatalf("status: %d %v %s", code, h, b)
		}
	}
	counts := map[string]int{}
	for _, f := range man.Output {
		code, h, b := send("GET", f.URL, system, "Accept: application/fhir+ndjson")
		if code != http.StatusOK || h.Get("Content-Type") != "application/fhir+ndjson" {
			t.Fatalf("GET %s: %d %v", f.URL, code, h)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			counts[f.Type]++
		}
		if code, _, _ := send("GET", f.URL, other); code != http.StatusNotFound {
			t.Errorf("another system downloads: %d, want 404", code)
		}
	}
	bearer = system
	defer func() { bearer = "" }()
	for _, typ := range []string{"Patient", "CarePlan"} {
		_, bundle := get(t, srv.base+"/"+typ+"?_summary=count")
		if total, _ := bundle["total"].(float64); counts[typ] != int(total) || total == 0 {
			t.Errorf("%s: exported %d, the system's search counts %v", typ, counts[typ], bundle["total"])
		}
	}

	// Every kick-off (refused ones too: 4) and each download are audited;
	// polling is not.
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv = startTestServer(t, db, false)
	defer srv.Close()
	bearer = token(t, srv, auth.RoleAdmin)
	_, bundle := get(t, srv.base+"/AuditEvent?subtype="+url.QueryEscape("https://ucp.nhs.uk/CodeSystem/operation|export")+"&_summary=count")
	if total, _ := bundle["total"].(float64); int(total) != 4+len(man.Output) {
		t.Errorf("export AuditEvents: %v, want %d (4 kick-offs, %d downloads)", bundle["total"], 4+len(man.Output), len(man.Output))
	}
}
