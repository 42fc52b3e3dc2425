package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ucp/auth"
)

// TestServeRefusesBadNHSNumbers: an NHS number with a wrong check digit is
// refused (422, located) wherever it sits and whatever profile the resource
// claims, on every kind of write: create, update, patch, transaction and
// bulk import.
func TestServeRefusesBadNHSNumbers(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "ucp.db")
	srv := startTestServer(t, db, false)
	tok := token(t, srv, auth.RoleClinical)

	const good, bad = "9434765919", "9434765918" // same first nine, wrong check digit
	patient := func(id, nhs string) string {
		return `{"resourceType":"Patient"` + id + `,"identifier":[{"system":"https://fhir.hl7.org.uk/Id/local","value":"x1"},` +
			`{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + nhs + `"}],"name":[{"family":"Smith"}]}`
	}
	code, _, b := call(t, "PUT", srv.base+"/Patient/p1", tok, []byte(patient(`,"id":"p1"`, good)), "Content-Type: application/fhir+json")
	if code != 201 {
		t.Fatalf("a valid NHS number: %d %s", code, b)
	}

	fhirJSON := "Content-Type: application/fhir+json"
	for _, tc := range []struct {
		name, method, path, body, header string
		want                             []string // FHIRPath locations of the errors
	}{
		{"create, no profile claimed", "POST", "/Patient", patient("", bad), fhirJSON, []string{"Patient.identifier[1].value"}},
		{"create, too short", "POST", "/Patient", patient("", "943476591"), fhirJSON, []string{"Patient.identifier[1].value"}},
		{"update", "PUT", "/Patient/p1", patient(`,"id":"p1"`, bad), fhirJSON, []string{"Patient.identifier[1].value"}},
		{"update as create", "PUT", "/Patient/p2", patient(`,"id":"p2"`, bad), fhirJSON, []string{"Patient.identifier[1].value"}},
		{"json patch", "PATCH", "/Patient/p1", `[{"op":"replace","path":"/identifier/1/value","value":"` + bad + `"}]`,
			"Content-Type: application/json-patch+json", []string{"Patient.identifier[1].value"}},
		{"reference identifier and contained resource", "POST", "/Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},` +
				`"contained":[{"resourceType":"RelatedPerson","id":"rp","patient":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"1234567890"}}}],` +
				`"subject":{"identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"` + bad + `"}},"performer":[{"reference":"#rp"}]}`,
			fhirJSON, []string{"Observation.contained[0].patient.identifier.value", "Observation.subject.identifier.value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, b := call(t, tc.method, srv.base+tc.path, tok, []byte(tc.body), tc.header)
			if code != 422 {
				t.Fatalf("%s %s: %d %s, want 422", tc.method, tc.path, code, b)
			}
			if got := errorExpressions(t, b); !slices.Equal(got, tc.want) {
				t.Errorf("error locations mismatch:\n got %q\nwant %q", got, tc.want)
			}
		})
	}

	t.Run("transaction entry", func(t *testing.T) {
		tx := `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:0c7e7a4e-0000-4000-8000-000000000001","resource":` +
			patient("", bad) + `,"request":{"method":"POST","url":"Patient"}}]}`
		code, _, b := call(t, "POST", srv.base, tok, []byte(tx), fhirJSON)
		if code != 422 || !strings.Contains(string(b), "Patient.identifier[1].value") {
			t.Errorf("transaction: %d %s, want 422 naming Patient.identifier[1].value", code, b)
		}
	})
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("bulk import", func(t *testing.T) {
		f := filepath.Join(dir, "Patient.ndjson")
		lines := patient(`,"id":"p3"`, good) + "\n" + patient(`,"id":"p4"`, bad) + "\n"
		if err := os.WriteFile(f, []byte(lines), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		run(context.Background(), []string{"import", "--store", "sqlite:" + db, f}, &out, &errb)
		if !strings.Contains(out.String(), "1 rejected") || !strings.Contains(errb.String(), "Patient.identifier[1].value") {
			t.Errorf("import of one good and one bad NHS number:\n%s\n%s", out.String(), errb.String())
		}
	})
}

// errorExpressions returns the locations of an OperationOutcome's errors.
func errorExpressions(t *testing.T, body []byte) []string {
	t.Helper()
	var oo struct {
		Issue []struct {
			Severity   string
			Expression []string
		}
	}
	if err := json.Unmarshal(body, &oo); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var out []string
	for _, is := range oo.Issue {
		if is.Severity == "error" {
			out = append(out, is.Expression...)
		}
	}
	return out
}
