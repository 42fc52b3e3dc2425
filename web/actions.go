package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/patientplan"
	"ucp/profiles"
)

// Action needed: the Tasks patients' answers and requests put on their GP
// practice's list (Task.owner), oldest first, with their count in every
// staff page's header, and each submission opened read-only with "Create
// plan from this" ($create-plan, through the service as the clinician).

// openTaskStatuses are the states of a Task still waiting for the practice.
const openTaskStatuses = "requested,received,accepted,in-progress"

// maxActions bounds the list; a practice with more has a backlog the count
// still shows.
const maxActions = 100

// staff reports whether p is a member of staff of an organisation.
func staff(p *auth.Principal) bool {
	return p != nil && (p.Role == auth.RoleClinical || p.Role == auth.RoleView) && p.Org != ""
}

// practiceOf finds the Organization of the staff member's ODS code, ""
// when ucp holds none.
func (a *App) practiceOf(rd reader, p *auth.Principal) (string, error) {
	orgs, err := rd.search("Organization", url.Values{"identifier": {profiles.SystemODSCode + "|" + p.Org}, "_count": {"1"}})
	if err != nil || len(orgs) == 0 {
		return "", err
	}
	return resource.ID(orgs[0]), nil
}

// openTasks searches the organisation's open Tasks, oldest first.
func (a *App) openTasks(rd reader, org string, count int) ([]map[string]any, error) {
	return rd.search("Task", url.Values{"owner": {"Organization/" + org}, "status": {openTaskStatuses},
		"_sort": {"authored-on"}, "_count": {strconv.Itoa(count)}})
}

// actionCount is the header's count, nil for anyone but staff. A failure
// is logged and leaves the count out: the page itself still works.
func (a *App) actionCount(c *gin.Context, p *auth.Principal) *int {
	if !staff(p) {
		return nil
	}
	rd := reader{a: a, ctx: c.Request.Context(), r: c.Request}
	org, err := a.practiceOf(rd, p)
	if err == nil && org != "" {
		var tasks []map[string]any
		if tasks, err = a.openTasks(rd, org, maxActions); err == nil {
			n := len(tasks)
			return &n
		}
	}
	if err != nil {
		a.cfg.Logger.WarnContext(c.Request.Context(), "web: counting actions", "err", err)
	}
	return nil
}

// actionRow is one Task on the list.
type actionRow struct {
	ID, What, Patient, Sent, Status string
}

// actionsData is the Action needed page's data.
type actionsData struct {
	Rows  []actionRow
	NoOrg bool
}

// actions lists the organisation's open Tasks, oldest first.
func (a *App) actions(c *gin.Context, v *view) error {
	p := auth.FromContext(c.Request.Context())
	if !staff(p) {
		return outcome.Errorf(outcome.Forbidden, "the action list is the practice staff's")
	}
	rd := reader{a: a, ctx: c.Request.Context(), r: c.Request}
	d := &actionsData{}
	v.Title, v.Data = "Action needed", d
	org, err := a.practiceOf(rd, p)
	if err != nil {
		return err
	}
	if org == "" {
		d.NoOrg = true
		a.render(c, "actions", v)
		return nil
	}
	tasks, err := a.openTasks(rd, org, maxActions)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, t := range tasks {
		pid := strings.TrimPrefix(str(obj(t, "for"), "reference"), "Patient/")
		if _, ok := names[pid]; !ok {
			names[pid] = "A patient"
			if pt, _, err := rd.read("Patient", pid); err == nil {
				names[pid] = humanName(pt)
			}
		}
		d.Rows = append(d.Rows, actionRow{ID: resource.ID(t), What: taskWhat(t), Patient: names[pid],
			Sent: longDate(str(t, "authoredOn")), Status: taskStatusWords(str(t, "status"))})
	}
	a.render(c, "actions", v)
	return nil
}

// taskWhat says what a Task asks for.
func taskWhat(t map[string]any) string {
	switch {
	case hasCoding(obj(t, "code"), patientplan.ActionSystem, patientplan.ActionReviewSubmission):
		return "Make a care plan from the patient's answers"
	case hasCoding(obj(t, "code"), patientplan.ActionSystem, patientplan.ActionChangeRequest):
		return "The patient asks for a change to their plan"
	}
	if s := conceptText(obj(t, "code")); s != "" {
		return s
	}
	return str(t, "description")
}

func taskStatusWords(s string) string {
	switch s {
	case "requested":
		return "New"
	case "in-progress":
		return "Plan being written"
	case "completed":
		return "Done"
	}
	return s
}

// actionData is one Task's page.
type actionData struct {
	TaskID, What, Sent, Status string
	PatientID                  string
	// Sections are the patient's answers, read-only.
	Sections []checkSection
	// Words are the patient's own words of a change request.
	Words string
	// Plan is the plan the Task produced ("" for none yet).
	Plan                  string
	CanCreate, CanClose   bool
	Types, Consents       []choice
	Type, Consent         string
	Errors                map[string]string
	ResponseID, Completed string
}

// action opens one Task: the patient's answers or words, and what can be
// done with them.
func (a *App) action(c *gin.Context, v *view) error {
	return a.showAction(c, v, &actionData{Errors: map[string]string{}})
}

func (a *App) showAction(c *gin.Context, v *view, d *actionData) error {
	ctx := c.Request.Context()
	p := auth.FromContext(ctx)
	if !staff(p) {
		return outcome.Errorf(outcome.Forbidden, "the action list is the practice staff's")
	}
	rd := reader{a: a, ctx: ctx, r: c.Request}
	t, _, err := rd.read("Task", c.Param("id"))
	if err != nil {
		return err
	}
	d.TaskID, d.What, d.Sent, d.Status = resource.ID(t), taskWhat(t), longDate(str(t, "authoredOn")), taskStatusWords(str(t, "status"))
	d.PatientID = strings.TrimPrefix(str(obj(t, "for"), "reference"), "Patient/")
	d.Plan = strings.TrimPrefix(patientplan.TaskOutput(t), "CarePlan/")
	for _, in := range objs(t, "input") {
		if s := str(in, "valueString"); s != "" {
			d.Words = s
		}
	}
	d.CanClose = hasCoding(obj(t, "code"), patientplan.ActionSystem, patientplan.ActionChangeRequest) &&
		str(t, "status") != "completed" && str(t, "status") != "cancelled" && p.Role == auth.RoleClinical
	if typ, id, _ := refParts(str(obj(t, "focus"), "reference")); typ == "QuestionnaireResponse" {
		qr, _, err := rd.read("QuestionnaireResponse", id)
		if err != nil {
			return err
		}
		d.ResponseID, d.Completed = id, longDate(str(qr, "authored"))
		d.Sections = answerSections(qr)
		d.CanCreate = str(t, "status") == "requested" && d.Plan == "" && p.Role == auth.RoleClinical
	}
	if typ, id, _ := refParts(str(obj(t, "focus"), "reference")); typ == "CarePlan" {
		d.Plan = id
	}
	d.Types = choices(profiles.ValueSetCarePlanType)
	d.Consents = choices(profiles.ValueSetConsentToShare, profiles.CodeConsentWithdrawn)
	b, _, err := rd.banner(d.PatientID)
	if err != nil {
		return err
	}
	v.Patient, v.Title, v.Data = b, d.What, d
	a.render(c, "action", v)
	return nil
}

// answerSections is a response's answers by section, as check your
// answers shows them.
func answerSections(qr map[string]any) []checkSection {
	var out []checkSection
	for _, s := range sections() {
		cs := checkSection{LinkID: s.LinkID, Title: s.Title}
		fill(s, groupOf(qr, s.LinkID))
		for _, g := range s.Groups {
			for _, f := range g.Fields {
				if f.Value == "" {
					continue
				}
				q := f.Label
				if g.Legend != "" {
					q = g.Legend + ": " + lowerFirst(f.Label)
				}
				cs.Rows = append(cs.Rows, checkRow{Question: q, Answer: answerWords(f)})
			}
		}
		out = append(out, cs)
	}
	return out
}

// createFromAction runs $create-plan on the Task's response as the
// clinician and opens the draft plan's edit page.
func (a *App) createFromAction(c *gin.Context, v *view) error {
	ctx := c.Request.Context()
	d := &actionData{Errors: map[string]string{}, Type: c.PostForm("type"), Consent: c.PostForm("consent")}
	types := choices(profiles.ValueSetCarePlanType)
	consents := choices(profiles.ValueSetConsentToShare, profiles.CodeConsentWithdrawn)
	if _, ok := chosen(types, d.Type); !ok {
		d.Errors["type"] = "Select the type of plan"
	}
	if _, ok := chosen(consents, d.Consent); !ok {
		d.Errors["consent"] = "Select how the patient consented to sharing their plan"
	}
	if len(d.Errors) > 0 {
		v.status = http.StatusUnprocessableEntity
		return a.showAction(c, v, d)
	}
	rd := reader{a: a, ctx: ctx, r: c.Request}
	t, _, err := rd.read("Task", c.Param("id"))
	if err != nil {
		return err
	}
	typ, qrID, _ := refParts(str(obj(t, "focus"), "reference"))
	if typ != "QuestionnaireResponse" {
		return outcome.Errorf(outcome.Invalid, "this Task is not a patient's answers: there is nothing to make a plan from")
	}
	params := []any{map[string]any{"name": "category", "valueString": d.Type}}
	if d.Consent != "" {
		params = append(params, map[string]any{"name": "consent", "valueString": d.Consent})
	}
	// The service authorises and audits an operation itself.
	res, err := a.cfg.FHIR(&service.Call{Disclosure: &service.Disclosure{}}).Operation(ctx, &service.OperationRequest{
		Name: "create-plan", Method: http.MethodPost, Type: "QuestionnaireResponse", ID: qrID,
		Parameters: map[string]any{"resourceType": "Parameters", "parameter": params}, Path: c.Request.URL.Path, ResponseHeader: http.Header{}})
	if err != nil {
		return err
	}
	plan, err := resource.Parse(res.Body)
	if err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, Prefix+"/plans/"+url.PathEscape(resource.ID(plan))+"/edit")
	return nil
}

// markDone closes a patient's change request once the practice has dealt
// with it (the plan changed, or the patient spoken to): the Task
// completed, through the service as the clinician.
func (a *App) markDone(c *gin.Context, v *view) error {
	ctx := c.Request.Context()
	if err := clinicianOnly(ctx); err != nil {
		return err
	}
	rd := reader{a: a, ctx: ctx, r: c.Request}
	t, tv, err := rd.read("Task", c.Param("id"))
	if err != nil {
		return err
	}
	if !hasCoding(obj(t, "code"), patientplan.ActionSystem, patientplan.ActionChangeRequest) {
		return outcome.Errorf(outcome.Invalid, "only a patient's request for a change is marked done here; a submission is done when its plan is approved")
	}
	switch str(t, "status") {
	case "completed", "cancelled":
		c.Redirect(http.StatusSeeOther, Prefix+"/actions")
		return nil
	}
	// Full precision: the Task was authored within this second, and an
	// end before its start is refused (per-1, inv-1).
	now := resource.FormatInstant(a.cfg.Now().UTC())
	delete(t, "meta")
	t["status"] = "completed"
	t["lastModified"] = now
	t["executionPeriod"] = map[string]any{"start": str(t, "authoredOn"), "end": now}
	if _, err := a.write(ctx, c.Request, &service.Entry{Method: http.MethodPut, Type: "Task", ID: tv.ID, Resource: t, IfMatch: tv.VersionID}); err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, Prefix+"/actions")
	return nil
}

// actionRoutes registers Action needed.
func (a *App) actionRoutes(g gin.IRouter) {
	g.GET("/actions", a.page(a.actions, true))
	g.GET("/actions/:id", a.page(a.action, true))
	g.POST("/actions/:id/create-plan", a.page(a.createFromAction, true))
	g.POST("/actions/:id/done", a.page(a.markDone, true))
}
