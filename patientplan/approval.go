package patientplan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/notify"
	"ucp/profiles"
	"ucp/store"
)

// Principal is the system principal that completes the practice's Tasks
// and records a patient's request for a change; auth.InProcess trusts it
// by identity (cmd/ucp), so no token can carry it.
var Principal = &auth.Principal{Role: auth.RoleAdmin, Subject: "ucp-patient-plans", UserID: "ucp-patient-plans", Name: "ucp patient-started plans"}

// approvesFromDraft reports whether the write is the first approval of a
// plan: careplan has added the approval's Composition, and the plan was a
// draft (a later review or edit of an approved plan is not news to the
// patient).
func approvesFromDraft(op *service.WriteOp) bool {
	if op.Type != "CarePlan" || resource.Str(op.Resource, "status") != "active" {
		return false
	}
	if op.Previous != nil && op.Previous.JSON != nil && resource.Str(parsed(op.Previous), "status") != "draft" {
		return false
	}
	for _, x := range op.Extra {
		if resource.Type(x) == "Composition" {
			return true
		}
	}
	return false
}

// planApproved adds, in the approval's own write, the email telling the
// patient their plan is approved, when the plan was made from answers in
// which they gave an email address.
func (r *Rules) planApproved(ctx context.Context, op *service.WriteOp) error {
	patient := strings.TrimPrefix(resource.Str(resource.Obj(op.Resource, "subject"), "reference"), "Patient/")
	task, err := r.taskOfPlan(ctx, patient, op.ID)
	if err != nil || task == nil {
		return err
	}
	_, qrID, _ := strings.Cut(resource.Str(resource.Obj(task, "focus"), "reference"), "/")
	v, err := r.Store.Read(ctx, "QuestionnaireResponse", qrID)
	if err != nil {
		return err
	}
	email, _ := flatten(resource.List(parsed(v)["item"]))[profiles.QItemEmail].(string)
	if email == "" {
		return nil
	}
	job := notify.NewJob(notify.KindPlanApproved, patient, "mailto:"+email, "CarePlan/"+op.ID, r.now())
	job.ID = uuid.NewString()
	op.Extra = append(op.Extra, job.Task())
	return nil
}

// taskOfPlan is the practice's in-progress Task whose output is the plan,
// nil when the plan was not made from a patient's answers.
func (r *Rules) taskOfPlan(ctx context.Context, patient, plan string) (map[string]any, error) {
	if patient == "" {
		return nil, nil
	}
	res, err := r.Store.Search(ctx, store.Query{
		Types: []string{"Task"},
		Where: []store.Clause{
			{Any: []store.Cond{{Param: "patient", Type: store.Reference, RefType: "Patient", RefID: patient}}},
			{Any: []store.Cond{{Param: "code", Type: store.Token, System: ActionSystem, SystemSet: true, Code: ActionReviewSubmission}}},
			{Any: []store.Cond{{Param: "status", Type: store.Token, Code: "in-progress"}}},
		},
		Count: 50, Total: store.TotalNone,
	})
	if err != nil {
		return nil, err
	}
	for _, v := range res.Versions {
		t := parsed(&v)
		if TaskOutput(t) == "CarePlan/"+plan {
			return t, nil
		}
	}
	return nil, nil
}

// changeRequested adds the practice's email to a new change request.
func (r *Rules) changeRequested(op *service.WriteOp) {
	t := op.Resource
	patient := strings.TrimPrefix(resource.Str(resource.Obj(t, "for"), "reference"), "Patient/")
	org := resource.Str(resource.Obj(t, "owner"), "reference")
	if patient == "" || !strings.HasPrefix(org, "Organization/") {
		return
	}
	job := notify.NewJob(notify.KindChangeRequested, patient, org, "Task/"+op.ID, r.now())
	job.ID = uuid.NewString()
	op.Extra = append(op.Extra, job.Task())
}

// isAction reports whether a Task is on a practice's action list with
// the code.
func isAction(t map[string]any, code string) bool {
	return resource.HasCoding(t["code"], ActionSystem, code)
}

// OperationAskForChange is CarePlan/{id}/$ask-for-change.
const OperationAskForChange = profiles.OperationBaseURL + "CarePlan-ask-for-change"

// maxRequest bounds a patient's request, in characters.
const maxRequest = 2000

// ChangeService is what $ask-for-change needs of the FHIR service: the
// plan read as the caller, and the Task written as Principal.
type ChangeService interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	Transaction(ctx context.Context, entries []*service.Entry) ([]service.EntryResult, error)
}

// AskForChangeOperation returns CarePlan/{id}/$ask-for-change: the patient
// the plan is about asks their GP practice for a change, in their own words
// (parameter text). It writes a Task for the practice (code
// change-request, focus the plan, owner the practice in
// Patient.generalPractitioner, the words as input) and, in the same write,
// the practice's email; it changes nothing of the plan. auth.OperationPolicy
// authorises it as a read of the plan, so only whoever may see the plan may
// ask; the handler then admits patients only, and writes the Task as
// Principal, with the patient as requester, because a patient writes no
// Tasks of their own.
func AskForChangeOperation(svc ChangeService, now func() time.Time) service.Operation {
	if now == nil {
		now = time.Now
	}
	return service.Operation{
		Name:       "ask-for-change",
		Definition: OperationAskForChange,
		Documentation: "The patient asks their GP practice to change their plan, in their own words (parameter text, required): " +
			"a Task on the practice's action list and an email to the practice; the plan is not changed.",
		Instance:     []string{"CarePlan"},
		AffectsState: true,
		Handler: func(ctx context.Context, req *service.OperationRequest) (int, any, error) {
			return askForChange(ctx, svc, req, now().UTC())
		},
	}
}

func askForChange(ctx context.Context, svc ChangeService, req *service.OperationRequest, now time.Time) (int, any, error) {
	p := auth.FromContext(ctx)
	if p == nil || p.Role != auth.RolePatient || p.Patient == "" {
		return 0, nil, outcome.Errorf(outcome.Forbidden, "only the patient asks for a change to their plan; clinicians change it")
	}
	text := strings.TrimSpace(req.String("text"))
	if text == "" {
		text = strings.TrimSpace(req.Query.Get("text"))
	}
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return 0, nil, outcome.At(outcome.Invalid, "Parameters.parameter[text]", "say what you would like changed")
	case n > maxRequest:
		return 0, nil, outcome.At(outcome.Invalid, "Parameters.parameter[text]", "write %d characters or fewer (you wrote %d)", maxRequest, n)
	}
	pv, err := svc.Read(ctx, "CarePlan", req.ID)
	if err != nil {
		return 0, nil, err
	}
	plan, err := resource.Parse(pv.JSON)
	if err != nil {
		return 0, nil, err
	}
	if resource.Str(resource.Obj(plan, "subject"), "reference") != "Patient/"+p.Patient {
		return 0, nil, outcome.Errorf(outcome.Forbidden, "a patient asks for changes to their own plan only")
	}
	ptv, err := svc.Read(ctx, "Patient", p.Patient)
	if err != nil {
		return 0, nil, err
	}
	org := ""
	for _, g := range resource.List(parsed(ptv)["generalPractitioner"]) {
		m, _ := g.(map[string]any)
		if ref := resource.ParseReference(resource.Str(m, "reference")); ref.Type == "Organization" && ref.IsLocal() && ref.ID != "" {
			org = "Organization/" + ref.ID
			break
		}
	}
	if org == "" {
		return 0, nil, outcome.Errorf(outcome.Unprocessable, "your record names no GP practice to send your request to: please contact your practice")
	}
	stamp := resource.FormatInstant(now)
	task := map[string]any{
		"resourceType": "Task", "status": "requested", "intent": "order", "priority": "routine",
		"code": map[string]any{"coding": []any{map[string]any{"system": ActionSystem, "code": ActionChangeRequest,
			"display": "Change the patient's care plan as they ask"}}},
		"description": "The patient asks for a change to their care plan.",
		"for":         map[string]any{"reference": "Patient/" + p.Patient},
		"focus":       map[string]any{"reference": "CarePlan/" + req.ID},
		"requester":   map[string]any{"reference": "Patient/" + p.Patient},
		"owner":       map[string]any{"reference": org},
		"authoredOn":  stamp, "lastModified": stamp,
		"input": []any{map[string]any{"type": map[string]any{"text": "The patient's request, in their words"}, "valueString": text}},
	}
	res, err := svc.Transaction(auth.NewContext(ctx, Principal), number([]*service.Entry{post("Task", "", task)}))
	if err != nil {
		return 0, nil, err
	}
	v := res[0].Version
	if req.ResponseHeader != nil {
		req.ResponseHeader.Set("Location", "Task/"+v.ID+"/_history/"+strconv.FormatInt(v.VersionID, 10))
	}
	return http.StatusCreated, v.JSON, nil
}

// CompleterService is what the Completer needs of the FHIR service, as
// Principal: the practice's Tasks and their plans, and the write that
// completes a Task.
type CompleterService interface {
	Find(ctx context.Context, typ, query string, limit int) ([]store.Version, error)
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	VRead(ctx context.Context, typ, id string, vid int64) (*store.Version, error)
	Write(ctx context.Context, w *service.Write) (*service.Result, error)
}

// Completer completes the practice's Task of a submission once the plan
// made from it is approved, with the plan as its output. It cannot be done
// in the approval's own write: a write rule may add new resources to a
// write (WriteOp.Extra) but not new versions of existing ones. The state
// it acts on is in the store (an in-progress Task whose output plan is
// active), so a pass after a crash finishes what one before it did not.
type Completer struct {
	Service CompleterService
	Now     func() time.Time
	Logger  *slog.Logger
}

// Pass completes every Task whose plan has been approved, and returns how
// many it completed.
func (c *Completer) Pass(ctx context.Context) (int, error) {
	ctx = auth.NewContext(ctx, Principal)
	q := url.Values{"code": {ActionSystem + "|" + ActionReviewSubmission}, "status": {"in-progress"}}.Encode()
	tasks, err := c.Service.Find(ctx, "Task", q, 500)
	if err != nil {
		return 0, err
	}
	done := 0
	var errs []error
	for _, tv := range tasks {
		ok, err := c.complete(ctx, tv)
		if err != nil {
			errs = append(errs, fmt.Errorf("practice task %s: %w", tv.ID, err))
		}
		if ok {
			done++
		}
	}
	return done, errors.Join(errs...)
}

func (c *Completer) complete(ctx context.Context, tv store.Version) (bool, error) {
	task := parsed(&tv)
	typ, id, _ := strings.Cut(TaskOutput(task), "/")
	if typ != "CarePlan" {
		return false, nil
	}
	pv, err := c.Service.Read(ctx, "CarePlan", id)
	if err != nil {
		if k := outcome.KindOf(err); k == outcome.NotFound || k == outcome.Gone {
			return false, nil
		}
		return false, err
	}
	if resource.Str(parsed(pv), "status") != "active" {
		return false, nil
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	stamp := resource.FormatInstant(now().UTC())
	delete(task, "meta")
	task["status"] = "completed"
	task["lastModified"] = stamp
	period, _ := task["executionPeriod"].(map[string]any)
	if period == nil {
		period = map[string]any{}
	}
	// The approval's time, when the plan's current run of active versions
	// began, is what "days from submission to approval" counts.
	period["end"] = c.approvedAt(ctx, pv)
	task["executionPeriod"] = period
	task["output"] = []any{map[string]any{"type": map[string]any{"text": "care plan"},
		"valueReference": map[string]any{"reference": "CarePlan/" + id}}}
	_, err = c.Service.Write(ctx, &service.Write{Interaction: "update", Method: http.MethodPut, Type: "Task", ID: tv.ID, Resource: task, IfMatch: tv.VersionID})
	if outcome.KindOf(err) == outcome.PreconditionFailed || outcome.KindOf(err) == outcome.Conflict {
		return false, nil // another node completed it first
	}
	return err == nil, err
}

// approvedAt is the lastUpdated of the earliest version in the plan's
// current run of active versions (a plan has a handful of versions).
func (c *Completer) approvedAt(ctx context.Context, cur *store.Version) string {
	at := resource.Str(resource.Obj(parsed(cur), "meta"), "lastUpdated")
	for vid := cur.VersionID - 1; vid > 0; vid-- {
		v, err := c.Service.VRead(ctx, "CarePlan", cur.ID, vid)
		if err != nil || v.JSON == nil || resource.Str(parsed(v), "status") != "active" {
			break
		}
		at = resource.Str(resource.Obj(parsed(v), "meta"), "lastUpdated")
	}
	return at
}

// Run makes a pass every interval until ctx ends.
func (c *Completer) Run(ctx context.Context, every time.Duration) {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "patient plans: completing practice Tasks", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
