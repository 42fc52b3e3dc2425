// Package service is the FHIR R4 interactions without HTTP: the one write
// pipeline that every door (the REST adapter, batch and transaction
// entries, bulk import, start-up loading) calls, and the hooks through
// which domain packages (careplan, auth/audit) apply their rules.
//
// # One write pipeline
//
// Service.Prepare is the one function that turns a write (create, update,
// patch, delete, from a request, a bundle entry or an import line) into the
// store changes to make: it reads the current version (or the pending one a
// View shows), checks If-Match, numbers the new version (NextVersion),
// runs the WriteInterceptor, stamps meta, extracts the index entries and
// stages a SearchParameter's registration. It writes nothing: Service.Write
// stores one prepared write, retrying a write that lost a race until it
// wins or its context ends, and Service.Committed applies the staged
// registrations of changes stored by others (a transaction, an import
// batch).
//
// # Hooks
//
// Domain rules see what they need as parameters, never as context values:
// BeforeWrite gets the write and the View of the writes prepared before it
// in the same transaction or import batch (a care plan arriving with its
// consent and sections in one Bundle). The context carries only the
// request's deadline and the caller's principal.
//
// The service uses the error kinds of package store; callers map them to
// their transport (rest to HTTP statuses and OperationOutcome).
package service
