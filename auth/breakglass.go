package auth

import (
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"ucp/fhir/outcome"
)

// BreakGlassHeader is the request header that asks for emergency
// ("break-glass") access and states why: "X-Break-Glass: patient
// unconscious in ED, no plan visible".
//
// A header rather than a SMART scope (user/*.rs?purpose=BTG): the reason is
// free text chosen at the moment of need, whereas scopes are fixed when the
// token is issued and CIS2 does not mint per-request scopes. The header is
// honoured only for a verified principal of role view or clinical.
const BreakGlassHeader = "X-Break-Glass"

// MaxBreakGlassReason bounds the stated reason, in characters: enough for a
// sentence, too little to smuggle a document into the audit trail.
const MaxBreakGlassReason = 500

// minBreakGlassReason is the fewest non-space characters accepted, so that
// "x" or "." does not pass for a reason.
const minBreakGlassReason = 4

// ParseBreakGlassReason checks a stated reason: non-empty after trimming,
// at least a few characters, at most MaxBreakGlassReason characters, valid
// UTF-8 and printable (no control characters, which could forge lines in
// logs or audit displays). It returns the trimmed reason.
func ParseBreakGlassReason(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", forbidden("the break-glass reason is not valid UTF-8")
	}
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0:
		return "", forbidden("break-glass access needs a reason in the %s header", BreakGlassHeader)
	case n < minBreakGlassReason:
		return "", forbidden("the break-glass reason is too short: say why you need access")
	case n > MaxBreakGlassReason:
		return "", forbidden("the break-glass reason is longer than %d characters", MaxBreakGlassReason)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", forbidden("the break-glass reason contains a control character")
		}
	}
	return s, nil
}

// BreakGlassAllowed reports whether the principal's role may break the
// glass: only staff who already see plans (view and clinical). Patients see
// their own plan anyway; admins and systems must not use an emergency path
// to reach clinical content.
func BreakGlassAllowed(p *Principal) bool {
	return p != nil && (p.Role == RoleView || p.Role == RoleClinical)
}

// BreakGlass returns the stated reason when r asks for break-glass access
// with a valid reason and its verified principal (already in r's context)
// may break the glass. ok is false when the header is absent, invalid, or
// the role may not use it; [BreakGlassHandler] tells the caller which.
func BreakGlass(r *http.Request) (reason string, ok bool) {
	reason, err := breakGlass(r)
	return reason, err == nil && reason != ""
}

// BreakGlassReason is BreakGlass's reason alone: "" unless r validly
// breaks the glass. A door gives it to the service as
// service.Call.BreakGlass.
func BreakGlassReason(r *http.Request) string {
	reason, _ := BreakGlass(r)
	return reason
}

// breakGlass returns "", nil when the request does not ask for break-glass.
func breakGlass(r *http.Request) (string, error) {
	vals := r.Header.Values(BreakGlassHeader)
	if len(vals) == 0 {
		return "", nil
	}
	if len(vals) > 1 {
		return "", forbidden("send one %s header", BreakGlassHeader)
	}
	reason, err := ParseBreakGlassReason(vals[0])
	if err != nil {
		return "", err
	}
	p := FromContext(r.Context())
	if p == nil {
		return "", nil // anonymous: the policy answers 401 anyway
	}
	if !BreakGlassAllowed(p) {
		return "", forbidden("role %s may not use break-glass access", roleName(p.Role))
	}
	return reason, nil
}

func roleName(r Role) string {
	if r == RoleNone {
		return "none"
	}
	return string(r)
}

// BreakGlassHandler refuses with 403 and an OperationOutcome the requests
// that ask for break-glass access invalidly, so a clinician in an emergency
// learns at once why the glass did not break instead of meeting an
// unexplained refusal later. The requests it passes on that ask validly
// carry their reason in the header, where the door reads it with
// [BreakGlass] and gives it to the service as service.Call.BreakGlass. It
// must run after the token verifier has put the principal in the context.
func BreakGlassHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := breakGlass(r); err != nil {
			outcome.Write(w, &outcome.Error{Kind: outcome.Forbidden, Message: err.Error()})
			return
		}
		next.ServeHTTP(w, r)
	})
}
