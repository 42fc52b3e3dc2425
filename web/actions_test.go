package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/notify"
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

// approve completes the draft's mandatory sections with the example's and
// approves it, as the clinician, through the service.
func (e *env) approve(planID string) {
	e.t.Helper()
	e.put("condition", "prognosis", "cpr-dnacpr", "treatment-escalation")
	ctx := auth.NewContext(context.Background(), principal(auth.RoleClinical, "", "Dr Priya Shah"))
	v, err := e.st.Read(ctx, "CarePlan", planID)
	if err != nil {
		e.t.Fatal(err)
	}
	plan, _ := resource.Parse(v.JSON)
	delete(plan, "meta")
	plan["status"] = "active"
	plan["addresses"] = []any{map[string]any{"reference": "Condition/ex-condition"}}
	plan["supportingInfo"] = append(resource.List(plan["supportingInfo"]), map[string]any{"reference": "Observation/ex-cpr-dnacpr"},
		map[string]any{"reference": "Observation/ex-tep"}, map[string]any{"reference": "ClinicalImpression/ex-prognosis"})
	if _, err := e.svc.BatchEntry(ctx, &service.Entry{Method: http.MethodPut, Type: "CarePlan", ID: planID, Resource: plan, IfMatch: v.VersionID}); err != nil {
		e.t.Fatalf("approve: %v", err)
	}
}

// jobs lists the email jobs of kind, by recipient.
func (e *env) jobs(kind string) []string {
	e.t.Helper()
	var out []string
	for _, r := range e.find("Task", notify.IsJob) {
		v, err := e.st.Read(context.Background(), "Task", resource.ID(r))
		if err != nil {
			e.t.Fatal(err)
		}
		j, err := notify.JobOf(v)
		if err != nil {
			e.t.Fatal(err)
		}
		if j.Kind == kind {
			out = append(out, j.To+" about "+j.Focus)
		}
	}
	return out
}

// TestApprovalAndChangeRequest: approving the plan made from the answers
// emails the patient (a job in the approval's own write) and the completer
// then completes the practice's Task with the plan as output; the patient
// sees the approved plan, asks for a change in their words, and it reaches
// the practice's Action needed, changing nothing of the plan.
func TestApprovalAndChangeRequest(t *testing.T) {
	e := newEnv(t)
	e.planPractice()
	task := e.submitAnswers()
	gp := e.signInStaff(auth.RoleClinical, practiceODS)
	gp.get("/app/actions/" + task)
	_, loc, _ := gp.post("/app/actions/"+task+"/create-plan", url.Values{"type": {planType}, "consent": {consentGiven}})
	planID := strings.TrimSuffix(strings.TrimPrefix(loc, "/app/plans/"), "/edit")
	if got := e.jobs(notify.KindPlanApproved); len(got) != 0 {
		t.Fatalf("approval emails before approval: %v", got)
	}
	e.approve(planID)
	approved, err := e.st.Read(context.Background(), "CarePlan", planID)
	if err != nil {
		t.Fatal(err)
	}
	approvedAt := resource.FormatInstant(approved.LastUpdated)
	if d := cmp.Diff([]string{"mailto:jo@example.com about CarePlan/" + planID}, e.jobs(notify.KindPlanApproved)); d != "" {
		t.Errorf("approval emails (-want +got):\n%s", d)
	}
	// A change to the approved plan before the completer's pass: a second
	// approval, which emails nobody, and which is not the approval time.
	edited, _ := resource.Parse(approved.JSON)
	delete(edited, "meta")
	edited["title"] = "Urgent care plan (reviewed)"
	ctx := auth.NewContext(context.Background(), principal(auth.RoleClinical, "", "Dr Priya Shah"))
	if _, err := e.svc.BatchEntry(ctx, &service.Entry{Method: http.MethodPut, Type: "CarePlan", ID: planID, Resource: edited, IfMatch: approved.VersionID}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.jobs(notify.KindPlanApproved)); n != 1 {
		t.Errorf("%d approval emails after a review, want 1", n)
	}
	c := &patientplan.Completer{Service: e.loader}
	if n, err := c.Pass(context.Background()); err != nil || n != 1 {
		t.Fatalf("completer: %d, %v; want 1", n, err)
	}
	tv, err := e.st.Read(context.Background(), "Task", task)
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := resource.Parse(tv.JSON)
	got := map[string]string{"status": resource.Str(tk, "status"), "output": patientplan.TaskOutput(tk),
		"authoredOn": fmt.Sprint(resource.Str(tk, "authoredOn") != ""), "start": fmt.Sprint(resource.Str(resource.Obj(tk, "executionPeriod"), "start") != ""),
		"end": resource.Str(resource.Obj(tk, "executionPeriod"), "end")}
	want := map[string]string{"status": "completed", "output": "CarePlan/" + planID, "authoredOn": "true", "start": "true", "end": approvedAt}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("completed Task (-want +got):\n%s", d)
	}
	if n, err := c.Pass(context.Background()); err != nil || n != 0 {
		t.Errorf("second pass: %d, %v; want 0", n, err)
	}
	if _, _, page := gp.get("/app/accessibility"); strings.Contains(page, `id="action-count"`) && !strings.Contains(page, "Action needed (0)") {
		t.Errorf("a completed Task still counts:\n%s", page)
	}

	pat := e.signInAs(auth.RolePatient, "ex-patient", "P9")
	st, _, page := pat.get("/app/patients/ex-patient")
	if st != http.StatusOK || !strings.Contains(page, `id="ask-for-change"`) {
		t.Fatalf("patient's plan page: %d\n%s", st, page)
	}
	pat.get("/app/change-request")
	if st, _, page := pat.post("/app/change-request", url.Values{"change": {"  "}}); st != http.StatusUnprocessableEntity || !strings.Contains(page, `id="change-error"`) {
		t.Fatalf("empty request: %d\n%s", st, page)
	}
	before, _ := e.st.Read(context.Background(), "CarePlan", planID)
	const words = "Please add my son Tom as a contact"
	if st, loc, page := pat.post("/app/change-request", url.Values{"change": {words}}); st != http.StatusSeeOther || loc != "/app/change-request?sent=1" {
		t.Fatalf("ask for a change: %d %q\n%s", st, loc, page)
	}
	after, _ := e.st.Read(context.Background(), "CarePlan", planID)
	if after.VersionID != before.VersionID {
		t.Errorf("asking for a change changed the plan (version %d → %d)", before.VersionID, after.VersionID)
	}
	reqs := e.find("Task", func(r map[string]any) bool {
		return resource.HasCoding(r["code"], patientplan.ActionSystem, patientplan.ActionChangeRequest)
	})
	if len(reqs) != 1 || resource.Str(resource.Obj(reqs[0], "owner"), "reference") != "Organization/ex-practice" ||
		resource.Str(resource.Obj(reqs[0], "requester"), "reference") != "Patient/ex-patient" {
		t.Fatalf("change requests: %v", reqs)
	}
	if d := cmp.Diff([]string{"Organization/ex-practice about Task/" + resource.ID(reqs[0])}, e.jobs(notify.KindChangeRequested)); d != "" {
		t.Errorf("change request emails (-want +got):\n%s", d)
	}
	_, _, page = gp.get("/app/actions")
	if !strings.Contains(page, `href="/app/actions/`+resource.ID(reqs[0])+`"`) || !strings.Contains(page, "Action needed (1)") {
		t.Errorf("the change request is not in Action needed:\n%s", page)
	}
	_, _, page = gp.get("/app/actions/" + resource.ID(reqs[0]))
	if !strings.Contains(page, words) || !strings.Contains(page, `id="mark-done"`) {
		t.Errorf("the request's page lacks the patient's words or Mark as done:\n%s", page)
	}
	// A viewer cannot close it; the clinician marks it done.
	viewer := e.signInStaff(auth.RoleView, practiceODS)
	viewer.get("/app/actions")
	if st, _, _ := viewer.post("/app/actions/"+resource.ID(reqs[0])+"/done", url.Values{}); st != http.StatusForbidden {
		t.Errorf("viewer marks done: %d, want 403", st)
	}
	if st, loc, page := gp.post("/app/actions/"+resource.ID(reqs[0])+"/done", url.Values{}); st != http.StatusSeeOther || loc != "/app/actions" {
		t.Fatalf("mark done: %d %q\n%s", st, loc, page)
	}
	if _, _, page := gp.get("/app/actions"); !strings.Contains(page, `id="no-actions"`) {
		t.Errorf("a done request is still in Action needed:\n%s", page)
	}
	// A submission is not closed by hand: its plan's approval closes it.
	if st, _, _ := gp.post("/app/actions/"+task+"/done", url.Values{}); st != http.StatusBadRequest {
		t.Errorf("mark a submission done: %d, want 400", st)
	}
}

// TestAskForChangeOwnPlanOnly: $ask-for-change is the patient's, for their
// own plan; another patient, a clinician and a P5 patient are refused and
// nothing is written.
func TestAskForChangeOwnPlanOnly(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	e.put("patient-minimal")
	ask := func(p *auth.Principal) error {
		ctx := auth.NewContext(context.Background(), p)
		_, err := e.svc.Operation(ctx, &service.OperationRequest{Name: "ask-for-change", Method: http.MethodPost, Type: "CarePlan", ID: "ex-careplan",
			Parameters: map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "text", "valueString": "change it"}}}})
		return err
	}
	p5 := principal(auth.RolePatient, "ex-patient", "p5")
	p5.IdentityProofing = "P5"
	for name, p := range map[string]*auth.Principal{
		"another patient": principal(auth.RolePatient, "ex-patient-minimal", "other"),
		"clinician":       principal(auth.RoleClinical, "", "gp"),
		"P5 patient":      p5,
	} {
		if err := ask(p); err == nil {
			t.Errorf("%s: asked for a change to ex-patient's plan", name)
		}
	}
	if n := len(e.find("Task", func(map[string]any) bool { return true })); n != 0 {
		t.Fatalf("%d Tasks written by refused requests", n)
	}
	if err := ask(principal(auth.RolePatient, "ex-patient", "me")); err != nil {
		t.Fatalf("the patient's own request: %v", err)
	}
}

// TestP5RefusedPlanContent: at the service, a patient proofed to P5 reads
// their answers but no plan content, and is told how to verify.
func TestP5RefusedPlanContent(t *testing.T) {
	e := newEnv(t)
	e.seedPlan()
	p5 := principal(auth.RolePatient, "ex-patient", "p5")
	p5.IdentityProofing = "P5"
	ctx := auth.NewContext(context.Background(), p5)
	for _, r := range []struct{ typ, id string }{{"CarePlan", "ex-careplan"}, {"Observation", "ex-cpr-dnacpr"}, {"Patient", "ex-patient"}} {
		_, err := e.svc.Read(ctx, r.typ, r.id)
		if outcome.KindOf(err) != outcome.Forbidden || !strings.Contains(err.Error(), "Prove who you are") {
			t.Errorf("P5 read %s/%s: %v, want forbidden with the step-up", r.typ, r.id, err)
		}
	}
	p9 := principal(auth.RolePatient, "ex-patient", "p9")
	p9.IdentityProofing = "P9"
	if _, err := e.svc.Read(auth.NewContext(context.Background(), p9), "CarePlan", "ex-careplan"); err != nil {
		t.Errorf("P9 read of their plan: %v", err)
	}
}

// TestCreatePlanTwiceAtOnce: two clinicians pressing "Create plan from
// this" together make one plan and one set of pre-filled items; the other
// is refused.
func TestCreatePlanTwiceAtOnce(t *testing.T) {
	e := newEnv(t)
	e.planPractice()
	task := e.submitAnswers()
	qr := strings.TrimPrefix(resource.Str(resource.Obj(e.find("Task", func(r map[string]any) bool { return resource.ID(r) == task })[0], "focus"), "reference"), "QuestionnaireResponse/")
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			ctx := auth.NewContext(context.Background(), principal(auth.RoleClinical, "", "Dr Priya Shah"))
			_, err := e.svc.Operation(ctx, &service.OperationRequest{Name: "create-plan", Method: http.MethodPost, Type: "QuestionnaireResponse", ID: qr,
				Parameters: map[string]any{"resourceType": "Parameters", "parameter": []any{
					map[string]any{"name": "category", "valueString": planType}, map[string]any{"name": "consent", "valueString": consentGiven}}}})
			errs <- err
		}()
	}
	var failed int
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			failed++
			if k := outcome.KindOf(err); k != outcome.Conflict && k != outcome.PreconditionFailed {
				t.Errorf("the second call failed with %v, want a conflict", err)
			}
		}
	}
	got := map[string]int{"refused": failed}
	for _, typ := range []string{"CarePlan", "Goal", "RelatedPerson", "Observation"} {
		got[typ] = len(e.find(typ, func(map[string]any) bool { return true }))
	}
	want := map[string]int{"refused": 1, "CarePlan": 1, "Goal": 2, "RelatedPerson": 2, "Observation": 1}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("after two calls at once (-want +got):\n%s", d)
	}
}
