package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/internal/resttest"
	"ucp/nrl"
	"ucp/nrl/nrltest"
)

const (
	nrlODS   = "X26"
	joansNHS = "9434765919" // the demo patient
)

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serveNRL starts the server in process with NRL publishing to sb and the
// demo loaded, and returns it and its --store.
func serveNRL(t *testing.T, sb *nrltest.Sandbox) (*server, string) {
	t.Helper()
	// The store the server really uses (PostgreSQL under make test-postgres),
	// for ucp nrl status to read.
	cfg := onTestStore(t, serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
		NRL: nrlConfig{URL: sb.URL, ODS: nrlODS, PracticeSetting: nrl.DefaultPracticeSetting, Horizon: nrl.DefaultHorizon, Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond}})
	return serveTest(t, cfg), cfg.Store
}

// The pointer's document is served to Bearer tokens, as a PDF, while the plan
// is shared; a withdrawn plan's is not found.
func TestServeNRLDocument(t *testing.T) {
	sb := nrltest.Start(t)
	srv, _ := serveNRL(t, sb)
	waitFor(t, "the demo plan's pointer", func() bool { return len(sb.Pointers(joansNHS)) == 1 })
	ptr := sb.Pointers(joansNHS)[0]
	u := ptr.Content[0].Attachment.URL
	if !strings.HasPrefix(u, srv.base+"/_nrl/pdf/") {
		t.Fatalf("pointer URL %s is not below %s", u, srv.base)
	}
	for _, test := range []struct {
		name   string
		header []string
		want   int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"clinician", []string{resttest.Bearer(token(t, srv, auth.RoleClinical))}, http.StatusOK},
		{"urgent care viewer", []string{resttest.Bearer(token(t, srv, auth.RoleView))}, http.StatusOK},
	} {
		t.Run(test.name, func(t *testing.T) {
			r := resttest.Do(t, http.MethodGet, u, "", test.header...)
			if r.Status != test.want {
				t.Fatalf("GET %s: %d %s, want %d", u, r.Status, r.Body, test.want)
			}
			if test.want == http.StatusOK && (r.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(string(r.Body), "%PDF-")) {
				t.Errorf("GET %s: %s, want a PDF", u, r.Header.Get("Content-Type"))
			}
		})
	}

	// Consent withdrawn: the pointer goes, and its URL answers 404.
	clinical := token(t, srv, auth.RoleClinical)
	consent := `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
		`"category":[{"coding":[{"system":"http://snomed.info/sct","code":"882941000000102"}]}],"patient":{"reference":"Patient/` + joanID(t, srv, clinical) + `"},` +
		`"dateTime":"2026-12-01T09:00:00Z","policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"type":"deny"}}`
	resttest.Do(t, http.MethodPost, srv.base+"/Consent", consent, resttest.Bearer(clinical)).Want(t, http.StatusCreated)
	waitFor(t, "the pointer's removal", func() bool { return len(sb.Pointers(joansNHS)) == 0 })
	resttest.Do(t, http.MethodGet, u, "", resttest.Bearer(token(t, srv, auth.RoleView))).Want(t, http.StatusNotFound)
	if v := sb.Violations(); len(v) > 0 {
		t.Errorf("NRL rule violations:\n%s", strings.Join(v, "\n"))
	}
}

func joanID(t *testing.T, srv *server, tok string) string {
	t.Helper()
	r := resttest.Do(t, http.MethodGet, srv.base+"/Patient?identifier="+url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|"+joansNHS), "", resttest.Bearer(tok)).Want(t, http.StatusOK)
	id, _ := resttest.Path(r.JSON(t), "entry.0.resource.id").(string)
	if id == "" {
		t.Fatalf("no demo patient: %s", r.Body)
	}
	return id
}

// A permanent NRL error fails the job with NRL's words; admins see it over
// the API and with ucp nrl status.
func TestServeNRLFailedJobVisible(t *testing.T) {
	sb := nrltest.Start(t)
	sb.Refuse(joansNHS, "INVALID_NHS_NUMBER: not known to PDS")
	srv, st := serveNRL(t, sb)
	admin := token(t, srv, auth.RoleAdmin)
	status := srv.base + "/$nrl-status"
	waitFor(t, "the failed job", func() bool {
		r := resttest.Do(t, http.MethodGet, status, "", resttest.Bearer(admin))
		return r.Status == http.StatusOK && strings.Contains(string(r.Body), "not known to PDS")
	})
	// Clinicians do not read the service's records of what it sent.
	resttest.Do(t, http.MethodGet, status, "", resttest.Bearer(token(t, srv, auth.RoleClinical))).Want(t, http.StatusForbidden)
	// Nor may they forge or change a job.
	r := resttest.Do(t, http.MethodGet, status, "", resttest.Bearer(admin))
	job, _ := resttest.Path(r.JSON(t), "parameter.2.resource").(map[string]any)
	if job == nil {
		t.Fatalf("$nrl-status lists no job: %s", r.Body)
	}
	job["status"] = "requested"
	b, _ := json.Marshal(job)
	resttest.Do(t, http.MethodPut, srv.base+"/Task/"+job["id"].(string), string(b), resttest.Bearer(token(t, srv, auth.RoleClinical))).Want(t, http.StatusForbidden)
	// The queue is in the metrics: nothing waits once the job failed for
	// good (the gauges are the publisher's last pass).
	waitFor(t, "an empty NRL queue in the metrics", func() bool {
		fams := scrape(t, strings.TrimSuffix(srv.base, "/fhir")+"/metrics")
		for _, name := range []string{"ucp_outbox_jobs", "ucp_outbox_oldest_job_age_seconds"} {
			f := fams[name]
			if f == nil || len(f.Metric) != 1 || f.Metric[0].GetGauge().GetValue() != 0 || f.Metric[0].Label[0].GetValue() != "nrl" {
				return false
			}
		}
		return true
	})
	// ucp nrl status reads the store beside the running server.
	var out, errb strings.Builder
	if code := run(context.Background(), []string{"nrl", "status", "--store", st}, &out, &errb); code != 0 {
		t.Fatalf("ucp nrl status: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "0 pending, 1 failed") || !strings.Contains(out.String(), "not known to PDS") {
		t.Errorf("ucp nrl status:\n%s", out.String())
	}
}

// A plan written, then the server killed (SIGKILL) before the job was sent:
// after a restart on the same file the pointer is sent, exactly once.
func TestServeNRLSurvivesKill(t *testing.T) {
	sb := nrltest.Start(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "ucp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "ucp.db")
	start := func(poll string) (*exec.Cmd, string) {
		t.Helper()
		cmd := exec.Command(bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--store", "sqlite:"+db,
			"--nrl-url", sb.URL, "--nrl-ods", nrlODS, "--nrl-poll", poll, "--nrl-backoff", "20ms")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		// The banner names the FHIR base.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, after, ok := strings.Cut(sc.Text(), "serving FHIR R4 at "); ok {
				go io.Copy(io.Discard, stdout)
				return cmd, strings.Fields(after)[0]
			}
		}
		t.Fatal("the server stopped before serving")
		return nil, ""
	}
	// First run: NRL unreachable, and the publisher's one pass is at start,
	// so nothing can be sent before the kill.
	sb.Down(1 << 20)
	cmd, base := start("1h")
	writeApprovedPlan(t, base, devToken(t, bin, base))
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	if n := sb.Creates(); n != 0 {
		t.Fatalf("%d pointers created before the kill", n)
	}

	sb.Down(0)
	_, base = start("20ms")
	waitFor(t, "the pointer after the restart", func() bool { return len(sb.Pointers(examplesNHS)) == 1 })
	admin := devTokenRole(t, bin, base, "admin")
	waitFor(t, "no pending job", func() bool {
		r := resttest.Do(t, http.MethodGet, base+"/$nrl-status", "", resttest.Bearer(admin))
		return r.Status == http.StatusOK && resttest.Path(r.JSON(t), "parameter.0.valueInteger") == resttest.Num(0)
	})
	if n := sb.Creates(); n != 1 {
		t.Errorf("NRL saw %d creates, want exactly 1", n)
	}
	if v := sb.Violations(); len(v) > 0 {
		t.Errorf("NRL rule violations:\n%s", strings.Join(v, "\n"))
	}
}

// examplesNHS is the NHS number of testdata/profiles/valid/patient.json.
const examplesNHS = "9990001235"

// writeApprovedPlan writes the README example's patient, consent, sections
// and plan, approved, over HTTP as the clinician tok.
func writeApprovedPlan(t *testing.T, base, tok string) {
	t.Helper()
	for _, f := range []struct{ path, file string }{
		{"Patient/ex-patient", "patient"}, {"Consent/ex-consent-given", "consent-given"}, {"Condition/ex-condition", "condition"},
		{"ClinicalImpression/ex-prognosis", "prognosis"}, {"Observation/ex-cpr-dnacpr", "cpr-dnacpr"}, {"Observation/ex-tep", "treatment-escalation"},
		{"CarePlan/ex-careplan-draft", "careplan-draft"},
	} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "profiles", "valid", f.file+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if r := resttest.Do(t, http.MethodPut, base+"/"+f.path, string(b), resttest.Bearer(tok)); r.Status >= 300 {
			t.Fatalf("PUT %s: %d %s", f.path, r.Status, r.Body)
		}
	}
	resttest.Do(t, http.MethodPatch, base+"/CarePlan/ex-careplan-draft", `[
  {"op": "replace", "path": "/status", "value": "active"},
  {"op": "add", "path": "/addresses", "value": [{"reference": "Condition/ex-condition"}]},
  {"op": "add", "path": "/supportingInfo", "value": [{"reference": "ClinicalImpression/ex-prognosis"},
    {"reference": "Observation/ex-cpr-dnacpr"}, {"reference": "Observation/ex-tep"}]}]`,
		resttest.Bearer(tok), "Content-Type: application/json-patch+json").Want(t, http.StatusOK)
}

func devToken(t *testing.T, bin, base string) string { return devTokenRole(t, bin, base, "clinical") }

func devTokenRole(t *testing.T, bin, base, role string) string {
	t.Helper()
	out, err := exec.Command(bin, "token", "--server", base, "--role", role).Output()
	if err != nil {
		t.Fatalf("ucp token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// With --nrl-stability dynamic the pointer names the plan, and its URL
// serves the current approved version to a Bearer token.
func TestServeNRLDynamic(t *testing.T) {
	sb := nrltest.Start(t)
	st := "sqlite:" + filepath.Join(t.TempDir(), "ucp.db")
	srv := serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: st, Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
		NRL: nrlConfig{URL: sb.URL, ODS: nrlODS, PracticeSetting: nrl.DefaultPracticeSetting, Stability: nrl.StabilityDynamic,
			Horizon: nrl.DefaultHorizon, Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond}})
	waitFor(t, "the demo plan's pointer", func() bool { return len(sb.Pointers(joansNHS)) == 1 })
	ptr := sb.Pointers(joansNHS)[0]
	u := ptr.Content[0].Attachment.URL
	if !strings.HasPrefix(u, srv.base+"/_nrl/plan/") || ptr.Stability() != nrl.StabilityDynamic {
		t.Fatalf("pointer URL %s (%s), want %s/_nrl/plan/… and dynamic", u, ptr.Stability(), srv.base)
	}
	r := resttest.Do(t, http.MethodGet, u, "", resttest.Bearer(token(t, srv, auth.RoleView))).Want(t, http.StatusOK)
	if !strings.HasPrefix(string(r.Body), "%PDF-") {
		t.Errorf("GET %s: not a PDF", u)
	}
	resttest.Do(t, http.MethodGet, u, "").Want(t, http.StatusUnauthorized)
}

// A plan approved while publishing was off is published once publishing
// is turned on, and not again at the next start.
func TestServeNRLBackfill(t *testing.T) {
	sb := nrltest.Start(t)
	// One SQLite file across the restarts (the store under test is the
	// same whatever the backend: these are the service's reads and writes).
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3}
	start := func() *server {
		t.Helper()
		srv, err := startServer(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	off := start() // the demo plan is approved with publishing off
	if err := off.Close(); err != nil {
		t.Fatal(err)
	}
	if n := sb.Creates(); n != 0 {
		t.Fatalf("%d pointers created with publishing off", n)
	}
	cfg.NRL = nrlConfig{URL: sb.URL, ODS: nrlODS, PracticeSetting: nrl.DefaultPracticeSetting, Horizon: nrl.DefaultHorizon, Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond}
	noPending := func(srv *server) {
		t.Helper()
		admin := token(t, srv, auth.RoleAdmin)
		var last string
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("last $nrl-status: %.3000s", last)
			}
		})
		waitFor(t, "no pending job", func() bool {
			r := resttest.Do(t, http.MethodGet, srv.base+"/$nrl-status", "", resttest.Bearer(admin))
			last = string(r.Body)
			return r.Status == http.StatusOK && resttest.Path(r.JSON(t), "parameter.0.valueInteger") == resttest.Num(0)
		})
	}
	on := start()
	waitFor(t, "the backfilled pointer", func() bool { return len(sb.Pointers(joansNHS)) == 1 })
	// The job's result is recorded (else, stopped between the send and the
	// record, it would wait out its lease at the next start).
	noPending(on)
	if err := on.Close(); err != nil {
		t.Fatal(err)
	}
	again := start()
	defer again.Close()
	noPending(again)
	if n := sb.Creates(); n != 1 {
		t.Errorf("NRL saw %d creates, want exactly 1", n)
	}
	if v := sb.Violations(); len(v) > 0 {
		t.Errorf("NRL rule violations:\n%s", strings.Join(v, "\n"))
	}
}
