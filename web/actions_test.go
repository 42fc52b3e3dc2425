package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/patientplan"
	"ucp/profiles"
)

const (
	planType      = "http://snomed.info/sct|736373009"
	consentGiven  = "http://snomed.info/sct|882921000000109"
	wishesOfDeath = "I would not want to be resuscitated"
)

// submitAnswers fills the questionnaire as the example patient and sends
// it, returning the practice Task's id.
func (e *env) submitAnswers() string {
	e.t.Helper()
	cl := e.signInAs(auth.RolePatient, "ex-patient", "P9")
	for _, s := range []struct {
		section string
		form    url.Values
	}{
		{"personal", url.Values{"personal-email": {"jo@example.com"}}},
		{"contacts", url.Values{"contacts-person-name-1": {"Sam Smith"}, "contacts-person-phone-1": {"07700 900123"},
			"contacts-person-relationship-1": {"http://terminology.hl7.org/CodeSystem/v3-RoleCode|DAU"},
			"contacts-person-name-2":         {"Alex Jones"}}},
		{"matters", url.Values{"matters-what-matters": {"Being at home with my dog"}, "matters-place-of-death": {homeCode},
			"matters-place-of-death-reason": {"My family is here"}}},
		{"ahead", url.Values{"ahead-resuscitation-wishes": {wishesOfDeath}}},
	} {
		if st, _, page := cl.post("/app/questionnaire/sections/"+s.section, s.form); st != http.StatusSeeOther {
			e.t.Fatalf("save %s: %d\n%s", s.section, st, page)
		}
	}
	if st, _, page := cl.post("/app/questionnaire/send", url.Values{}); st != http.StatusSeeOther {
		e.t.Fatalf("send: %d\n%s", st, page)
	}
	tasks := e.find("Task", func(r map[string]any) bool {
		return resource.HasCoding(r["code"], patientplan.ActionSystem, patientplan.ActionReviewSubmission)
	})
	if len(tasks) != 1 {
		e.t.Fatalf("practice Tasks: %d", len(tasks))
	}
	return resource.ID(tasks[0])
}

var actionLink = regexp.MustCompile(`href="/app/actions/([^"]+)"`)

// TestActionNeeded: the practice's staff see the Tasks owned by their
// organisation, oldest first, with the count on every page; a clinician
// opens a submission and creates the draft plan from it, each pre-filled
// item marked as the patient's; a second click makes no second plan.
func TestActionNeeded(t *testing.T) {
	e := newEnv(t)
	e.planPractice()
	task := e.submitAnswers()
	// An older request of another patient of the practice.
	e.putRes(map[string]any{"resourceType": "Task", "id": "older", "status": "requested", "intent": "order",
		"code":       map[string]any{"coding": []any{map[string]any{"system": patientplan.ActionSystem, "code": patientplan.ActionChangeRequest}}},
		"for":        map[string]any{"reference": "Patient/ex-patient-minimal"},
		"owner":      map[string]any{"reference": "Organization/ex-practice"},
		"authoredOn": "2026-01-02T09:00:00Z",
		"input":      []any{map[string]any{"type": map[string]any{"text": "request"}, "valueString": "Please add my son as a contact"}}})

	gp := e.signInStaff(auth.RoleClinical, practiceODS)
	_, _, page := gp.get("/app/accessibility")
	if !strings.Contains(page, `id="action-count" href="/app/actions">Action needed (2)</a>`) {
		t.Fatalf("no count of 2 in the header:\n%s", page)
	}
	st, _, page := gp.get("/app/actions")
	if st != http.StatusOK {
		t.Fatalf("actions: %d\n%s", st, page)
	}
	var ids []string
	for _, m := range actionLink.FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	if d := cmp.Diff([]string{"older", task}, ids); d != "" {
		t.Errorf("action list, oldest first (-want +got):\n%s", d)
	}
	_, _, page = gp.get("/app/actions/older")
	if !strings.Contains(page, "Please add my son as a contact") {
		t.Errorf("change request page lacks the patient's words:\n%s", page)
	}
	st, _, page = gp.get("/app/actions/" + task)
	if st != http.StatusOK || !strings.Contains(page, "Being at home with my dog") || !strings.Contains(page, `id="create-plan"`) {
		t.Fatalf("submission page: %d\n%s", st, page)
	}

	// Staff of another organisation see nothing of it.
	other := e.signInStaff(auth.RoleClinical, "F84012")
	if _, _, page := other.get("/app/actions"); actionLink.MatchString(page) {
		t.Errorf("another organisation sees the practice's Tasks:\n%s", page)
	}
	if st, _, _ := e.signInAs(auth.RolePatient, "ex-patient", "P9").get("/app/actions"); st != http.StatusForbidden {
		t.Errorf("patient: actions %d, want 403", st)
	}

	// A form without the plan's type is refused beside the field.
	st, _, page = gp.post("/app/actions/"+task+"/create-plan", url.Values{"consent": {consentGiven}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(page, `id="type-error"`) {
		t.Fatalf("create without type: %d\n%s", st, page)
	}
	if plans := e.find("CarePlan", func(map[string]any) bool { return true }); len(plans) != 0 {
		t.Fatalf("a refused form wrote plans: %d", len(plans))
	}
	st, loc, page := gp.post("/app/actions/"+task+"/create-plan", url.Values{"type": {planType}, "consent": {consentGiven}})
	m := regexp.MustCompile(`^/app/plans/([^/]+)/edit$`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("create plan: %d %q\n%s", st, loc, page)
	}
	e.checkDraftFromAnswers(m[1], task)
	if st, _, _ := gp.post("/app/actions/"+task+"/create-plan", url.Values{"type": {planType}, "consent": {consentGiven}}); st != http.StatusConflict {
		t.Errorf("second create: %d, want 409", st)
	}
	if plans := e.find("CarePlan", func(map[string]any) bool { return true }); len(plans) != 1 {
		t.Errorf("plans after a second click: %d, want 1", len(plans))
	}
	_, _, page = gp.get("/app/actions/" + task)
	if strings.Contains(page, `id="create-plan"`) || !strings.Contains(page, `href="/app/plans/`+m[1]+`/edit"`) {
		t.Errorf("submission page after the plan was made:\n%s", page)
	}
}

// checkDraftFromAnswers checks the draft plan made from the answers of
// submitAnswers: preferred place, contacts and wishes pre-filled, each
// the target of a Provenance whose entity is the response; the patient's
// words about resuscitation a Goal, never a CPR decision; the Task
// in progress with the plan as output.
func (e *env) checkDraftFromAnswers(planID, taskID string) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	pv, err := e.st.Read(ctx, "CarePlan", planID)
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := resource.Parse(pv.JSON)
	if s := resource.Str(plan, "status"); s != "draft" {
		t.Errorf("plan status %q, want draft", s)
	}
	got := map[string][]string{}
	var refs []string
	for _, k := range []string{"supportingInfo", "goal"} {
		for _, x := range resource.List(plan[k]) {
			ref := resource.Str(x.(map[string]any), "reference")
			refs = append(refs, ref)
			typ, id, _ := strings.Cut(ref, "/")
			v, err := e.st.Read(ctx, typ, id)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := resource.Parse(v.JSON)
			switch typ {
			case "Observation":
				if resource.HasCoding(r["code"], profiles.SystemSNOMED, profiles.CodeResuscitationStatus) {
					t.Errorf("the patient's wishes became a CPR decision: %s", v.JSON)
				}
				got[k] = append(got[k], "place:"+resource.Str(resource.List(resource.Obj(r, "valueCodeableConcept")["coding"])[0].(map[string]any), "code"))
			case "RelatedPerson":
				got[k] = append(got[k], "contact:"+resource.Str(resource.List(r["name"])[0].(map[string]any), "text"))
			case "Goal":
				got[k] = append(got[k], "goal:"+resource.Str(resource.Obj(r, "description"), "text"))
			}
		}
	}
	want := map[string][]string{
		"supportingInfo": {"place:21", "contact:Sam Smith", "contact:Alex Jones"},
		"goal":           {"goal:What matters to me: Being at home with my dog", "goal:My wishes about resuscitation, in my own words: " + wishesOfDeath},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pre-filled items (-want +got):\n%s", d)
	}
	tv, err := e.st.Read(ctx, "Task", taskID)
	if err != nil {
		t.Fatal(err)
	}
	task, _ := resource.Parse(tv.JSON)
	if s, out := resource.Str(task, "status"), patientplan.TaskOutput(task); s != "in-progress" || out != "CarePlan/"+planID {
		t.Errorf("Task after the plan was made: %s, output %q", s, out)
	}
	focus := resource.Str(resource.Obj(task, "focus"), "reference")
	marked := map[string]bool{}
	for _, prov := range e.find("Provenance", func(map[string]any) bool { return true }) {
		src := false
		for _, x := range resource.List(prov["entity"]) {
			en := x.(map[string]any)
			src = src || (resource.Str(en, "role") == "source" && strings.HasPrefix(resource.Str(resource.Obj(en, "what"), "reference"), focus+"/_history/"))
		}
		if !src {
			continue
		}
		for _, x := range resource.List(prov["target"]) {
			marked[resource.Str(x.(map[string]any), "reference")] = true
		}
	}
	for _, r := range refs {
		if !marked[r] {
			t.Errorf("%s is not marked as coming from the patient's answers", r)
		}
	}
}

// TestViewRoleCannotCreatePlan: urgent-care viewers may read the list and
// the answers, but neither the page nor the operation lets them make a
// plan, and nothing is written.
func TestViewRoleCannotCreatePlan(t *testing.T) {
	e := newEnv(t)
	e.planPractice()
	task := e.submitAnswers()
	viewer := e.signInStaff(auth.RoleView, practiceODS)
	st, _, page := viewer.get("/app/actions/" + task)
	if st != http.StatusOK || strings.Contains(page, `id="create-plan"`) {
		t.Fatalf("viewer's submission page: %d, offers create:\n%s", st, page)
	}
	if st, _, _ := viewer.post("/app/actions/"+task+"/create-plan", url.Values{"type": {planType}, "consent": {consentGiven}}); st != http.StatusForbidden {
		t.Errorf("viewer create from the page: %d, want 403", st)
	}
	qr := resource.Str(resource.Obj(e.find("Task", func(r map[string]any) bool { return resource.ID(r) == task })[0], "focus"), "reference")
	ctx := auth.NewContext(context.Background(), principal(auth.RoleView, "", "viewer"))
	_, err := e.svc.Operation(ctx, &service.OperationRequest{Name: "create-plan", Method: http.MethodPost, Type: "QuestionnaireResponse",
		ID: strings.TrimPrefix(qr, "QuestionnaireResponse/"), Parameters: map[string]any{"resourceType": "Parameters", "parameter": []any{
			map[string]any{"name": "category", "valueString": planType}, map[string]any{"name": "consent", "valueString": consentGiven}}}})
	if err == nil || !strings.Contains(err.Error(), "may not create CarePlan") {
		t.Errorf("viewer $create-plan: %v, want refused as a create of CarePlan", err)
	}
	for _, typ := range []string{"CarePlan", "Consent", "Goal", "RelatedPerson"} {
		if n := len(e.find(typ, func(map[string]any) bool { return true })); n != 0 {
			t.Errorf("%d %s written by a viewer", n, typ)
		}
	}
}
