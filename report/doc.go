// Package report evaluates ucp's uptake, quality, outcome and
// patient-started measures: Measure/{id}/$evaluate-measure (R4
// measure-operation-evaluate-measure) answers a summary MeasureReport for the
// Measures embedded in package profiles (ucp-uptake, ucp-quality,
// ucp-outcomes, ucp-patient-started), stratified by the GP
// practice's ODS code, the age band on the period's last day and the main
// condition group.
//
// # Who and what
//
// The operation is authorised by auth.OperationPolicy: the report role and
// admins only. They are given counts, never a patient's data: every count
// passes disclosure control (Suppress) before it leaves the package, and a
// score is computed from the published counts.
//
// The evaluation reads every plan, patient and section, which the caller
// may not (the report role reads no patient resource) and which the
// urgent-care read filter would partly hide (ended and unapproved plans are
// counted too). So, once the caller is authorised for the operation, it
// reads through the in-process FHIR service given as Config.Service (the
// trusted service of start-up loading, without an authorizer but with the
// read rules) as the named principal ReadAs, in a context of its own: the
// request's audit records the evaluation, by whom, for which Measure and
// period, and no patient as disclosed, because none is.
//
// # Speed
//
// Reading the register for each evaluation takes time linear in its size.
// So Reports keeps, between evaluations, one small record per resource the
// measures use (facts): the first evaluation reads them all by search; each
// later one reads the type histories since the last read began (less an
// overlap of a minute, for writes stamped before it and committed after), so
// updates and deletions are applied, and then evaluates from memory. Run
// (which ucp serve starts) does the first read ahead of any evaluation
// (Warm) and reads the register whole again every Config.Refresh (an hour;
// Reread) in the background: evaluations never wait for a whole read, and
// answer meanwhile from the kept records and the changes. The
// records are the process's own: each node keeps its own, read from the
// shared store.
//
// subject names a practice as Organization/{id} or, for callers who read no
// Organization (the report role, the web dashboard), by its ODS code:
// Organization?identifier=https://fhir.nhs.uk/Id/ods-organization-code|{code}.
// The quality measure's completeness group is also stratified by the number
// of recommended sections a plan has ("sections", 0 to 8).
//
// # Rules
//
// Dates are days (periodStart and periodEnd inclusive, UTC). A plan is
// approved when an approval Provenance (activity LA) targeting it was
// recorded; it is in force on a day when its first approval is by then and
// it is active, or revoked or completed with a period.end after that day.
// A plan's sections, for the quality measure, are those of the version
// approved last by the period's end (the version its approval Provenance
// names, read with vread once and kept), so a section added at a later
// review does not count for an earlier period; an approval that names no
// version (a transaction Bundle's conditional reference cannot) stands for
// the current version. The review date is the current version's.
// Deaths are Patient.deceasedDateTime; the actual place and whether the
// preferred place was achieved come from the UCPPlaceOfDeath Observation
// that Patient/{id}/$record-death writes. A patient-started plan is a
// completed QuestionnaireResponse to profiles.QuestionnairePatientPlan, sent
// when its practice Task (Task.focus) was authored; it is approved when that
// Task is completed with the CarePlan as its output and the plan has an
// approval at or after the submission. Days to approval are whole days (UTC).
package report
