// Package notify sends email through a durable outbox: a job (a Task) is
// written in the same store write as the change it tells of (a patient's
// submitted questionnaire, an approved plan), and the Publisher delivers it
// over SMTP with STARTTLS and authentication, claiming each job with
// If-Match and a lease, retrying with backoff to a horizon (package
// outbox), and recording each failure as an AuditEvent. An email carries no
// clinical detail: that something is waiting, and a link to sign in.
package notify

import (
	"context"
	"strings"
	"time"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/outbox"
	"ucp/profiles"
	"ucp/store"
)

// JobSystem is the code system of the email jobs' Task.code.
const JobSystem = profiles.CodeSystemBaseURL + "notify-job"

// Job kinds (Task.code): which email it is.
const (
	// KindPlanRequested tells a GP practice that a patient has asked for a
	// plan (submitted their questionnaire).
	KindPlanRequested = "plan-requested"
	// KindPlanApproved tells a patient that their plan is approved.
	KindPlanApproved = "plan-approved"
	// KindChangeRequested tells a GP practice that a patient has asked for
	// a change to their plan.
	KindChangeRequested = "change-requested"
)

// Extensions on a job's Task holding the publisher's state.
const (
	extAttempts = profiles.BaseURL + "notify-job-attempts"
	extNext     = profiles.BaseURL + "notify-job-next-attempt"
	extLease    = profiles.BaseURL + "notify-job-lease"
)

func jobExt() outbox.Ext { return outbox.Ext{Attempts: extAttempts, Next: extNext, Lease: extLease} }

// Principal is the system principal the publisher acts as.
var Principal = &auth.Principal{Role: auth.RoleAdmin, Subject: "ucp-mail-publisher", UserID: "ucp-mail-publisher", Name: "ucp email publisher"}

// Job is one email to send, stored as a Task.
type Job struct {
	ID      string // the Task's id ("" before it is stored)
	Version int64  // the Task's version, for If-Match
	Kind    string
	// Patient is the patient the email is about (never named in it).
	Patient string
	// To is the recipient: a reference to the practice's Organization, or
	// "mailto:ADDRESS" (a patient's own address).
	To string
	// Focus is what the email is about (the Task for the practice, the
	// plan), for the audit; it is not in the email.
	Focus string
	outbox.State
}

// Task returns the job as a FHIR Task.
func (j *Job) Task() map[string]any {
	t := map[string]any{
		"resourceType": "Task",
		"intent":       "order",
		"code":         map[string]any{"coding": []any{map[string]any{"system": JobSystem, "code": j.Kind}}},
		"for":          map[string]any{"reference": "Patient/" + j.Patient},
		"input":        []any{input("to", j.To)},
	}
	if j.ID != "" {
		t["id"] = j.ID
	}
	if j.Focus != "" {
		t["focus"] = map[string]any{"reference": j.Focus}
	}
	j.State.Encode(t, jobExt())
	return t
}

func input(name, value string) map[string]any {
	return map[string]any{"type": map[string]any{"text": name}, "valueString": value}
}

// NewJob returns a new job, requested now.
func NewJob(kind, patient, to, focus string, now time.Time) *Job {
	return &Job{Kind: kind, Patient: patient, To: to, Focus: focus, State: outbox.State{Status: outbox.Requested, Authored: now.UTC()}}
}

// JobOf reads a stored Task as a Job.
func JobOf(v *store.Version) (*Job, error) {
	t, err := resource.Parse(v.JSON)
	if err != nil {
		return nil, err
	}
	j := &Job{ID: v.ID, Version: v.VersionID, State: outbox.Decode(t, jobExt())}
	j.Kind, _ = outbox.Kind(t, JobSystem)
	j.Patient = strings.TrimPrefix(resource.Str(resource.Obj(t, "for"), "reference"), "Patient/")
	j.Focus = resource.Str(resource.Obj(t, "focus"), "reference")
	for _, x := range resource.List(t["input"]) {
		m, _ := x.(map[string]any)
		if resource.Str(resource.Obj(m, "type"), "text") == "to" {
			j.To = resource.Str(m, "valueString")
		}
	}
	return j, nil
}

// IsJob reports whether a Task is an email job.
func IsJob(task map[string]any) bool {
	_, ok := outbox.Kind(task, JobSystem)
	return ok
}

// JobGuard is the service.WriteInterceptor that keeps the email jobs to
// the server: a job sends mail in the service's name, so no client (a
// clinician may write Tasks) may write, change or delete one. The rules that
// add jobs put them in WriteOp.Extra, past this guard.
type JobGuard struct {
	Next service.WriteInterceptor
}

// BeforeWrite implements service.WriteInterceptor.
func (g JobGuard) BeforeWrite(ctx context.Context, op *service.WriteOp, view service.View) error {
	if op.Type == "Task" && (IsJob(op.Resource) || (op.Previous != nil && op.Previous.JSON != nil && IsJob(parsed(op.Previous)))) {
		// The publisher's own principal value: no token can carry it.
		if auth.FromContext(ctx) != Principal {
			return outcome.Errorf(outcome.Forbidden, "Task/%s is an email outbox job (%s): only the server writes them", op.ID, JobSystem)
		}
	}
	return g.Next.BeforeWrite(ctx, op, view)
}

func parsed(v *store.Version) map[string]any {
	m, _ := resource.Parse(v.JSON)
	return m
}
