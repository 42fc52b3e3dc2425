package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/profiles"
)

// twoEthnicCategories is a UCPPatient that our own profile accepts but UK
// Core does not: UKCore-Patient allows one ethnic category extension.
const twoEthnicCategories = `{"resourceType":"Patient","meta":{"profile":["https://ucp.example.org/fhir/StructureDefinition/UCPPatient"]},
	"extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory","valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland","code":"A"}]}},
	             {"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory","valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland","code":"B"}]}}],
	"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],
	"name":[{"family":"Smith","given":["Ann"]}],"gender":"female","birthDate":"1940-02-03"}`

// TestServeValidatesAgainstUKCore: with --ukcore (UKCORE_DIR, the UK Core
// package as published), ucp's profiles are checked through their
// baseDefinition into UK Core's constraints, the demo and synthetic data
// meet them, and what the server writes itself claims UK Core's profiles
// and conforms to them.
func TestServeValidatesAgainstUKCore(t *testing.T) {
	dir := os.Getenv(ukcoreEnv)
	if dir == "" {
		t.Skip(ukcoreEnv + " not set")
	}
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true, DemoPatients: 3,
		MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3, UKCore: dir}
	srv, err := startServer(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err) // the demo and synthetic patients are loaded through validation
	}
	defer srv.Close()
	tok := token(t, srv, auth.RoleClinical)
	fhirJSON := "Content-Type: application/fhir+json"

	code, _, b := call(t, "POST", srv.base+"/Patient", tok, []byte(twoEthnicCategories), fhirJSON)
	if code != 422 || !strings.Contains(string(b), `slice \"ethnicCategory\"`) {
		t.Errorf("a second ethnic category under UK Core: %d %s, want 422 naming the slice", code, b)
	}

	admin := token(t, srv, auth.RoleAdmin)
	for _, tc := range []struct{ typ, profile, tok string }{
		{"Provenance", profiles.ProfileUKCoreProvenance, tok},
		{"Composition", profiles.ProfileUKCoreComposition, tok},
		{"AuditEvent", profiles.ProfileUKCoreAuditEvent, admin},
	} {
		code, _, b := call(t, "GET", srv.base+"/"+tc.typ+"?_count=1", tc.tok, nil)
		var bundle struct {
			Entry []struct{ Resource json.RawMessage }
		}
		if err := json.Unmarshal(b, &bundle); code != 200 || err != nil || len(bundle.Entry) == 0 {
			t.Fatalf("%s search: %d %s", tc.typ, code, b)
		}
		res := bundle.Entry[0].Resource
		var head struct{ Meta struct{ Profile []string } }
		json.Unmarshal(res, &head)
		if !slices.Contains(head.Meta.Profile, tc.profile) {
			t.Errorf("%s claims %q, want %s", tc.typ, head.Meta.Profile, tc.profile)
		}
		code, _, b = call(t, "POST", srv.base+"/"+tc.typ+"/$validate", tc.tok, res, fhirJSON)
		if got := errorExpressions(t, b); code != 200 || strings.Contains(string(b), `"severity":"error"`) {
			t.Errorf("%s/$validate: %d %v %s", tc.typ, code, got, b)
		}
	}
}

// TestServeWithoutUKCore: without UK Core the server still starts (make
// run on a machine without ../shared), says so loudly, and validates
// against ucp's profiles' own constraints; a --ukcore folder that holds no
// UK Core is refused.
func TestServeWithoutUKCore(t *testing.T) {
	var logs lockedBuffer
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true,
		MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
	srv, err := startServer(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "UK Core is not loaded") {
		t.Errorf("no warning that UK Core is not loaded:\n%s", logs.String())
	}
	tok := token(t, srv, auth.RoleClinical)
	fhirJSON := "Content-Type: application/fhir+json"
	if code, _, b := call(t, "POST", srv.base+"/Patient", tok, []byte(twoEthnicCategories), fhirJSON); code != 201 {
		t.Errorf("without UK Core, a patient meeting UCPPatient: %d %s", code, b)
	}
	// Our own constraints still hold: UCPPatient needs a name with a family
	// name or text (ucp-pat-2).
	noFamily := strings.Replace(twoEthnicCategories, `"family":"Smith",`, ``, 1)
	if code, _, b := call(t, "POST", srv.base+"/Patient", tok, []byte(noFamily), fhirJSON); code != 422 || !strings.Contains(string(b), "ucp-pat-2") {
		t.Errorf("without UK Core, a patient breaking ucp-pat-2: %d %s", code, b)
	}

	cfg.UKCore = t.TempDir()
	cfg.Store = "sqlite:" + filepath.Join(t.TempDir(), "ucp.db")
	if srv, err := startServer(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		srv.Close()
		t.Error("--ukcore naming an empty folder: the server started")
	}
}
