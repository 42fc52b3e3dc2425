package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/devissuer"
	"ucp/internal/resttest"
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
		return call(t, method, u, tok, nil, headers...)
	}

	for _, tc := range []struct {
		name, path, tok string
		headers         []string
		status          int
	}{
		{"anonymous", "/$export", "", []string{"Prefer: respond-async"}, 401},
		{"clinician at system level", "/$export", clinical, []string{"Prefer: respond-async"}, 403},
		{"clinician at Patient level", "/Patient/$export", clinical, []string{"Prefer: respond-async"}, 403},
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
	man := awaitExport(t, loc, system)
	counts := map[string]int{}
	for _, f := range man.Output {
		counts[f.Type] += len(download(t, f.URL, system))
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

	// Every kick-off (refused ones too: 5) and each download are audited;
	// polling is not.
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv = startTestServer(t, db, false)
	defer srv.Close()
	bearer = token(t, srv, auth.RoleAdmin)
	_, bundle := get(t, srv.base+"/AuditEvent?subtype="+url.QueryEscape(audit.SysOperation+"|export")+"&_summary=count")
	if total, _ := bundle["total"].(float64); int(total) != 5+len(man.Output) {
		t.Errorf("export AuditEvents: %v, want %d (5 kick-offs, %d downloads)", bundle["total"], 5+len(man.Output), len(man.Output))
	}
}

// TestServeGroupExport exports a Group of patients (a hospice caseload):
// its Patient resources and compartments, and nobody else's.
func TestServeGroupExport(t *testing.T) {
	srv := startTestServer(t, filepath.Join(t.TempDir(), "ucp.db"), true)
	defer srv.Close()
	system := token(t, srv, auth.RoleSystem)
	bearer = system
	defer func() { bearer = "" }()
	clinical := token(t, srv, auth.RoleClinical)
	// Someone outside the group, with a record of their own.
	outsider := []byte(`{"resourceType":"Patient","gender":"male","birthDate":"1940-02-03","name":[{"family":"Outside","given":["Owen"]}]}`)
	code, h, b := call(t, "POST", srv.base+"/Patient", clinical, outsider, "Content-Type: application/fhir+json")
	if code != http.StatusCreated {
		t.Fatalf("POST Patient: %d %s", code, b)
	}
	outsiderID := strings.Split(strings.TrimPrefix(h.Get("Location"), srv.base+"/Patient/"), "/")[0]
	_, bundle := get(t, srv.base+"/Patient?family=Smith&given=Joan&_elements=id")
	entries, _ := bundle["entry"].([]any)
	if len(entries) != 1 {
		t.Fatalf("the demo's Joan Smith: %v", bundle)
	}
	want := []string{entries[0].(map[string]any)["resource"].(map[string]any)["id"].(string)}
	group, _ := json.Marshal(map[string]any{"resourceType": "Group", "type": "person", "actual": true, "name": "Hospice caseload",
		"member": []any{map[string]any{"entity": map[string]any{"reference": "Patient/" + want[0]}}}})
	code, h, b = call(t, "POST", srv.base+"/Group", clinical, group, "Content-Type: application/fhir+json")
	if code != http.StatusCreated {
		t.Fatalf("POST Group: %d %s", code, b)
	}
	gid := strings.Split(strings.TrimPrefix(h.Get("Location"), srv.base+"/Group/"), "/")[0]

	code, h, b = call(t, "GET", srv.base+"/Group/"+gid+"/$export", system, nil, "Prefer: respond-async")
	if code != http.StatusAccepted {
		t.Fatalf("kick-off: %d %s", code, b)
	}
	var patients []string
	others := 0
	for _, f := range awaitExport(t, h.Get("Content-Location"), system).Output {
		for _, res := range download(t, f.URL, system) {
			if res["resourceType"] == "Patient" {
				patients = append(patients, res["id"].(string))
				continue
			}
			others++
			if raw, _ := json.Marshal(res); bytes.Contains(raw, []byte(outsiderID)) {
				t.Errorf("%s/%s, about the patient outside the group, was exported: %s", res["resourceType"], res["id"], raw)
			}
		}
	}
	if !slices.Equal(patients, want) || others == 0 {
		t.Errorf("exported patients %v and %d other resources, want patients %v and their records", patients, others, want)
	}
	if code, _, _ := call(t, "GET", srv.base+"/Group/no-such-group/$export", system, nil, "Prefer: respond-async"); code != http.StatusNotFound {
		t.Errorf("unknown group: %d, want 404", code)
	}
}

// call sends a request with a bearer token, a body and "Key: value" headers.
func call(t *testing.T, method, u, tok string, body []byte, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	if tok != "" {
		headers = append([]string{resttest.Bearer(tok)}, headers...)
	}
	r := resttest.Do(t, method, u, string(body), headers...)
	return r.Status, r.Header, r.Body
}

// exportManifest is the part of a Bulk Data manifest the tests read.
type exportManifest struct {
	Output []struct {
		Type, URL string
		Count     int
	}
}

// awaitExport polls an export's status URL until its manifest is ready.
func awaitExport(t *testing.T, loc, tok string) exportManifest {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, h, b := call(t, "GET", loc, tok, nil)
		if code == http.StatusOK {
			var man exportManifest
			if err := json.Unmarshal(b, &man); err != nil {
				t.Fatal(err)
			}
			return man
		}
		if code != http.StatusAccepted || h.Get("X-Progress") == "" || time.Now().After(deadline) {
			t.Fatalf("status: %d %v %s", code, h, b)
		}
	}
}

// download fetches one NDJSON file of an export and parses its lines.
func download(t *testing.T, u, tok string) []map[string]any {
	t.Helper()
	code, h, b := call(t, "GET", u, tok, nil, "Accept: application/fhir+ndjson")
	if code != http.StatusOK || h.Get("Content-Type") != "application/fhir+ndjson" {
		t.Fatalf("GET %s: %d %v", u, code, h)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var res map[string]any
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		out = append(out, res)
	}
	return out
}
