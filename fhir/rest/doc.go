// Package rest is ucp's FHIR R4 REST layer over gin: every core interaction of
// https://hl7.org/fhir/R4/http.html (read, vread, create, update, patch,
// delete, their conditional forms, history, search, batch and transaction,
// capabilities), content negotiation, paging and OperationOutcome errors.
//
// The REST layer is the HTTP door to package service, which owns the FHIR
// semantics: it numbers versions, sets meta, assigns ids, evaluates
// conditional writes, runs transactions, and serves reads, histories and
// searches (authorised and filtered), for this adapter and for the doors
// that never speak HTTP (bulk import, start-up loading). This package
// decodes requests and Bundle entries, audits each request, has the service
// seal paging cursors and dispatch operations, and encodes responses; a batch's read entries are answered
// through the same service calls, without HTTP (entry.go). The store below only
// keeps versions atomically and answers index queries (see package store).
// Client JSON is only ever stored through resource.Parse, resource.SetMeta
// and resource.Marshal, so that nothing a client sent (primitive extensions,
// contained resources, decimals as written, unknown elements) is lost.
//
// Handlers have the signature func(*gin.Context) error; a single adapter
// (handle) renders every error as an OperationOutcome through package
// outcome, whose one table maps each error kind to an HTTP status and issue
// code.
//
// Choices this server makes where the specification leaves one:
//   - Deleting a resource that does not exist, or is already deleted, answers
//     204 No Content and writes nothing (delete is idempotent).
//   - A conditional delete matching several resources answers 412 unless
//     Config.ConditionalDeleteMultiple is set; then every match (up to
//     MaxConditionalDelete) is deleted in one atomic write.
//   - Search, history and $everything paging use the store's cursor in a
//     _cursor parameter, sealed with an HMAC over the caller, the normalised
//     query and the cursor (service.Service.SealCursor, with
//     Config.CursorKey): a cursor from elsewhere is a 400.
//   - An unknown search parameter or modifier is a 400 naming it (and the
//     nearest known name): ignoring "subject:identifer" would answer every
//     plan. Only with Prefer: handling=lenient are they ignored, and
//     reported in an OperationOutcome entry of the searchset.
//   - A page includes at most Config.MaxIncluded resources through
//     _include/_revinclude (an OperationOutcome entry says when more were
//     cut); a search past Config.SearchTimeout is stopped and answered 503
//     too-costly.
//   - Patient compartment search (GET /Patient/{id}/{type} and /Patient/{id}/*)
//     is ordinary search restricted by store.Query.Patient; the Authorizer
//     sees a search-type per type with "patient=Patient/{id}" leading the
//     query (see handleCompartmentSearch). Other compartments answer 404.
//   - A chain or _has reaching a type the ReadInterceptor may hide from the
//     caller matches only through the resources of that type they may see
//     (see service.NarrowReach); one reaching more than 1,000 of them is refused
//     (400), since each must be checked.
//   - Operations are the service's (service.Service.Operation, which
//     authorises and audits them); this package decodes the call and
//     encodes the answer. Patient/{id}/$everything and $reindex are built
//     into the service.
//   - Active SearchParameter resources written through the API are
//     registered in the Registry (refused with 422 if it refuses them) and
//     LoadSearchParameters re-registers stored ones at start; resources
//     written before a parameter existed are not found by it until
//     reindexed with the built-in $reindex operation (system and type
//     level, synchronous; see searchparam.go and the service's reindex.go).
package rest
