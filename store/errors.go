package store

import (
	"errors"
	"fmt"
)

// Kind classifies an error of the store contract. Package fhir/outcome
// reads these kinds into its own, which also name the refusals that are no
// concern of storage (forbidden, unauthenticated, unprocessable).
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
	Unsupported                    // a feature this backend does not offer
)

var kindNames = [...]string{"internal", "not-found", "gone", "conflict", "precondition-failed", "invalid", "unsupported"}

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
	Err     error // the cause, for logs
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
