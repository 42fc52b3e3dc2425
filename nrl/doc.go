// Package nrl publishes a pointer on the National Record Locator (NRL) for
// every shared urgent care plan, and keeps it in step with the plan.
//
// It has three parts, each reaching FHIR behaviour through fhir/service:
//
//   - Outbox, a service.WriteInterceptor: when a write approves a plan (or a
//     new version of it), revokes, completes or marks it entered-in-error,
//     withdraws the patient's consent to share or records the patient's
//     death, it adds an outbox job (a Task with the code system JobSystem) to
//     WriteOp.Extra. The job is stored in the same atomic write as the
//     version that caused it: a write that fails leaves no job, and a job
//     written survives a crash before it is sent. A publish job holds the
//     exact pointer (DocumentReference) to send.
//   - Publisher, the worker: it claims due jobs through the service as the
//     system principal Principal (a claim is a new version of the Task
//     written with If-Match, carrying a lease, so that two nodes sharing a
//     store never send one job twice), sends them in order per patient,
//     retries transient failures with capped exponential backoff and jitter
//     over a horizon (72 hours by default: NRL's producer API is supported in
//     office hours, so a weekend outage must drain on Monday), and records
//     each result on the job with Service.Write. A permanent error (NRL
//     refuses the pointer) fails the job with NRL's own words; every failure
//     writes an AuditEvent.
//   - Client, NRL's producer API over HTTP: the headers the specification
//     requires, NHS API platform signed-JWT authentication (TokenSource),
//     and an optional mTLS client certificate.
//
// Only the plan's current approved version is ever sent: a publish job
// overtaken while NRL was away (by a newer version, or a revocation) is
// finished without sending. JobGuard keeps clients (a clinician may write
// Tasks) from writing jobs. Documents serves what a pointer names: the PDF
// (RenderPDF) of the approval's Composition and, with
// PointerConfig.Structured, the FHIR document (its $document Bundle), while
// it is the plan's current shared version. StatusOperation is $nrl-status,
// the failed and pending jobs.
//
// Backfill, at start, publishes the plans shared now that have no job and
// queues a removal for each plan with a pointer recorded that is no longer
// shared (Withdraw); the publisher also deletes a pointer of its own it
// finds on NRL for a plan no longer shared (Shared).
//
// NRL gives every POST a new pointer id, so a blind retry after a timeout
// would make a duplicate. Before creating, the publisher searches its own
// pointers for the patient: a pointer whose masterIdentifier names the plan
// version being published is the one it already made. A pointer of an
// earlier version of the same plan is superseded (relatesTo replaces).
//
// Package nrltest is a local NRL that checks every request and response
// against the published OpenAPI specification and NRL's producer rules.
package nrl
