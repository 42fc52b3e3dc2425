package patientplan

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

// OperationCreatePlan is QuestionnaireResponse/{id}/$create-plan.
const OperationCreatePlan = profiles.OperationBaseURL + "QuestionnaireResponse-create-plan"

// PlanService is what $create-plan needs of the FHIR service: reads and
// searches as the caller, and transactions, each entry authorised and run
// through the care-plan rules. *service.Service satisfies it.
type PlanService interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	Find(ctx context.Context, typ, query string, limit int) ([]store.Version, error)
	Transaction(ctx context.Context, entries []*service.Entry) ([]service.EntryResult, error)
}

// CreatePlanOperation returns QuestionnaireResponse/{id}/$create-plan: a
// draft plan pre-filled from a patient's submitted answers, through svc as
// the caller (the API's service, so the policy, the care-plan rules and the
// audit apply to every write).
//
// What it writes, in two transactions (the care-plan rules read a plan's
// sections and consent from the store, so they must be stored before the
// plan that references them):
//
//  1. the consent to share when the parameter consent gives it; the
//     patient's preferred places of care and of death as UCPPreferredPlace
//     Observations (the project codes preferred places as Observations,
//     with the patient's reason as a note in their words and derivedFrom
//     the response); their contacts as UCPKeyContact RelatedPersons; what
//     matters to them, their wishes about resuscitation and who they want
//     involved as Goals expressed by the patient, in their own words (a
//     wish is never the clinical CPR decision, which only a clinician
//     records); and one Provenance whose targets are these items, whose
//     entity (role source) is the response's version and whose agents are
//     the clinician (author) and the patient (informant): that is the mark
//     that each item came from the patient;
//     and the practice's Task claimed (accepted, with If-Match), so of two
//     calls at once only one writes these;
//  2. the draft CarePlan (category from the parameter category) referencing
//     them (supportingInfo, goal), and the practice's Task moved to
//     in-progress with the draft as its output.
//
// A response not yet submitted, or one a plan was already made from, is
// refused, so a second click does not make a second plan.
func CreatePlanOperation(svc PlanService, now func() time.Time) service.Operation {
	if now == nil {
		now = time.Now
	}
	return service.Operation{
		Name:       "create-plan",
		Definition: OperationCreatePlan,
		Documentation: "Makes a draft urgent care plan from a patient's submitted answers to " + profiles.QuestionnairePatientPlan +
			": preferred places as UCPPreferredPlace Observations, contacts as UCPKeyContact RelatedPersons, wishes as Goals in the patient's words, " +
			"each marked by a Provenance whose entity is the response; the practice's Task becomes in-progress with the plan as output. " +
			"Parameters: category (Coding from the care-plan-type value set, required), consent (Coding from consent-to-share, to record the patient's consent to share).",
		Instance:     []string{"QuestionnaireResponse"},
		AffectsState: true,
		Handler: func(ctx context.Context, req *service.OperationRequest) (int, any, error) {
			return createPlan(ctx, svc, req, now().UTC())
		},
	}
}

// codingParam reads a Coding parameter, given as valueCoding or as a
// system|code string.
func codingParam(req *service.OperationRequest, name string) (system, code string) {
	for _, p := range req.Param(name) {
		if c := resource.Obj(p, "valueCoding"); c != nil {
			return resource.Str(c, "system"), resource.Str(c, "code")
		}
		for _, k := range []string{"valueString", "valueCode"} {
			if s := resource.Str(p, k); s != "" {
				system, code, _ = strings.Cut(s, "|")
				return system, code
			}
		}
	}
	if s := req.Query.Get(name); s != "" {
		system, code, _ = strings.Cut(s, "|")
	}
	return system, code
}

// concept finds system|code in the ValueSet url and returns it as a
// CodeableConcept with its display.
func concept(url, system, code string) (map[string]any, bool) {
	for _, vs := range profiles.ValueSets() {
		if resource.Str(vs, "url") != url {
			continue
		}
		for _, x := range resource.List(resource.Obj(vs, "compose")["include"]) {
			inc, _ := x.(map[string]any)
			if resource.Str(inc, "system") != system {
				continue
			}
			for _, y := range resource.List(inc["concept"]) {
				c, _ := y.(map[string]any)
				if resource.Str(c, "code") == code {
					return map[string]any{"coding": []any{map[string]any{"system": system, "code": code, "display": resource.Str(c, "display")}}}, true
				}
			}
		}
	}
	return nil, false
}

// prefill is what the answers pre-fill.
type prefill struct {
	places, contacts, goals []*service.Entry
}

func createPlan(ctx context.Context, svc PlanService, req *service.OperationRequest, now time.Time) (int, any, error) {
	p := auth.FromContext(ctx)
	if p == nil {
		return 0, nil, outcome.Errorf(outcome.Unauthenticated, "sign in to make a plan")
	}
	typ, ok := concept(profiles.ValueSetCarePlanType, "", "")
	if sys, code := codingParam(req, "category"); sys != "" || code != "" {
		typ, ok = concept(profiles.ValueSetCarePlanType, sys, code)
	}
	if !ok {
		return 0, nil, outcome.At(outcome.Invalid, "Parameters.parameter[category]", "give the plan's category, a Coding from %s", profiles.ValueSetCarePlanType)
	}
	var consent map[string]any
	if sys, code := codingParam(req, "consent"); sys != "" || code != "" {
		if code == profiles.CodeConsentWithdrawn {
			return 0, nil, outcome.At(outcome.Invalid, "Parameters.parameter[consent]", "a withdrawal of consent cannot start a plan")
		}
		if consent, ok = concept(profiles.ValueSetConsentToShare, sys, code); !ok {
			return 0, nil, outcome.At(outcome.Invalid, "Parameters.parameter[consent]", "consent must be a Coding from %s", profiles.ValueSetConsentToShare)
		}
	}
	qv, err := svc.Read(ctx, "QuestionnaireResponse", req.ID)
	if err != nil {
		return 0, nil, err
	}
	qr, err := resource.Parse(qv.JSON)
	if err != nil {
		return 0, nil, err
	}
	if !isPlanAnswers(qr) {
		return 0, nil, outcome.Errorf(outcome.Unprocessable, "QuestionnaireResponse/%s does not answer %s", req.ID, profiles.QuestionnairePatientPlan)
	}
	if s := resource.Str(qr, "status"); s != "completed" {
		return 0, nil, outcome.Errorf(outcome.Conflict, "the patient has not sent these answers yet (status %s): a plan is made from sent answers only", s)
	}
	patient := strings.TrimPrefix(resource.Str(resource.Obj(qr, "subject"), "reference"), "Patient/")
	if patient == "" || strings.Contains(patient, "/") {
		return 0, nil, outcome.Errorf(outcome.Unprocessable, "QuestionnaireResponse/%s names no patient", req.ID)
	}
	tasks, err := svc.Find(ctx, "Task", url.Values{"focus": {"QuestionnaireResponse/" + req.ID}, "code": {ActionSystem + "|" + ActionReviewSubmission}}.Encode(), 2)
	if err != nil {
		return 0, nil, err
	}
	if len(tasks) != 1 {
		return 0, nil, outcome.Errorf(outcome.Unprocessable, "QuestionnaireResponse/%s has no practice Task (%d found)", req.ID, len(tasks))
	}
	tv := tasks[0]
	task, err := resource.Parse(tv.JSON)
	if err != nil {
		return 0, nil, err
	}
	switch st := resource.Str(task, "status"); {
	case TaskOutput(task) != "":
		return 0, nil, outcome.Errorf(outcome.Conflict, "a plan has already been made from these answers (%s)", TaskOutput(task))
	case st != "requested" && st != "received" && st != "accepted":
		return 0, nil, outcome.Errorf(outcome.Conflict, "the practice's Task for these answers is %s: no plan is made from it", st)
	}
	if consent == nil {
		// The plan needs the patient's consent to share (careplan refuses it
		// otherwise); asked first, so a refusal writes none of the
		// pre-filled items, which are stored before the plan.
		found, err := svc.Find(ctx, "Consent", url.Values{"patient": {"Patient/" + patient}, "status": {"active"}}.Encode(), 1)
		if err != nil {
			return 0, nil, err
		}
		if len(found) == 0 {
			return 0, nil, outcome.At(outcome.Unprocessable, "Parameters.parameter[consent]",
				"Patient/%s has no consent to share on record: give the consent parameter", patient)
		}
	}

	stamp := resource.FormatInstant(now)
	subject := map[string]any{"reference": "Patient/" + patient}
	source := "QuestionnaireResponse/" + req.ID + "/_history/" + strconv.FormatInt(qv.VersionID, 10)
	pf := answersToPlan(qr, subject, source, stamp)

	var first []*service.Entry
	if consent != nil {
		first = append(first, post("Consent", "", map[string]any{
			"resourceType": "Consent", "meta": map[string]any{"profile": []any{profiles.ProfileConsent}}, "status": "active",
			"scope":    map[string]any{"coding": []any{map[string]any{"system": profiles.SystemConsentScope, "code": "patient-privacy"}}},
			"category": []any{consent}, "patient": subject, "dateTime": stamp, "performer": []any{clinicianRef(p)},
			"policyRule": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN", "display": "opt-in"}}},
			"provision":  map[string]any{"type": "permit"},
		}))
	}
	items := append(append(append([]*service.Entry{}, pf.places...), pf.contacts...), pf.goals...)
	first = append(first, items...)
	if len(items) > 0 {
		var targets []any
		for _, e := range items {
			targets = append(targets, map[string]any{"reference": e.FullURL})
		}
		first = append(first, post("Provenance", "", map[string]any{
			"resourceType": "Provenance", "target": targets, "recorded": stamp,
			"activity": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": "CREATE", "display": "create"}},
				"text": "Pre-filled from the patient's own answers"},
			"agent": []any{
				map[string]any{"type": participant("author", "Author"), "who": clinicianRef(p)},
				map[string]any{"type": participant("informant", "Informant"), "who": subject},
			},
			"entity": []any{map[string]any{"role": "source", "what": map[string]any{"reference": source}}},
		}))
	}
	// The first write also claims the Task (accepted, If-Match), so of two
	// clicks at once only one writes the pre-filled items.
	delete(task, "meta")
	claim := make(map[string]any, len(task))
	for k, v := range task {
		claim[k] = v
	}
	claim["status"] = "accepted"
	claim["lastModified"] = stamp
	claimEntry := &service.Entry{Method: http.MethodPut, Type: "Task", ID: tv.ID, Path: "Task/" + tv.ID, Resource: claim, IfMatch: tv.VersionID}
	first = append(first, claimEntry)
	refs := map[string][]any{}
	var claimed int64
	{
		res, err := svc.Transaction(ctx, number(first))
		if err != nil {
			return 0, nil, err
		}
		for i, e := range first {
			if e == claimEntry && res[i].Version != nil {
				claimed = res[i].Version.VersionID
			}
			v := res[i].Version
			if v == nil {
				continue
			}
			ref := map[string]any{"reference": v.Type + "/" + v.ID}
			switch {
			case containsEntry(pf.goals, e):
				refs["goal"] = append(refs["goal"], ref)
			case containsEntry(pf.places, e), containsEntry(pf.contacts, e):
				refs["supportingInfo"] = append(refs["supportingInfo"], ref)
			}
		}
	}
	planURN := "urn:uuid:" + uuid.NewString()
	plan := map[string]any{
		"resourceType": "CarePlan", "meta": map[string]any{"profile": []any{profiles.ProfileCarePlan}}, "status": "draft",
		"intent": "plan", "category": []any{typ}, "title": "Urgent care plan", "subject": subject,
		"period": map[string]any{"start": stamp}, "created": stamp, "author": clinicianRef(p),
		"description": "Started from the patient's own answers (QuestionnaireResponse/" + req.ID + "); the clinical sections are the clinician's to complete.",
	}
	for k, v := range refs {
		plan[k] = v
	}
	task["status"] = "in-progress"
	task["lastModified"] = stamp
	task["output"] = []any{map[string]any{"type": map[string]any{"text": "care plan"}, "valueReference": map[string]any{"reference": planURN}}}
	task["executionPeriod"] = map[string]any{"start": stamp}
	second := number([]*service.Entry{
		post("CarePlan", planURN, plan),
		{Method: http.MethodPut, Type: "Task", ID: tv.ID, Path: "Task/" + tv.ID, Resource: task, IfMatch: claimed},
	})
	res, err := svc.Transaction(ctx, second)
	if err != nil {
		return 0, nil, err
	}
	pv := res[0].Version
	if req.ResponseHeader != nil {
		req.ResponseHeader.Set("Location", "CarePlan/"+pv.ID+"/_history/"+strconv.FormatInt(pv.VersionID, 10))
	}
	return http.StatusCreated, pv.JSON, nil
}

// TaskOutput is the plan a practice Task's output names, "" for none.
func TaskOutput(task map[string]any) string {
	for _, x := range resource.List(task["output"]) {
		o, _ := x.(map[string]any)
		if ref := resource.Str(resource.Obj(o, "valueReference"), "reference"); ref != "" {
			return ref
		}
	}
	return ""
}

func containsEntry(es []*service.Entry, e *service.Entry) bool {
	for _, x := range es {
		if x == e {
			return true
		}
	}
	return false
}

func number(es []*service.Entry) []*service.Entry {
	for i, e := range es {
		e.Index = i
		e.URL = e.Path
	}
	return es
}

func post(typ, fullURL string, res map[string]any) *service.Entry {
	if fullURL == "" {
		fullURL = "urn:uuid:" + uuid.NewString()
	}
	return &service.Entry{Method: http.MethodPost, Type: typ, Path: typ, FullURL: fullURL, Resource: res}
}

func participant(code, display string) map[string]any {
	return map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": code, "display": display}}}
}

// clinicianRef is the caller as a Reference: their fhirUser when it is
// local, and their name.
func clinicianRef(p *auth.Principal) map[string]any {
	r := map[string]any{"display": p.Name}
	if p.FHIRUser != "" && !strings.Contains(p.FHIRUser, "://") {
		r["reference"] = p.FHIRUser
	}
	if p.Name == "" {
		r["display"] = "Clinician " + p.UserID
	}
	return r
}

// answersToPlan turns the answers into the plan's pre-filled items.
func answersToPlan(qr, subject map[string]any, source, stamp string) *prefill {
	pf := &prefill{}
	top := flatten(resource.List(qr["item"]))
	place := func(question, detail, reason, code, display string, rank int) {
		cd, ok := top[question].(map[string]any)
		if !ok {
			return
		}
		value, ok := concept(profiles.ValueSetPreferredPlace, resource.Str(cd, "system"), resource.Str(cd, "code"))
		if !ok {
			return
		}
		obs := map[string]any{"resourceType": "Observation", "meta": map[string]any{"profile": []any{profiles.ProfilePreferredPlace}},
			"status":   "final",
			"category": []any{map[string]any{"coding": []any{map[string]any{"system": profiles.SystemObservationCategory, "code": "social-history"}}}},
			"code":     map[string]any{"coding": []any{map[string]any{"system": profiles.SystemUCP, "code": code, "display": display}}},
			"subject":  subject, "effectiveDateTime": stamp, "valueCodeableConcept": value,
			"derivedFrom": []any{map[string]any{"reference": source}},
			"component": []any{map[string]any{"code": map[string]any{"coding": []any{map[string]any{"system": profiles.SystemUCP, "code": profiles.CodePreferenceRank, "display": "Preference rank"}}},
				"valueInteger": json.Number(strconv.Itoa(rank))}},
		}
		if d, _ := top[detail].(string); d != "" {
			obs["component"] = append(obs["component"].([]any), map[string]any{"code": map[string]any{"coding": []any{map[string]any{"system": profiles.SystemUCP, "code": profiles.CodePlaceDetail, "display": "Named place"}}},
				"valueString": d})
		}
		if r, _ := top[reason].(string); r != "" {
			obs["note"] = []any{map[string]any{"authorReference": subject, "text": r}}
		}
		pf.places = append(pf.places, post("Observation", "", obs))
	}
	place(profiles.QItemPlaceOfCare, profiles.QItemPlaceOfCareDetail, profiles.QItemPlaceOfCareReason, profiles.CodePreferredPlaceOfCare, "Preferred place of care", 1)
	place(profiles.QItemPlaceOfDeath, profiles.QItemPlaceOfDeathDetail, profiles.QItemPlaceOfDeathReason, profiles.CodePreferredPlaceOfDeath, "Preferred place of death", 1)

	for _, c := range contactGroups(resource.List(qr["item"])) {
		name, _ := c[profiles.QItemContactName].(string)
		if name == "" {
			continue
		}
		rp := map[string]any{"resourceType": "RelatedPerson", "meta": map[string]any{"profile": []any{profiles.ProfileKeyContact}},
			"active": true, "patient": subject, "name": []any{map[string]any{"text": name}}}
		if cd, ok := c[profiles.QItemContactRelation].(map[string]any); ok {
			if rel, ok := concept(profiles.ValueSetContactRelationship, resource.Str(cd, "system"), resource.Str(cd, "code")); ok {
				rp["relationship"] = []any{rel}
			}
		}
		if ph, _ := c[profiles.QItemContactPhone].(string); ph != "" {
			rp["telecom"] = []any{map[string]any{"system": "phone", "value": ph}}
		}
		if rp["relationship"] == nil || rp["telecom"] == nil {
			// A key contact has a relationship and a phone number (ucp-kc-1);
			// without them the patient's contact is kept as a plain
			// RelatedPerson for the clinician to complete.
			delete(rp, "meta")
		}
		pf.contacts = append(pf.contacts, post("RelatedPerson", "", rp))
	}

	wish := func(question, prefix string) {
		text, _ := top[question].(string)
		if text == "" {
			return
		}
		pf.goals = append(pf.goals, post("Goal", "", map[string]any{"resourceType": "Goal",
			"lifecycleStatus": "proposed",
			"description":     map[string]any{"text": prefix + text},
			"subject":         subject, "expressedBy": subject, "startDate": stamp[:10],
			"note": []any{map[string]any{"authorReference": subject, "text": text}},
		}))
	}
	wish(profiles.QItemWhatMatters, "What matters to me: ")
	// The patient's wish about resuscitation, in their words: never an
	// Observation of the CPR decision, which a clinician makes and records.
	wish(profiles.QItemResuscitation, "My wishes about resuscitation, in my own words: ")
	wish(QItemInvolved, "Who I want involved in decisions: ")
	return pf
}

// QItemInvolved is the question of who the patient wants involved in
// decisions about their care.
const QItemInvolved = "ahead.involved"

// flatten maps each answered linkId outside repeating groups to its first
// answer's value (a string, a bool or a Coding map).
func flatten(items []any) map[string]any {
	out := map[string]any{}
	var walk func([]any)
	walk = func(items []any) {
		for _, x := range items {
			it, _ := x.(map[string]any)
			id := resource.Str(it, "linkId")
			if id == profiles.QItemContact {
				continue
			}
			if v, ok := firstAnswer(it); ok {
				out[id] = v
			}
			walk(resource.List(it["item"]))
		}
	}
	walk(items)
	return out
}

// contactGroups returns each repeated contact group's answers.
func contactGroups(items []any) []map[string]any {
	var out []map[string]any
	var walk func([]any)
	walk = func(items []any) {
		for _, x := range items {
			it, _ := x.(map[string]any)
			if resource.Str(it, "linkId") == profiles.QItemContact {
				c := map[string]any{}
				for _, y := range resource.List(it["item"]) {
					sub, _ := y.(map[string]any)
					if v, ok := firstAnswer(sub); ok {
						c[resource.Str(sub, "linkId")] = v
					}
				}
				out = append(out, c)
				continue
			}
			walk(resource.List(it["item"]))
		}
	}
	walk(items)
	return out
}

func firstAnswer(it map[string]any) (any, bool) {
	for _, x := range resource.List(it["answer"]) {
		a, _ := x.(map[string]any)
		for _, k := range []string{"valueString", "valueBoolean", "valueCoding"} {
			if v, ok := a[k]; ok {
				return v, true
			}
		}
	}
	return nil, false
}
