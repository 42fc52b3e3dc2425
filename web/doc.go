// Package web is ucp's web app: the pages a GP, an ambulance clinician, an
// NHS 111 call handler and a patient see, served at /app/ beside the FHIR API
// by the same binary.
//
// Every page reads and writes through the FHIR service (ucp/fhir/service) as
// the signed-in user: the principal is in the request's context (put there by
// the session middleware of ucp/auth/session), so each page view is
// authorised and consent-filtered exactly like an API call, and a page never
// shows what the API would refuse. A page's reads share one service.Call and
// the view is one AuditEvent naming the page, every patient and every
// resource it showed; each write is audited with the write. A refusal is rendered as a
// plain page saying so. The package never reads a token and never sends HTTP
// to ucp itself.
//
// Pages are server-rendered HTML from embedded templates that work without
// JavaScript; styles are the NHS.UK frontend's, trimmed to what the templates
// use (static/nhsuk.min.css, made by web/internal/trimcss), plus a print
// stylesheet that puts the patient banner on every A4 page. Nothing is loaded
// from another origin.
//
// # The urgent care view
//
// /app/patients/{id} shows a patient's current plan in the order the ReSPECT
// form and the PRSB palliative and end of life care standard put first. An
// approved version is rendered from its Composition (the FHIR document the
// approval wrote, whose entries name the exact section versions), so the page,
// the printout and the document cannot disagree; a plan not yet approved is
// rendered from the sections it references now. State is said in words. The
// approver shown is the Composition's attester, the person the version
// history names from the approval's Provenance.
//
// # The patient's page
//
// A patient sees their own plan in plain English and who has looked at it,
// from Patient/{id}/$access-log (ucp/auth/audit): when, who and from which
// organisation, and whether it was emergency access, nothing else of the
// audit.
//
// # Patient-started plans
//
// /app/questionnaire is the patient's questionnaire (the Questionnaire
// profiles.QuestionnairePatientPlan), a section a page: each page saves the
// patient's QuestionnaireResponse in progress, a check page lists every
// answer with a link to change it, and sending writes it completed; the
// rules of package patientplan apply to every write, and a patient proofed
// below P9 is told how to verify. /app/actions is Action needed: the open
// Tasks of the staff member's organisation, oldest first, counted in every
// staff page's header; a submission opens read-only with "Create plan from
// this" ($create-plan). /app/change-request is the patient's "Ask for a
// change" ($ask-for-change). The pages never show a patient their NHS
// number.
//
// # The measures dashboard
//
// /app/dashboard is for the report role and admins: uptake by month, the
// completeness distribution of plans in force and the preferred place of
// death achieved by practice, drawn by ucp/report/chart as inline SVG, each
// with its table and a CSV (/app/dashboard/{uptake|completeness|
// preferred-place}.csv). Months and practice (by ODS code) come from a GET
// form. Every number is Measure/{id}/$evaluate-measure invoked through the
// service as the signed-in user, so the operation's authorisation, audit and
// disclosure control ("<5") are the page's; other roles are refused in words.
package web
