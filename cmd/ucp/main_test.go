package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"ucp/auth"
	"ucp/auth/devissuer"
	"ucp/internal/resttest"
	"ucp/profiles"
)

// bearer is the token get sends; tests that set it run sequentially.
var bearer string

// startTestServer boots the real wiring on a free port with a fresh SQLite file.
func startTestServer(t *testing.T, dbPath string, demo bool) *server {
	t.Helper()
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + dbPath, Demo: demo, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
	srv, err := startServer(context.Background(), onTestStore(t, cfg), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// token mints a development token for role.
// serveTest starts the real server for a test with cfg, its logs
// discarded, and closes it when the test ends.
func serveTest(t *testing.T, cfg serveConfig) *server {
	t.Helper()
	srv, err := startServer(context.Background(), onTestStore(t, cfg), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func token(t *testing.T, srv *server, role auth.Role) string {
	t.Helper()
	tok, err := srv.dev.Mint(devissuer.TokenRequest{Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// get GETs u with the bearer token of the current test (see useToken).
func get(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	var header []string
	if bearer != "" {
		header = append(header, resttest.Bearer(bearer))
	}
	r := resttest.Do(t, http.MethodGet, u, "", header...)
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return r.Status, body
}

func TestServeDemoEndToEnd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ucp.db")
	srv := startTestServer(t, db, true)
	bearer = token(t, srv, auth.RoleView)
	defer func() { bearer = "" }()

	if code, body := get(t, srv.base+"/metadata"); code != 200 || body["resourceType"] != "CapabilityStatement" {
		t.Fatalf("metadata: %d %v", code, body["resourceType"])
	}
	root := strings.TrimSuffix(srv.base, "/fhir")
	if code, body := get(t, root+"/healthz"); code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, body)
	}

	// The urgent-care question: does this NHS number have an active plan?
	q := url.Values{
		"subject:identifier": {"https://fhir.nhs.uk/Id/nhs-number|9434765919"},
		"status":             {"active"},
	}
	code, bundle := get(t, srv.base+"/CarePlan?"+q.Encode())
	if code != 200 {
		t.Fatalf("search: %d %v", code, bundle)
	}
	if total, _ := bundle["total"].(float64); total != 1 {
		t.Fatalf("active plans for the demo patient = %v, want 1", bundle["total"])
	}
	entry := bundle["entry"].([]any)[0].(map[string]any)
	plan := entry["resource"].(map[string]any)
	subject := plan["subject"].(map[string]any)["reference"].(string)
	if !strings.HasPrefix(subject, "Patient/") {
		t.Errorf("urn:uuid reference not rewritten: subject = %q", subject)
	}
	if code, p := get(t, srv.base+"/"+subject); code != 200 || p["birthDate"] != "1940-02-03" {
		t.Errorf("GET %s: %d %v", subject, code, p["birthDate"])
	}
	// Scopes hold for included resources too: a token for CarePlan only
	// gets no Patient through _include.
	narrow, err := srv.dev.Mint(devissuer.TokenRequest{Role: auth.RoleView, Scope: "openid user/CarePlan.rs"})
	if err != nil {
		t.Fatal(err)
	}
	bearer = narrow.AccessToken
	q.Set("_include", "CarePlan:subject")
	_, bundle = get(t, srv.base+"/CarePlan?"+q.Encode())
	for _, e := range bundle["entry"].([]any) {
		if rt := e.(map[string]any)["resource"].(map[string]any)["resourceType"]; rt != "CarePlan" {
			t.Errorf("a CarePlan-only token got a %v through _include", rt)
		}
	}
	bearer = token(t, srv, auth.RoleView)
	_, bundle = get(t, srv.base+"/CarePlan?"+q.Encode())
	if n := len(bundle["entry"].([]any)); n != 2 {
		t.Errorf("with user/*.rs, _include=CarePlan:subject gave %d entries, want 2", n)
	}
	q.Del("_include")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	// Loading the demo again on restart changes nothing: its entries are
	// conditional creates.
	srv = startTestServer(t, db, true)
	defer srv.Close()
	bearer = token(t, srv, auth.RoleView)
	_, bundle = get(t, srv.base+"/CarePlan?"+q.Encode())
	if total, _ := bundle["total"].(float64); total != 1 {
		t.Errorf("after a second demo load: %v active plans, want 1", bundle["total"])
	}
	_, bundle = get(t, srv.base+"/Patient?_summary=count")
	if total, _ := bundle["total"].(float64); total != 1 {
		t.Errorf("after a second demo load: %v patients, want 1", bundle["total"])
	}
}

// TestServeShutsDownOnCancel checks that the serve command stops cleanly
// (exit 0) when its context ends, as it does on SIGINT or SIGTERM.
func TestServeShutsDownOnCancel(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ucp.db")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--store", "sqlite:" + db}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), "serving FHIR R4") {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop")
	}
}

func TestServeFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"unknown command", []string{"frobnicate"}, 2},
		{"no command", nil, 2},
		{"bad flag", []string{"serve", "--nope"}, 2},
		{"bad store kind", []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--store", "postgres:x"}, 1},
		{"store without path", []string{"serve", "--dev", "--addr", "127.0.0.1:0", "--store", "sqlite:"}, 1},
		{"no issuer and not --dev", []string{"serve", "--addr", "127.0.0.1:0"}, 2},
		{"audiences do not pair with issuers", []string{"serve", "--addr", "127.0.0.1:0",
			"--oidc-issuer", "https://a.example", "--oidc-issuer", "https://b.example",
			"--oidc-audience", "x", "--oidc-audience", "y", "--oidc-audience", "z"}, 2},
		{"dev issuer off loopback", []string{"serve", "--dev", "--addr", "0.0.0.0:0", "--store", "sqlite:" + filepath.Join(t.TempDir(), "x.db")}, 1},
		{"bad log level", []string{"serve", "--log-level", "loud"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(context.Background(), tt.args, &out, &errb); got != tt.want {
				t.Errorf("exit %d, want %d (stderr %q)", got, tt.want, errb.String())
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe to write from the server goroutine
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeSecurity checks the server's front door: no open mode, 401 with
// a challenge for a missing or forged token, 403 for a role that may not,
// the --dev warning on every response, and ucp token.
func TestServeSecurity(t *testing.T) {
	srv := startTestServer(t, filepath.Join(t.TempDir(), "ucp.db"), false)
	defer srv.Close()

	do := func(method, u, tok string, body string) *resttest.Response {
		t.Helper()
		header := []string{"Content-Type: application/fhir+json"}
		if tok != "" {
			header = append(header, resttest.Bearer(tok))
		}
		return resttest.Do(t, method, u, body, header...)
	}
	clinical := token(t, srv, auth.RoleClinical)
	view := token(t, srv, auth.RoleView)
	forged := clinical[:len(clinical)-4] + "AAAA"
	patient := `{"resourceType":"Patient","name":[{"family":"Jones"}],"gender":"female","birthDate":"1951-04-02"}`
	tests := []struct {
		name, method, path, tok, body string
		want                          int
	}{
		{"metadata is public", "GET", "/metadata", "", "", 200},
		{"no token", "GET", "/Patient", "", "", 401},
		{"forged signature", "GET", "/Patient", forged, "", 401},
		{"not a JWT", "GET", "/Patient", "abc.def", "", 401},
		{"view may search", "GET", "/Patient", view, "", 200},
		{"view may not create", "POST", "/Patient", view, patient, 403},
		{"clinical may create", "POST", "/Patient", clinical, patient, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(tt.method, srv.base+tt.path, tt.tok, tt.body)
			if resp.Status != tt.want {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.Status, tt.want)
			}
			if resp.Status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
			if !strings.Contains(resp.Header.Get("Warning"), "development mode") {
				t.Errorf("no development warning header")
			}
		})
	}

	// A bundle is allowed to every role, so each of its entries must be
	// authorized on its own: a view token writes nothing through one.
	t.Run("view may not write through a bundle", func(t *testing.T) {
		code, h, b := call(t, "POST", srv.base+"/Patient", clinical, []byte(patient), "Content-Type: application/fhir+json")
		if code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
		kept := strings.Split(strings.TrimPrefix(h.Get("Location"), srv.base+"/"), "/_history")[0]
		entries := `[
		 {"resource":{"resourceType":"Patient","name":[{"family":"Viewwrite"}],"gender":"male","birthDate":"1960-01-01"},"request":{"method":"POST","url":"Patient"}},
		 {"resource":{"resourceType":"Patient","id":"viewwrite","name":[{"family":"Viewwrite"}],"gender":"male","birthDate":"1960-01-01"},"request":{"method":"PUT","url":"Patient/viewwrite"}},
		 {"request":{"method":"DELETE","url":"` + kept + `"}}]`
		code, _, b = call(t, "POST", srv.base, view, []byte(`{"resourceType":"Bundle","type":"transaction","entry":`+entries+`}`), "Content-Type: application/fhir+json")
		if code != 403 || !strings.Contains(string(b), "OperationOutcome") {
			t.Errorf("view's transaction: %d %s, want 403 with an OperationOutcome", code, b)
		}
		code, _, b = call(t, "POST", srv.base, view, []byte(`{"resourceType":"Bundle","type":"batch","entry":`+entries+`}`), "Content-Type: application/fhir+json")
		var resp struct {
			Entry []struct {
				Response struct{ Status string }
			}
		}
		json.Unmarshal(b, &resp)
		if code != 200 || len(resp.Entry) != 3 {
			t.Fatalf("view's batch: %d %s", code, b)
		}
		for i, e := range resp.Entry {
			if !strings.HasPrefix(e.Response.Status, "403") {
				t.Errorf("view's batch entry %d: %s, want 403", i, e.Response.Status)
			}
		}
		// Nothing was written.
		if code, _, b := call(t, "GET", srv.base+"/Patient?family=Viewwrite&_summary=count", clinical, nil); code != 200 || !strings.Contains(string(b), `"total":0`) {
			t.Errorf("patients the view token wrote: %d %s, want total 0", code, b)
		}
		if code, _, _ := call(t, "GET", srv.base+"/Patient/viewwrite", clinical, nil); code != 404 {
			t.Errorf("Patient/viewwrite: %d, want 404", code)
		}
		if code, _, _ := call(t, "GET", srv.base+"/"+kept, clinical, nil); code != 200 {
			t.Errorf("%s after the view token's deletes: %d, want 200", kept, code)
		}
	})

	t.Run("ucp token", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"token", "--server", srv.base, "--role", "view"}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if resp := do("GET", srv.base+"/Patient", strings.TrimSpace(out.String()), ""); resp.Status != 200 {
			t.Errorf("token from ucp token: GET /Patient = %d", resp.Status)
		}
	})
}

// TestServeAuditsEveryInteraction checks that N interactions leave N
// AuditEvents, across a restart, and that admins find them over FHIR.
func TestServeAuditsEveryInteraction(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ucp.db")
	srv := startTestServer(t, db, false)
	view, clinical := token(t, srv, auth.RoleView), token(t, srv, auth.RoleClinical)
	send := func(method, path, tok, body string) int {
		t.Helper()
		return resttest.Do(t, method, srv.base+path, body, resttest.Bearer(tok), "Content-Type: application/fhir+json").Status
	}
	for i := 0; i < 3; i++ {
		if code := send("GET", "/Patient?family=jones", view, ""); code != 200 {
			t.Fatalf("search: %d", code)
		}
	}
	code, h, _ := call(t, "POST", srv.base+"/Patient", clinical, []byte(`{"resourceType":"Patient","name":[{"family":"Jones"}],"gender":"female","birthDate":"1951-04-02"}`),
		"Content-Type: application/fhir+json")
	if code != 201 {
		t.Fatalf("create: %d", code)
	}
	id := strings.Split(strings.TrimPrefix(h.Get("Location"), srv.base+"/Patient/"), "/")[0]
	// Reads by id are audited like searches: each one, naming the patient.
	for _, path := range []string{"/Patient/" + id, "/Patient/" + id + "/_history/1"} {
		if code := send("GET", path, view, ""); code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
	}
	issuer := srv.dev.URL() // the restarted server listens on another port
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv = startTestServer(t, db, false)
	defer srv.Close()
	bearer = token(t, srv, auth.RoleAdmin)
	defer func() { bearer = "" }()
	// The server's own start-up work (installing its profiles) is audited
	// too; count what the test's user did.
	mine := "agent:identifier=" + url.QueryEscape(issuer+"|dev-user") + "&_summary=count"
	code, b := get(t, srv.base+"/AuditEvent?"+mine)
	if total, _ := b["total"].(float64); code != 200 || total != 6 {
		_, all := get(t, srv.base+"/AuditEvent?_count=3&_sort=-date")
		t.Errorf("AuditEvents after 6 interactions and a restart: %d %v, want 6; latest: %s", code, b["total"], mustJSON(all["entry"]))
	}
	for _, sub := range []string{"read", "vread"} {
		mineHere := strings.TrimSuffix(mine, "&_summary=count")
		code, b := get(t, srv.base+"/AuditEvent?subtype="+sub+"&patient=Patient/"+id+"&"+mineHere)
		entries, _ := b["entry"].([]any)
		if code != 200 || len(entries) != 1 {
			t.Errorf("AuditEvents of the %s of Patient/%s: %d, %d entries, want 1", sub, id, code, len(entries))
			continue
		}
		ev := entries[0].(map[string]any)["resource"].(map[string]any)
		what := mustJSON(ev["entity"])
		if ev["action"] != "R" || ev["outcome"] != "0" || !strings.Contains(what, `"Patient/`+id) {
			t.Errorf("AuditEvent of the %s: action %v, outcome %v, entity %s; want R, 0, Patient/%s", sub, ev["action"], ev["outcome"], what, id)
		}
	}
	code, b = get(t, srv.base+"/AuditEvent?subtype=create&"+mine)
	if total, _ := b["total"].(float64); code != 200 || total != 1 {
		_, all := get(t, srv.base+"/AuditEvent?"+strings.TrimSuffix(mine, "&_summary=count"))
		var subtypes []string
		for _, e := range all["entry"].([]any) {
			subtypes = append(subtypes, mustJSON(e.(map[string]any)["resource"].(map[string]any)["subtype"]))
		}
		t.Errorf("create AuditEvents: %d %v, want 1 (subtypes %v)", code, b["total"], subtypes)
	}
}

// TestServeHoldsItsProfiles checks that our profiles are served as
// StructureDefinition resources, listed in the CapabilityStatement, and not
// rewritten on restart.
func TestServeHoldsItsProfiles(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ucp.db")
	srv := startTestServer(t, db, false)
	srv.Close()
	srv = startTestServer(t, db, false)
	defer srv.Close()
	bearer = token(t, srv, auth.RoleView)
	defer func() { bearer = "" }()

	const planProfile = "https://ucp.example.org/fhir/StructureDefinition/UCPCarePlan"
	code, b := get(t, srv.base+"/StructureDefinition?url="+url.QueryEscape(planProfile))
	if total, _ := b["total"].(float64); code != 200 || total != 1 {
		t.Fatalf("StructureDefinition?url=%s: %d total %v", planProfile, code, b["total"])
	}
	sd := b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	if v := sd["meta"].(map[string]any)["versionId"]; v != "1" {
		t.Errorf("the profile was rewritten on restart: version %v", v)
	}
	_, cs := get(t, srv.base+"/metadata")
	if !strings.Contains(mustJSON(cs), planProfile) {
		t.Errorf("CapabilityStatement does not list %s as a supportedProfile", planProfile)
	}
	// The patient's form is held too, once, for the app that renders it.
	code, b = get(t, srv.base+"/Questionnaire?url="+url.QueryEscape(profiles.QuestionnairePatientPlan))
	if total, _ := b["total"].(float64); code != 200 || total != 1 {
		t.Fatalf("Questionnaire?url=%s: %d total %v", profiles.QuestionnairePatientPlan, code, b["total"])
	}
	q := b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	if v := q["meta"].(map[string]any)["versionId"]; v != "1" {
		t.Errorf("the Questionnaire was rewritten on restart: version %v", v)
	}
}

// TestServeSearchesByStoredValueSet checks that :in reads a ValueSet held
// on the server (our own, installed at start).
func TestServeSearchesByStoredValueSet(t *testing.T) {
	srv := startTestServer(t, filepath.Join(t.TempDir(), "ucp.db"), true)
	defer srv.Close()
	bearer = token(t, srv, auth.RoleView)
	defer func() { bearer = "" }()
	// The demo's CPR decision is "not for CPR", a member of our
	// resuscitation-status value set.
	q := url.Values{"value-concept:in": {"https://ucp.example.org/fhir/ValueSet/resuscitation-status"}}
	code, b := get(t, srv.base+"/Observation?"+q.Encode())
	if total, _ := b["total"].(float64); code != 200 || total != 1 {
		t.Errorf("Observation?value-concept:in=…resuscitation-status: %d total %v, want 1 (%v)", code, b["total"], b["issue"])
	}
}

// TestBenchRuns runs `ucp bench` small: it loads, drives every scenario
// without a failed request, and writes its JSON report. Each run is bounded
// by a number of requests, not a time, with no warm-up, so the test checks
// what the report holds and measures nothing; the timed load run is make
// bench. (Its timings are reported, never asserted.)
func TestBenchRuns(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--patients", "15", "--duration", "10m", "--warmup", "0", "--requests", "10",
		"--clients", "1,2", "--paced", "0.5", "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	files, _ := filepath.Glob(filepath.Join(out, "bench-15-*.json"))
	if len(files) != 1 {
		t.Fatalf("reports: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	var rep benchReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 27 || rep.Resources == 0 || rep.LoadRejected != 0 {
		t.Errorf("report has %d results and %d resources (%d rejected), want 27 results (9 scenarios with the ceiling and the urgent care view page × 2 clients, and 2 clients paced)", len(rep.Results), rep.Resources, rep.LoadRejected)
	}
	if len(rep.Ceiling) != 16 {
		t.Errorf("report relates %d results to the ceiling, want 16 (8 scenarios × 2, not the paced runs)", len(rep.Ceiling))
	}
	for _, c := range rep.Ceiling {
		// Each run with 2 clients was paced at half its rate, as the
		// ceiling was.
		if c.Clients == 2 && (len(c.Paced) != 1 || c.Paced[0].Fraction != 0.5 || c.Paced[0].P99 == 0 || c.Paced[0].CeilingP99 == 0) {
			t.Errorf("%s × 2: paced p99s %+v, want one at 0.5 beside the ceiling's", c.Scenario, c.Paced)
		}
	}
	if !strings.Contains(rep.PageWeight, "urgent care view page weight") {
		t.Errorf("report lacks the urgent care view's page weight: %q", rep.PageWeight)
	}
	// Where the database's bytes go: the versions' table among its largest.
	if !regexp.MustCompile(`(?m)^  version +[0-9.]+ MB +[0-9.]+ KB a patient +[1-9][0-9]* rows$`).MatchString(stdout.String()) {
		t.Errorf("stdout lacks the version table's space:\n%s", stdout.String())
	}
	for i, r := range rep.Results {
		// Each run with 2 clients is followed by one paced at half its rate.
		if r.Clients == 2 && r.Rate == 0 {
			if i+1 >= len(rep.Results) || rep.Results[i+1].Rate != r.RPS/2 || rep.Results[i+1].Scenario != r.Scenario {
				t.Errorf("%s × 2 at %.0f req/s is not followed by a run paced at half that", r.Scenario, r.RPS)
			}
		}
	}
	if len(rep.Measures) != 4 {
		t.Errorf("report times %d measure evaluations, want 4: %v", len(rep.Measures), rep.Measures)
	}
	if rep.DatabaseBytes == 0 || rep.PeakRSSBytes == 0 {
		t.Errorf("report lacks the database size (%d) or peak RSS (%d)", rep.DatabaseBytes, rep.PeakRSSBytes)
	}
	for _, r := range rep.Results {
		if r.Errors > 0 || r.Requests == 0 {
			t.Errorf("%s × %d: %d requests, %d errors (%s)", r.Scenario, r.Clients, r.Requests, r.Errors, r.FirstError)
		}
	}
}
