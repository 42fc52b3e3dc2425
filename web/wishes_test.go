package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/fhir/resource"
)

// planFromSubmission sends the example patient's answers and creates the
// draft plan from them as a clinician of the practice, returning the
// plan's id and the clinician.
func (e *env) planFromSubmission() (string, *client) {
	e.t.Helper()
	e.planPractice()
	task := e.submitAnswers()
	gp := e.signInStaff(auth.RoleClinical, practiceODS)
	gp.get("/app/actions/" + task)
	st, loc, page := gp.post("/app/actions/"+task+"/create-plan", url.Values{"type": {planType}, "consent": {consentGiven}})
	if st != http.StatusSeeOther {
		e.t.Fatalf("create plan: %d\n%s", st, page)
	}
	return strings.TrimSuffix(strings.TrimPrefix(loc, "/app/plans/"), "/edit"), gp
}

// wishes lists the texts of the Goals the stored plan references.
func (e *env) wishes(planID string) []string {
	e.t.Helper()
	ctx := context.Background()
	v, err := e.st.Read(ctx, "CarePlan", planID)
	if err != nil {
		e.t.Fatal(err)
	}
	plan, _ := resource.Parse(v.JSON)
	var out []string
	for _, r := range resource.List(plan["goal"]) {
		ref := resource.ParseReference(resource.Str(r.(map[string]any), "reference"))
		g, err := e.st.Read(ctx, ref.Type, ref.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		res, _ := resource.Parse(g.JSON)
		out = append(out, resource.Str(resource.Obj(res, "description"), "text"))
	}
	return out
}

// TestWishesShownAsThePatientsWords: a plan created from a submission
// shows the patient's wishes on the urgent care view, the patient's page
// and the print, each marked as the patient's own words and apart from
// the CPR decision, from the approval's document.
func TestWishesShownAsThePatientsWords(t *testing.T) {
	if browser == nil {
		t.Skip("no Chromium")
	}
	e := newEnv(t)
	planID, _ := e.planFromSubmission()
	// A goal the care team recorded, not the patient: not shown as their
	// words.
	e.putRes(map[string]any{"resourceType": "Goal", "id": "team-goal", "lifecycleStatus": "active",
		"description": map[string]any{"text": "Keep pain controlled at home"}, "subject": map[string]any{"reference": "Patient/ex-patient"}})
	v, err := e.st.Read(context.Background(), "CarePlan", planID)
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := resource.Parse(v.JSON)
	delete(pl, "meta")
	pl["goal"] = append(resource.List(pl["goal"]), map[string]any{"reference": "Goal/team-goal"})
	e.putRes(pl)
	e.approve(planID)
	want := []string{"What matters to me: Being at home with my dog", "My wishes about resuscitation, in my own words: " + wishesOfDeath}

	// The approval's document, which the PDF and the FHIR document also
	// come from, says whose words they are.
	comps := e.find("Composition", func(map[string]any) bool { return true })
	if len(comps) != 1 {
		t.Fatalf("%d Compositions after one approval", len(comps))
	}
	var narrative string
	for _, sec := range resource.List(comps[0]["section"]) {
		if sm := sec.(map[string]any); resource.Str(sm, "title") == "What matters to the patient" {
			narrative = resource.Str(resource.Obj(sm, "text"), "div")
		}
	}
	for _, w := range want {
		if !strings.Contains(narrative, "In the patient&#39;s own words: \u201c"+w) && !strings.Contains(narrative, "In the patient's own words: \u201c"+w) {
			t.Errorf("the document's wishes section does not give %q as the patient's words:\n%s", w, narrative)
		}
	}

	ctx := e.open(auth.RoleView, "", "Paramedic Jo Bloggs", "/app/patients/ex-patient")
	wishes := text(t, ctx, "#wishes")
	if !strings.Contains(wishes, "In the patient's own words") {
		t.Errorf("the urgent view's wishes are not marked as the patient's words: %q", wishes)
	}
	for _, w := range want {
		if !strings.Contains(wishes, w) {
			t.Errorf("the urgent view's wishes lack %q: %q", w, wishes)
		}
	}
	if other := text(t, ctx, "#other-goals"); strings.Contains(wishes, "Keep pain controlled") || !strings.Contains(other, "Keep pain controlled at home") {
		t.Errorf("the care team's goal is among the patient's words or missing: wishes %q, other goals %q", wishes, other)
	}
	// The wish about resuscitation is never in the CPR decision's place.
	if cpr := text(t, ctx, "#cpr-decision"); strings.Contains(cpr, wishesOfDeath) {
		t.Errorf("the CPR decision shows the patient's wish: %q", cpr)
	}
	shoot(t, ctx, "web-urgent-wishes")

	patient := e.open(auth.RolePatient, "ex-patient", "Margaret Okafor", "/app/")
	mine := text(t, patient, "#wishes")
	if !strings.Contains(mine, "In your own words") || !strings.Contains(mine, wishesOfDeath) || strings.Contains(mine, "Keep pain controlled") {
		t.Errorf("the patient's page shows their wishes as %q", mine)
	}
	shoot(t, patient, "web-mine-wishes")

	// The edit page: each wish in a form, Remove asking first.
	gp := e.open(auth.RoleClinical, "", "Dr Priya Shah", "/app/plans/"+planID+"/edit")
	if visible(t, gp, "#remove-wish-1") {
		t.Errorf("the remove button shows before Remove is chosen")
	}
	if err := chromedp.Do(gp, chromedp.Click(chromedp.CSS("#remove-wish-1-confirm summary"))); err != nil {
		t.Fatal(err)
	}
	if !visible(t, gp, "#remove-wish-1") {
		t.Errorf("no remove button after Remove is chosen")
	}
	shoot(t, gp, "web-edit-wishes")
}

// visible reports whether the element sel is rendered (not in a closed
// disclosure).
func visible(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector(`+strconv.Quote(sel)+`).checkVisibility()`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestClinicianEditsAndRemovesAWish: the edit page changes a wish (a new
// Goal in the new words replaces it on the plan), refuses an empty one
// beside its field changing nothing, refuses a wish of no plan, and
// removes one.
func TestClinicianEditsAndRemovesAWish(t *testing.T) {
	e := newEnv(t)
	planID, gp := e.planFromSubmission()
	start := e.wishes(planID)
	if len(start) != 2 {
		t.Fatalf("wishes from the submission: %q", start)
	}
	st, _, page := gp.get("/app/plans/" + planID + "/edit")
	refs := regexp.MustCompile(`name="section" value="wish"><input type="hidden" name="ref" value="(Goal/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if st != http.StatusOK || len(refs) != 2 || !strings.Contains(page, `id="remove-wish-2-confirm"`) {
		t.Fatalf("edit page: %d, %d wish forms\n%s", st, len(refs), page)
	}
	edit := "/app/plans/" + planID + "/sections"

	st, _, page = gp.post(edit, url.Values{"section": {"wish"}, "ref": {refs[0][1]}, "wish": {"  "}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(page, `id="wish-`+strings.TrimPrefix(refs[0][1], "Goal/")+`-error"`) {
		t.Errorf("empty wish: %d, want 422 with the error beside the wish\n%s", st, page)
	}
	long := strings.Repeat("My garden. ", 400)
	st, _, page = gp.post(edit, url.Values{"section": {"wish"}, "ref": {refs[1][1]}, "wish": {long}})
	field := regexp.MustCompile(`(?s)<textarea class="nhsuk-textarea" id="wish-` + strings.TrimPrefix(refs[1][1], "Goal/") + `"[^>]*>(.*?)</textarea>`).FindStringSubmatch(page)
	adder := regexp.MustCompile(`(?s)<textarea class="nhsuk-textarea" id="wish" [^>]*>(.*?)</textarea>`).FindStringSubmatch(page)
	if st != http.StatusUnprocessableEntity || !strings.Contains(page, "Enter the wish in 4000 characters or fewer") || field == nil || adder == nil ||
		html.UnescapeString(field[1]) != long || adder[1] != "" {
		t.Errorf("too long a wish: %d, want 422 with the error and the text typed back in that wish's field, the new wish's empty\n%.3000s", st, page)
	}
	if st, _, page := gp.post(edit, url.Values{"section": {"wish"}, "ref": {"Condition/ex-condition"}, "wish": {"x"}}); st != http.StatusBadRequest {
		t.Errorf("a wish of no plan: %d, want 400\n%s", st, page)
	}
	if st, _, page := gp.post(edit, url.Values{"section": {"remove"}, "ref": {"Goal/nonesuch"}}); st != http.StatusBadRequest {
		t.Errorf("removing a wish of no plan: %d, want 400\n%s", st, page)
	}
	if d := cmp.Diff(start, e.wishes(planID)); d != "" {
		t.Fatalf("refused forms changed the wishes (-want +got):\n%s", d)
	}

	if st, _, page := gp.post(edit, url.Values{"section": {"wish"}, "ref": {refs[0][1]}, "wish": {"Being at home with my dog and my garden"}}); st != http.StatusSeeOther {
		t.Fatalf("edit wish: %d\n%s", st, page)
	}
	if st, _, page := gp.post(edit, url.Values{"section": {"wish"}, "wish": {"I want my daughter there"}}); st != http.StatusSeeOther {
		t.Fatalf("add wish: %d\n%s", st, page)
	}
	if st, _, page := gp.post(edit, url.Values{"section": {"remove"}, "ref": {refs[1][1]}}); st != http.StatusSeeOther {
		t.Fatalf("remove wish: %d\n%s", st, page)
	}
	want := []string{"Being at home with my dog and my garden", "I want my daughter there"}
	if d := cmp.Diff(want, e.wishes(planID)); d != "" {
		t.Errorf("wishes after edit, add and remove (-want +got):\n%s", d)
	}

	viewer := e.signInStaff(auth.RoleView, practiceODS)
	// A draft is not shown to urgent care (404); a viewer writes nothing.
	if st, _, _ := viewer.post(edit, url.Values{"section": {"wish"}, "wish": {"not mine to write"}}); st != http.StatusForbidden && st != http.StatusNotFound {
		t.Errorf("view role adding a wish: %d, want 403 or 404", st)
	}
	if d := cmp.Diff(want, e.wishes(planID)); d != "" {
		t.Errorf("a refused viewer changed the wishes (-want +got):\n%s", d)
	}
}
