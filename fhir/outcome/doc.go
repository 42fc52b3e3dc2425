// Package outcome is the one error vocabulary of ucp: the kinds of failure
// an interaction can end in, the Error that carries a kind to whichever door
// answers the caller, the one table from kind to HTTP status and
// OperationOutcome issue code, and the one OperationOutcome writer.
//
// Domain packages (auth, careplan, bulk, the service layer) return kinded
// errors and never choose a status; the REST adapter, the auth middleware
// and bulk import all ask this package what a refusal means. Package store
// keeps its own contract errors (a store.Error carries the deletion version
// and the matches a storage caller needs); this package reads their kinds,
// so store stays free of HTTP and of OperationOutcome.
package outcome
