package web_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/auth/launch"
	"ucp/fhir/resource"
	"ucp/notify"
	"ucp/patientplan"
	"ucp/profiles"
	"ucp/store"
	"ucp/web"
)

// client is a browser-like HTTP client with a real session: it keeps the
// cookie and the CSRF token of the last page, and does not follow
// redirects, so a test sees where each form leads.
type client struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string
}

// signInAs opens a session of role for patient, at the identity proofing
// level given ("" for none in the token).
func (e *env) signInAs(role auth.Role, patient, proofing string) *client {
	e.t.Helper()
	return e.signInWith(role, patient, proofing, "")
}

// practiceODS is the example practice's ODS code (organization-gp).
const practiceODS = "G85012"

// signInStaff opens a session of a member of staff of the organisation
// with the ODS code org.
func (e *env) signInStaff(role auth.Role, org string) *client {
	e.t.Helper()
	return e.signInWith(role, "", "", org)
}

func (e *env) signInWith(role auth.Role, patient, proofing, org string) *client {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	cl := &client{t: e.t, e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	u := e.url + "/test/signin?" + url.Values{"role": {string(role)}, "patient": {patient}, "name": {"Someone"}, "org": {org},
		"proofing": {proofing}, "next": {"/app/accessibility"}}.Encode()
	if st, _, _ := cl.get(strings.TrimPrefix(u, e.url)); st != http.StatusSeeOther {
		e.t.Fatalf("sign-in: %d", st)
	}
	if st, _, _ := cl.get("/app/accessibility"); st != http.StatusOK {
		e.t.Fatalf("first page: %d", st)
	}
	return cl
}

func (cl *client) do(req *http.Request) (int, string, string) {
	cl.t.Helper()
	resp, err := cl.c.Do(req)
	if err != nil {
		cl.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(b); m != nil {
		cl.csrf = string(m[1])
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// get fetches path and returns the status, the redirect and the page.
func (cl *client) get(path string) (int, string, string) {
	cl.t.Helper()
	req, err := http.NewRequest(http.MethodGet, cl.e.url+path, nil)
	if err != nil {
		cl.t.Fatal(err)
	}
	return cl.do(req)
}

// post sends a form with the session's CSRF token.
func (cl *client) post(path string, form url.Values) (int, string, string) {
	cl.t.Helper()
	form.Set("csrf_token", cl.csrf)
	req, err := http.NewRequest(http.MethodPost, cl.e.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		cl.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return cl.do(req)
}

// answersOf reads the patient's stored QuestionnaireResponses below the
// service, as the test's witness.
func (e *env) answersOf(patient string) []map[string]any {
	e.t.Helper()
	return e.find("QuestionnaireResponse", func(r map[string]any) bool {
		return resource.Str(resource.Obj(r, "subject"), "reference") == "Patient/"+patient
	})
}

// find lists the current resources of typ that keep says to.
func (e *env) find(typ string, keep func(map[string]any) bool) []map[string]any {
	e.t.Helper()
	page, err := e.st.Search(context.Background(), store.Query{Types: []string{typ}, Count: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]any
	for _, v := range page.Versions {
		r, err := resource.Parse(v.JSON)
		if err != nil {
			e.t.Fatal(err)
		}
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// answer is the first answer to linkId anywhere in qr, as the form sends it.
func answer(qr map[string]any, linkID string) string {
	var walk func(items []any) string
	walk = func(items []any) string {
		for _, x := range items {
			it, _ := x.(map[string]any)
			if resource.Str(it, "linkId") == linkID {
				for _, a := range resource.List(it["answer"]) {
					m, _ := a.(map[string]any)
					switch {
					case m["valueBoolean"] == true:
						return "yes"
					case m["valueBoolean"] == false:
						return "no"
					case m["valueCoding"] != nil:
						return resource.Str(resource.Obj(m, "valueCoding"), "code")
					}
					return resource.Str(m, "valueString")
				}
			}
			if s := walk(resource.List(it["item"])); s != "" {
				return s
			}
		}
		return ""
	}
	return walk(resource.List(qr["item"]))
}

// planPractice writes the patient, their practice and the patient of
// another practice.
func (e *env) planPractice() {
	e.t.Helper()
	e.put("organization-gp", "patient", "patient-minimal")
}

const homeCode = "https://ucp.example.org/fhir/CodeSystem/death-location-type|21"

// TestQuestionnaireJourney: a patient fills the questionnaire over several
// pages, leaves and comes back where they left off, changes an answer from
// check your answers, and sends it; the practice's Task and the email job
// are written with it, and the pages never show the NHS number.
func TestQuestionnaireJourney(t *testing.T) {
	e := newEnv(t)
	e.planPractice()
	cl := e.signInAs(auth.RolePatient, "ex-patient", "P9")

	if st, loc, _ := cl.get("/app/"); st != http.StatusSeeOther || loc != "/app/patients/ex-patient" {
		t.Fatalf("start page for a P9 patient: %d %q", st, loc)
	}
	st, _, page := cl.get("/app/questionnaire")
	if st != http.StatusOK || !strings.Contains(page, `id="start"`) {
		t.Fatalf("questionnaire start: %d\n%s", st, page)
	}
	st, loc, page := cl.post("/app/questionnaire/sections/personal", url.Values{
		"personal-preferred-name": {"Jo"}, "personal-email": {"jo@example.com"}, "personal-phone": {"020 7946 0000"}})
	if st != http.StatusSeeOther || loc != "/app/questionnaire/sections/contacts" {
		t.Fatalf("save personal: %d %q\n%s", st, loc, page)
	}
	st, loc, page = cl.post("/app/questionnaire/sections/contacts", url.Values{
		"contacts-person-name-1": {"Sam Smith"}, "contacts-person-phone-1": {"07700 900123"},
		"contacts-person-relationship-1": {"http://terminology.hl7.org/CodeSystem/v3-RoleCode|DAU"}})
	if st != http.StatusSeeOther || loc != "/app/questionnaire/sections/communication" {
		t.Fatalf("save contacts: %d %q\n%s", st, loc, page)
	}

	// Leave and come back in a new session: the questionnaire resumes at
	// the first section with no answers.
	cl = e.signInAs(auth.RolePatient, "ex-patient", "P9")
	_, _, page = cl.get("/app/questionnaire")
	if !strings.Contains(page, `href="/app/questionnaire/sections/communication"`) {
		t.Fatalf("no resume at communication:\n%s", page)
	}
	st, _, page = cl.get("/app/questionnaire/sections/contacts")
	if st != http.StatusOK || !strings.Contains(page, `value="Sam Smith"`) {
		t.Fatalf("saved contact not shown back: %d\n%s", st, page)
	}
	for _, s := range []struct {
		section string
		form    url.Values
	}{
		{"communication", url.Values{"communication-interpreter": {"no"}}},
		{"matters", url.Values{"matters-what-matters": {"Being at home with my dog"}, "matters-place-of-death": {homeCode},
			"matters-place-of-death-reason": {"My family is here"}}},
		{"ahead", url.Values{"ahead-resuscitation-wishes": {"I would not want CPR"}, "ahead-adrt": {"no"}}},
		{"daily", url.Values{"daily-support": {"My daughter visits every day"}}},
	} {
		if st, _, page := cl.post("/app/questionnaire/sections/"+s.section, s.form); st != http.StatusSeeOther {
			t.Fatalf("save %s: %d\n%s", s.section, st, page)
		}
	}
	st, _, page = cl.get("/app/questionnaire/check")
	if st != http.StatusOK {
		t.Fatalf("check: %d\n%s", st, page)
	}
	for _, want := range []string{"Sam Smith", "Being at home with my dog", "I would not want CPR", `href="/app/questionnaire/sections/matters?change=1"`, `id="send"`} {
		if !strings.Contains(page, want) {
			t.Errorf("check your answers lacks %q", want)
		}
	}
	// Change an answer from the check page: back to the check page.
	if st, loc, _ := cl.post("/app/questionnaire/sections/daily", url.Values{"change": {"1"}, "daily-support": {"My son visits every day"}}); st != http.StatusSeeOther || loc != "/app/questionnaire/check" {
		t.Fatalf("change: %d %q", st, loc)
	}
	if got := e.answersOf("ex-patient"); len(got) != 1 || resource.Str(got[0], "status") != "in-progress" || answer(got[0], "daily.support") != "My son visits every day" {
		t.Fatalf("stored answers before sending: %v", got)
	}
	if st, loc, page := cl.post("/app/questionnaire/send", url.Values{}); st != http.StatusSeeOther || loc != "/app/questionnaire?sent=1" {
		t.Fatalf("send: %d %q\n%s", st, loc, page)
	}
	qrs := e.answersOf("ex-patient")
	if len(qrs) != 1 || resource.Str(qrs[0], "status") != "completed" {
		t.Fatalf("stored answers after sending: %v", qrs)
	}
	got := map[string]string{}
	for _, k := range []string{"personal.email", "contacts.person.name", "contacts.person.relationship", "matters.place-of-death", "ahead.adrt", "ahead.resuscitation-wishes"} {
		got[k] = answer(qrs[0], k)
	}
	want := map[string]string{"personal.email": "jo@example.com", "contacts.person.name": "Sam Smith", "contacts.person.relationship": "DAU",
		"matters.place-of-death": "21", "ahead.adrt": "no", "ahead.resuscitation-wishes": "I would not want CPR"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("answers (-want +got):\n%s", d)
	}
	tasks := e.find("Task", func(r map[string]any) bool { return !notify.IsJob(r) })
	if len(tasks) != 1 || resource.Str(resource.Obj(tasks[0], "owner"), "reference") != "Organization/ex-practice" ||
		resource.Str(resource.Obj(tasks[0], "focus"), "reference") != "QuestionnaireResponse/"+resource.ID(qrs[0]) {
		t.Fatalf("practice Tasks: %v", tasks)
	}
	if jobs := e.find("Task", notify.IsJob); len(jobs) != 1 {
		t.Fatalf("email jobs: %d, want 1", len(jobs))
	}
	_, _, page = cl.get("/app/questionnaire")
	if !strings.Contains(page, `id="sent"`) {
		t.Fatalf("start page after sending:\n%s", page)
	}
	// Sent answers are closed: the form goes back to the start page, and a
	// forged save is refused by the rules and changes nothing.
	if st, loc, _ := cl.get("/app/questionnaire/sections/daily"); st != http.StatusSeeOther || loc != "/app/questionnaire" {
		t.Fatalf("section after sending: %d %q", st, loc)
	}
	if st, _, _ := cl.post("/app/questionnaire/sections/daily", url.Values{"daily-support": {"changed"}}); st != http.StatusConflict {
		t.Fatalf("save after sending: %d, want 409", st)
	}
	if got := answer(e.answersOf("ex-patient")[0], "daily.support"); got != "My son visits every day" {
		t.Fatalf("answers changed after sending: %q", got)
	}
	for _, p := range []string{"/app/questionnaire", "/app/questionnaire/check"} {
		_, _, page := cl.get(p)
		if strings.Contains(page, "9434765919") || strings.Contains(page, "943 476 5919") {
			t.Errorf("%s shows the NHS number", p)
		}
	}
}

// TestQuestionnaireErrors: each bad answer is refused with its message
// beside the field and nothing is saved.
func TestQuestionnaireErrors(t *testing.T) {
	e := newEnv(t)
	e.planPractice()
	cl := e.signInAs(auth.RolePatient, "ex-patient", "P9")
	cl.get("/app/questionnaire")
	for _, tc := range []struct {
		name, section string
		form          url.Values
		field, msg    string
	}{
		{"email", "personal", url.Values{"personal-email": {"jo at example"}}, "personal-email", "Enter an email address like name@example.com"},
		{"email display name", "personal", url.Values{"personal-email": {"Jo <jo@example.com>"}}, "personal-email", "Enter an email address like name@example.com"},
		{"phone", "personal", url.Values{"personal-phone": {"12345"}}, "personal-phone", "Enter a UK phone number, like 020 7946 0000 or 07700 900 000"},
		{"contact without a name", "contacts", url.Values{"contacts-person-phone-2": {"07700 900123"}}, "contacts-person-name-2", "Enter their name"},
		{"relationship not offered", "contacts", url.Values{"contacts-person-name-1": {"Sam"}, "contacts-person-relationship-1": {"http://example.org|X"}},
			"contacts-person-relationship-1", "Select one of the options"},
		{"a clinician's finding as the place of care", "matters", url.Values{"matters-place-of-care": {"http://snomed.info/sct|517131000000106"}},
			"matters-place-of-care", "Select one of the options"},
		{"place not offered", "matters", url.Values{"matters-place-of-care": {"http://snomed.info/sct|1"}}, "matters-place-of-care", "Select one of the options"},
		{"where without yes", "ahead", url.Values{"ahead-adrt": {"no"}, "ahead-adrt-where": {"In the drawer"}}, "ahead-adrt-where",
			"Leave this empty, or answer yes to the question above"},
		{"yes or no", "communication", url.Values{"communication-interpreter": {"maybe"}}, "communication-interpreter", "Select yes or no"},
		{"too long", "daily", url.Values{"daily-support": {strings.Repeat("a", 2001)}}, "daily-support", "Write 2000 characters or fewer (you wrote 2001)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, page := cl.post("/app/questionnaire/sections/"+tc.section, tc.form)
			if st != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", st)
			}
			want := `<span class="nhsuk-error-message" id="` + tc.field + `-error"><span class="nhsuk-u-visually-hidden">Error:</span> ` + tc.msg
			if !strings.Contains(page, want) {
				t.Errorf("no error beside %s:\n%s", tc.field, page)
			}
			if !strings.Contains(page, `href="#`+tc.field+`-error"`) {
				t.Errorf("error summary does not link to %s", tc.field)
			}
			if got := e.answersOf("ex-patient"); len(got) != 0 {
				t.Errorf("refused answers were saved: %v", got)
			}
		})
	}
	if st, _, _ := cl.get("/app/questionnaire/sections/nonsense"); st != http.StatusNotFound {
		t.Errorf("unknown section: %d, want 404", st)
	}
	if st, _, _ := cl.post("/app/questionnaire/send", url.Values{}); st != http.StatusBadRequest {
		t.Errorf("send with nothing saved: %d, want 400", st)
	}
}

// TestQuestionnaireP5: a patient proofed to P5 may save answers but is
// told how to verify their identity, cannot send them (the service
// refuses; the page says so) and cannot see their record.
func TestQuestionnaireP5(t *testing.T) {
	e := newEnv(t)
	e.planPractice()
	e.put("consent-given", "careplan-draft")
	cl := e.signInAs(auth.RolePatient, "ex-patient", "P5")
	if st, loc, _ := cl.get("/app/"); st != http.StatusSeeOther || loc != "/app/questionnaire" {
		t.Fatalf("P5 start page: %d %q", st, loc)
	}
	st, _, page := cl.get("/app/questionnaire")
	if st != http.StatusOK || !strings.Contains(page, `id="step-up"`) || !strings.Contains(page, "Prove who you are") {
		t.Fatalf("no step-up on the start page: %d\n%s", st, page)
	}
	if st, _, page := cl.post("/app/questionnaire/sections/matters", url.Values{"matters-what-matters": {"My garden"}}); st != http.StatusSeeOther {
		t.Fatalf("P5 save: %d\n%s", st, page)
	}
	_, _, page = cl.get("/app/questionnaire/check")
	if strings.Contains(page, `id="send"`) || !strings.Contains(page, `id="step-up"`) {
		t.Fatalf("P5 check page offers sending:\n%s", page)
	}
	st, _, page = cl.post("/app/questionnaire/send", url.Values{})
	if st != http.StatusForbidden || !strings.Contains(page, patientplan.StepUpMessage[1:]) {
		t.Fatalf("P5 send: %d, want 403 with the step-up message\n%s", st, page)
	}
	if got := e.answersOf("ex-patient"); len(got) != 1 || resource.Str(got[0], "status") != "in-progress" {
		t.Fatalf("answers after a refused send: %v", got)
	}
	if tasks := e.find("Task", func(map[string]any) bool { return true }); len(tasks) != 0 {
		t.Fatalf("Tasks after a refused send: %d", len(tasks))
	}
	if st, _, page := cl.get("/app/patients/ex-patient"); st != http.StatusForbidden || strings.Contains(page, "Urgent care plan") && strings.Contains(page, "plan-status") {
		t.Fatalf("P5 plan page: %d, want 403\n%s", st, page)
	}
}

// TestQuestionnaireStepUp: the P5 warning on the start and check pages
// has a "Verify your identity" button to NHS login that comes back to the
// page, and says plainly that there is none when the service has no NHS
// login.
func TestQuestionnaireStepUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stepUp func(string) string
		want   map[string]string // page → the button's href, "" for none
	}{
		{"NHS login", func(to string) string { return launch.StepUpPath("nhslogin", to) }, map[string]string{
			"/app/questionnaire":       launch.StepUpPath("nhslogin", "/app/questionnaire"),
			"/app/questionnaire/check": launch.StepUpPath("nhslogin", "/app/questionnaire/check"),
		}},
		{"no NHS login", nil, map[string]string{"/app/questionnaire": "", "/app/questionnaire/check": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *web.Config) { c.StepUp = tc.stepUp })
			e.planPractice()
			e.put("consent-given", "careplan-draft")
			cl := e.signInAs(auth.RolePatient, "ex-patient", "P5")
			if st, _, page := cl.post("/app/questionnaire/sections/matters", url.Values{"matters-what-matters": {"My garden"}}); st != http.StatusSeeOther {
				t.Fatalf("P5 save: %d\n%s", st, page)
			}
			got := map[string]string{}
			for path := range tc.want {
				_, _, page := cl.get(path)
				got[path] = ""
				if m := regexp.MustCompile(`<a class="nhsuk-button" id="step-up-link" href="([^"]*)">Verify your identity</a>`).FindStringSubmatch(page); m != nil {
					got[path] = html.UnescapeString(m[1])
				} else if !strings.Contains(page, `id="step-up-unavailable"`) || !strings.Contains(page, "cannot check your identity with NHS login") {
					t.Errorf("%s: neither a step-up button nor a plain word that there is none:\n%s", path, page)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("step-up links (-want +got):\n%s", diff)
			}
			if browser == nil {
				return
			}
			ctx := browser.Tab(t)
			if err := chromedp.Do(ctx, chromedp.Navigate(e.signIn(auth.RolePatient, "ex-patient", "Margaret Okafor", "/app/questionnaire/check")+"&proofing=P5")); err != nil {
				t.Fatal(err)
			}
			axe(t, ctx)
			shoot(t, ctx, "web-questionnaire-check-p5-"+strings.ReplaceAll(tc.name, " ", "-"))
		})
	}
}

// TestQuestionnaireOwnOnly: the pages act for the signed-in patient only:
// another patient's answers are neither shown nor changed, and staff have
// no questionnaire.
func TestQuestionnaireOwnOnly(t *testing.T) {
	e := newEnv(t)
	e.planPractice()
	a := e.signInAs(auth.RolePatient, "ex-patient", "P9")
	a.get("/app/questionnaire")
	if st, _, _ := a.post("/app/questionnaire/sections/matters", url.Values{"matters-what-matters": {"Secret of A"}}); st != http.StatusSeeOther {
		t.Fatal("save of A refused")
	}
	b := e.signInAs(auth.RolePatient, "ex-patient-minimal", "P9")
	_, _, page := b.get("/app/questionnaire/check")
	if strings.Contains(page, "Secret of A") {
		t.Fatal("B sees A's answers")
	}
	if st, _, _ := b.post("/app/questionnaire/sections/matters", url.Values{"matters-what-matters": {"Mine"}}); st != http.StatusSeeOther {
		t.Fatal("save of B refused")
	}
	if got := answer(e.answersOf("ex-patient")[0], profiles.QItemWhatMatters); got != "Secret of A" {
		t.Fatalf("A's answers changed: %q", got)
	}
	if got := e.answersOf("ex-patient-minimal"); len(got) != 1 {
		t.Fatalf("B's answers: %v", got)
	}
	for _, role := range []auth.Role{auth.RoleClinical, auth.RoleView} {
		c := e.signInAs(role, "", "")
		if st, _, _ := c.get("/app/questionnaire"); st != http.StatusForbidden {
			t.Errorf("%s: questionnaire %d, want 403", role, st)
		}
	}
}

// TestPatientPagesAccessible walks the patient's and the practice's new
// pages in Chromium and runs axe on each: no serious or critical
// violation, the errors linked from the summary to their fields.
func TestPatientPagesAccessible(t *testing.T) {
	if browser == nil {
		t.Skip("no Chromium")
	}
	e := newEnv(t)
	e.planPractice()
	ctx := e.open(auth.RolePatient, "ex-patient", "Margaret Okafor", "/app/questionnaire")
	axe(t, ctx)
	shoot(t, ctx, "web-questionnaire-start")
	submit(t, ctx, "#start")
	axe(t, ctx)
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#personal-email"), "not an address")); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save")
	if !exists(t, ctx, "#personal-email-error") || !exists(t, ctx, `.nhsuk-error-summary a[href="#personal-email-error"]`) {
		t.Fatalf("no error beside the email field:\n%s", text(t, ctx, "main"))
	}
	axe(t, ctx)
	shoot(t, ctx, "web-questionnaire-error")
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#personal-email"), "jo@example.com")); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save")
	axe(t, ctx) // contacts, with two contact blocks
	shoot(t, ctx, "web-questionnaire-contacts")
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/app/questionnaire/sections/ahead")); err != nil {
		t.Fatal(err)
	}
	axe(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/app/questionnaire/check")); err != nil {
		t.Fatal(err)
	}
	axe(t, ctx)
	submit(t, ctx, "#send")
	axe(t, ctx)

	// A patient proofed to P5 only: the start and check pages say how to
	// verify.
	p5 := browser.Tab(t)
	if err := chromedp.Do(p5, chromedp.Navigate(e.signIn(auth.RolePatient, "ex-patient-minimal", "Sam Patient", "/app/accessibility")+"&proofing=P5")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(p5, chromedp.Navigate(e.url+"/app/questionnaire")); err != nil {
		t.Fatal(err)
	}
	if !exists(t, p5, "#step-up") {
		t.Fatalf("no step-up for a P5 patient:\n%s", text(t, p5, "main"))
	}
	axe(t, p5)
	shoot(t, p5, "web-questionnaire-p5")

	gp := browser.Tab(t)
	if err := chromedp.Do(gp, chromedp.Navigate(e.signIn(auth.RoleClinical, "", "Dr Priya Shah", "/app/actions")+"&org="+practiceODS)); err != nil {
		t.Fatal(err)
	}
	shoot(t, gp, "web-action-needed")
	axe(t, gp)
	submit(t, gp, `#actions a[href^="/app/actions/"]`)
	axe(t, gp)
	submit(t, gp, "#create-plan")
	if !exists(t, gp, "#type-error") || !exists(t, gp, "#consent-error") {
		t.Fatalf("create plan without answers gives no errors beside the fields:\n%s", text(t, gp, "main"))
	}
	axe(t, gp)
}
