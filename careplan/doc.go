// Package careplan holds the urgent-care-plan domain rules that sit between
// the FHIR service and the store: validation of every write, the plan
// lifecycle, consent to share, approval records (Provenance) and the FHIR
// document published on each approval.
//
// It plugs into package ucp/fhir/service through its hooks:
// (*Plans).BeforeWrite is the WriteInterceptor (it sees the writes pending
// in the same transaction or import batch through the View it is given),
// (*Plans).AllowRead the ReadInterceptor, and (*Plans).Operations returns
// $validate and $document for the REST adapter's Config.Operations.
//
// # Which plans
//
// A CarePlan is an urgent care plan when it claims the UCPCarePlan profile
// in meta.profile or has an End of life care plan (736373009) or Advance care
// plan (736366004) category. Other CarePlans are only validated.
//
// # Lifecycle and approval
//
// A new plan is written as draft (or active, when it is approved at once:
// any other status is refused). Any write that leaves a plan active (the
// first publication, a review, a change to a published plan, a re-activation)
// is an approval, because every version an ambulance crew may read must have
// been approved by a clinician: the principal must have auth.RoleClinical
// (403 otherwise). When no principal is present (auth not wired) the request
// is taken as a clinician's and the approver is recorded as unknown. An
// approval needs the mandatory sections, each named when missing (422):
// medical background (addresses → a Condition), prognosis (supportingInfo → a
// ClinicalImpression with a prognosis), CPR decision (supportingInfo → an
// Observation 304251008 with a value) and the emergency treatment plan (an
// activity with a description, or supportingInfo → an Observation 735324008).
// Every referenced section must exist on this server and belong to the plan's
// patient, on every draft or active write. Each approval writes, in the same
// atomic write, a Provenance (target CarePlan/{id}/_history/{version}) and a
// Composition: the plan as a FHIR document, served by
// Composition/{id}/$document. Its sections follow the kind of each
// referenced resource; preferred places of care and death are UCPPreferredPlace
// Observations (supportingInfo), and a Goal is a wish of the patient's, in a
// section of its own.
//
// Back to draft is refused once a plan has left draft. An active (or
// on-hold) plan is never deleted (409): it is revoked or completed by a new
// version, which keeps its history. A plan never changes patient (422): one
// filed against the wrong patient is marked entered-in-error and written
// anew for the right one, so one patient's decisions and approvals never
// travel into another's record (and a patient's history of their own plan
// holds only their own versions).
//
// # Consent
//
// A plan is created, or written as draft or active, only while the latest
// active Consent of the patient (by dateTime) permits sharing: given,
// best-interests, LPA or representative (the consent-to-share value set) with
// provision.type permit. A withdrawal (882941000000102, or provision deny) as
// the latest active Consent refuses those writes (422). Revoking or completing
// a plan never needs consent.
//
// # Who sees what
//
// AllowRead hides, through a SharingPolicy (Config.Sharing), the plans
// that are not shared: drafts and plans never approved (on hold straight
// from draft), revoked, completed and entered-in-error plans, and the plans
// of a patient whose latest consent is a withdrawal. Whether a plan is
// shared is decided by its current version and its patient's current
// consent, whichever version is read, so every version of a hidden plan is
// hidden (vread, and history at every level), and so are its documents
// (Compositions) and approval records (Provenance). The default policy
// (DefaultSharing) shows them only to clinicians (auth.RoleClinical),
// admins and the patient the plan is about (consent is to share the plan
// with others); urgent-care viewers, systems, other patients and anonymous
// requests do not see them in reads, searches, includes or history, nor
// count them in a search's total (MayHide tells the REST layer which types
// to recount), nor find them through a chain or _has. Break-glass reveals
// only plans hidden because consent was withdrawn. Reads fail closed:
// unlike writes, a request with no principal is not taken as a clinician's.
// The rest hook does not say whether a read is a history read; once it
// does, a policy can narrow clinicians to history only.
//
// # Limits
//
// Sections and Consents are read from the store, so a transaction bundle that
// creates a plan together with its sections or consent is refused: write the
// sections and consent first.
package careplan
