package service

import (
	"context"
	"time"

	"ucp/store"
)

// Access describes one interaction for an Authorizer and the audit.
type Access struct {
	Interaction string // FHIR interaction code: read, vread, update, patch, delete, history-instance, history-type, history-system, create, search-type, search-system, batch, transaction, capabilities
	Type        string // resource type, "" for system-level interactions
	ID          string // resource id when known
	Query       string // search or condition query, when any
	Operation   string // operation name without "$", for Interaction "operation"
}

// Authorizer decides whether the caller (the principal in ctx) may perform
// an interaction. It returns nil to allow, or an error (an outcome.Error of
// kind Forbidden, say) to refuse.
type Authorizer interface {
	Authorize(ctx context.Context, a Access) error
}

// WriteOp is a resource version about to be written, for a WriteInterceptor.
type WriteOp struct {
	Interaction string         // create, update, patch or delete
	Type, ID    string         // the resource
	Resource    map[string]any // the new content (nil for a delete); the interceptor may change it
	Previous    *store.Version // the current version, nil on create
	// Version is the number the write will store (see NextVersion), so an
	// interceptor that records it (a Provenance, an AuditEvent) never
	// derives it again.
	Version int64
	// Call is the interaction the write is part of (its break-glass
	// reason, its disclosure record); nil when the door gave none.
	Call *Call
	// Extra are new resources the interceptor wants created in the same
	// atomic write (a Provenance, a Composition, an AuditEvent, an outbox
	// job). The write pipeline prepares them like the resource itself: an
	// id when they have none, version 1, meta and index entries.
	Extra []map[string]any
}

// WriteInterceptor applies domain rules (care-plan lifecycle, consent,
// validation) to every write before it is stored, inside single interactions
// and within batch and transaction bundles alike. view shows the writes
// prepared before this one in the same transaction or import batch (the
// zero View outside one). An error refuses the write; use outcome kinds
// (Unprocessable, Forbidden) to choose the status.
type WriteInterceptor interface {
	BeforeWrite(ctx context.Context, op *WriteOp, view View) error
}

// Purpose says why the server asks a ReadInterceptor about a version.
type Purpose int

const (
	// Disclose: the version is returned to the caller if allowed.
	Disclose Purpose = iota
	// Count: the server only counts the version (a search's total) or
	// checks that the caller could see it (a chain's reach); it is never
	// returned, so an interceptor recording disclosures (the audit) must
	// not record it.
	Count
)

// ReadInterceptor filters what a request may see. It returns an error to
// hide a version: on read that error is answered; in search results and
// bundles the entry is silently left out. call is the interaction asking
// (its break-glass reason, the disclosure record to note what is shown);
// it may be nil.
type ReadInterceptor interface {
	AllowRead(ctx context.Context, v *store.Version, purpose Purpose, call *Call) error
}

// TypeHider is implemented by a ReadInterceptor that knows which types it
// may hide from the request's caller. An interceptor without MayHide is
// taken to hide any type from anyone.
type TypeHider interface {
	MayHide(ctx context.Context, typ string) bool
}

// AuditRecord is one interaction's outcome, for the audit sink. Method,
// Path and Status are the door's (HTTP's for the REST adapter).
type AuditRecord struct {
	Access
	// Call is the interaction's (break-glass reason, disclosure); nil when
	// the door gave none.
	Call   *Call
	Method string
	Path   string
	Status int
	Time   time.Time
	Err    error
	// Page is the web page (its path) a record stands for, "" for an API
	// interaction: a page makes several reads and is recorded once, as its
	// first interaction (Access) and, in Disclosed, as references
	// ("Type/id/_history/v"), every further resource it showed.
	Page      string
	Disclosed []string
}

// AuditSink receives one record per interaction after it completes.
type AuditSink interface {
	Record(ctx context.Context, r AuditRecord)
}

// allowAll is the hook of a Service configured without one.
type allowAll struct{}

func (allowAll) Authorize(context.Context, Access) error                         { return nil }
func (allowAll) BeforeWrite(context.Context, *WriteOp, View) error               { return nil }
func (allowAll) AllowRead(context.Context, *store.Version, Purpose, *Call) error { return nil }
func (allowAll) Record(context.Context, AuditRecord)                             {}
