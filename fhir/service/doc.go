// Package service is the FHIR R4 interactions without HTTP: the one write
// pipeline that every door (the REST adapter, batch and transaction
// entries, bulk import, start-up loading and the demo) calls, and the hooks
// through which domain packages (careplan, auth/audit) apply their rules.
//
// # One write pipeline
//
// Service.Prepare is the one function that turns a write (create, update,
// patch, delete, from a request, a bundle entry or an import line) into the
// store changes to make: it reads the current version (or the pending one a
// View shows), checks If-Match, numbers the new version (NextVersion, the
// one numbering rule), runs the WriteInterceptor, stamps meta, extracts the
// index entries and stages a SearchParameter's registration, for the
// resource and every resource the interceptor adds. It writes nothing:
// Service.Write stores one prepared write, retrying a write that lost a race
// until it wins or its context ends, and Service.Committed applies the
// staged registrations of changes stored by others (an import batch).
// ConditionalUpdate and ConditionalDelete are the conditional forms.
//
// # Bundles
//
// DecodeEntry reads a batch or transaction entry (its request, conditions
// and patch). Transaction prepares every entry in the R4 order, each seeing
// the ones before it, and stores them in one atomic write; BatchEntry runs
// one write entry as an interaction of its own; Bundle runs a whole Bundle
// of writes for an in-process caller. A door answers GET entries with the
// read interactions below.
//
// # Reads
//
// Read, VRead, History and Search are the read interactions, each
// authorised, filtered through the ReadInterceptor and returning typed
// results (a page of versions, the total the caller may know of, the
// store's cursors); a door encodes them and seals the cursors it hands out
// with SealCursor (and opens them with OpenCursor): the key is
// Config.CursorKey, so every door and every node sharing it accepts the
// same cursors.
// Search parses the request with the Registry, authorises and narrows every
// type a chain or _has reaches, follows _include and _revinclude up to
// Config.MaxIncluded, and corrects the total for what the caller may not
// see (SearchTotal). Visible and SearchableIn serve interactions authorised
// as something wider (a compartment search, $everything). Find looks
// resources up for in-process callers. Condition parses a conditional
// query.
//
// # Operations
//
// Operation dispatches the registered Operations (Config.Operations,
// RegisterOperation): it finds the one for the name and level, authorises
// the call as Access{Interaction: "operation"}, runs it and records it with
// Config.Audit, so a door other than HTTP (the web app, reporting) invokes
// $validate, $document, $everything, $reindex and $export with the same
// checks and trail. $everything (everything.go) and $reindex (reindex.go)
// are built in; Bounded runs a search's work under Config.SearchTimeout.
//
// # Hooks
//
// Domain rules see what they need as parameters, never as context values:
// BeforeWrite gets the write (with the version it will store) and the View
// of the writes prepared before it in the same transaction or import batch
// (a care plan arriving with its consent and sections in one Bundle);
// AllowRead gets the Purpose of the question (disclose, or only count). Each
// gets the interaction's Call (AllowRead as a parameter, BeforeWrite in
// WriteOp.Call, an operation in OperationRequest.Call, the audit sink in
// AuditRecord.Call): the break-glass reason the door took from the caller
// and the Disclosure the audit fills. A door makes a Call per interaction
// and acts through Service.For(call). The context carries the request's
// deadline and the caller's principal, nothing else.
//
// The service returns errors of package outcome's kinds (and the store's
// own, which outcome reads); each door maps them to its transport, rest
// through outcome's table to HTTP statuses and OperationOutcome.
package service
