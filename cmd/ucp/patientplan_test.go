package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucp/auth"
	"ucp/auth/devissuer"
	"ucp/internal/resttest"
	"ucp/notify/mailpittest"
	"ucp/profiles"
)

const practiceInbox = "g85012.practice@nhs.example"

// writePractice writes the example patient and their GP practice (with its
// generic inbox), as a clinician and an admin.
func writePractice(t *testing.T, base, clinician, admin string) {
	t.Helper()
	var org map[string]any
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "profiles", "valid", "organization-gp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &org); err != nil {
		t.Fatal(err)
	}
	org["telecom"] = append(org["telecom"].([]any), map[string]any{"system": "email", "value": practiceInbox})
	ob, _ := json.Marshal(org)
	if r := resttest.Do(t, http.MethodPut, base+"/Organization/ex-practice", string(ob), resttest.Bearer(admin)); r.Status >= 300 {
		t.Fatalf("PUT Organization: %d %s", r.Status, r.Body)
	}
	pb, err := os.ReadFile(filepath.Join("..", "..", "testdata", "profiles", "valid", "patient.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r := resttest.Do(t, http.MethodPut, base+"/Patient/ex-patient", string(pb), resttest.Bearer(clinician)); r.Status >= 300 {
		t.Fatalf("PUT Patient: %d %s", r.Status, r.Body)
	}
}

// wishes is what the patient writes about resuscitation: it must reach
// nobody by email.
const wishes = "I do not want to be resuscitated if my heart stops"

// answers is a QuestionnaireResponse of the example patient.
func answers(id, status string) string {
	qr := map[string]any{
		"resourceType": "QuestionnaireResponse", "questionnaire": profiles.QuestionnairePatientPlan,
		"status": status, "subject": map[string]any{"reference": "Patient/ex-patient"},
		"item": []any{
			map[string]any{"linkId": "ahead", "item": []any{map[string]any{"linkId": profiles.QItemResuscitation,
				"answer": []any{map[string]any{"valueString": wishes}}}}},
		},
	}
	if id != "" {
		qr["id"] = id
	}
	b, _ := json.Marshal(qr)
	return string(b)
}

func servePatientPlans(t *testing.T, mp *mailpittest.Server) *server {
	t.Helper()
	return serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
		Mail: mailConfig{SMTPURL: "smtp://ucp:pw@" + mp.SMTPAddr, SMTPCA: mp.CAFile, From: "care-plans@ucp.example.nhs.uk",
			Link: "https://ucp.example.nhs.uk/app/", Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond, Horizon: time.Hour}})
}

// TestServePatientStartedPlan: a patient saves their answers, continues and
// submits them; in the same write the practice gets a Task on its action
// list and an email job, and exactly one email reaches the practice's
// inbox through a real SMTP server, with the link and none of what the
// patient wrote. The patient's writes are theirs alone (Provenance), and
// closed once sent.
func TestServePatientStartedPlan(t *testing.T) {
	mp := mailpittest.Start(t)
	srv := servePatientPlans(t, mp)
	clin, admin := token(t, srv, auth.RoleClinical), token(t, srv, auth.RoleAdmin)
	writePractice(t, srv.base, clin, admin)
	pat := mint(t, srv, devissuer.TokenRequest{Role: auth.RolePatient, Patient: "ex-patient"})

	// Save, continue, submit.
	r := resttest.Do(t, http.MethodPost, srv.base+"/QuestionnaireResponse", answers("", "in-progress"), resttest.Bearer(pat))
	r.Want(t, http.StatusCreated)
	id := resttest.Path(r.JSON(t), "id").(string)
	resttest.Do(t, http.MethodPut, srv.base+"/QuestionnaireResponse/"+id, answers(id, "in-progress"), resttest.Bearer(pat)).Want(t, http.StatusOK)
	if n := len(mp.Messages()); n != 0 {
		t.Fatalf("%d emails before submission", n)
	}
	resttest.Do(t, http.MethodPut, srv.base+"/QuestionnaireResponse/"+id, answers(id, "completed"), resttest.Bearer(pat)).Want(t, http.StatusOK)

	// Each of the three writes is the patient's, by Provenance.
	prov := resttest.Do(t, http.MethodGet, srv.base+"/Provenance?target=QuestionnaireResponse/"+id, "", resttest.Bearer(clin)).Want(t, http.StatusOK).JSON(t)
	if n := resttest.Path(prov, "total"); n != resttest.Num(3) {
		t.Errorf("Provenance of the answers: total %v, want 3", n)
	}
	if who := resttest.Path(prov, "entry.0.resource.agent.0.who.reference"); who != "Patient/ex-patient" {
		t.Errorf("Provenance agent %v, want the patient", who)
	}
	// The practice's action list.
	tasks := resttest.Do(t, http.MethodGet, srv.base+"/Task?owner=Organization/ex-practice&status=requested", "", resttest.Bearer(clin)).Want(t, http.StatusOK).JSON(t)
	if n := resttest.Path(tasks, "total"); n != resttest.Num(1) {
		t.Fatalf("the practice has %v Tasks, want 1", n)
	}
	if f := resttest.Path(tasks, "entry.0.resource.focus.reference"); f != "QuestionnaireResponse/"+id {
		t.Errorf("the Task's focus is %v", f)
	}
	if f := resttest.Path(tasks, "entry.0.resource.for.reference"); f != "Patient/ex-patient" {
		t.Errorf("the Task is for %v", f)
	}
	// Exactly one email, to the practice's inbox, with the link and no
	// clinical content.
	waitFor(t, "the practice's email", func() bool { return len(mp.Messages()) > 0 })
	time.Sleep(200 * time.Millisecond) // ten more passes of the publisher: a second email would show
	msgs := mp.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d emails, want exactly 1", len(msgs))
	}
	m := msgs[0]
	if len(m.To) != 1 || m.To[0].Address != practiceInbox || !strings.Contains(m.Text, "https://ucp.example.nhs.uk/app/") {
		t.Errorf("email: to %v, text %q", m.To, m.Text)
	}
	for _, secret := range []string{wishes, "resuscitat", "Okafor", "Margaret", "9990001235", "ex-patient", id} {
		if strings.Contains(m.Text, secret) || strings.Contains(m.Subject, secret) {
			t.Errorf("the email carries %q: %q %q", secret, m.Subject, m.Text)
		}
	}
	// Sent: the answers are closed to the patient.
	resttest.Do(t, http.MethodPut, srv.base+"/QuestionnaireResponse/"+id, answers(id, "in-progress"), resttest.Bearer(pat)).Want(t, http.StatusConflict)
	// Nobody but the server writes an email job.
	job := `{"resourceType":"Task","status":"requested","intent":"order","for":{"reference":"Patient/ex-patient"},
		"code":{"coding":[{"system":"` + profiles.CodeSystemBaseURL + `notify-job","code":"plan-requested"}]},
		"input":[{"type":{"text":"to"},"valueString":"mailto:someone@example.com"}]}`
	resttest.Do(t, http.MethodPost, srv.base+"/Task", job, resttest.Bearer(clin)).Want(t, http.StatusForbidden)
	// Nothing the patient wrote is a plan.
	plans := resttest.Do(t, http.MethodGet, srv.base+"/CarePlan?subject=Patient/ex-patient", "", resttest.Bearer(clin)).Want(t, http.StatusOK).JSON(t)
	if n := resttest.Path(plans, "total"); n != resttest.Num(0) {
		t.Errorf("the patient's answers made %v plans", n)
	}
}

// TestServePatientAnswerRules: a patient answers for themselves only; one
// proofed to P5 saves but neither submits nor reads plan content; staff
// with view access write no answers.
func TestServePatientAnswerRules(t *testing.T) {
	mp := mailpittest.Start(t)
	srv := servePatientPlans(t, mp)
	clin, admin := token(t, srv, auth.RoleClinical), token(t, srv, auth.RoleAdmin)
	writePractice(t, srv.base, clin, admin)
	other := mint(t, srv, devissuer.TokenRequest{Role: auth.RolePatient, Patient: "someone-else"})
	p5 := mint(t, srv, devissuer.TokenRequest{Role: auth.RolePatient, Patient: "ex-patient", Proofing: "P5"})
	view := token(t, srv, auth.RoleView)

	// Another patient (another NHS number) can neither file answers for
	// this one nor read theirs.
	resttest.Do(t, http.MethodPost, srv.base+"/QuestionnaireResponse", answers("", "completed"), resttest.Bearer(other)).Want(t, http.StatusForbidden)
	r := resttest.Do(t, http.MethodPost, srv.base+"/QuestionnaireResponse", answers("", "in-progress"), resttest.Bearer(p5))
	r.Want(t, http.StatusCreated)
	id := resttest.Path(r.JSON(t), "id").(string)
	if r := resttest.Do(t, http.MethodGet, srv.base+"/QuestionnaireResponse/"+id, "", resttest.Bearer(other)); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
		t.Errorf("another patient read the answers: %d", r.Status)
	}
	resttest.Do(t, http.MethodPut, srv.base+"/QuestionnaireResponse/"+id, answers(id, "completed"), resttest.Bearer(other)).Want(t, http.StatusForbidden)

	// P5: saves, reads their answers back, but may not submit or see their
	// record, and is told how to go further.
	resttest.Do(t, http.MethodPut, srv.base+"/QuestionnaireResponse/"+id, answers(id, "in-progress"), resttest.Bearer(p5)).Want(t, http.StatusOK)
	resttest.Do(t, http.MethodGet, srv.base+"/QuestionnaireResponse/"+id, "", resttest.Bearer(p5)).Want(t, http.StatusOK)
	refused := resttest.Do(t, http.MethodPut, srv.base+"/QuestionnaireResponse/"+id, answers(id, "completed"), resttest.Bearer(p5))
	refused.Want(t, http.StatusForbidden)
	if !strings.Contains(string(refused.Body), "Prove who you are") {
		t.Errorf("the P5 refusal does not say how to go further: %s", refused.Body)
	}
	for _, path := range []string{"/CarePlan?subject=Patient/ex-patient", "/Patient/ex-patient", "/Observation?subject=Patient/ex-patient"} {
		resttest.Do(t, http.MethodGet, srv.base+path, "", resttest.Bearer(p5)).Want(t, http.StatusForbidden)
	}
	// The view role writes no answers.
	resttest.Do(t, http.MethodPut, srv.base+"/QuestionnaireResponse/"+id, answers(id, "completed"), resttest.Bearer(view)).Want(t, http.StatusForbidden)
	// Nothing was submitted: no Task, no email.
	tasks := resttest.Do(t, http.MethodGet, srv.base+"/Task?owner=Organization/ex-practice", "", resttest.Bearer(clin)).Want(t, http.StatusOK).JSON(t)
	if n := resttest.Path(tasks, "total"); n != resttest.Num(0) {
		t.Errorf("%v Tasks after refused submissions", n)
	}
	if n := len(mp.Messages()); n != 0 {
		t.Errorf("%d emails after refused submissions", n)
	}
}

// TestServeMailRetriedWhileSMTPDown: with the SMTP server down the job is
// retried (each failure audited for admins) and delivered, once, when it is
// back.
func TestServeMailRetriedWhileSMTPDown(t *testing.T) {
	mp := mailpittest.Start(t)
	srv := servePatientPlans(t, mp)
	clin, admin := token(t, srv, auth.RoleClinical), token(t, srv, auth.RoleAdmin)
	writePractice(t, srv.base, clin, admin)
	pat := mint(t, srv, devissuer.TokenRequest{Role: auth.RolePatient, Patient: "ex-patient"})
	mp.Down()
	resttest.Do(t, http.MethodPost, srv.base+"/QuestionnaireResponse", answers("", "completed"), resttest.Bearer(pat)).Want(t, http.StatusCreated)
	waitFor(t, "two failed attempts, audited", func() bool {
		b := resttest.Do(t, http.MethodGet, srv.base+"/AuditEvent?outcome=4&_count=100", "", resttest.Bearer(admin)).Want(t, http.StatusOK)
		return strings.Count(string(b.Body), "email plan-requested") >= 2
	})
	mp.Up()
	waitFor(t, "the email once SMTP is back", func() bool { return len(mp.Messages()) > 0 })
	time.Sleep(200 * time.Millisecond)
	if n := len(mp.Messages()); n != 1 {
		t.Errorf("%d emails, want exactly 1", n)
	}
}

// TestServeMailSurvivesKill: a submission written, then the server killed
// (SIGKILL) before its email was sent: after a restart on the same file
// the email is sent, exactly once.
func TestServeMailSurvivesKill(t *testing.T) {
	mp := mailpittest.Start(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "ucp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "ucp.db")
	start := func(poll string) (*exec.Cmd, string) {
		return startBinary(t, bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--store", "sqlite:"+db,
			"--smtp-url", "smtp://ucp:pw@"+mp.SMTPAddr, "--smtp-ca", mp.CAFile, "--mail-from", "care-plans@ucp.example.nhs.uk",
			"--mail-poll", poll, "--mail-backoff", "20ms")
	}
	// First run: SMTP down, and the publisher's one pass is at start, so
	// nothing can be sent before the kill.
	mp.Down()
	cmd, base := start("1h")
	clin, admin := devTokenRole(t, bin, base, "clinical"), devTokenRole(t, bin, base, "admin")
	writePractice(t, base, clin, admin)
	out, err := exec.Command(bin, "token", "--server", base, "--role", "patient", "--patient", "ex-patient").Output()
	if err != nil {
		t.Fatalf("ucp token: %v", err)
	}
	pat := strings.TrimSpace(string(out))
	resttest.Do(t, http.MethodPost, base+"/QuestionnaireResponse", answers("", "completed"), resttest.Bearer(pat)).Want(t, http.StatusCreated)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	mp.Up()
	if n := len(mp.Messages()); n != 0 {
		t.Fatalf("%d emails before the restart", n)
	}
	start("20ms")
	waitFor(t, "the email after the restart", func() bool { return len(mp.Messages()) > 0 })
	time.Sleep(200 * time.Millisecond)
	if n := len(mp.Messages()); n != 1 {
		t.Errorf("%d emails, want exactly 1", n)
	}
}

// startBinary runs the built server with args until the test ends and
// returns it with the FHIR base its banner names.
func startBinary(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
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

// TestServeCreatePlanOverFHIR: $create-plan over the API is the page's
// path: a view role, the patient and a request without a category are
// refused and write nothing; a clinician gets the draft plan (201), whose
// pre-filled wishes are the patient's words and never a CPR decision; a
// second call makes no second plan (409).
func TestServeCreatePlanOverFHIR(t *testing.T) {
	mp := mailpittest.Start(t)
	srv := servePatientPlans(t, mp)
	clin, admin := token(t, srv, auth.RoleClinical), token(t, srv, auth.RoleAdmin)
	writePractice(t, srv.base, clin, admin)
	pat := mint(t, srv, devissuer.TokenRequest{Role: auth.RolePatient, Patient: "ex-patient"})
	view := token(t, srv, auth.RoleView)
	r := resttest.Do(t, http.MethodPost, srv.base+"/QuestionnaireResponse", answers("", "completed"), resttest.Bearer(pat))
	r.Want(t, http.StatusCreated)
	id := resttest.Path(r.JSON(t), "id").(string)
	op := srv.base + "/QuestionnaireResponse/" + id + "/$create-plan"
	params := `{"resourceType":"Parameters","parameter":[` +
		`{"name":"category","valueCoding":{"system":"http://snomed.info/sct","code":"736373009"}},` +
		`{"name":"consent","valueCoding":{"system":"http://snomed.info/sct","code":"882921000000109"}}]}`
	resttest.Do(t, http.MethodPost, op, params, resttest.Bearer(view)).Want(t, http.StatusForbidden)
	resttest.Do(t, http.MethodPost, op, params, resttest.Bearer(pat)).Want(t, http.StatusForbidden)
	resttest.Do(t, http.MethodPost, op, `{"resourceType":"Parameters"}`, resttest.Bearer(clin)).Want(t, http.StatusBadRequest)
	plans := resttest.Do(t, http.MethodGet, srv.base+"/CarePlan?subject=Patient/ex-patient", "", resttest.Bearer(clin)).Want(t, http.StatusOK).JSON(t)
	if n := resttest.Path(plans, "total"); n != resttest.Num(0) {
		t.Fatalf("%v plans after refused calls", n)
	}
	// Without the consent parameter, and none on record: refused before
	// any pre-filled item is written.
	noConsent := `{"resourceType":"Parameters","parameter":[{"name":"category","valueCoding":{"system":"http://snomed.info/sct","code":"736373009"}}]}`
	resttest.Do(t, http.MethodPost, op, noConsent, resttest.Bearer(clin)).Want(t, http.StatusUnprocessableEntity)
	if g := resttest.Do(t, http.MethodGet, srv.base+"/Goal?subject=Patient/ex-patient", "", resttest.Bearer(clin)).Want(t, http.StatusOK).JSON(t); resttest.Path(g, "total") != resttest.Num(0) {
		t.Fatalf("a refused call wrote Goals: %v", resttest.Path(g, "total"))
	}
	made := resttest.Do(t, http.MethodPost, op, params, resttest.Bearer(clin))
	made.Want(t, http.StatusCreated)
	plan := made.JSON(t)
	if s := resttest.Path(plan, "status"); s != "draft" {
		t.Errorf("the plan's status is %v, want draft", s)
	}
	goals := resttest.Do(t, http.MethodGet, srv.base+"/Goal?subject=Patient/ex-patient", "", resttest.Bearer(clin)).Want(t, http.StatusOK).JSON(t)
	if d := resttest.Path(goals, "entry.0.resource.description.text"); !strings.Contains(resttest.Str(d), wishes) {
		t.Errorf("the patient's wishes as a Goal: %v", d)
	}
	cpr := resttest.Do(t, http.MethodGet, srv.base+"/Observation?subject=Patient/ex-patient&code=http://snomed.info/sct|304251008", "", resttest.Bearer(clin)).Want(t, http.StatusOK).JSON(t)
	if n := resttest.Path(cpr, "total"); n != resttest.Num(0) {
		t.Errorf("%v CPR decisions made from the patient's words", n)
	}
	resttest.Do(t, http.MethodPost, op, params, resttest.Bearer(clin)).Want(t, http.StatusConflict)
	plans = resttest.Do(t, http.MethodGet, srv.base+"/CarePlan?subject=Patient/ex-patient", "", resttest.Bearer(clin)).Want(t, http.StatusOK).JSON(t)
	if n := resttest.Path(plans, "total"); n != resttest.Num(1) {
		t.Errorf("%v plans after a second call, want 1", n)
	}
}
