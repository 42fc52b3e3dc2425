// Package export is FHIR Bulk Data export (Bulk Data Access IG 2.0.0,
// https://hl7.org/fhir/uv/bulkdata/STU2/export.html): the asynchronous
// $export operation at system, Patient and Group level, its status
// endpoint and its NDJSON files.
//
// # Endpoints
//
//	GET|POST {base}/$export                 kick-off, system level
//	GET|POST {base}/Patient/$export         kick-off, every patient's compartment
//	GET|POST {base}/Group/{id}/$export      kick-off, the Group's active members
//	GET      {base}/_bulk/{job}             status: 202 running, 200 manifest, 500 failed
//	DELETE   {base}/_bulk/{job}             cancel, and delete the files: 202
//	GET      {base}/_bulk/{job}/{file}      one NDJSON file
//
// A kick-off needs Prefer: respond-async and answers 202 with
// Content-Location, the absolute URL of the job's status endpoint. The
// manifest lists one or more files per resource type (a file holds at most
// Config.MaxFileResources resources) and, under "error", an
// OperationOutcome file with the warnings of a lenient request.
//
// # Parameters
//
// _outputFormat (application/fhir+ndjson, application/ndjson, ndjson),
// _since (an instant with a time zone), _type, _typeFilter (search queries
// of the exported types, parsed by the search registry as strictly as a
// conditional interaction; several for one type are ORed) and, in a POST
// Parameters body at Patient and Group level, patient (references to
// Patients, narrowing the export to them). Under Prefer: handling=strict an
// unknown or unserved _type, a _typeFilter of a type not exported and any
// other parameter (includeAssociatedData, _elements, organizeOutputBy…)
// are 400; otherwise they are left out and named as warnings in the
// manifest's error file. A malformed value is 400 either way: acting on a
// half-understood request could export more than was asked for.
//
// # Who sees what
//
// The kick-off is authorized by the server's Authorizer like any operation
// (ucp maps system level to search-system, Patient level to a search of
// Patient by a system client and Group level to a read of the Group), and
// then each exported type as a search-type of that type (with its
// _typeFilter as the query):
// a type named in _type that the caller may not search is 403, and
// without _type the types the caller may not search are left out, as the
// IG says. Every exported resource passes the ReadInterceptor in the
// background job under the caller's principal (but never break-glass,
// which is for one person in an emergency), so an export never holds what
// the same caller's search would hide; at Patient and Group level a hidden
// Patient hides their whole compartment. Only the principal who started a
// job (same issuer, subject and client) may poll, cancel or download it;
// anyone else gets 404, so job ids do not leak. A download is authorized
// again as a search of its type (and so audited).
//
// # transactionTime
//
// transactionTime is the kick-off instant T. The job reads only versions
// whose lastUpdated is at or before T, and starts reading no earlier than
// T + Config.Settle, so that a write stamped before T but committed after
// it (a large transaction) is seen. A client that next exports with
// _since=T therefore misses nothing: what changed after T is in that
// export, and everything up to T was in this one (or, if changed since, is
// in the next one at its new version).
//
// # Jobs
//
// Jobs run in the background, Config.Workers at a time (others queue, at
// most Config.MaxQueued), reading the store a page at a time by its stable
// cursor, so memory does not grow with the export. Jobs and their files
// are kept by a Storage: DirStorage, a directory per job under Config.Dir
// (job.json, its state rewritten atomically, and its files), or a shared
// one (package pgexport) that every node on one database answers from. At
// start the Manager reloads them: completed and failed jobs keep
// answering; a job a restart interrupted is reported failed (with a shared
// storage, once its node has not rewritten it for three heartbeats).
// Finished jobs and their files are removed Config.Expiry after they
// finish. Close cancels running jobs (they are then failed, "interrupted
// by shutdown") and waits for them.
package export
