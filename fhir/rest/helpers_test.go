package rest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"ucp/fhir/rest"
	"ucp/fhir/search"
	"ucp/store/sqlite"
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
	*httptest.Server
	srv  *rest.Server
	base string // …/fhir
}

// mustServer boots a server; opts adjust its Config.
func mustServer(tb testing.TB, opts ...func(*rest.Config)) *testServer {
	tb.Helper()
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "ucp.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	reg, err := search.NewRegistry()
	if err != nil {
		tb.Fatal(err)
	}
	types := map[string]bool{}
	for _, t := range append(reg.Types(), testTypes...) {
		types[t] = true
	}
	cfg := rest.Config{
		Store:    st,
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
	hs := httptest.NewServer(srv)
	tb.Cleanup(hs.Close)
	return &testServer{Server: hs, srv: srv, base: hs.URL + "/fhir"}
}

// resp is a response with its body read.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body with numbers kept as written.
func (r *resp) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	return mustDecode(tb, r.Body)
}

func mustDecode(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("decoding %q: %v", b, err)
	}
	return m
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
	u := path
	if strings.HasPrefix(path, "/") {
		u = ts.base + path
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// want checks the status and, for errors, that the body is an
// OperationOutcome.
func (r *resp) want(tb testing.TB, status int) *resp {
	tb.Helper()
	if r.Status != status {
		tb.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if status >= 400 {
		m := r.JSON(tb)
		if m["resourceType"] != "OperationOutcome" {
			tb.Fatalf("error body is not an OperationOutcome: %s", r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
			tb.Fatalf("error Content-Type %q", ct)
		}
	}
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
func path(v any, p string) any {
	for _, k := range strings.Split(p, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i := 0
			for _, c := range k {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

const patientJSON = `{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],"name":[{"family":"Smith","given":["Ann"]}],"gender":"female","birthDate":"1940-02-03"}`

func patientWith(nhs string) string {
	return strings.Replace(patientJSON, "9000000009", nhs, 1)
}

type restConfig = rest.Config
