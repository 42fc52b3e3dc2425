package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/internal/browsertest"
)

// open signs a new tab in as role and opens path.
func (e *env) open(role auth.Role, patient, name, path string) context.Context {
	e.t.Helper()
	ctx := browser.Tab(e.t)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.signIn(role, patient, name, path))); err != nil {
		e.t.Fatal(err)
	}
	return ctx
}

// submit clicks sel and waits until the page it leads to has loaded.
func submit(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__ucpOld = true`), chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatal(err)
	}
	for {
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__ucpOld === undefined && document.readyState === 'complete'`))
		if err == nil && done {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("no new page after clicking %s: %v", sel, ctx.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// click clicks sel, which must be on the page.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	text(t, ctx, "body")
	if !exists(t, ctx, sel) {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("no %s to click on the page:\n%s", sel, body)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	if !exists(t, ctx, sel) {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("no %s on the page:\n%s", sel, body)
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func exists(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// axe injects axe-core and fails the test on any serious or critical
// violation.
func axe(t *testing.T, ctx context.Context) {
	t.Helper()
	src, err := os.ReadFile(browsertest.NPM(t, "axe-core@4.10.3", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](string(src))); err != nil {
		t.Fatal(err)
	}
	type violation struct {
		ID, Impact, Help string
		Nodes            []struct{ Target []string }
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]violation](`axe.run(document, {runOnly: ['wcag2a','wcag2aa','wcag21a','wcag21aa','wcag22aa','best-practice']}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, strings.Join(n.Target, " "))
			}
			t.Errorf("axe on %s: %s (%s): %s at %v", loc, v.ID, v.Impact, v.Help, where)
		}
	}
}

// shoot saves screenshots at 1280 and 375 wide into $UCP_SCREENSHOTS
// (make screenshots sets it), and does nothing otherwise.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("UCP_SCREENSHOTS")
	if dir == "" {
		return
	}
	for _, w := range []int64{1280, 375} {
		h := int64(800)
		if w == 375 {
			h = 812
		}
		p := filepath.Join(dir, name+"-"+map[int64]string{1280: "1280", 375: "375"}[w]+".png")
		if err := browsertest.Screenshot(ctx, p, w, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatal(err)
	}
}

func TestUrgentViewShowsTheKeyItemsFirst(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	ctx := e.open(auth.RoleView, "", "Paramedic Lee", "/app/patients/ex-patient")
	if got := text(t, ctx, "#cpr-decision"); !strings.Contains(got, "Not for attempted cardiopulmonary resuscitation") {
		t.Errorf("CPR decision = %q", got)
	}
	if got := text(t, ctx, "#ppd-value"); !strings.Contains(got, "own home") {
		t.Errorf("preferred place of death = %q", got)
	}
	if got := text(t, ctx, ".ucp-dnacpr-band"); !strings.Contains(got, "DNACPR") {
		t.Errorf("DNACPR band = %q", got)
	}
	if got := text(t, ctx, "#plan-status"); got != "Approved" {
		t.Errorf("status = %q, want it in words: Approved", got)
	}
	// An approved plan never says it is not approved, even when its
	// approver's name was not recorded.
	if got := text(t, ctx, "#plan-approver"); got == "" || got == "Not approved" {
		t.Errorf("approver of an approved plan = %q", got)
	}
	if got := text(t, ctx, ".ucp-banner__facts"); !strings.Contains(got, "943 476 5919") && !strings.Contains(got, " ") {
		t.Errorf("banner = %q", got)
	}
	if !exists(t, ctx, `#first-contact a[href^="tel:"]`) {
		t.Error("the first contact has no tel: link")
	}
	// The four key items are on screen without scrolling at 1280×800.
	for _, id := range []string{"cpr", "ceiling", "ppd", "first-contact"} {
		bottom, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.getElementById(`+jsString(id)+`).getBoundingClientRect().bottom`))
		if err != nil {
			t.Fatal(err)
		}
		if bottom > 800 {
			t.Errorf("#%s ends at %.0f px, below the 800 px fold", id, bottom)
		}
	}
	if exists(t, ctx, "#clinician-actions") || exists(t, ctx, "#edit-plan") || exists(t, ctx, "#approve") {
		t.Error("the view role sees an edit control")
	}
	if !exists(t, ctx, `form[action="/auth/signout"] button`) {
		t.Error("no sign-out on the page")
	}
	axe(t, ctx)
	shoot(t, ctx, "urgent-view")
}

// postForm signs a client in as role (a real session cookie), takes the
// session's CSRF token from a page as a browser would, and posts the form
// with it, or without it when csrf is false.
func (e *env) postForm(role auth.Role, path string, form url.Values, csrf bool) (int, string) {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	resp, err := c.Get(e.signIn(role, "", "Someone", "/app/accessibility"))
	if err != nil {
		e.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		e.t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	if csrf {
		form.Set("csrf_token", string(m[1]))
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = c.PostForm(e.url+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) planStatus(id string) (string, int64) {
	e.t.Helper()
	v, err := e.st.Read(context.Background(), "CarePlan", id)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := resource.Parse(v.JSON)
	if err != nil {
		e.t.Fatal(err)
	}
	s, _ := res["status"].(string)
	return s, v.VersionID
}

func TestViewRoleCannotChangeAPlan(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	form := url.Values{"action": {"revoke"}, "reason": {"forged"}, "version": {"1"}}
	code, body := e.postForm(auth.RoleView, "/app/plans/ex-careplan/status", form, true)
	if code != http.StatusForbidden || !strings.Contains(body, "You do not have permission") {
		t.Errorf("view role's forged revoke: %d, want 403 with a page saying so", code)
	}
	// Nor may it write a section, nor open the edit form.
	code, _ = e.postForm(auth.RoleView, "/app/plans/ex-careplan/sections", url.Values{"section": {"cpr"}, "cpr": {"http://snomed.info/sct|450475007"}}, true)
	if code != http.StatusForbidden {
		t.Errorf("view role's forged section: %d, want 403", code)
	}
	ctx := e.open(auth.RoleView, "", "Paramedic Lee", "/app/plans/ex-careplan/edit")
	if got := text(t, ctx, "h1"); got != "You cannot do this" {
		t.Errorf("view role's edit page: %q", got)
	}
	if obs, err := e.loader.Find(context.Background(), "Observation", "code=http://snomed.info/sct|304251008", 10); err != nil || len(obs) != 1 {
		t.Errorf("CPR decisions stored: %d (%v), want the seeded one only", len(obs), err)
	}
	// Without the session's CSRF token even a clinician is refused.
	if code, _ := e.postForm(auth.RoleClinical, "/app/plans/ex-careplan/status", url.Values{"action": {"revoke"}, "reason": {"x y z"}, "version": {"1"}}, false); code != http.StatusForbidden {
		t.Errorf("POST without the CSRF token: %d, want 403", code)
	}
	if s, v := e.planStatus("ex-careplan"); s != "active" || v != 1 {
		t.Errorf("plan is %s version %d after refused posts, want active version 1", s, v)
	}
}

func TestClinicianRevokesWithAReason(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	ctx := e.open(auth.RoleClinical, "", "Dr Priya Shah", "/app/patients/ex-patient")
	if !exists(t, ctx, "#edit-plan") {
		t.Fatal("a clinician sees no edit control")
	}
	axe(t, ctx)
	// No reason: refused in words, nothing changes.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#end-revoke"))); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#end-plan")
	if got := text(t, ctx, "main"); !strings.Contains(got, "say why the plan is being revoked") {
		t.Errorf("page after revoking without a reason: %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/app/patients/ex-patient"), chromedp.Click(chromedp.CSS("#end-revoke")),
		chromedp.SendKeys(chromedp.CSS("#end-reason"), "Patient has moved to a hospice with its own plan")); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#end-plan")
	if got := text(t, ctx, "#plan-status"); !strings.Contains(got, "Revoked") {
		t.Errorf("status after revoking = %q", got)
	}
	if s, _ := e.planStatus("ex-careplan"); s != "revoked" {
		t.Errorf("stored status %s, want revoked", s)
	}
	// The history says what changed, who and when.
	submit(t, ctx, "#history-link")
	h := text(t, ctx, "#history")
	for _, want := range []string{"Version 2: Revoked", "Status: Approved → Revoked", "Note: Revoked: no longer in use: Patient has moved to a hospice with its own plan (Dr Priya Shah)", "Version 1: Approved", "Approved by Dr Priya Shah"} {
		if !strings.Contains(h, want) {
			t.Errorf("history lacks %q:\n%s", want, h)
		}
	}
	axe(t, ctx)
	shoot(t, ctx, "history")
	// Version 1 opened from the history says a newer version exists.
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/app/patients/ex-patient?plan=ex-careplan&version=1"), chromedp.WaitVisible(chromedp.CSS("#newer-version"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#newer-version"); !strings.Contains(got, "replaced by version 2") {
		t.Errorf("old version notice = %q", got)
	}
	if got := text(t, ctx, "#plan-status"); !strings.Contains(got, "Superseded") {
		t.Errorf("old version's status = %q, want Superseded in words", got)
	}
	// A new plan approved since: the old plan's link says so and leads to it.
	next := e.load("careplan-active")
	next["id"] = "ex-careplan-2"
	e.putRes(next)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/app/patients/ex-patient?plan=ex-careplan")); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#newer-plan"); !strings.Contains(got, "newer approved plan") {
		t.Errorf("old plan's notice = %q", got)
	}
	submit(t, ctx, "#newer-plan a")
	if got := text(t, ctx, "#plan-status"); got != "Approved" {
		t.Errorf("the current plan's status = %q", got)
	}
	if exists(t, ctx, "#newer-plan") {
		t.Error("the current plan says a newer one exists")
	}
}

func TestBreakGlassShowsAPlanHiddenByWithdrawnConsent(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	w := e.load("consent-withdrawn")
	w["dateTime"] = "2026-11-20T09:00:00Z"
	e.putRes(w)
	ctx := e.open(auth.RoleView, "", "Paramedic Lee", "/app/patients/ex-patient")
	if exists(t, ctx, "#cpr-decision") {
		t.Fatal("the plan is shown to urgent care although consent is withdrawn")
	}
	if !exists(t, ctx, "#consent-withdrawn") || !exists(t, ctx, "#reason") {
		t.Fatal("no break-glass form for a plan hidden by withdrawn consent")
	}
	axe(t, ctx)
	// An empty reason is refused next to the field.
	submit(t, ctx, "#break-glass")
	if got := text(t, ctx, "#reason-error"); !strings.Contains(got, "Enter why") {
		t.Errorf("reason error = %q", got)
	}
	axe(t, ctx)
	reason := "Cardiac arrest at home, family unsure of wishes"
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#reason"), reason)); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#break-glass")
	if got := text(t, ctx, "#break-glass-notice"); !strings.Contains(got, "recorded") || !strings.Contains(got, reason) {
		t.Errorf("break-glass notice = %q", got)
	}
	if got := text(t, ctx, "#cpr-decision"); !strings.Contains(got, "Not for attempted") {
		t.Errorf("CPR decision under break-glass = %q", got)
	}
	// The reads are audited as break-glass.
	if _, err := e.sink.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs, err := e.loader.Find(context.Background(), "AuditEvent", "patient=Patient/ex-patient", 500)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range evs {
		if bytes.Contains(v.JSON, []byte(`"BTG"`)) && bytes.Contains(v.JSON, []byte(reason)) && bytes.Contains(v.JSON, []byte("CarePlan")) {
			found = true
		}
	}
	if !found {
		t.Errorf("no AuditEvent flagged break-glass (BTG) with the reason among %d events of the patient", len(evs))
	}
}

func TestPatientSeesTheirOwnPlanOnly(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	ctx := e.open(auth.RolePatient, "ex-patient", "Margaret Okafor", "/app/")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#cpr-decision"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "h1"); got != "Your care plan" {
		t.Errorf("patient's heading = %q", got)
	}
	if got := text(t, ctx, "#cpr-decision"); !strings.Contains(got, "should not be given CPR") {
		t.Errorf("patient's CPR wording = %q, want plain English", got)
	}
	// A patient reads their anticipatory medicines and advance decisions;
	// the prognosis (a ClinicalImpression) is for a conversation, not a
	// page read alone, and the page says something is left out rather than
	// "not written down".
	if !exists(t, ctx, "#withheld") {
		t.Error("the patient is not told that parts of the plan are not shown")
	}
	// NHS login's rule: the NHS number it traced is never shown back.
	if got := text(t, ctx, ".ucp-banner"); strings.Contains(got, "NHS number") || strings.Contains(got, "999 000 1235") {
		t.Errorf("the patient's own banner shows their NHS number: %q", got)
	}
	if got := text(t, ctx, "main"); !strings.Contains(got, "Morphine") || !strings.Contains(got, "Has ADRT") {
		t.Errorf("the patient's page lacks their medicines or their advance decision:\n%s", got)
	}
	axe(t, ctx)
	shoot(t, ctx, "patient-view")
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/app/patients/ex-patient-minimal"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "h1"); got != "You cannot do this" && got != "Not found" {
		t.Errorf("another patient's page: heading %q", got)
	}
	if exists(t, ctx, ".ucp-banner") {
		t.Error("another patient's banner is shown")
	}
	axe(t, ctx) // the refusal page
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/app/accessibility")); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "h1"); got != "Accessibility statement" {
		t.Errorf("accessibility page heading %q", got)
	}
	axe(t, ctx)
}

func TestFindAPatient(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	ctx := e.open(auth.RoleClinical, "", "Dr Priya Shah", "/app/")
	axe(t, ctx)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#nhs"), "12345")); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#search")
	if !exists(t, ctx, "#nhs-error") {
		t.Error("an invalid NHS number gives no error next to the field")
	}
	axe(t, ctx)
	nhs := nhsOf(t, e.load("patient"))
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+"/app/"), chromedp.SendKeys(chromedp.CSS("#nhs"), nhs)); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#search")
	if got := text(t, ctx, "#results"); !strings.Contains(got, "Has an approved care plan") {
		t.Errorf("results = %q", got)
	}
	shoot(t, ctx, "find")
	submit(t, ctx, "#results a")
	if !exists(t, ctx, "#cpr-decision") {
		t.Error("the result does not lead to the urgent care view")
	}
}

func nhsOf(t *testing.T, p map[string]any) string {
	ids, _ := p["identifier"].([]any)
	for _, id := range ids {
		m, _ := id.(map[string]any)
		if m["system"] == "https://fhir.nhs.uk/Id/nhs-number" {
			return m["value"].(string)
		}
	}
	t.Fatal("no NHS number")
	return ""
}

func TestPrintPutsTheBannerOnEveryPage(t *testing.T) {
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed (Debian poppler-utils; .ci/run installs it)")
	}
	e := newEnv(t)
	e.seedPlan()
	ctx := e.open(auth.RoleClinical, "", "Dr Priya Shah", "/app/patients/ex-patient")
	yes := true
	res, err := chromedp.Call(ctx, page.PrintToPDF, page.PrintToPDFParams{PreferCSSPageSize: &yes})
	if err != nil {
		t.Fatal(err)
	}
	pdf := filepath.Join(t.TempDir(), "plan.pdf")
	if err := os.WriteFile(pdf, res.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftotext, "-layout", pdf, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	pages := strings.Split(strings.TrimRight(string(out), "\f"), "\f")
	if len(pages) < 2 {
		t.Fatalf("the plan printed on %d page; the test needs at least two", len(pages))
	}
	nhs := nhsOf(t, e.load("patient"))
	spaced := nhs[:3] + " " + nhs[3:6] + " " + nhs[6:]
	for i, p := range pages {
		if !strings.Contains(p, spaced) || !strings.Contains(p, "DNACPR") {
			t.Errorf("printed page %d has no banner (NHS number %s and the DNACPR band):\n%s", i+1, spaced, p)
		}
	}
	if dir := os.Getenv("UCP_SCREENSHOTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "print-preview.pdf"), res.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		// The print stylesheet on screen, A4 wide at 96 dpi.
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
			t.Fatal(err)
		}
		if err := browsertest.Screenshot(ctx, filepath.Join(dir, "print-preview.png"), 794, 1123); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClinicianWritesAPlanThroughTheForms(t *testing.T) {
	e := newEnv(t)
	e.put("organization-gp", "practitioner-gp", "patient-minimal")
	ctx := e.open(auth.RoleClinical, "", "Dr Priya Shah", "/app/patients/ex-patient-minimal")
	submit(t, ctx, "#create-plan")
	axe(t, ctx)
	// Nothing chosen: each question says so, next to it.
	submit(t, ctx, "#create")
	if !exists(t, ctx, "#consent-error") || !exists(t, ctx, "#type-error") {
		t.Fatal("the create form gives no error next to its fields")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#type-1")), chromedp.Click(chromedp.CSS("#consent-1"))); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#create")
	if got := text(t, ctx, "#plan-status"); !strings.Contains(got, "Draft") {
		t.Fatalf("new plan's status = %q, want a draft", got)
	}
	missing := text(t, ctx, "#missing")
	for _, want := range []string{"Medical background", "Prognosis", "CPR decision", "Emergency treatment plan"} {
		if !strings.Contains(missing, want) {
			t.Errorf("the edit page does not name the missing %q:\n%s", want, missing)
		}
	}
	axe(t, ctx)
	editURL, _ := chromedp.Run(ctx, chromedp.Location())
	// Approval is refused by the care-plan rules, each missing section named.
	submit(t, ctx, "#approve")
	refusal := text(t, ctx, "main")
	for _, want := range []string{"medical background", "prognosis", "CPR decision", "emergency treatment plan"} {
		if !strings.Contains(refusal, "missing section: "+want) {
			t.Errorf("the refusal does not name %q:\n%s", want, refusal)
		}
	}
	// The sections, each through its form.
	if err := chromedp.Do(ctx, chromedp.Navigate(editURL)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('diagnosis').value = 'Motor neurone disease'; document.getElementById('diagnosis_code').value = '37340000'`)); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save-background")
	for _, step := range [][2]string{{"#prognosis-2", "#save-prognosis"}, {"#cpr-2", "#save-cpr"}, {"#ceiling-1", "#save-escalation"}, {"#place-1", "#save-place"}} {
		click(t, ctx, step[0])
		submit(t, ctx, step[1])
	}
	// A key contact: a half-filled form says what is missing, next to each
	// field, and keeps what was typed.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('contact_given').value = 'Ngozi'; document.getElementById('contact_phone').value = '0770 090'`)); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save-contact")
	for _, id := range []string{"#contact_family-error", "#relationship-error", "#contact_phone-error"} {
		if !exists(t, ctx, id) {
			t.Errorf("the key-contact form gives no %s next to its field:\n%s", id, text(t, ctx, "#contact"))
		}
	}
	if exists(t, ctx, "#contact_given-error") {
		t.Error("the key-contact form refuses a first name that was given")
	}
	if kept, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#contact_given"))); err != nil || kept != "Ngozi" {
		t.Errorf("the refused form kept first name %q (%v), want what was typed", kept, err)
	}
	axe(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('contact_family').value = 'Okafor'; document.getElementById('contact_phone').value = '07700 900123'`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.SetValue(chromedp.CSS("#relationship"), "http://terminology.hl7.org/CodeSystem/v2-0131|N")); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save-contact")
	if got := text(t, ctx, "#contacts-now"); !strings.Contains(got, "Ngozi Okafor") || !strings.Contains(got, "07700 900123") {
		t.Errorf("after adding a key contact the edit page lists %q", got)
	}
	// An ADRT, and where the signed decision is kept.
	click(t, ctx, "#adrt-2")
	submit(t, ctx, "#save-adrt")
	if !exists(t, ctx, "#adrt_where-error") || exists(t, ctx, "#adrt-error") {
		t.Errorf("an ADRT without where it is kept is not refused next to that field alone:\n%s", text(t, ctx, "#adrt"))
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('adrt_where').value = 'In the folder by the front door'`)); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save-adrt")
	if got := text(t, ctx, "#adrt-now"); !strings.Contains(got, "refuse life sustaining treatment") || !strings.Contains(got, "folder by the front door") {
		t.Errorf("after saving the ADRT the edit page says %q", got)
	}
	// A lasting power of attorney: the attorney's name, phone and where
	// the LPA is kept are each asked for next to their field.
	click(t, ctx, "#lpa-2")
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('attorney_given').value = 'Chidi'; document.getElementById('attorney_phone').value = '12345'`)); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save-lpa")
	for _, id := range []string{"#attorney_family-error", "#attorney_phone-error", "#lpa_where-error"} {
		if !exists(t, ctx, id) {
			t.Errorf("the LPA form gives no %s next to its field:\n%s", id, text(t, ctx, "#lpa"))
		}
	}
	if exists(t, ctx, "#lpa-error") || exists(t, ctx, "#attorney_given-error") {
		t.Error("the LPA form refuses an answer that was given")
	}
	axe(t, ctx)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('attorney_family').value = 'Okafor'; document.getElementById('attorney_phone').value = '07700 900456'; document.getElementById('lpa_where').value = 'Chidi holds the registered LPA'`)); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save-lpa")
	if got := text(t, ctx, "#lpa-now"); !strings.Contains(got, "life sustaining treatment") || !strings.Contains(got, "Chidi Okafor, 07700 900456") || !strings.Contains(got, "Chidi holds the registered LPA") {
		t.Errorf("after saving the LPA the edit page says %q", got)
	}
	// A second key contact, then removed: it is gone from the plan.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('contact_given').value = 'Tom'; document.getElementById('contact_family').value = 'Brown'; document.getElementById('contact_phone').value = '01632 960001'`)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.SetValue(chromedp.CSS("#relationship"), "http://terminology.hl7.org/CodeSystem/v2-0131|C")); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save-contact")
	if got := text(t, ctx, "#contacts-now"); !strings.Contains(got, "Tom Brown") {
		t.Fatalf("after adding a second key contact the edit page lists %q", got)
	}
	// Remove asks first: the real button is inside a disclosure.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#remove-contact-2-confirm summary"))); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#remove-contact-2")
	if got := text(t, ctx, "#contacts-now"); strings.Contains(got, "Tom Brown") || !strings.Contains(got, "Ngozi Okafor") {
		t.Errorf("after removing Tom Brown the edit page lists %q", got)
	}
	// Each form opens on the current answer.
	if err := chromedp.Do(ctx, chromedp.Navigate(editURL)); err != nil {
		t.Fatal(err)
	}
	current, err := chromedp.Run(ctx, chromedp.Evaluate[string](`['prognosis-2', 'cpr-2', 'ceiling-1', 'place-1', 'adrt-2', 'lpa-2'].filter(id => !document.getElementById(id).checked).join(' ') + '|' +
		['diagnosis', 'diagnosis_code', 'adrt_where', 'attorney_given', 'attorney_family', 'attorney_phone', 'lpa_where'].map(id => document.getElementById(id).value).join('|')`))
	if want := "|Motor neurone disease|37340000|In the folder by the front door|Chidi|Okafor|07700 900456|Chidi holds the registered LPA"; err != nil || current != want {
		t.Errorf("the edit forms open on %q (%v), want the answers given (unchecked radios before the first |): %q", current, err, want)
	}
	// An anticipatory medicine: the dm+d id is checked, in words.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('medicine').value = 'Morphine sulfate 10mg/1ml solution for injection ampoules'; document.getElementById('medicine_code').value = '36128511000001109'; document.getElementById('dosage').value = '2.5 to 5 mg subcutaneously every 2 to 4 hours as needed for pain'`)); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save-medicine")
	if !exists(t, ctx, "#medicine_code-error") || exists(t, ctx, "#medicine-error") || exists(t, ctx, "#dosage-error") {
		t.Errorf("a dm+d id with a wrong check digit is not refused next to its field alone:\n%s", text(t, ctx, "#medicines"))
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('medicine_code').value = '36128511000001108'`)); err != nil {
		t.Fatal(err)
	}
	submit(t, ctx, "#save-medicine")
	if got := text(t, ctx, "#medicines-now"); !strings.Contains(got, "Morphine sulfate 10mg/1ml") || !strings.Contains(got, "every 2 to 4 hours") {
		t.Errorf("after adding a medicine the edit page lists %q", got)
	}
	shoot(t, ctx, "edit-form")
	if got := text(t, ctx, "#missing"); !strings.Contains(got, "Every section approval needs is there") {
		t.Fatalf("after the sections: %q", got)
	}
	submit(t, ctx, "#approve")
	if got := text(t, ctx, "#plan-status"); got != "Approved" {
		t.Fatalf("after approval the status is %q:\n%s", got, text(t, ctx, "main"))
	}
	pageCPR, pagePPD := text(t, ctx, "#cpr-decision"), text(t, ctx, "#ppd-value")
	if !exists(t, ctx, `#attorneys a[href="tel:07700900456"]`) {
		t.Errorf("the urgent care view gives no tel: link for the attorney:\n%s", text(t, ctx, "#lpa"))
	}
	shoot(t, ctx, "urgent-view-written-through-forms")
	// The FHIR urgent query (README, "The urgent-care query"), as urgent
	// care runs it, finds that plan with the same content.
	nhs := nhsOf(t, e.load("patient-minimal"))
	q := url.Values{"status": {"active"}, "subject:identifier": {"https://fhir.nhs.uk/Id/nhs-number|" + nhs},
		"_include": {"CarePlan:subject", "CarePlan:supporting-info", "CarePlan:condition"}}
	viewer := auth.NewContext(context.Background(), principal(auth.RoleView, "", "Paramedic Lee"))
	res, err := e.svc.Search(viewer, service.SearchRequest{Type: "CarePlan", Params: q, Query: q.Encode()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 1 {
		t.Fatalf("the urgent query found %d plans, want the one approved through the forms", len(res.Matches))
	}
	var cpr, ppd, diagnosis, contact, medicine, adrt, lpa, attorney string
	var contacts int
	for _, v := range res.Included {
		r, _ := resource.Parse(v.JSON)
		disp := ""
		if vc, ok := r["valueCodeableConcept"].(map[string]any); ok {
			disp = vc["coding"].([]any)[0].(map[string]any)["display"].(string)
		}
		switch {
		case bytes.Contains(v.JSON, []byte(`"304251008"`)):
			cpr = disp
		case bytes.Contains(v.JSON, []byte(`"preferred-place-of-death"`)):
			ppd = disp
		case v.Type == "Condition":
			diagnosis, _ = r["code"].(map[string]any)["text"].(string)
		case v.Type == "Flag" && bytes.Contains(v.JSON, []byte("UCPLPAFlag")):
			lpa, _ = r["code"].(map[string]any)["text"].(string)
		case v.Type == "Flag":
			adrt, _ = r["code"].(map[string]any)["text"].(string)
		case v.Type == "MedicationStatement":
			medicine = r["medicationCodeableConcept"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string) + ": " + r["dosage"].([]any)[0].(map[string]any)["text"].(string)
		case v.Type == "RelatedPerson":
			n := r["name"].([]any)[0].(map[string]any)
			who := n["given"].([]any)[0].(string) + " " + n["family"].(string) + ", " + r["telecom"].([]any)[0].(map[string]any)["value"].(string)
			if bytes.Contains(v.JSON, []byte(`"HPOWATT"`)) {
				attorney = who
			} else {
				contact = who
				contacts++
			}
		}
	}
	if want := "36128511000001108: 2.5 to 5 mg subcutaneously every 2 to 4 hours as needed for pain"; medicine != want {
		t.Errorf("the urgent query gives anticipatory medicine %q, want %q", medicine, want)
	}
	if !strings.Contains(adrt, "refuse life sustaining treatment") || !strings.HasSuffix(adrt, "Where the document is: In the folder by the front door") {
		t.Errorf("the urgent query gives ADRT %q, want the one entered through the form", adrt)
	}
	if contact != "Ngozi Okafor, 07700 900123" || contacts != 1 {
		t.Errorf("the urgent query gives %d key contacts, %q; want the one entered through the form and not the one removed", contacts, contact)
	}
	if !strings.Contains(lpa, "life sustaining treatment") || !strings.HasSuffix(lpa, "Where the document is: Chidi holds the registered LPA") || attorney != "Chidi Okafor, 07700 900456" {
		t.Errorf("the urgent query gives LPA %q with attorney %q, want the ones entered through the form", lpa, attorney)
	}
	if cpr == "" || cpr != pageCPR || ppd == "" || !strings.HasPrefix(pagePPD, ppd) || diagnosis != "Motor neurone disease" {
		t.Errorf("the urgent query gives CPR %q, place %q, diagnosis %q; the page showed %q and %q", cpr, ppd, diagnosis, pageCPR, pagePPD)
	}
}
