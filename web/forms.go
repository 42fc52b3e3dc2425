package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

// choice is one coded answer of a form, from the project's value sets.
type choice struct {
	Value   string // system|code, what the form sends back
	Display string
}

// choices lists the concepts of the ValueSet url, leaving out the codes
// in except.
func choices(url string, except ...string) []choice {
	var out []choice
	for _, vs := range profiles.ValueSets() {
		if str(vs, "url") != url {
			continue
		}
		for _, inc := range objs(obj(vs, "compose"), "include") {
			for _, c := range objs(inc, "concept") {
				code := str(c, "code")
				skip := false
				for _, e := range except {
					skip = skip || e == code
				}
				if !skip {
					out = append(out, choice{Value: str(inc, "system") + "|" + code, Display: str(c, "display")})
				}
			}
		}
	}
	return out
}

// chosen finds the form's answer among the choices: a value not offered is
// refused, so nothing but the value set's codes is written.
func chosen(cs []choice, v string) (map[string]any, bool) {
	for _, c := range cs {
		if c.Value == v {
			system, code, _ := strings.Cut(v, "|")
			return map[string]any{"coding": []any{map[string]any{"system": system, "code": code, "display": c.Display}}}, true
		}
	}
	return nil, false
}

// me is the signed-in user as a Reference: their fhirUser when they have
// one, and their name.
func me(p *auth.Principal) map[string]any {
	r := map[string]any{"display": p.Name}
	if p.FHIRUser != "" && !strings.Contains(p.FHIRUser, "://") {
		r["reference"] = p.FHIRUser
	}
	if p.Name == "" {
		r["display"] = "Clinician " + p.UserID
	}
	return r
}

// newPlanData is the create-a-plan page's data.
type newPlanData struct {
	PatientID string
	Consents  []choice
	Types     []choice
	Errors    map[string]string
	Consent   string
	Type      string
}

func newPlanChoices(d *newPlanData) {
	d.Consents = choices(profiles.ValueSetConsentToShare, profiles.CodeConsentWithdrawn)
	d.Types = choices(profiles.ValueSetCarePlanType)
}

// newPlan is the create-a-plan form: the plan's type and the patient's
// consent to share, without which no plan may be written.
func (a *App) newPlan(c *gin.Context, v *view) error {
	ctx := c.Request.Context()
	if err := clinicianOnly(ctx); err != nil {
		return err
	}
	rd := reader{a: a, ctx: ctx, r: c.Request}
	id := c.Query("patient")
	if id == "" && c.Query("nhs_number") != "" {
		pats, err := rd.search("Patient", url.Values{"identifier": {"https://fhir.nhs.uk/Id/nhs-number|" + c.Query("nhs_number")}})
		if err != nil {
			return err
		}
		if len(pats) == 0 {
			return outcome.Errorf(outcome.NotFound, "ucp holds no record for NHS number %s; the patient's record must be added before a plan can be written", c.Query("nhs_number"))
		}
		id = resource.ID(pats[0])
	}
	if id == "" {
		return outcome.Errorf(outcome.Invalid, "say which patient the plan is for")
	}
	b, _, err := rd.banner(id)
	if err != nil {
		return err
	}
	v.Patient, v.Title = b, "Create a plan"
	d := &newPlanData{PatientID: id, Errors: map[string]string{}}
	newPlanChoices(d)
	v.Data = d
	a.render(c, "newplan", v)
	return nil
}

// createPlan records the consent to share and writes the draft plan.
func (a *App) createPlan(c *gin.Context, v *view) error {
	ctx := c.Request.Context()
	p := auth.FromContext(ctx)
	id := c.Param("id")
	d := &newPlanData{PatientID: id, Errors: map[string]string{}, Consent: c.PostForm("consent"), Type: c.PostForm("type")}
	newPlanChoices(d)
	consent, ok := chosen(d.Consents, d.Consent)
	if !ok {
		d.Errors["consent"] = "Select how the patient consented to sharing their plan"
	}
	typ, ok := chosen(d.Types, d.Type)
	if !ok {
		d.Errors["type"] = "Select the type of plan"
	}
	if len(d.Errors) > 0 {
		rd := reader{a: a, ctx: ctx, r: c.Request}
		b, _, err := rd.banner(id)
		if err != nil {
			return err
		}
		v.Patient, v.Title, v.Data, v.status = b, "Create a plan", d, http.StatusUnprocessableEntity
		a.render(c, "newplan", v)
		return nil
	}
	now := a.cfg.Now().UTC().Format("2006-01-02T15:04:05Z")
	subject := map[string]any{"reference": "Patient/" + id}
	if _, err := a.write(ctx, c.Request, &service.Entry{Method: http.MethodPost, Type: "Consent", Resource: map[string]any{
		"resourceType": "Consent", "meta": map[string]any{"profile": []any{profiles.ProfileConsent}}, "status": "active",
		"scope":    map[string]any{"coding": []any{map[string]any{"system": profiles.SystemConsentScope, "code": "patient-privacy"}}},
		"category": []any{consent}, "patient": subject, "dateTime": now, "performer": []any{me(p)},
		"policyRule": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN", "display": "opt-in"}}},
		"provision":  map[string]any{"type": "permit"},
	}}); err != nil {
		return err
	}
	res, err := a.write(ctx, c.Request, &service.Entry{Method: http.MethodPost, Type: "CarePlan", Resource: map[string]any{
		"resourceType": "CarePlan", "meta": map[string]any{"profile": []any{profiles.ProfileCarePlan}}, "status": "draft",
		"intent": "plan", "category": []any{typ}, "title": "Urgent care plan", "subject": subject,
		"period": map[string]any{"start": now}, "created": now, "author": me(p),
	}})
	if err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, Prefix+"/plans/"+url.PathEscape(res.Version.ID)+"/edit")
	return nil
}

// write runs one write through the service, audited.
func (a *App) write(ctx context.Context, r *http.Request, e *service.Entry) (*service.Result, error) {
	var res *service.Result
	err := a.audited(ctx, r, "", e.Access(), func(ctx context.Context, fhir FHIR) error {
		var err error
		res, err = fhir.BatchEntry(ctx, e)
		return err
	})
	return res, err
}

// editData is the edit page's data.
type editData struct {
	Plan    *planModel
	Missing []string
	// Choices of the section forms, from the project's value sets.
	Prognoses, CPRs, Discussions, Ceilings, Places, Relationships, ADRTs, LPAs []choice
	Errors                                                                     map[string]string
	// Form is what a refused form sent, so the clinician corrects their
	// answer rather than typing it again.
	Form map[string]string
}

// editPlan shows the plan's sections, each with a form, and which
// sections approval still needs.
func (a *App) editPlan(c *gin.Context, v *view) error {
	return a.showEdit(c, v, map[string]string{})
}

func (a *App) showEdit(c *gin.Context, v *view, errs map[string]string) error {
	ctx := c.Request.Context()
	if err := clinicianOnly(ctx); err != nil {
		return err
	}
	rd := reader{a: a, ctx: ctx, r: c.Request}
	plan, ver, err := rd.read("CarePlan", c.Param("id"))
	if err != nil {
		return err
	}
	patient := resource.ParseReference(str(obj(plan, "subject"), "reference")).ID
	b, _, err := rd.banner(patient)
	if err != nil {
		return err
	}
	// The plan as it is now, from the sections it references now: the
	// form edits the next version.
	status := str(plan, "status")
	plan["status"] = "draft"
	m, err := rd.model(plan, ver.VersionID, ver.VersionID)
	if err != nil {
		return err
	}
	m.StatusCode, m.Status = status, statusWords(status)
	d := &editData{Plan: m, Errors: errs,
		Prognoses:   choices(profiles.ValueSetPrognosis),
		CPRs:        choices(profiles.ValueSetResuscitationStatus),
		Discussions: choices(profiles.ValueSetCPRDiscussion),
		Ceilings:    choices(profiles.ValueSetTreatmentCeiling),
		Places:      choices(profiles.ValueSetPreferredPlace),
		// An attorney is recorded with the LPA, whose profile asks more of
		// the contact.
		Relationships: choices(profiles.ValueSetContactRelationship, profiles.RelationshipHealthcarePOA),
		ADRTs:         choices(profiles.ValueSetADRTFlag),
		LPAs:          lpaChoices(),
		Form:          map[string]string{},
	}
	// Each form opens on the plan's current answer; a refused form, on
	// what was sent.
	rd.answers(plan, d.Form)
	if len(errs) > 0 {
		for k, vs := range c.Request.PostForm {
			if k != "csrf_token" && len(vs) > 0 {
				d.Form[k] = vs[0]
			}
		}
		// A refused change to a wish goes back into that wish's field,
		// not the one that adds a wish.
		if ref := c.PostForm("ref"); c.PostForm("section") == "wish" && ref != "" {
			_, id, _ := refParts(ref)
			d.Form["wish-"+id], d.Form["wish"] = d.Form["wish"], ""
		}
	}
	// What approval will ask for, so the clinician sees it before trying;
	// the care-plan rules decide when they approve.
	if len(m.Diagnosis) == 0 {
		d.Missing = append(d.Missing, "Medical background")
	}
	if len(m.Prognosis) == 0 {
		d.Missing = append(d.Missing, "Prognosis")
	}
	if m.CPR == nil {
		d.Missing = append(d.Missing, "CPR decision")
	}
	if len(m.Ceiling) == 0 && len(m.Deteriorates) == 0 {
		d.Missing = append(d.Missing, "Emergency treatment plan")
	}
	v.Patient, v.Title, v.Data = b, "Edit the plan", d
	if len(errs) > 0 {
		v.status = http.StatusUnprocessableEntity
	}
	a.render(c, "edit", v)
	return nil
}

// answers fills form with the plan's current answer to each section form,
// by the form's field names, from the live sections the plan references.
func (rd reader) answers(plan map[string]any, form map[string]string) {
	coded := func(c map[string]any) string {
		for _, cd := range objs(c, "coding") {
			return str(cd, "system") + "|" + str(cd, "code")
		}
		return ""
	}
	comp := func(res map[string]any, code string) map[string]any {
		for _, c := range objs(res, "component") {
			if hasCoding(obj(c, "code"), profiles.SystemUCP, code) {
				return c
			}
		}
		return nil
	}
	for _, field := range []string{"addresses", "supportingInfo"} {
		for _, ref := range objs(plan, field) {
			typ, id, _ := refParts(str(ref, "reference"))
			if typ == "" {
				continue
			}
			res, _, err := rd.read(typ, id)
			if err != nil || !live(res) {
				continue
			}
			code := obj(res, "code")
			switch resource.Type(res) {
			case "Condition":
				form["diagnosis"] = str(code, "text")
				for _, cd := range objs(code, "coding") {
					if str(cd, "system") == profiles.SystemSNOMED {
						form["diagnosis_code"] = str(cd, "code")
					}
				}
			case "ClinicalImpression":
				for _, p := range objs(res, "prognosisCodeableConcept") {
					form["prognosis"] = coded(p)
				}
			case "Observation":
				switch {
				case hasCoding(code, profiles.SystemSNOMED, profiles.CodeResuscitationStatus):
					form["cpr"] = coded(obj(res, "valueCodeableConcept"))
					form["discussion"] = coded(obj(comp(res, "cpr-discussion"), "valueCodeableConcept"))
				case hasCoding(code, profiles.SystemSNOMED, profiles.CodeTreatmentEscalation):
					form["ceiling"] = coded(obj(res, "valueCodeableConcept"))
					form["recommendation"] = str(comp(res, "treatment-recommendation"), "valueString")
				case hasCoding(code, profiles.SystemUCP, profiles.CodePreferredPlaceOfDeath):
					form["place"] = coded(obj(res, "valueCodeableConcept"))
				}
			case "Flag":
				if k := flagKind(res); k == "adrt" || k == "lpa" {
					form[k] = coded(code)
					_, where, _ := strings.Cut(str(code, "text"), "Where the document is: ")
					form[k+"_where"] = where
				}
			case "RelatedPerson":
				if isAttorney(res) {
					if ns := objs(res, "name"); len(ns) > 0 {
						if gs, ok := ns[0]["given"].([]any); ok && len(gs) > 0 {
							form["attorney_given"], _ = gs[0].(string)
						}
						form["attorney_family"] = str(ns[0], "family")
					}
					form["attorney_phone"] = contactOf(res).Phone
				}
			}
		}
	}
	for _, a := range objs(plan, "activity") {
		if d := str(obj(a, "detail"), "description"); d != "" {
			form["deteriorates"] = d
		}
	}
}

// saveSection writes one section from its form and links it to the plan
// (replacing the plan's earlier section of the same kind), as a draft.
func (a *App) saveSection(c *gin.Context, v *view) error {
	ctx := c.Request.Context()
	p := auth.FromContext(ctx)
	id := c.Param("id")
	rd := reader{a: a, ctx: ctx, r: c.Request}
	plan, _, err := rd.read("CarePlan", id)
	if err != nil {
		return err
	}
	subject := obj(plan, "subject")
	now := a.cfg.Now().UTC().Format("2006-01-02T15:04:05Z")
	errs := map[string]string{}
	var res map[string]any
	// more are further sections the form writes with res (an LPA's
	// attorney); drop, the references the form takes off the plan.
	var more []map[string]any
	drop := map[string]bool{}
	field := "supportingInfo"
	var activity string
	section := c.PostForm("section")
	switch section {
	case "background":
		text := strings.TrimSpace(c.PostForm("diagnosis"))
		sct := strings.TrimSpace(c.PostForm("diagnosis_code"))
		if text == "" {
			errs["diagnosis"] = "Enter the main diagnosis"
		}
		// The project has no value set of diagnoses, and the profile asks
		// for SNOMED CT: the clinician gives the concept id from their
		// clinical system, checked for its form and check digit.
		if !validSCTID(sct) {
			errs["diagnosis_code"] = "Enter the diagnosis's SNOMED CT concept id, 6 to 18 digits, as your clinical system shows it"
		}
		if len(errs) > 0 {
			break
		}
		field = "addresses"
		res = map[string]any{"resourceType": "Condition", "meta": map[string]any{"profile": []any{profiles.ProfileCondition}},
			"clinicalStatus": map[string]any{"coding": []any{map[string]any{"system": profiles.SystemConditionClinical, "code": "active"}}},
			"category":       []any{map[string]any{"coding": []any{map[string]any{"system": profiles.SystemConditionCategory, "code": "problem-list-item"}}}},
			"code":           map[string]any{"coding": []any{map[string]any{"system": profiles.SystemSNOMED, "code": sct}}, "text": text},
			"subject":        subject, "recordedDate": now}
	case "prognosis":
		pc, ok := chosen(choices(profiles.ValueSetPrognosis), c.PostForm("prognosis"))
		if !ok {
			errs["prognosis"] = "Select the prognosis"
			break
		}
		res = map[string]any{"resourceType": "ClinicalImpression", "meta": map[string]any{"profile": []any{profiles.ProfilePrognosis}},
			"status": "completed", "subject": subject, "date": now, "assessor": me(p), "prognosisCodeableConcept": []any{pc}}
	case "cpr":
		dc, ok := chosen(choices(profiles.ValueSetResuscitationStatus), c.PostForm("cpr"))
		if !ok {
			errs["cpr"] = "Select the CPR decision"
			break
		}
		res = map[string]any{"resourceType": "Observation", "meta": map[string]any{"profile": []any{profiles.ProfileCPRDecision}},
			"status": "final", "code": code(profiles.SystemSNOMED, profiles.CodeResuscitationStatus, "Resuscitation status"),
			"subject": subject, "effectiveDateTime": now, "performer": []any{me(p)}, "valueCodeableConcept": dc}
		if disc := c.PostForm("discussion"); disc != "" {
			dd, ok := chosen(choices(profiles.ValueSetCPRDiscussion), disc)
			if !ok {
				errs["discussion"] = "Select who the decision was discussed with"
				break
			}
			res["component"] = []any{map[string]any{"code": code(profiles.SystemUCP, "cpr-discussion", "CPR decision discussed with"), "valueCodeableConcept": dd}}
		}
	case "escalation":
		cc, ok := chosen(choices(profiles.ValueSetTreatmentCeiling), c.PostForm("ceiling"))
		if !ok {
			errs["ceiling"] = "Select the ceiling of treatment"
			break
		}
		res = map[string]any{"resourceType": "Observation", "meta": map[string]any{"profile": []any{profiles.ProfileTreatmentEscalation}},
			"status": "final", "code": code(profiles.SystemSNOMED, profiles.CodeTreatmentEscalation, "Treatment escalation plan"),
			"subject": subject, "effectiveDateTime": now, "performer": []any{me(p)}, "valueCodeableConcept": cc}
		if rec := strings.TrimSpace(c.PostForm("recommendation")); rec != "" {
			res["component"] = []any{map[string]any{"code": code(profiles.SystemUCP, "treatment-recommendation", "Specific treatment recommendation"), "valueString": rec}}
		}
	case "place-of-death":
		pc, ok := chosen(choices(profiles.ValueSetPreferredPlace), c.PostForm("place"))
		if !ok {
			errs["place"] = "Select the preferred place of death"
			break
		}
		res = map[string]any{"resourceType": "Observation", "meta": map[string]any{"profile": []any{profiles.ProfilePreferredPlace}},
			"status":   "final",
			"category": []any{map[string]any{"coding": []any{map[string]any{"system": profiles.SystemObservationCategory, "code": "social-history"}}}},
			"code":     code(profiles.SystemUCP, profiles.CodePreferredPlaceOfDeath, "Preferred place of death"),
			"subject":  subject, "effectiveDateTime": now, "valueCodeableConcept": pc,
			"component": []any{map[string]any{"code": code(profiles.SystemUCP, "preference-rank", "Preference rank"), "valueInteger": json.Number("1")}}}
	case "contact":
		res = a.keyContact(c, subject, errs)
	case "adrt":
		ac, ok := chosen(choices(profiles.ValueSetADRTFlag), c.PostForm("adrt"))
		if !ok {
			errs["adrt"] = "Select which advance decision to refuse treatment the patient has made"
		}
		where := strings.TrimSpace(c.PostForm("adrt_where"))
		if where == "" {
			errs["adrt_where"] = "Enter where the signed decision is kept, so a crew can ask to see it"
		}
		if len(errs) > 0 {
			break
		}
		// A Flag has no note: where the document is goes in the concept's
		// text, after the coded meaning, so a reader sees both.
		ac["text"] = str(objs(ac, "coding")[0], "display") + ". Where the document is: " + where
		res = map[string]any{"resourceType": "Flag", "meta": map[string]any{"profile": []any{profiles.ProfileADRTFlag}},
			"status": "active", "code": ac, "subject": subject, "period": map[string]any{"start": now}, "author": me(p)}
	case "lpa":
		if c.PostForm("lpa") == lpaNone {
			// No LPA: the plan's LPA and its attorney come off it.
			for _, r := range objs(plan, field) {
				typ, rid, _ := refParts(str(r, "reference"))
				if typ == "" {
					continue
				}
				if old, _, err := rd.read(typ, rid); err == nil && (flagKind(old) == "lpa" || isAttorney(old)) {
					drop[str(r, "reference")] = true
				}
			}
			break
		}
		res, more = a.lpa(c, subject, now, errs)
	case "remove":
		// A key contact or an anticipatory medicine comes off the plan;
		// the resource itself stays, versioned, as every earlier version
		// of the plan referenced it.
		ref, err := removable(rd, plan, c.PostForm("ref"))
		if err != nil {
			return err
		}
		drop[ref] = true
		switch {
		case strings.HasPrefix(ref, "Goal/"):
			field, section = "goal", "wishes"
		case strings.HasPrefix(ref, "RelatedPerson/"):
			section = "contact"
		default:
			section = "medicines"
		}
	case "wish":
		// A wish is changed by replacing its Goal with one in the new
		// words; the old one stays, versioned, with the plan versions that
		// referenced it.
		field, section = "goal", "wishes"
		key := "wish"
		if ref := c.PostForm("ref"); ref != "" {
			old, err := planWish(plan, ref)
			if err != nil {
				return err
			}
			drop[old] = true
			key = "wish-" + strings.TrimPrefix(old, "Goal/")
		}
		text := strings.TrimSpace(c.PostForm("wish"))
		switch {
		case text == "":
			errs[key] = "Enter the wish in the patient's own words, or remove it"
		case len(text) > maxWish:
			errs[key] = fmt.Sprintf("Enter the wish in %d characters or fewer: it is %d", maxWish, len(text))
		}
		if len(errs) > 0 {
			break
		}
		res = patientWish(subject, p, text, now)
	case "medicines":
		res = anticipatoryMedicine(c, subject, now, errs)
	case "deteriorates":
		activity = strings.TrimSpace(c.PostForm("deteriorates"))
		if activity == "" {
			errs["deteriorates"] = "Enter what to do if the patient deteriorates"
		}
	default:
		return outcome.Errorf(outcome.Invalid, "unknown section %q", section)
	}
	if len(errs) > 0 {
		return a.showEdit(c, v, errs)
	}
	var news []map[string]any
	if res != nil {
		news = append([]map[string]any{res}, more...)
	}
	var refs []any
	for _, n := range news {
		out, err := a.write(ctx, c.Request, &service.Entry{Method: http.MethodPost, Type: resource.Type(n), Resource: n})
		if err != nil {
			return err
		}
		refs = append(refs, map[string]any{"reference": out.Version.Type + "/" + out.Version.ID})
	}
	// Which earlier sections the new ones replace: those of their kind.
	if len(news) > 0 {
		for _, r := range objs(plan, field) {
			typ, rid, _ := refParts(str(r, "reference"))
			if typ == "" {
				continue
			}
			old, _, err := rd.read(typ, rid)
			if err != nil {
				continue
			}
			for _, n := range news {
				if sameKind(old, n) {
					drop[str(r, "reference")] = true
				}
			}
		}
	}
	if len(refs) == 0 && len(drop) == 0 && activity == "" {
		// Nothing to change (no LPA, and none recorded): no new version.
		c.Redirect(http.StatusSeeOther, Prefix+"/plans/"+url.PathEscape(id)+"/edit#"+section)
		return nil
	}
	patch := func(cur *store.Version) (map[string]any, error) {
		pl, err := resource.Parse(cur.JSON)
		if err != nil {
			return nil, err
		}
		if len(refs) > 0 || len(drop) > 0 {
			var keep []any
			for _, r := range objs(pl, field) {
				if !drop[str(r, "reference")] {
					keep = append(keep, r)
				}
			}
			keep = append(keep, refs...)
			if len(keep) == 0 {
				delete(pl, field)
			} else {
				pl[field] = keep
			}
		}
		if activity != "" {
			pl["activity"] = []any{map[string]any{"detail": map[string]any{"status": "scheduled", "description": activity,
				"code": map[string]any{"text": "If the patient deteriorates"}}}}
		}
		return pl, nil
	}
	if _, err := a.write(ctx, c.Request, &service.Entry{Method: http.MethodPatch, Type: "CarePlan", ID: id, Patch: patch}); err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, Prefix+"/plans/"+url.PathEscape(id)+"/edit#"+section)
	return nil
}

func code(system, c, display string) map[string]any {
	return map[string]any{"coding": []any{map[string]any{"system": system, "code": c, "display": display}}}
}

// keyContact is the RelatedPerson the key-contact form describes, or nil
// with errs saying, in words, what is wrong with each field.
func (a *App) keyContact(c *gin.Context, subject map[string]any, errs map[string]string) map[string]any {
	given, family := strings.TrimSpace(c.PostForm("contact_given")), strings.TrimSpace(c.PostForm("contact_family"))
	if given == "" {
		errs["contact_given"] = "Enter the contact's first name"
	}
	if family == "" {
		errs["contact_family"] = "Enter the contact's last name"
	}
	rel, ok := chosen(choices(profiles.ValueSetContactRelationship, profiles.RelationshipHealthcarePOA), c.PostForm("relationship"))
	if !ok {
		errs["relationship"] = "Select how the contact is related to the patient"
	}
	phone := strings.TrimSpace(c.PostForm("contact_phone"))
	if !ukPhone(phone) {
		errs["contact_phone"] = "Enter a UK phone number, like 07700 900123 or +44 7700 900123"
	}
	if len(errs) > 0 {
		return nil
	}
	return map[string]any{"resourceType": "RelatedPerson", "meta": map[string]any{"profile": []any{profiles.ProfileKeyContact}},
		"active": true, "patient": map[string]any{"reference": str(subject, "reference")}, "relationship": []any{rel},
		"name":    []any{map[string]any{"given": []any{given}, "family": family}},
		"telecom": []any{map[string]any{"system": "phone", "value": phone}}}
}

// lpaNone is the LPA form's answer that the patient has no lasting power
// of attorney for health and welfare.
const lpaNone = "none"

// lpaChoices are the LPA form's answers: the LPA value set's codes, then
// that there is none.
func lpaChoices() []choice {
	return append(choices(profiles.ValueSetLPAFlag), choice{Value: lpaNone, Display: "No lasting power of attorney for health and welfare"})
}

// lpa is the LPA Flag (UCPLPAFlag) and its attorney (UCPLPAAttorney) the
// LPA form describes, or nils with errs saying what is wrong with each
// field. The attorney's phone is required: a crew rings the attorney
// about decisions the patient cannot make.
func (a *App) lpa(c *gin.Context, subject map[string]any, now string, errs map[string]string) (map[string]any, []map[string]any) {
	lc, ok := chosen(choices(profiles.ValueSetLPAFlag), c.PostForm("lpa"))
	if !ok {
		errs["lpa"] = "Select whether the patient has a lasting power of attorney for health and welfare"
	}
	given, family := strings.TrimSpace(c.PostForm("attorney_given")), strings.TrimSpace(c.PostForm("attorney_family"))
	if given == "" {
		errs["attorney_given"] = "Enter the attorney's first name"
	}
	if family == "" {
		errs["attorney_family"] = "Enter the attorney's last name"
	}
	tel := strings.TrimSpace(c.PostForm("attorney_phone"))
	if !ukPhone(tel) {
		errs["attorney_phone"] = "Enter the attorney's UK phone number, like 07700 900123 or +44 7700 900123"
	}
	where := strings.TrimSpace(c.PostForm("lpa_where"))
	if where == "" {
		errs["lpa_where"] = "Enter where the registered LPA is kept, so a crew can ask to see it"
	}
	if len(errs) > 0 {
		return nil, nil
	}
	rel, _ := chosen(choices(profiles.ValueSetContactRelationship), profiles.SystemV3RoleCode+"|"+profiles.RelationshipHealthcarePOA)
	// As for an ADRT, a Flag has no note: where the document is follows
	// the coded meaning in the concept's text.
	lc["text"] = str(objs(lc, "coding")[0], "display") + ". Where the document is: " + where
	flag := map[string]any{"resourceType": "Flag", "meta": map[string]any{"profile": []any{profiles.ProfileLPAFlag}},
		"status": "active", "code": lc, "subject": subject, "period": map[string]any{"start": now}, "author": me(auth.FromContext(c.Request.Context()))}
	attorney := map[string]any{"resourceType": "RelatedPerson", "meta": map[string]any{"profile": []any{profiles.ProfileLPAAttorney}},
		"active": true, "patient": map[string]any{"reference": str(subject, "reference")}, "relationship": []any{rel},
		"name":    []any{map[string]any{"given": []any{given}, "family": family}},
		"telecom": []any{map[string]any{"system": "phone", "value": tel}}}
	return flag, []map[string]any{attorney}
}

// removable returns the plan's reference to the section ref names when it
// is a key contact (not the LPA's attorney, changed with the LPA) or an
// anticipatory medicine the plan holds now; anything else is refused.
func removable(rd reader, plan map[string]any, ref string) (string, error) {
	wantType, wantID, _ := refParts(ref)
	for _, r := range objs(plan, "supportingInfo") {
		typ, id, _ := refParts(str(r, "reference"))
		if typ != wantType || id != wantID || id == "" {
			continue
		}
		res, _, err := rd.read(typ, id)
		if err != nil {
			return "", err
		}
		switch resource.Type(res) {
		case "MedicationStatement", "MedicationRequest":
			return str(r, "reference"), nil
		case "RelatedPerson":
			if !isAttorney(res) {
				return str(r, "reference"), nil
			}
		}
	}
	if ref, err := planWish(plan, ref); err == nil {
		return ref, nil
	}
	return "", outcome.Errorf(outcome.Invalid, "that is not a key contact, an anticipatory medicine or a wish of this plan; reload the plan and try again")
}

// maxWish is the longest wish the form takes, in bytes: a few paragraphs.
const maxWish = 4000

// planWish returns the plan's reference to the Goal ref names, when the
// plan's goal holds it; anything else is refused.
func planWish(plan map[string]any, ref string) (string, error) {
	wantType, wantID, _ := refParts(ref)
	for _, r := range objs(plan, "goal") {
		typ, id, _ := refParts(str(r, "reference"))
		if typ == "Goal" && typ == wantType && id == wantID && id != "" {
			return str(r, "reference"), nil
		}
	}
	return "", outcome.Errorf(outcome.Invalid, "that is not a wish of this plan; reload the plan and try again")
}

// patientWish is a wish of the patient's as a Goal, as $create-plan
// writes one: expressed by the patient, in their words, with the
// clinician who wrote it down as the note's author.
func patientWish(subject map[string]any, p *auth.Principal, text, now string) map[string]any {
	return map[string]any{"resourceType": "Goal", "lifecycleStatus": "proposed",
		"description": map[string]any{"text": text},
		"subject":     subject, "expressedBy": subject, "startDate": now[:10],
		"note": []any{map[string]any{"authorReference": me(p), "time": now, "text": text}}}
}

// anticipatoryMedicine is the MedicationStatement the medicines form
// describes, or nil with errs saying what is wrong with each field.
func anticipatoryMedicine(c *gin.Context, subject map[string]any, now string, errs map[string]string) map[string]any {
	name := strings.TrimSpace(c.PostForm("medicine"))
	id := strings.TrimSpace(c.PostForm("medicine_code"))
	dose := strings.TrimSpace(c.PostForm("dosage"))
	if name == "" {
		errs["medicine"] = "Enter the medicine, as prescribed"
	}
	// The profile asks for dm+d, which the project holds no value set of:
	// the clinician gives the id from their prescribing system, a SNOMED
	// CT id in form and check digit.
	if !validSCTID(id) {
		errs["medicine_code"] = "Enter the medicine's dm+d id, 6 to 18 digits, as your prescribing system shows it"
	}
	if dose == "" {
		errs["dosage"] = "Enter the dose, route, how often and what for"
	}
	if len(errs) > 0 {
		return nil
	}
	return map[string]any{"resourceType": "MedicationStatement", "meta": map[string]any{"profile": []any{profiles.ProfileAnticipatoryMedication}},
		"status": "active", "subject": subject, "effectiveDateTime": now,
		"medicationCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": profiles.SystemDMD, "code": id, "display": name}}, "text": name},
		"dosage":                    []any{map[string]any{"text": dose}}}
}

// ukPhone reports whether s is a UK phone number: 0 and 9 or 10 more
// digits, or +44 in place of the 0, with spaces, hyphens or brackets
// between. A crew rings it at 3 a.m., so a mistyped digit count is
// caught now.
func ukPhone(s string) bool {
	var d strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			d.WriteRune(r)
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '(' || r == ')':
		default:
			return false
		}
	}
	n := d.String()
	if strings.HasPrefix(s, "+") {
		if !strings.HasPrefix(n, "44") {
			return false
		}
		n = "0" + strings.TrimPrefix(n, "44")
	}
	return len(n) >= 10 && len(n) <= 11 && n[0] == '0' && n[1] != '0'
}

// sameKind reports whether two section resources are the same kind of
// section (so the new one replaces the old).
func sameKind(a, b map[string]any) bool {
	if resource.Type(a) != resource.Type(b) {
		return false
	}
	switch resource.Type(a) {
	case "Flag":
		// An ADRT replaces the ADRT, an LPA the LPA: never one the other.
		return flagKind(a) == flagKind(b)
	case "RelatedPerson":
		// A plan has as many key contacts as the patient needs: a new one
		// is added, not swapped in. The LPA's attorney replaces the
		// attorney.
		return isAttorney(a) && isAttorney(b)
	case "MedicationStatement", "Goal":
		// As many anticipatory medicines, and wishes, as the patient has.
		return false
	case "Observation":
	default:
		return true
	}
	for _, cd := range objs(obj(b, "code"), "coding") {
		if hasCoding(obj(a, "code"), str(cd, "system"), str(cd, "code")) {
			return true
		}
	}
	return false
}

func flagKind(f map[string]any) string {
	switch code := obj(f, "code"); {
	case hasCoding(code, profiles.SystemSNOMED, profiles.CodeADRT, profiles.CodeADRTLifeSustaining):
		return "adrt"
	case hasCoding(code, profiles.SystemSNOMED, profiles.CodeLPA, profiles.CodeLPALifeSustaining):
		return "lpa"
	}
	return "other: " + conceptText(obj(f, "code"))
}

// clinicianOnly keeps the edit forms from other roles. It is not what
// protects a plan: the service's policy refuses their writes whatever page
// they come from.
func clinicianOnly(ctx context.Context) error {
	if p := auth.FromContext(ctx); p == nil || p.Role != auth.RoleClinical {
		return outcome.Errorf(outcome.Forbidden, "only clinicians write and change care plans")
	}
	return nil
}

// validSCTID checks a SNOMED CT concept id: 6 to 18 digits, no leading
// zero, partition 00 or 10 (a concept), and its Verhoeff check digit.
func validSCTID(s string) bool {
	if len(s) < 6 || len(s) > 18 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	if p := s[len(s)-3 : len(s)-1]; p != "00" && p != "10" {
		return false
	}
	c := 0
	for i := 0; i < len(s); i++ {
		c = verhoeffD[c][verhoeffP[i%8][s[len(s)-1-i]-'0']]
	}
	return c == 0
}

// The Verhoeff tables (dihedral group D5).
var (
	verhoeffD = [10][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5}, {2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
		{3, 4, 0, 1, 2, 8, 9, 5, 6, 7}, {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3}, {8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
		{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	verhoeffP = [8][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4}, {5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
		{8, 9, 1, 6, 0, 4, 3, 5, 2, 7}, {9, 4, 5, 3, 1, 2, 7, 6, 8, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
)
