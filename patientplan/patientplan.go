// Package patientplan holds the rules of patient-started plans: a patient
// answers the Questionnaire profiles.QuestionnairePatientPlan as a
// QuestionnaireResponse of their own (saved in progress, then submitted as
// completed), each write of theirs recorded by a Provenance naming them;
// submitting it adds, in the same store write, a Task for their GP practice
// (the practice's action list) and an email job (package notify). What a
// patient writes is kept apart from the clinical record: it is never a
// CarePlan or one of its sections, so nothing they write changes an
// approved plan or reaches urgent care or the NRL until a clinician makes a
// plan from it.
//
// A patient whose NHS login identity is proofed to P5 only may save answers
// but not submit them, nor read anything but their answers, their Tasks and
// the form (Proofing, an authorizer).
//
// A clinician makes a draft plan from submitted answers with
// QuestionnaireResponse/{id}/$create-plan (CreatePlanOperation): each item
// it pre-fills is the target of a Provenance whose entity is the response,
// and the patient's wishes are Goals in their words, never a CPR decision.
// The plan's first approval adds, in its own write, an email job telling
// the patient (when they gave an address); the Completer then completes the
// practice's Task with the plan as output. After approval the patient asks
// for changes with CarePlan/{id}/$ask-for-change (AskForChangeOperation): a
// Task for the practice in their words, and an email to it.
package patientplan

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/notify"
	"ucp/profiles"
	"ucp/store"
)

// ActionSystem is the code system of the Tasks on a practice's action list
// (Task.code).
const ActionSystem = profiles.CodeSystemBaseURL + "patient-plan-action"

// Action codes.
const (
	// ActionReviewSubmission asks the practice to make a plan from a
	// patient's submitted answers.
	ActionReviewSubmission = "review-submission"
	// ActionChangeRequest asks the practice to change a patient's plan,
	// in the patient's words.
	ActionChangeRequest = "change-request"
)

// Store is what the rules read: the patient (for their practice), the
// practice's Task of a plan and the answers it was made from; the
// service's store satisfies it.
type Store interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	Search(ctx context.Context, q store.Query) (*store.Result, error)
}

// Rules is the service.WriteInterceptor of patient-started plans. It runs
// Next (the other domain rules) first.
type Rules struct {
	Next  service.WriteInterceptor
	Store Store
	Now   func() time.Time
}

var _ service.WriteInterceptor = (*Rules)(nil)

func (r *Rules) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// BeforeWrite implements service.WriteInterceptor.
func (r *Rules) BeforeWrite(ctx context.Context, op *service.WriteOp, view service.View) error {
	if err := r.Next.BeforeWrite(ctx, op, view); err != nil {
		return err
	}
	if approvesFromDraft(op) {
		return r.planApproved(ctx, op)
	}
	if op.Type == "Task" && (op.Previous == nil || op.Previous.JSON == nil) && isAction(op.Resource, ActionChangeRequest) {
		r.changeRequested(op)
		return nil
	}
	p := auth.FromContext(ctx)
	if op.Type != "QuestionnaireResponse" || p == nil || p.Role != auth.RolePatient {
		return nil
	}
	if !isPlanAnswers(op.Resource) && (op.Previous == nil || op.Previous.JSON == nil || !isPlanAnswers(parsed(op.Previous))) {
		// Answers to another form go to nobody: the compartment rules
		// (auth.Policy.AuthorizeContent) are all that applies.
		return nil
	}
	return r.patientAnswers(ctx, p, op, view)
}

// Verified reports whether p may see plan content and submit: any caller
// but a patient whose token says their identity is proofed below P9.
func Verified(p *auth.Principal) bool {
	return p == nil || p.Role != auth.RolePatient || p.IdentityProofing == "" || p.IdentityProofing == "P9"
}

// StepUpMessage tells a P5 patient how to go further.
const StepUpMessage = "your NHS login identity is not yet verified to the level needed to see or send your care plan (P9). " +
	"You can save your answers now. To send them to your GP practice, prove who you are in the NHS App or at " +
	"https://access.login.nhs.uk (Settings, then Prove who you are), then sign in again"

// patientAnswers checks a patient's write of their answers and adds what
// goes with it.
func (r *Rules) patientAnswers(ctx context.Context, p *auth.Principal, op *service.WriteOp, view service.View) error {
	res := op.Resource
	var prev map[string]any
	if op.Previous != nil && op.Previous.JSON != nil {
		prev, _ = resource.Parse(op.Previous.JSON)
	}
	if op.Interaction == "delete" || res == nil {
		return outcome.Errorf(outcome.Forbidden, "a patient cannot delete their answers; mark them stopped instead")
	}
	if !isPlanAnswers(res) {
		return outcome.At(outcome.Invalid, "QuestionnaireResponse.questionnaire", "these are answers to %s: they stay so", profiles.QuestionnairePatientPlan)
	}
	if subj := resource.Str(resource.Obj(res, "subject"), "reference"); subj != "Patient/"+p.Patient {
		return outcome.At(outcome.Forbidden, "QuestionnaireResponse.subject", "a patient answers for themselves only: subject must be Patient/%s", p.Patient)
	}
	if a := resource.Str(resource.Obj(res, "author"), "reference"); a != "" && a != "Patient/"+p.Patient {
		return outcome.At(outcome.Forbidden, "QuestionnaireResponse.author", "a patient's answers are their own: author must be Patient/%s or left out", p.Patient)
	}
	status, prevStatus := resource.Str(res, "status"), resource.Str(prev, "status")
	if prev != nil && prevStatus != "in-progress" {
		return outcome.Errorf(outcome.Conflict, "these answers were sent to your GP practice (%s) and can no longer be changed; ask for a change instead", prevStatus)
	}
	switch status {
	case "in-progress":
	case "completed":
		if !Verified(p) {
			return outcome.Errorf(outcome.Forbidden, "%s", StepUpMessage)
		}
	default:
		return outcome.At(outcome.Invalid, "QuestionnaireResponse.status", "a patient saves their answers as in-progress or sends them as completed, not %q", status)
	}
	now := r.now().UTC()
	op.Extra = append(op.Extra, provenance(op, p, now))
	if status != "completed" {
		return nil
	}
	org, err := r.practice(ctx, p.Patient, view)
	if err != nil {
		return err
	}
	task := map[string]any{
		"resourceType": "Task",
		"id":           uuid.NewString(),
		"status":       "requested",
		"intent":       "order",
		"priority":     "routine",
		"code": map[string]any{"coding": []any{map[string]any{"system": ActionSystem, "code": ActionReviewSubmission,
			"display": "Make a care plan from the patient's answers"}}},
		"description": "The patient has sent their care plan questionnaire: create their plan from it.",
		"for":         map[string]any{"reference": "Patient/" + p.Patient},
		"focus":       map[string]any{"reference": "QuestionnaireResponse/" + op.ID},
		"requester":   map[string]any{"reference": "Patient/" + p.Patient},
		"owner":       map[string]any{"reference": org},
		"authoredOn":  resource.FormatInstant(now),
	}
	job := notify.NewJob(notify.KindPlanRequested, p.Patient, org, "Task/"+resource.Str(task, "id"), now)
	job.ID = uuid.NewString()
	op.Extra = append(op.Extra, task, job.Task())
	return nil
}

// isPlanAnswers reports whether res answers QuestionnairePatientPlan.
func isPlanAnswers(res map[string]any) bool {
	return strings.SplitN(resource.Str(res, "questionnaire"), "|", 2)[0] == profiles.QuestionnairePatientPlan
}

func parsed(v *store.Version) map[string]any {
	m, _ := resource.Parse(v.JSON)
	return m
}

// practice is the reference to the patient's GP practice, the first
// Organization in Patient.generalPractitioner.
func (r *Rules) practice(ctx context.Context, patient string, view service.View) (string, error) {
	v, ok := view.Version("Patient", patient)
	if !ok {
		var err error
		if v, err = r.Store.Read(ctx, "Patient", patient); err != nil {
			return "", err
		}
	}
	pt, err := resource.Parse(v.JSON)
	if err != nil {
		return "", err
	}
	for _, g := range resource.List(pt["generalPractitioner"]) {
		ref := resource.ParseReference(resource.Str(g.(map[string]any), "reference"))
		if ref.Type == "Organization" && ref.IsLocal() && ref.ID != "" {
			return "Organization/" + ref.ID, nil
		}
	}
	return "", outcome.Errorf(outcome.Unprocessable,
		"your record names no GP practice (Patient.generalPractitioner), so there is nobody to send your answers to: "+
			"your answers are saved; ask your GP practice to update your record, then send them again")
}

// provenance records that the patient wrote this version of their answers.
func provenance(op *service.WriteOp, p *auth.Principal, now time.Time) map[string]any {
	return map[string]any{
		"resourceType": "Provenance",
		"id":           uuid.NewString(),
		"target":       []any{map[string]any{"reference": fmt.Sprintf("QuestionnaireResponse/%s/_history/%d", op.ID, op.Version)}},
		"recorded":     resource.FormatInstant(now),
		"activity": map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": dataOperation(op), "display": dataOperation(op)}}},
		"agent": []any{map[string]any{
			"type": map[string]any{"coding": []any{map[string]any{
				"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author", "display": "Author"}}},
			"who": map[string]any{"reference": "Patient/" + p.Patient},
		}},
	}
}

func dataOperation(op *service.WriteOp) string {
	if op.Previous == nil || op.Previous.JSON == nil {
		return "CREATE"
	}
	return "UPDATE"
}

// Proofing is the service.Authorizer that holds a patient proofed below P9
// to their answers: they may read and write their QuestionnaireResponses,
// read their Tasks and the form, and nothing else of their record.
type Proofing struct {
	Next service.Authorizer
}

// Authorize implements service.Authorizer.
func (a Proofing) Authorize(ctx context.Context, acc service.Access) error {
	if p := auth.FromContext(ctx); !Verified(p) {
		switch acc.Type {
		case "QuestionnaireResponse", "Questionnaire", "Task":
		default:
			return outcome.Errorf(outcome.Forbidden, "%s", StepUpMessage)
		}
	}
	return a.Next.Authorize(ctx, acc)
}
