package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ucp/auth"
	"ucp/internal/browsertest"
	"ucp/internal/resttest"
	"ucp/notify/mailpittest"
)

// A page step of the journey in a Chromium tab.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// body is the page's text, for failure messages.
func (b tab) body() string {
	s, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	return s
}

func (b tab) has(sel string) bool {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsQuote(sel)+`).length`))
	if err != nil {
		b.t.Fatal(err)
	}
	return n > 0
}

func (b tab) text(sel string) string {
	b.t.Helper()
	if !b.has(sel) {
		b.t.Fatalf("no %s on %s:\n%s", sel, b.location(), b.body())
	}
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

func (b tab) location() string {
	s, _ := chromedp.Run(b.ctx, chromedp.Location())
	return s
}

func (b tab) navigate(u string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(u)); err != nil {
		b.t.Fatal(err)
	}
}

// set types into the field named name.
func (b tab) set(name, value string) {
	b.t.Helper()
	js := `(() => { const e = document.querySelector('[name="` + name + `"]'); if (!e) return false; e.value = ` + jsQuote(value) + `; return true })()`
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
	if err != nil || !ok {
		b.t.Fatalf("no field %s on %s (%v):\n%s", name, b.location(), err, b.body())
	}
}

// check clicks the radio of name with value.
func (b tab) check(name, value string) {
	b.t.Helper()
	b.click(`input[name="` + name + `"][value="` + value + `"]`)
}

func (b tab) click(sel string) {
	b.t.Helper()
	if !b.has(sel) {
		b.t.Fatalf("no %s to click on %s:\n%s", sel, b.location(), b.body())
	}
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatal(err)
	}
}

// submit clicks sel and waits for the page it leads to.
func (b tab) submit(sel string) {
	b.t.Helper()
	if !b.has(sel) {
		b.t.Fatalf("no %s to click on %s:\n%s", sel, b.location(), b.body())
	}
	if err := chromedp.Do(b.ctx, chromedp.Evaluate[chromedp.Void](`window.__ucpOld = true`), chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatal(err)
	}
	for {
		done, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.__ucpOld === undefined && document.readyState === 'complete'`))
		if err == nil && done {
			return
		}
		if b.ctx.Err() != nil {
			b.t.Fatalf("no new page after clicking %s: %v", sel, b.ctx.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shoot saves the page at 1280 and 375 px wide into $UCP_SCREENSHOTS,
// when it is set, for people to look at.
func (b tab) shoot(name string) {
	b.t.Helper()
	dir := os.Getenv("UCP_SCREENSHOTS")
	if dir == "" {
		return
	}
	for _, w := range []int64{1280, 375} {
		if err := browsertest.Screenshot(b.ctx, filepath.Join(dir, name+"-"+strconv.FormatInt(w, 10)+".png"), w, 800); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		b.t.Fatal(err)
	}
}

func jsQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

// TestPatientJourneyInChromium is issue 18's journey end to end in
// headless Chromium against ucp serve with a real SMTP server: the patient
// signs in (development NHS login), fills the questionnaire over several
// pages, leaves and comes back where they left off, and sends it; exactly
// one email reaches the practice's inbox, with the link and nothing of
// what the patient wrote; the clinician arrives by in-context link, finds
// the submission in Action needed, creates the plan from it, completes and
// approves it; the patient is emailed, sees the approved plan and asks for
// a change, which appears in Action needed.
func TestPatientJourneyInChromium(t *testing.T) {
	b, err := browsertest.Start()
	if errors.Is(err, browsertest.ErrNoChromium) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mp := mailpittest.Start(t)
	dir := t.TempDir()
	srv := serveTest(t, serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
		Mail: mailConfig{SMTPURL: "smtp://ucp:pw@" + mp.SMTPAddr, SMTPCA: mp.CAFile, From: "care-plans@ucp.example.nhs.uk",
			Link: "https://ucp.example.nhs.uk/app/", Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond, Horizon: time.Hour}})
	clin, admin := token(t, srv, auth.RoleClinical), token(t, srv, auth.RoleAdmin)
	writePractice(t, srv.base, clin, admin)
	// The practice's information-sharing agreement, without which its staff
	// see no plans.
	agreement := `{"resourceType":"Contract","status":"executed","title":"Practice agreement","applies":{"start":"2020-01-01"},` +
		`"authority":[{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"G85012"}}]}`
	if r := resttest.Do(t, http.MethodPost, srv.base+"/Contract", agreement, resttest.Bearer(admin)); r.Status != http.StatusCreated {
		t.Fatalf("agreement: %d %s", r.Status, r.Body)
	}
	root := publicOrigin(srv.base)
	const nhs = "9990001235"

	// The patient signs in with the development NHS login.
	pat := tab{t, b.Tab(t)}
	signIn := func() {
		t.Helper()
		pat.navigate(root + "/auth/oidc/dev-patient/start")
		if err := chromedp.Do(pat.ctx, chromedp.SetValue(chromedp.CSS("#role"), "patient")); err != nil {
			t.Fatal(err)
		}
		pat.set("user", "nhs-login-margaret")
		pat.set("name", "Margaret Okafor")
		pat.set("nhs_number", nhs)
		pat.submit(`button[type="submit"]`)
		if !strings.Contains(pat.location(), "/app/patients/ex-patient") {
			t.Fatalf("the patient landed on %s:\n%s", pat.location(), pat.body())
		}
	}
	signIn()
	pat.submit("#start-questionnaire")
	pat.shoot("questionnaire-start")
	pat.submit("#start")
	pat.set("personal-preferred-name", "Maggie")
	pat.set("personal-email", "margaret@example.com")
	pat.shoot("questionnaire-personal")
	pat.submit("#save")
	pat.set("contacts-person-name-1", "Ngozi Okafor")
	pat.set("contacts-person-phone-1", "07700 900123")
	pat.set("contacts-person-relationship-1", "http://terminology.hl7.org/CodeSystem/v3-RoleCode|DAU")
	pat.submit("#save")
	if !strings.HasSuffix(pat.location(), "/sections/communication") {
		t.Fatalf("after contacts: %s", pat.location())
	}
	// Leave (sign out), and come back (sign in again): the questionnaire
	// continues where it stopped.
	pat.submit(".ucp-link-button")
	pat.navigate(root + "/app/questionnaire")
	if pat.has("#resume") || pat.has("#start") {
		t.Fatalf("still signed in after signing out: %s", pat.location())
	}
	signIn()
	pat.navigate(root + "/app/questionnaire")
	pat.submit("#resume")
	if !strings.HasSuffix(pat.location(), "/sections/communication") {
		t.Fatalf("resumed at %s, want the communication section", pat.location())
	}
	pat.check("communication-interpreter", "no")
	pat.submit("#save")
	pat.set("matters-what-matters", "Being at home with my garden")
	pat.check("matters-place-of-death", "https://ucp.example.org/fhir/CodeSystem/death-location-type|21")
	pat.set("matters-place-of-death-reason", "My family is here")
	// A mistyped answer is refused beside its field, and nothing is lost.
	pat.set("matters-place-of-care-detail", strings.Repeat("x", 201))
	pat.submit("#save")
	if !pat.has("#matters-place-of-care-detail-error") {
		t.Fatalf("no error beside the field:\n%s", pat.body())
	}
	pat.shoot("questionnaire-error")
	pat.set("matters-place-of-care-detail", "")
	pat.submit("#save")
	pat.set("ahead-resuscitation-wishes", wishes)
	pat.submit("#save")
	pat.set("daily-support", "My daughter visits every day")
	pat.submit("#save")
	if got := pat.text("main"); !strings.Contains(got, "Check your answers") || !strings.Contains(got, "Ngozi Okafor") || !strings.Contains(got, wishes) {
		t.Fatalf("check your answers:\n%s", got)
	}
	if strings.Contains(pat.body(), nhs) || strings.Contains(pat.body(), "999 000 1235") {
		t.Error("the patient's pages show the NHS number")
	}
	pat.shoot("questionnaire-check")
	pat.submit("#send")
	if !pat.has("#sent") {
		t.Fatalf("after sending:\n%s", pat.body())
	}
	pat.shoot("questionnaire-sent")

	// Exactly one email, at the practice's inbox, with the link and none of
	// what the patient wrote.
	waitFor(t, "the practice's email", func() bool { return len(mp.Messages()) > 0 })
	msgs := mp.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0].Address != practiceInbox || !strings.Contains(msgs[0].Text, "https://ucp.example.nhs.uk/app/") {
		t.Fatalf("emails after sending: %+v", msgs)
	}
	for _, secret := range []string{wishes, "garden", "Ngozi", "Okafor", nhs, "margaret@example.com"} {
		if strings.Contains(msgs[0].Text+msgs[0].Subject, secret) {
			t.Errorf("the practice's email carries %q", secret)
		}
	}

	// The clinician arrives by in-context link from their GP system.
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"link", "--server", srv.base, "--key", devLauncherKeyFile(dir), "--nhs", nhs,
		"--role", "clinical", "--org", "G85012", "--name", "Dr Priya Shah"}, &out, &errb); code != 0 {
		t.Fatalf("ucp link: exit %d: %s", code, errb.String())
	}
	gp := tab{t, b.Tab(t)}
	gp.navigate(strings.TrimSpace(out.String()))
	if got := gp.text("#action-count"); got != "Action needed (1)" {
		t.Fatalf("header count %q", got)
	}
	gp.submit("#action-count")
	gp.shoot("action-needed")
	gp.submit(`#actions a[href^="/app/actions/"]`)
	if got := gp.text("main"); !strings.Contains(got, "Being at home with my garden") || !strings.Contains(got, wishes) {
		t.Fatalf("the submission:\n%s", got)
	}
	gp.shoot("action-submission")
	gp.check("type", "http://snomed.info/sct|736373009")
	gp.check("consent", "http://snomed.info/sct|882921000000109")
	gp.submit("#create-plan")
	if !strings.HasSuffix(gp.location(), "/edit") {
		t.Fatalf("after creating the plan: %s\n%s", gp.location(), gp.body())
	}
	if got := gp.text("main"); !strings.Contains(got, "Ngozi Okafor") {
		t.Errorf("the draft lacks the patient's contact:\n%s", got)
	}
	// The clinician completes the mandatory sections and approves.
	gp.set("diagnosis", "Motor neurone disease")
	gp.set("diagnosis_code", "37340000")
	gp.submit("#save-background")
	for _, step := range [][2]string{{"#prognosis-2", "#save-prognosis"}, {"#cpr-2", "#save-cpr"}, {"#ceiling-1", "#save-escalation"}} {
		gp.click(step[0])
		gp.submit(step[1])
	}
	gp.submit("#approve")
	if got := gp.text("#plan-status"); !strings.Contains(got, "Approved") && !strings.Contains(got, "Active") {
		t.Fatalf("after approval the plan's status is %q:\n%s", got, gp.body())
	}
	// The patient is emailed that it is approved, with no clinical content.
	waitFor(t, "the patient's email", func() bool { return len(mp.Messages()) > 1 })
	var toPatient []mailpittest.Message
	for _, m := range mp.Messages() {
		if len(m.To) == 1 && m.To[0].Address == "margaret@example.com" {
			toPatient = append(toPatient, m)
		}
	}
	if len(toPatient) != 1 || strings.Contains(toPatient[0].Text, "CPR") || strings.Contains(toPatient[0].Text, "Motor neurone") {
		t.Fatalf("emails to the patient: %+v", toPatient)
	}
	// The practice's Task is completed once the plan is approved.
	waitFor(t, "the Task completed", func() bool {
		gp.navigate(root + "/app/actions")
		return gp.has("#no-actions")
	})

	// The patient sees the approved plan and asks for a change.
	pat.navigate(root + "/app/")
	if got := pat.text("#plan-status"); !strings.Contains(got, "agreed by your doctor or nurse") {
		t.Fatalf("the patient's plan status: %q", got)
	}
	pat.submit("#ask-for-change")
	pat.shoot("change-request")
	pat.set("change", "Please add my son Tom as a contact")
	pat.submit("#send-change")
	if !pat.has("#change-sent") {
		t.Fatalf("after asking for a change:\n%s", pat.body())
	}
	gp.navigate(root + "/app/actions")
	if got := gp.text("#actions"); !strings.Contains(got, "asks for a change") {
		t.Fatalf("the change request is not in Action needed:\n%s", got)
	}
	gp.submit(`#actions a[href^="/app/actions/"]`)
	if got := gp.text("#patient-words"); !strings.Contains(got, "Please add my son Tom") {
		t.Errorf("the request's words: %q", got)
	}
	gp.shoot("action-change-request")
}
