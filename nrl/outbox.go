package nrl

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"ucp/auth"
	"ucp/careplan"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/outbox"
	"ucp/profiles"
	"ucp/store"
)

// JobSystem is the code system of the outbox jobs' Task.code.
const JobSystem = profiles.CodeSystemBaseURL + "nrl-job"

// Job kinds (Task.code).
const (
	// KindPublish creates the pointer to an approved plan version, or
	// supersedes the pointer to the plan's earlier version.
	KindPublish = "publish"
	// KindRemove deletes the pointers to one plan (revoked, completed,
	// entered-in-error).
	KindRemove = "remove"
	// KindRemovePatient deletes every pointer of a patient (consent
	// withdrawn, patient deceased).
	KindRemovePatient = "remove-patient"
)

// Extensions on a job's Task holding the publisher's state.
const (
	extAttempts = profiles.BaseURL + "nrl-job-attempts"
	extNext     = profiles.BaseURL + "nrl-job-next-attempt"
	extLease    = profiles.BaseURL + "nrl-job-lease"
)

func jobExt() outbox.Ext { return outbox.Ext{Attempts: extAttempts, Next: extNext, Lease: extLease} }

// Principal is the system principal the publisher acts as.
var Principal = &auth.Principal{Role: auth.RoleAdmin, Subject: "ucp-nrl-publisher", UserID: "ucp-nrl-publisher", Name: "ucp NRL publisher"}

// Store is what the outbox reads: the patient of a plan (for the NHS
// number); store.Store satisfies it.
type Store interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
}

// Outbox is the service.WriteInterceptor that adds NRL jobs to the writes
// that change what NRL should point to. It runs Next first, so that a job
// is only added to a write the domain rules accept, and sees the
// Composition the approval added.
type Outbox struct {
	Next    service.WriteInterceptor
	Store   Store
	Pointer PointerConfig
	Now     func() time.Time
}

var _ service.WriteInterceptor = (*Outbox)(nil)

// BeforeWrite implements service.WriteInterceptor.
func (o *Outbox) BeforeWrite(ctx context.Context, op *service.WriteOp, view service.View) error {
	if err := (JobGuard{Next: o.Next}).BeforeWrite(ctx, op, view); err != nil {
		return err
	}
	var prev map[string]any
	if op.Previous != nil && op.Previous.JSON != nil {
		var err error
		if prev, err = resource.Parse(op.Previous.JSON); err != nil {
			return fmt.Errorf("nrl: parsing stored %s/%s: %w", op.Type, op.ID, err)
		}
	}
	var job *Job
	var err error
	switch op.Type {
	case "CarePlan":
		job, err = o.planJob(ctx, op, prev, view)
	case "Consent":
		job, err = o.consentJob(ctx, op, view)
	case "Patient":
		job = o.deathJob(op, prev)
	}
	if err != nil || job == nil {
		return err
	}
	op.Extra = append(op.Extra, job.Task())
	return nil
}

// JobGuard is the service.WriteInterceptor that keeps the outbox's jobs to
// the publisher: a job is a request sent to NRL under the service's ODS
// code, so a client (a clinician may write Tasks) must not be able to
// write, change or delete one. Outbox includes it; with publishing off it is
// wired alone, so that no job forged meanwhile is sent once it is on.
type JobGuard struct {
	Next service.WriteInterceptor
}

// BeforeWrite implements service.WriteInterceptor.
func (g JobGuard) BeforeWrite(ctx context.Context, op *service.WriteOp, view service.View) error {
	if op.Type == "Task" && (isJob(op.Resource) || (op.Previous != nil && isJob(parsed(op.Previous)))) {
		// The publisher's own principal value, not one that looks like
		// it: no token can carry this pointer.
		if auth.FromContext(ctx) != Principal {
			return outcome.Errorf(outcome.Forbidden, "Task/%s is an NRL outbox job (%s): only the NRL publisher writes them", op.ID, JobSystem)
		}
	}
	return g.Next.BeforeWrite(ctx, op, view)
}

func isJob(task map[string]any) bool {
	_, ok := outbox.Kind(task, JobSystem)
	return ok
}

// parsed is a stored version's resource; nil for a deletion or bad JSON
// (which the store never holds).
func parsed(v *store.Version) map[string]any {
	if v.JSON == nil {
		return nil
	}
	m, _ := resource.Parse(v.JSON)
	return m
}

// requested is the state of a new job, written at now.
func requested(now time.Time) outbox.State {
	return outbox.State{Status: outbox.Requested, Authored: now.UTC()}
}

func (o *Outbox) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// planJob is the job of a plan write: publish on approval, remove when it
// stops being shared.
func (o *Outbox) planJob(ctx context.Context, op *service.WriteOp, prev map[string]any, view service.View) (*Job, error) {
	res := op.Resource
	if !careplan.IsUrgentCarePlan(res) && !careplan.IsUrgentCarePlan(prev) {
		return nil, nil
	}
	status, prevStatus := resource.Str(res, "status"), resource.Str(prev, "status")
	patient := refID(subjectRef(res), "Patient")
	if patient == "" {
		patient = refID(subjectRef(prev), "Patient")
	}
	nhs, err := o.nhsNumber(ctx, view, patient)
	if err != nil || nhs == "" {
		return nil, err
	}
	job := &Job{Patient: patient, NHSNumber: nhs, PlanID: op.ID, PlanVersion: op.Version, State: requested(o.now())}
	switch {
	case status == "active":
		comp := ""
		for _, x := range op.Extra {
			if resource.Str(x, "resourceType") == "Composition" {
				comp = resource.Str(x, "id")
			}
		}
		if comp == "" {
			return nil, nil // not an approval (the rules refused to prepare one)
		}
		job.Kind = KindPublish
		job.Pointer = Build(o.Pointer, PlanVersion{
			PlanID: op.ID, Version: op.Version, NHSNumber: nhs, Type: planType(res),
			Composition: comp, Approved: resource.FormatInstant(job.Authored),
		})
	case prev != nil && status != prevStatus && (status == "revoked" || status == "completed" || status == "entered-in-error"):
		job.Kind = KindRemove
	default:
		return nil, nil
	}
	return job, nil
}

// consentJob removes every pointer of a patient whose consent to share is
// withdrawn.
func (o *Outbox) consentJob(ctx context.Context, op *service.WriteOp, view service.View) (*Job, error) {
	res := op.Resource
	if resource.Str(res, "status") != "active" {
		return nil, nil
	}
	withdrawn := resource.Str(resource.Obj(res, "provision"), "type") == "deny"
	for _, c := range resource.List(res["category"]) {
		if resource.HasCoding(c, profiles.SystemSNOMED, profiles.CodeConsentWithdrawn) {
			withdrawn = true
		}
	}
	if !withdrawn {
		return nil, nil
	}
	patient := refID(resource.Str(resource.Obj(res, "patient"), "reference"), "Patient")
	nhs, err := o.nhsNumber(ctx, view, patient)
	if err != nil || nhs == "" {
		return nil, err
	}
	return &Job{Kind: KindRemovePatient, Patient: patient, NHSNumber: nhs, State: requested(o.now()),
		Reason: "consent to share withdrawn (Consent/" + op.ID + ")"}, nil
}

// deathJob removes every pointer of a patient recorded as deceased.
func (o *Outbox) deathJob(op *service.WriteOp, prev map[string]any) *Job {
	if !deceased(op.Resource) || deceased(prev) {
		return nil
	}
	nhs := nhsNumberOf(op.Resource)
	if nhs == "" {
		return nil
	}
	return &Job{Kind: KindRemovePatient, Patient: op.ID, NHSNumber: nhs, State: requested(o.now()), Reason: "patient deceased"}
}

func deceased(res map[string]any) bool {
	if res == nil {
		return false
	}
	b, _ := res["deceasedBoolean"].(bool)
	return b || resource.Str(res, "deceasedDateTime") != ""
}

// nhsNumber is the NHS number of a patient, from the writes pending in the
// same transaction or the store; "" when the patient has none (nothing can
// be published for them).
func (o *Outbox) nhsNumber(ctx context.Context, view service.View, patient string) (string, error) {
	if patient == "" {
		return "", nil
	}
	v, ok := view.Version("Patient", patient)
	if !ok {
		var err error
		v, err = o.Store.Read(ctx, "Patient", patient)
		if err != nil {
			if k := outcome.KindOf(err); k == outcome.NotFound || k == outcome.Gone {
				return "", nil
			}
			return "", err
		}
	}
	if v == nil || v.JSON == nil {
		return "", nil
	}
	res, err := resource.Parse(v.JSON)
	if err != nil {
		return "", err
	}
	return nhsNumberOf(res), nil
}

func nhsNumberOf(res map[string]any) string {
	for _, id := range resource.List(res["identifier"]) {
		m, _ := id.(map[string]any)
		if resource.Str(m, "system") == profiles.SystemNHSNumber {
			return resource.Str(m, "value")
		}
	}
	return ""
}

// planType is the pointer type of a plan: Advance care plan or ReSPECT when
// its category says so, else End of life care plan.
func planType(res map[string]any) string {
	for _, c := range resource.List(res["category"]) {
		switch {
		case resource.HasCoding(c, profiles.SystemSNOMED, profiles.CodeReSPECTForm):
			return profiles.CodeReSPECTForm
		case resource.HasCoding(c, profiles.SystemSNOMED, profiles.CodeAdvanceCarePlan):
			return profiles.CodeAdvanceCarePlan
		}
	}
	return profiles.CodeEndOfLifeCarePlan
}

// Job is one outbox job, stored as a Task.
type Job struct {
	ID      string // the Task's id ("" before it is stored)
	Version int64  // the Task's version, for If-Match
	Kind    string
	// Patient is the patient's id: jobs of one patient are sent in order.
	Patient     string
	NHSNumber   string
	PlanID      string
	PlanVersion int64
	// Pointer is the exact pointer a publish job sends (relatesTo is added
	// when it supersedes).
	Pointer *Pointer
	Reason  string // why a removal was asked for
	// PointerID is the pointer id a publish made.
	PointerID string
	// Note says why a finished job sent nothing (it was overtaken).
	Note string
	// State is the job's delivery state: status (Task.status), when it
	// was written, attempts, next attempt, lease, what went wrong last.
	outbox.State
}

// Task returns the job as a FHIR Task.
func (j *Job) Task() map[string]any {
	t := map[string]any{
		"resourceType": "Task",
		"intent":       "order",
		"code":         map[string]any{"coding": []any{map[string]any{"system": JobSystem, "code": j.Kind}}},
		"for":          map[string]any{"reference": "Patient/" + j.Patient},
	}
	if j.ID != "" {
		t["id"] = j.ID
	}
	if j.PlanID != "" {
		t["focus"] = map[string]any{"reference": fmt.Sprintf("CarePlan/%s/_history/%d", j.PlanID, j.PlanVersion)}
	}
	in := []any{input("nhs-number", j.NHSNumber)}
	if j.Pointer != nil {
		b, err := json.Marshal(j.Pointer)
		if err != nil {
			panic(err) // a Pointer always marshals
		}
		in = append(in, input("request", string(b)))
	}
	if j.Reason != "" {
		in = append(in, input("reason", j.Reason))
	}
	t["input"] = in
	if j.PointerID != "" {
		t["output"] = []any{map[string]any{"type": map[string]any{"text": "pointer"}, "valueString": j.PointerID}}
	}
	if j.Note != "" {
		t["note"] = []any{map[string]any{"text": j.Note}}
	}
	j.State.Encode(t, jobExt())
	return t
}

func input(name, value string) map[string]any {
	return map[string]any{"type": map[string]any{"text": name}, "valueString": value}
}

// JobOf reads a stored Task as a Job.
func JobOf(v *store.Version) (*Job, error) {
	t, err := resource.Parse(v.JSON)
	if err != nil {
		return nil, err
	}
	j := &Job{ID: v.ID, Version: v.VersionID, State: outbox.Decode(t, jobExt())}
	j.Kind, _ = outbox.Kind(t, JobSystem)
	j.Patient = refID(resource.Str(resource.Obj(t, "for"), "reference"), "Patient")
	if f := resource.Str(resource.Obj(t, "focus"), "reference"); f != "" {
		ref := resource.ParseReference(f)
		j.PlanID = ref.ID
		fmt.Sscan(ref.Version, &j.PlanVersion)
	}
	for _, x := range resource.List(t["input"]) {
		m, _ := x.(map[string]any)
		val := resource.Str(m, "valueString")
		switch resource.Str(resource.Obj(m, "type"), "text") {
		case "nhs-number":
			j.NHSNumber = val
		case "reason":
			j.Reason = val
		case "request":
			j.Pointer = &Pointer{}
			if err := json.Unmarshal([]byte(val), j.Pointer); err != nil {
				return nil, fmt.Errorf("nrl: Task/%s: its request: %w", v.ID, err)
			}
		}
	}
	for _, x := range resource.List(t["output"]) {
		m, _ := x.(map[string]any)
		j.PointerID = resource.Str(m, "valueString")
	}
	for _, n := range resource.List(t["note"]) {
		m, _ := n.(map[string]any)
		j.Note = resource.Str(m, "text")
	}
	return j, nil
}

func subjectRef(res map[string]any) string {
	return resource.Str(resource.Obj(res, "subject"), "reference")
}

// refID is the id of a local reference to typ, "" for anything else.
func refID(raw, typ string) string {
	ref := resource.ParseReference(raw)
	if ref.Type != typ || !ref.IsLocal() {
		return ""
	}
	return ref.ID
}
