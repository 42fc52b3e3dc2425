package rest_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"ucp/fhir/rest"
	"ucp/internal/resttest"
)

// testTypes are the types every test server serves, beyond those the
// registry knows.
var testTypes = []string{
	"Patient", "Observation", "CarePlan", "Bundle", "Binary", "Condition", "Practitioner",
	"Organization", "Consent", "Task", "DocumentReference", "Goal", "RelatedPerson", "CareTeam",
	"Provenance", "AuditEvent", "Questionnaire", "QuestionnaireResponse", "ServiceRequest",
	"MedicationStatement", "Flag", "Composition", "PractitionerRole", "ClinicalImpression",
	"Subscription", "TestScript", "Encounter",
}

// testServer is a real server: real SQLite in a temp file, real HTTP on
// loopback.
type testServer struct {
	*resttest.Server
	srv  *rest.Server
	base string // …/fhir
}

// mustServer boots a server; opts adjust its Config.
func mustServer(tb testing.TB, opts ...func(*rest.Config)) *testServer {
	tb.Helper()
	reg := resttest.NewRegistry(tb)
	types := map[string]bool{}
	for _, t := range append(reg.Types(), testTypes...) {
		types[t] = true
	}
	cfg := rest.Config{
		Store:    resttest.OpenStore(tb),
		Registry: reg,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for t := range types {
		cfg.Types = append(cfg.Types, t)
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := rest.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	hs := resttest.Serve(tb, srv)
	return &testServer{Server: hs, srv: srv, base: hs.Base}
}

// resp is a response with its body read.
type resp struct{ *resttest.Response }

func mustDecode(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	return resttest.Decode(tb, b)
}

// do sends a request: args are the body then headers as "Name: value"
// strings. A path starting with "/" is relative to the FHIR base.
func (ts *testServer) do(tb testing.TB, method, path string, args ...string) *resp {
	tb.Helper()
	var body string
	var headers []string
	if len(args) > 0 {
		body, headers = args[0], args[1:]
	}
	return &resp{ts.Do(tb, method, path, body, headers...)}
}

// want checks the status and, for errors, that the body is an
// OperationOutcome.
func (r *resp) want(tb testing.TB, status int) *resp {
	tb.Helper()
	r.Want(tb, status)
	return r
}

// create posts a resource and returns its id.
func (ts *testServer) create(tb testing.TB, body string) string {
	tb.Helper()
	m := mustDecode(tb, []byte(body))
	r := ts.do(tb, "POST", "/"+m["resourceType"].(string), body).want(tb, http.StatusCreated)
	return r.JSON(tb)["id"].(string)
}

// total returns Bundle.total of a search.
func (ts *testServer) total(tb testing.TB, query string) int {
	tb.Helper()
	r := ts.do(tb, "GET", query).want(tb, http.StatusOK)
	n, err := r.JSON(tb)["total"].(json.Number).Int64()
	if err != nil {
		tb.Fatal(err)
	}
	return int(n)
}

// path walks a decoded tree: "entry.0.resource.id".
func path(v any, p string) any { return resttest.Path(v, p) }

func str(v any) string { return resttest.Str(v) }

const patientJSON = `{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],"name":[{"family":"Smith","given":["Ann"]}],"gender":"female","birthDate":"1940-02-03"}`

func patientWith(nhs string) string { return resttest.Patient(nhs) }

type restConfig = rest.Config
