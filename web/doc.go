// Package web is ucp's web app: the pages a GP, an ambulance clinician, an
// NHS 111 call handler and a patient see, served at /app/ beside the FHIR API
// by the same binary.
//
// Every page reads and writes through the FHIR service (ucp/fhir/service) as
// the signed-in user: the principal is in the request's context (put there by
// the session middleware of ucp/auth/session), so each page view is
// authorised, consent-filtered and audited exactly like an API call, and a
// page never shows what the API would refuse. A refusal is rendered as a
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
// rendered from the sections it references now. State is said in words.
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
