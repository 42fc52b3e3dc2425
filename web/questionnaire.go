package web

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/patientplan"
	"ucp/profiles"
)

// The patient's questionnaire (profiles.QuestionnairePatientPlan) as a few
// short pages, one per section of the form: each page saves the section
// into the patient's QuestionnaireResponse (in-progress) through the
// service as the patient, so patientplan.Rules checks it and records who
// wrote it; a check-your-answers page then sends it (completed). The pages
// never show the NHS number: they have no patient banner.

// QuestionnairePath is where the patient's questionnaire starts.
const QuestionnairePath = Prefix + "/questionnaire"

// contactSlots is how many contacts the contacts page offers: the form's
// contact group repeats, and two covers next of kin and one more without a
// script to add rows.
const contactSlots = 2

// Longest answers accepted, in characters: a short answer is a line, a
// long one a few paragraphs.
const (
	maxShort = 200
	maxLong  = 2000
)

// qField is one question on a page.
type qField struct {
	Name     string // the form field's name and id
	LinkID   string
	Label    string
	Hint     string
	Type     string // string, text, boolean, choice (the Questionnaire's item types)
	Input    string // the input's type and autocomplete, for a string
	Auto     string
	Value    string
	Error    string
	Choices  []choice
	ValueSet string // the answers' value set, for a choice
	Required bool
	// EnableWhen is the linkId of the yes/no question this one follows:
	// its answer is kept only when that question is answered yes.
	EnableWhen string
}

// qGroup is a block of questions: the section's own, or one contact.
type qGroup struct {
	Legend string // "" for the section's own questions
	Text   string // the repeated group's text in the form
	Fields []*qField
}

// qSection is one page of the questionnaire.
type qSection struct {
	LinkID, Title string
	Groups        []*qGroup
	Next, Prev    string // neighbouring sections' linkIds ("" at the ends)
}

// qData is a questionnaire page's data.
type qData struct {
	Section  *qSection
	Errors   map[string]string // field name → message, for the summary
	Change   bool              // came from check your answers: go back there
	Step     int
	Steps    int
	Verified bool
	StepUp   string
}

// form is the questionnaire's definition, parsed once per page from the
// embedded profiles.
func form() map[string]any {
	for _, q := range profiles.Questionnaires() {
		if str(q, "url") == profiles.QuestionnairePatientPlan {
			return q
		}
	}
	return nil
}

// sections builds the pages of the form, their fields empty.
func sections() []*qSection {
	var out []*qSection
	for _, sec := range objs(form(), "item") {
		s := &qSection{LinkID: str(sec, "linkId"), Title: str(sec, "text")}
		own := &qGroup{}
		for _, it := range objs(sec, "item") {
			if str(it, "type") == "group" {
				for n := 1; n <= contactSlots; n++ {
					g := &qGroup{Legend: str(it, "text"), Text: str(it, "text")}
					if n > 1 {
						g.Legend = "Another person we should contact"
					}
					for _, sub := range objs(it, "item") {
						g.Fields = append(g.Fields, field(sub, n))
					}
					s.Groups = append(s.Groups, g)
				}
				continue
			}
			own.Fields = append(own.Fields, field(it, 0))
		}
		if len(own.Fields) > 0 {
			s.Groups = append([]*qGroup{own}, s.Groups...)
		}
		out = append(out, s)
	}
	for i, s := range out {
		if i > 0 {
			s.Prev = out[i-1].LinkID
		}
		if i+1 < len(out) {
			s.Next = out[i+1].LinkID
		}
	}
	return out
}

// field is one question of the form; slot numbers a repeated group's
// copy (0 for none).
func field(it map[string]any, slot int) *qField {
	f := &qField{LinkID: str(it, "linkId"), Label: str(it, "text"), Type: str(it, "type")}
	f.Required, _ = it["required"].(bool)
	f.Name = strings.ReplaceAll(f.LinkID, ".", "-")
	if slot > 0 {
		f.Name += "-" + strconv.Itoa(slot)
	}
	if vs := str(it, "answerValueSet"); vs != "" {
		f.ValueSet = vs
		f.Choices = choices(vs)
		if vs == profiles.ValueSetPreferredPlace {
			f.Choices = patientPlaces(f.Choices, f.LinkID == profiles.QItemPlaceOfDeath)
		}
	}
	for _, ew := range objs(it, "enableWhen") {
		f.EnableWhen = str(ew, "question")
		f.Hint = "Only if you answered yes above."
	}
	switch {
	case strings.HasSuffix(f.LinkID, "email"):
		f.Input, f.Auto = "email", "email"
	case strings.HasSuffix(f.LinkID, "phone"):
		f.Input, f.Auto = "tel", "tel"
		if slot > 0 {
			f.Auto = "off"
		}
	case f.LinkID == "contacts.person.name":
		f.Input, f.Auto = "text", "off"
	default:
		f.Input, f.Auto = "text", "off"
	}
	return f
}

// undecidedPlace is SNOMED's "preferred place of death: patient undecided".
const undecidedPlace = profiles.SystemSNOMED + "|517161000000101"

// patientPlaces words the preferred places as a patient answers for
// themselves: the places, in the first person, and for the place of death
// "not decided yet"; the value set's other findings (unable to express a
// preference, discussion not appropriate or declined) are a clinician's to
// record, and a patient who does not want to say leaves the question.
func patientPlaces(cs []choice, death bool) []choice {
	var out []choice
	for _, c := range cs {
		switch {
		case strings.HasPrefix(c.Value, profiles.SystemDeathLocationType+"|"):
			if c.Display == "Patient's own home" {
				c.Display = "My own home"
			}
			out = append(out, c)
		case death && c.Value == undecidedPlace:
			out = append(out, choice{Value: c.Value, Display: "I have not decided yet"})
		}
	}
	return out
}

// sectionOf finds the page of linkId.
func sectionOf(all []*qSection, linkID string) (*qSection, int) {
	for i, s := range all {
		if s.LinkID == linkID {
			return s, i
		}
	}
	return nil, -1
}

// answers is the patient's current QuestionnaireResponse and its version,
// nil when they have none.
type answers struct {
	Res     map[string]any
	Version int64
}

// myAnswers finds the patient's latest answers to the form.
func (a *App) myAnswers(c *gin.Context, p *auth.Principal) (*answers, error) {
	rd := reader{a: a, ctx: c.Request.Context(), r: c.Request}
	params := url.Values{"subject": {"Patient/" + p.Patient}, "questionnaire": {profiles.QuestionnairePatientPlan},
		"_sort": {"-_lastUpdated"}, "_count": {"1"}}
	found, err := rd.search("QuestionnaireResponse", params)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return &answers{Res: found[0], Version: versionOf(found[0])}, nil
}

// patientOnly refuses anyone but a signed-in patient with a record.
func patientOnly(ctx context.Context) (*auth.Principal, error) {
	p := auth.FromContext(ctx)
	if p == nil || p.Role != auth.RolePatient || p.Patient == "" {
		return nil, outcome.Errorf(outcome.Forbidden, "these pages are for patients starting their own care plan")
	}
	return p, nil
}

// sent reports whether the answers have been sent to the practice.
func (s *answers) sent() bool { return s != nil && str(s.Res, "status") != "in-progress" }

// startData is the questionnaire's first page's data.
type startData struct {
	Started, Sent bool
	SentOn        string
	Resume        string // the section to continue at, or "check"
	First         string
	Verified      bool
	StepUp        string
	StepUpLink    string // Config.StepUp's link, "" without NHS login
}

// questionnaireStart explains the questionnaire and starts or resumes it.
func (a *App) questionnaireStart(c *gin.Context, v *view) error {
	p, err := patientOnly(c.Request.Context())
	if err != nil {
		return err
	}
	ans, err := a.myAnswers(c, p)
	if err != nil {
		return err
	}
	all := sections()
	d := &startData{First: all[0].LinkID, Verified: patientplan.Verified(p), StepUp: stepUp(), StepUpLink: a.stepUpLink(QuestionnairePath)}
	if ans != nil {
		d.Started, d.Sent = true, ans.sent()
		d.SentOn = longDate(str(ans.Res, "authored"))
		d.Resume = "check"
		for _, s := range all {
			if groupOf(ans.Res, s.LinkID) == nil {
				d.Resume = s.LinkID
				break
			}
		}
	}
	v.Title, v.Data = "Start your care plan", d
	a.render(c, "questionnaire-start", v)
	return nil
}

// groupOf is the section's group item in the response, nil if none.
func groupOf(qr map[string]any, linkID string) map[string]any {
	for _, it := range objs(qr, "item") {
		if str(it, "linkId") == linkID {
			return it
		}
	}
	return nil
}

// fill puts the stored answers of a section into its fields.
func fill(s *qSection, group map[string]any) {
	var blocks []*qGroup // the repeated group's blocks, in order
	for _, g := range s.Groups {
		if g.Legend != "" {
			blocks = append(blocks, g)
		}
	}
	slot := 0
	for _, it := range objs(group, "item") {
		if len(objs(it, "item")) > 0 {
			// A contact: the next block. Answers written over FHIR may
			// hold more than the page has room for; the page shows the
			// first ones.
			slot++
			if slot > len(blocks) {
				continue
			}
			g := blocks[slot-1]
			for _, sub := range objs(it, "item") {
				for _, f := range g.Fields {
					if f.LinkID == str(sub, "linkId") {
						f.Value = answerValue(sub)
					}
				}
			}
			continue
		}
		if len(s.Groups) == 0 || s.Groups[0].Legend != "" {
			continue
		}
		for _, f := range s.Groups[0].Fields {
			if f.LinkID == str(it, "linkId") {
				f.Value = answerValue(it)
			}
		}
	}
}

// answerValue is an item's first answer as the form sends it.
func answerValue(it map[string]any) string {
	for _, ans := range objs(it, "answer") {
		switch {
		case ans["valueBoolean"] == true:
			return "yes"
		case ans["valueBoolean"] == false:
			return "no"
		case ans["valueCoding"] != nil:
			cd := obj(ans, "valueCoding")
			return str(cd, "system") + "|" + str(cd, "code")
		default:
			return str(ans, "valueString")
		}
	}
	return ""
}

// questionnaireSection shows one page of the questionnaire with the
// answers saved so far.
func (a *App) questionnaireSection(c *gin.Context, v *view) error {
	p, err := patientOnly(c.Request.Context())
	if err != nil {
		return err
	}
	all := sections()
	s, i := sectionOf(all, c.Param("section"))
	if s == nil {
		return outcome.Errorf(outcome.NotFound, "the questionnaire has no section %q", c.Param("section"))
	}
	ans, err := a.myAnswers(c, p)
	if err != nil {
		return err
	}
	if ans.sent() {
		c.Redirect(http.StatusSeeOther, QuestionnairePath)
		return nil
	}
	if ans != nil {
		fill(s, groupOf(ans.Res, s.LinkID))
	}
	v.Title = s.Title
	v.Data = &qData{Section: s, Errors: map[string]string{}, Change: c.Query("change") != "", Step: i + 1, Steps: len(all),
		Verified: patientplan.Verified(p), StepUp: stepUp()}
	a.render(c, "questionnaire", v)
	return nil
}

// saveSection checks one page's answers and saves them into the
// patient's answers, in progress; errors are shown beside their fields and
// nothing is saved.
func (a *App) saveQuestionnaireSection(c *gin.Context, v *view) error {
	ctx := c.Request.Context()
	p, err := patientOnly(ctx)
	if err != nil {
		return err
	}
	all := sections()
	s, i := sectionOf(all, c.Param("section"))
	if s == nil {
		return outcome.Errorf(outcome.NotFound, "the questionnaire has no section %q", c.Param("section"))
	}
	errs := map[string]string{}
	for _, g := range s.Groups {
		for _, f := range g.Fields {
			f.Value = strings.TrimSpace(c.PostForm(f.Name))
		}
	}
	group := map[string]any{"linkId": s.LinkID, "text": s.Title}
	var items []any
	for gi, g := range s.Groups {
		own := gi == 0 && g.Legend == ""
		sub := checkGroup(g, errs, !own)
		if len(sub) == 0 {
			continue
		}
		if own {
			items = append(items, sub...)
			continue
		}
		items = append(items, map[string]any{"linkId": profiles.QItemContact, "text": g.Text, "item": sub})
	}
	change := c.PostForm("change") != ""
	if len(errs) > 0 {
		v.Title, v.status = "There is a problem: "+s.Title, http.StatusUnprocessableEntity
		v.Data = &qData{Section: s, Errors: errs, Change: change, Step: i + 1, Steps: len(all),
			Verified: patientplan.Verified(p), StepUp: stepUp()}
		a.render(c, "questionnaire", v)
		return nil
	}
	ans, err := a.myAnswers(c, p)
	if err != nil {
		return err
	}
	qr := map[string]any{"resourceType": "QuestionnaireResponse", "questionnaire": profiles.QuestionnairePatientPlan,
		"status": "in-progress", "subject": map[string]any{"reference": "Patient/" + p.Patient},
		"author": map[string]any{"reference": "Patient/" + p.Patient}}
	e := &service.Entry{Method: http.MethodPost, Type: "QuestionnaireResponse", Resource: qr}
	if ans != nil {
		if ans.sent() {
			return outcome.Errorf(outcome.Conflict, "you have already sent your answers to your GP practice, so they can no longer be changed here")
		}
		qr["id"] = resource.ID(ans.Res)
		if it, ok := ans.Res["item"]; ok {
			qr["item"] = it
		}
		e.Method, e.ID, e.IfMatch = http.MethodPut, resource.ID(ans.Res), ans.Version
	}
	setGroup(qr, all, group, items)
	qr["authored"] = a.cfg.Now().UTC().Format("2006-01-02T15:04:05Z")
	if _, err := a.write(ctx, c.Request, e); err != nil {
		return err
	}
	next := QuestionnairePath + "/check"
	if !change && s.Next != "" {
		next = QuestionnairePath + "/sections/" + s.Next
	}
	c.Redirect(http.StatusSeeOther, next)
	return nil
}

// setGroup replaces the section's group in qr (or removes it when it has
// no answers), keeping the form's order of sections.
func setGroup(qr map[string]any, all []*qSection, group map[string]any, items []any) {
	byID := map[string]map[string]any{}
	for _, it := range objs(qr, "item") {
		byID[str(it, "linkId")] = it
	}
	if len(items) > 0 {
		group["item"] = items
		byID[str(group, "linkId")] = group
	} else {
		delete(byID, str(group, "linkId"))
	}
	var out []any
	for _, s := range all {
		if g, ok := byID[s.LinkID]; ok {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		delete(qr, "item")
		return
	}
	qr["item"] = out
}

// checkGroup checks a block's answers, noting errors by field name, and
// returns its answered items. A contact's questions are required only
// when any of them is answered.
func checkGroup(g *qGroup, errs map[string]string, optionalBlock bool) []any {
	byLink := map[string]*qField{}
	filled := false
	for _, f := range g.Fields {
		byLink[f.LinkID] = f
		filled = filled || f.Value != ""
	}
	var items []any
	for _, f := range g.Fields {
		if f.Value == "" {
			if f.Required && (filled || !optionalBlock) {
				f.Error = "Enter " + lowerFirst(f.Label)
				errs[f.Name] = f.Error
			}
			continue
		}
		if f.EnableWhen != "" {
			if on := byLink[f.EnableWhen]; on == nil || on.Value != "yes" {
				f.Error = "Leave this empty, or answer yes to the question above"
				errs[f.Name] = f.Error
				continue
			}
		}
		ans, msg := answerOf(f)
		if msg != "" {
			f.Error = msg
			errs[f.Name] = msg
			continue
		}
		items = append(items, map[string]any{"linkId": f.LinkID, "text": f.Label, "answer": []any{ans}})
	}
	return items
}

// answerOf checks one answer and returns it as a QuestionnaireResponse
// answer, or a message saying what is wrong.
func answerOf(f *qField) (map[string]any, string) {
	switch f.Type {
	case "boolean":
		switch f.Value {
		case "yes":
			return map[string]any{"valueBoolean": true}, ""
		case "no":
			return map[string]any{"valueBoolean": false}, ""
		}
		return nil, "Select yes or no"
	case "choice":
		if _, ok := chosen(f.Choices, f.Value); !ok {
			return nil, "Select one of the options"
		}
		// Stored with the value set's display, not the page's wording.
		cc, ok := chosen(choices(f.ValueSet), f.Value)
		if !ok {
			return nil, "Select one of the options"
		}
		return map[string]any{"valueCoding": objs(cc, "coding")[0]}, ""
	}
	limit := maxShort
	if f.Type == "text" {
		limit = maxLong
	}
	if n := utf8.RuneCountInString(f.Value); n > limit {
		return nil, fmt.Sprintf("Write %d characters or fewer (you wrote %d)", limit, n)
	}
	switch f.Input {
	case "email":
		if a, err := mail.ParseAddress(f.Value); err != nil || a.Address != f.Value || !strings.Contains(a.Address[strings.LastIndex(a.Address, "@"):], ".") {
			return nil, "Enter an email address like name@example.com"
		}
	case "tel":
		if !ukPhone(f.Value) {
			return nil, "Enter a UK phone number, like 020 7946 0000 or 07700 900 000"
		}
	}
	return map[string]any{"valueString": f.Value}, ""
}

// stepUp is patientplan.StepUpMessage as a sentence on a page.
func stepUp() string {
	return strings.ToUpper(patientplan.StepUpMessage[:1]) + patientplan.StepUpMessage[1:]
}

// stepUpLink is where the "Verify your identity" button goes, back to
// returnTo afterwards; "" when the service has no NHS login to verify at.
func (a *App) stepUpLink(returnTo string) string {
	if a.cfg.StepUp == nil {
		return ""
	}
	return a.cfg.StepUp(returnTo)
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// checkRow is one answer on the check-your-answers page.
type checkRow struct {
	Question, Answer string
}

// checkSection is one section on the check-your-answers page.
type checkSection struct {
	LinkID, Title string
	Rows          []checkRow
}

// checkData is the check-your-answers page's data.
type checkData struct {
	Sections   []checkSection
	Verified   bool
	StepUp     string
	StepUpLink string // Config.StepUp's link, "" without NHS login
	Empty      bool
}

// questionnaireCheck lists every answer with a link to change it, and the
// button that sends them.
func (a *App) questionnaireCheck(c *gin.Context, v *view) error {
	p, err := patientOnly(c.Request.Context())
	if err != nil {
		return err
	}
	ans, err := a.myAnswers(c, p)
	if err != nil {
		return err
	}
	if ans.sent() {
		c.Redirect(http.StatusSeeOther, QuestionnairePath)
		return nil
	}
	d := &checkData{Verified: patientplan.Verified(p), StepUp: stepUp(), StepUpLink: a.stepUpLink(QuestionnairePath + "/check"), Empty: ans == nil}
	for _, s := range sections() {
		cs := checkSection{LinkID: s.LinkID, Title: s.Title}
		if ans != nil {
			fill(s, groupOf(ans.Res, s.LinkID))
		}
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
		d.Sections = append(d.Sections, cs)
	}
	v.Title, v.Data = "Check your answers", d
	a.render(c, "questionnaire-check", v)
	return nil
}

// answerWords is a field's answer as the patient reads it back.
func answerWords(f *qField) string {
	switch f.Type {
	case "boolean":
		if f.Value == "yes" {
			return "Yes"
		}
		return "No"
	case "choice":
		for _, ch := range f.Choices {
			if ch.Value == f.Value {
				return ch.Display
			}
		}
	}
	return f.Value
}

// sendQuestionnaire sends the answers to the practice: the response,
// completed, through the service, which refuses a patient not proofed to
// P9 (the page then says how to verify) and adds the practice's Task and
// email in the same write.
func (a *App) sendQuestionnaire(c *gin.Context, v *view) error {
	ctx := c.Request.Context()
	p, err := patientOnly(ctx)
	if err != nil {
		return err
	}
	ans, err := a.myAnswers(c, p)
	if err != nil {
		return err
	}
	if ans == nil {
		return outcome.Errorf(outcome.Invalid, "there are no answers to send yet: start with the first section")
	}
	if ans.sent() {
		c.Redirect(http.StatusSeeOther, QuestionnairePath)
		return nil
	}
	qr := ans.Res
	delete(qr, "meta")
	qr["status"] = "completed"
	qr["authored"] = a.cfg.Now().UTC().Format("2006-01-02T15:04:05Z")
	_, err = a.write(ctx, c.Request, &service.Entry{Method: http.MethodPut, Type: "QuestionnaireResponse", ID: resource.ID(qr), Resource: qr, IfMatch: ans.Version})
	if err != nil {
		if outcome.KindOf(err) == outcome.Forbidden && !patientplan.Verified(p) {
			v.Title, v.status = "Verify your identity to send your answers", http.StatusForbidden
			v.Data = &startData{Started: true, Verified: false, StepUp: stepUp(), StepUpLink: a.stepUpLink(QuestionnairePath + "/check")}
			a.render(c, "questionnaire-start", v)
			return nil
		}
		return err
	}
	c.Redirect(http.StatusSeeOther, QuestionnairePath+"?sent=1")
	return nil
}

// questionnaireRoutes registers the patient's questionnaire pages.
func (a *App) questionnaireRoutes(g gin.IRouter) {
	g.GET("/questionnaire", a.page(a.questionnaireStart, true))
	g.GET("/questionnaire/sections/:section", a.page(a.questionnaireSection, true))
	g.POST("/questionnaire/sections/:section", a.page(a.saveQuestionnaireSection, true))
	g.GET("/questionnaire/check", a.page(a.questionnaireCheck, true))
	g.POST("/questionnaire/send", a.page(a.sendQuestionnaire, true))
	g.GET("/change-request", a.page(a.changeRequest, true))
	g.POST("/change-request", a.page(a.sendChangeRequest, true))
}

// changeData is the ask-for-a-change page's data.
type changeData struct {
	PlanID, Text, Error string
	Sent                bool
}

// myActivePlan is the patient's approved plan's id, "" for none.
func (a *App) myActivePlan(c *gin.Context, p *auth.Principal) (string, error) {
	rd := reader{a: a, ctx: c.Request.Context(), r: c.Request}
	plans, err := rd.search("CarePlan", url.Values{"subject": {"Patient/" + p.Patient}, "status": {"active"}, "_count": {"1"}})
	if err != nil || len(plans) == 0 {
		return "", err
	}
	return resource.ID(plans[0]), nil
}

// changeRequest is the form in which a patient asks their practice for a
// change to their approved plan, in their own words.
func (a *App) changeRequest(c *gin.Context, v *view) error {
	p, err := patientOnly(c.Request.Context())
	if err != nil {
		return err
	}
	plan, err := a.myActivePlan(c, p)
	if err != nil {
		return err
	}
	if plan == "" {
		return outcome.Errorf(outcome.NotFound, "you do not have an approved plan to change yet")
	}
	v.Title, v.Data = "Ask for a change to your plan", &changeData{PlanID: plan, Sent: c.Query("sent") != ""}
	a.render(c, "change-request", v)
	return nil
}

// sendChangeRequest sends the request: CarePlan/{id}/$ask-for-change as the
// patient, which puts a Task on the practice's list and emails it; the
// plan itself does not change.
func (a *App) sendChangeRequest(c *gin.Context, v *view) error {
	ctx := c.Request.Context()
	p, err := patientOnly(ctx)
	if err != nil {
		return err
	}
	plan, err := a.myActivePlan(c, p)
	if err != nil {
		return err
	}
	if plan == "" {
		return outcome.Errorf(outcome.NotFound, "you do not have an approved plan to change yet")
	}
	d := &changeData{PlanID: plan, Text: strings.TrimSpace(c.PostForm("change"))}
	switch n := utf8.RuneCountInString(d.Text); {
	case n == 0:
		d.Error = "Say what you would like changed"
	case n > maxLong:
		d.Error = fmt.Sprintf("Write %d characters or fewer (you wrote %d)", maxLong, n)
	}
	if d.Error != "" {
		v.Title, v.Data, v.status = "There is a problem: ask for a change to your plan", d, http.StatusUnprocessableEntity
		a.render(c, "change-request", v)
		return nil
	}
	// The service authorises and audits an operation itself.
	if _, err := a.cfg.FHIR(&service.Call{Disclosure: &service.Disclosure{}}).Operation(ctx, &service.OperationRequest{
		Name: "ask-for-change", Method: http.MethodPost, Type: "CarePlan", ID: plan, Path: c.Request.URL.Path, ResponseHeader: http.Header{},
		Parameters: map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "text", "valueString": d.Text}}}}); err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, Prefix+"/change-request?sent=1")
	return nil
}
