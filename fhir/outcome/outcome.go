package outcome

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"ucp/store"
)

// Kind classifies an error.
type Kind int

// The error kinds. Internal is the zero value so that an unclassified error
// is never mistaken for a client error.
const (
	Internal             Kind = iota // a fault of ours (500); detail is logged, not shown
	NotFound                         // no such resource or version (404)
	Gone                             // the resource is deleted (410)
	Conflict                         // a concurrent change or a failed precondition inside a write (409)
	PreconditionFailed               // If-Match and friends (412)
	Invalid                          // malformed input (400)
	Unprocessable                    // well-formed but breaks a rule: validation, business rules (422)
	Unsupported                      // a feature this server or backend does not offer (400)
	Forbidden                        // not allowed (403)
	Unauthenticated                  // no credential, or one not accepted (401); the cause may carry a challenge
	TooCostly                        // beyond the server's limits, such as the search deadline (503)
	TooLarge                         // a request body over the limit (413)
	NotAcceptable                    // no representation the client accepts (406)
	UnsupportedMediaType             // a body of a media type not taken (415)
	MethodNotAllowed                 // an interaction the endpoint does not offer (405)
	Timeout                          // the request's own deadline passed (503)
	Canceled                         // the client went away; nobody reads the answer (499)
)

// StatusClientClosed is the status logged for a request whose client went
// away (nginx's 499): no standard status says it, and no client sees it.
const StatusClientClosed = 499

var table = [...]struct {
	name   string
	status int
	code   string // R4 valueset-issue-type
}{
	Internal:             {"internal", http.StatusInternalServerError, "exception"},
	NotFound:             {"not-found", http.StatusNotFound, "not-found"},
	Gone:                 {"gone", http.StatusGone, "deleted"},
	Conflict:             {"conflict", http.StatusConflict, "conflict"},
	PreconditionFailed:   {"precondition-failed", http.StatusPreconditionFailed, "conflict"},
	Invalid:              {"invalid", http.StatusBadRequest, "invalid"},
	Unprocessable:        {"unprocessable", http.StatusUnprocessableEntity, "processing"},
	Unsupported:          {"unsupported", http.StatusBadRequest, "not-supported"},
	Forbidden:            {"forbidden", http.StatusForbidden, "forbidden"},
	Unauthenticated:      {"unauthenticated", http.StatusUnauthorized, "login"},
	TooCostly:            {"too-costly", http.StatusServiceUnavailable, "too-costly"},
	TooLarge:             {"too-large", http.StatusRequestEntityTooLarge, "too-long"},
	NotAcceptable:        {"not-acceptable", http.StatusNotAcceptable, "not-supported"},
	UnsupportedMediaType: {"unsupported-media-type", http.StatusUnsupportedMediaType, "not-supported"},
	MethodNotAllowed:     {"method-not-allowed", http.StatusMethodNotAllowed, "not-supported"},
	Timeout:              {"timeout", http.StatusServiceUnavailable, "timeout"},
	Canceled:             {"canceled", StatusClientClosed, "incomplete"},
}

func (k Kind) valid() bool { return k >= 0 && int(k) < len(table) }

func (k Kind) String() string {
	if k.valid() {
		return table[k].name
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Status is the HTTP status for k; an unknown kind is Internal's.
func (k Kind) Status() int {
	if !k.valid() {
		k = Internal
	}
	return table[k].status
}

// Code is the OperationOutcome issue code for k.
func (k Kind) Code() string {
	if !k.valid() {
		k = Internal
	}
	return table[k].code
}

// Error is an error of a known kind.
type Error struct {
	Kind    Kind
	Code    string   // issue code, when more precise than the kind's
	Message string   // for the client; say what is wrong
	Expr    []string // FHIRPath locations the message is about, if any
	// Issues, when set, are the separate problems behind the error (each
	// validation failure, say), each reported as an issue of its own;
	// Message then summarises them.
	Issues []Issue
	Err    error // the cause, for logs
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Kind.String()
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind k with a formatted message.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// At returns an *Error of kind k about the FHIRPath location expr.
func At(k Kind, expr string, format string, args ...any) *Error {
	e := Errorf(k, format, args...)
	e.Expr = []string{expr}
	return e
}

// storeKinds maps the store contract's kinds to ours.
var storeKinds = map[store.Kind]Kind{
	store.Internal:           Internal,
	store.NotFound:           NotFound,
	store.Gone:               Gone,
	store.Conflict:           Conflict,
	store.PreconditionFailed: PreconditionFailed,
	store.Invalid:            Invalid,
	store.Unsupported:        Unsupported,
}

// AsError returns err as an *Error: the first *Error in its chain, else a
// store.Error translated, else nil. An error that ends in the request's
// context ending (context.Canceled, context.DeadlineExceeded) is Canceled or
// Timeout unless it has a kind more precise than Internal: the store reports
// an interrupted query as Internal, which would answer 500 for what is no
// fault of the server's.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal {
		return e
	}
	se := store.AsError(err)
	if se != nil && se.Kind != store.Internal {
		return fromStore(se, err)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &Error{Kind: Canceled, Message: "the request was canceled", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: Timeout, Message: "the request did not finish in time", Err: err}
	case e != nil:
		return e
	case se != nil:
		return fromStore(se, err)
	}
	return nil
}

func fromStore(se *store.Error, err error) *Error {
	return &Error{Kind: storeKinds[se.Kind], Message: se.Message, Expr: se.Expr, Err: err}
}

// KindOf returns the kind of err (see AsError), or Internal.
func KindOf(err error) Kind {
	if e := AsError(err); e != nil {
		return e.Kind
	}
	return Internal
}

// Status is the HTTP status the API answers for err, also for callers that
// report outside HTTP what the API would have said (a bulk import's
// rejected lines).
func Status(err error) int { return KindOf(err).Status() }
