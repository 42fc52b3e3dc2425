package auth

import (
	"errors"
	"strings"

	"ucp/fhir/outcome"
)

// ErrUnauthenticated is matched (errors.Is) by every error that means "no
// valid credential": the REST layer answers 401 with the challenge from
// [*AuthError.Challenge] in WWW-Authenticate and an OperationOutcome whose
// issue code is "login".
var ErrUnauthenticated = errors.New("unauthenticated")

// Bearer-token error codes of RFC 6750 §3.1, and RFC 9470 for step-up.
const (
	CodeInvalidRequest     = "invalid_request"
	CodeInvalidToken       = "invalid_token"
	CodeInsufficientScope  = "insufficient_scope"
	CodeInsufficientUserAu = "insufficient_user_authentication"
)

// AuthError is a 401: the request carries no credential, or one we do not
// accept. Code is empty when no credential was sent at all (RFC 6750 §3.1
// says the challenge then carries no error code).
type AuthError struct {
	Realm       string // the challenge realm; "ucp" when empty
	Code        string // RFC 6750 error code, or ""
	Description string // safe to show the client: never echoes the token
	Err         error  // the cause, for logs only
}

func (e *AuthError) Error() string {
	msg := "unauthenticated"
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap exposes the cause to errors.As and errors.Is.
func (e *AuthError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnauthenticated) true for every AuthError.
func (e *AuthError) Is(target error) bool { return target == ErrUnauthenticated }

// Challenge is the value for the WWW-Authenticate response header.
func (e *AuthError) Challenge() string {
	realm := e.Realm
	if realm == "" {
		realm = "ucp"
	}
	var b strings.Builder
	b.WriteString(`Bearer realm="` + quote(realm) + `"`)
	if e.Code != "" {
		b.WriteString(`, error="` + quote(e.Code) + `"`)
		if e.Description != "" {
			b.WriteString(`, error_description="` + quote(e.Description) + `"`)
		}
	}
	return b.String()
}

// quote keeps a header value inside its quotes: RFC 6750 allows no '"' or '\'
// in these fields, and a token's text must never split the header.
func quote(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return '\''
		}
		return r
	}, s)
}

func unauthenticated(code, desc string, err error) *AuthError {
	return &AuthError{Code: code, Description: desc, Err: err}
}

// forbidden is the refusal the REST layer maps to 403.
func forbidden(format string, args ...any) *outcome.Error {
	return outcome.Errorf(outcome.Forbidden, format, args...)
}
