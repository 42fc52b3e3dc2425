package store

import (
	"errors"
	"fmt"
)

// Kind classifies an error. The REST layer maps each kind to one HTTP status
// and OperationOutcome issue code in a single table.
type Kind int

// The error kinds. Internal is the zero value so that an unclassified error
// is never mistaken for a client error.
const (
	Internal           Kind = iota // a fault of ours (500); detail is logged, not shown
	NotFound                       // no such resource or version (404)
	Gone                           // the resource is deleted (410)
	Conflict                       // a concurrent change or a failed precondition inside a write (409)
	PreconditionFailed             // If-Match and friends (412)
	Invalid                        // malformed input (400)
	Unprocessable                  // well-formed but breaks a rule: validation, business rules (422)
	Unsupported                    // a feature this server or backend does not offer (400 or 501 as the caller decides)
	Forbidden                      // not allowed (403)
	Unauthenticated                // no credential, or one not accepted (401); the cause may carry a challenge
)

var kindNames = [...]string{"internal", "not-found", "gone", "conflict", "precondition-failed", "invalid", "unprocessable", "unsupported", "forbidden", "unauthenticated"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error of a known kind.
type Error struct {
	Kind    Kind
	Message string   // for the client; say what is wrong
	Expr    []string // FHIRPath locations the message is about, if any
	// Version is the deletion version, for Gone from Read.
	Version *Version
	// Matches are the current resources that matched a Change.IfNoneMatch.
	Matches []Ref
	// Details, when set, are the separate problems behind the error (each
	// validation failure, say), each reported as its own OperationOutcome
	// issue; Message then summarises them.
	Details []Detail
	Err     error // the cause, for logs
}

// Detail is one problem of an error with several.
type Detail struct {
	Code    string // OperationOutcome issue type, e.g. "structure", "required", "invariant"; empty means the kind's
	Expr    string // FHIRPath location, if any
	Message string
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

// KindOf returns the kind of err: that of the first *Error in its chain, or
// Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// AsError returns the first *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
