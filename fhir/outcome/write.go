package outcome

import (
	"encoding/json"
	"errors"
	"net/http"
)

// OperationOutcome is the R4 resource, as far as the server writes it.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"` // always "OperationOutcome"
	Issue        []Issue `json:"issue"`
}

// Issue is OperationOutcome.issue.
type Issue struct {
	Severity    string   `json:"severity"` // fatal, error, warning or information
	Code        string   `json:"code"`     // R4 valueset-issue-type
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// New returns an OperationOutcome of the given issues.
func New(issues ...Issue) OperationOutcome {
	return OperationOutcome{ResourceType: "OperationOutcome", Issue: issues}
}

// Info returns an OperationOutcome of one informational issue, the body of a
// success the client asked to have described (Prefer: return=OperationOutcome).
func Info(msg string) OperationOutcome {
	return New(Issue{Severity: "information", Code: "informational", Diagnostics: msg})
}

// JSON is o as JSON.
func (o OperationOutcome) JSON() []byte {
	if o.Issue == nil {
		o.Issue = []Issue{}
	}
	b, err := json.Marshal(o)
	if err != nil {
		// Only strings and slices of them: Marshal cannot fail.
		panic(err)
	}
	return b
}

// Summary is err's status and the one issue that sums it up (its kind's
// code unless the error names a more precise one, its message and
// locations). Internal errors get a generic message, their detail being for
// the log only.
func Summary(err error) (int, Issue) {
	e := AsError(err)
	if e == nil {
		e = &Error{Kind: Internal}
	}
	status := e.Kind.Status()
	is := Issue{Severity: "error", Code: e.Code, Diagnostics: e.Message, Expression: e.Expr}
	if is.Code == "" {
		is.Code = e.Kind.Code()
	}
	if status >= 500 {
		is.Severity = "fatal"
	}
	switch {
	case e.Kind == Internal:
		is.Diagnostics, is.Expression = "internal server error", nil
	case is.Diagnostics == "":
		is.Diagnostics = e.Kind.String()
	}
	return status, is
}

// Describe is the one rendering of err: its status and OperationOutcome,
// the Summary or, for an error with Issues, each of them.
func Describe(err error) (int, OperationOutcome) {
	status, sum := Summary(err)
	e := AsError(err)
	if e == nil || len(e.Issues) == 0 || status >= 500 {
		return status, New(sum)
	}
	oo := New()
	for _, is := range e.Issues {
		if is.Severity == "" {
			is.Severity = sum.Severity
		}
		if is.Code == "" {
			is.Code = sum.Code
		}
		oo.Issue = append(oo.Issue, is)
	}
	return status, oo
}

// challenger is an authentication error that knows its WWW-Authenticate
// challenge (RFC 6750 §3); a 401 must carry one.
type challenger interface{ Challenge() string }

// Challenge is the WWW-Authenticate value for a 401 answering err.
func Challenge(err error) string {
	var ch challenger
	if errors.As(err, &ch) {
		return ch.Challenge()
	}
	return `Bearer realm="ucp"`
}

// Write answers err on w as an OperationOutcome, for handlers outside the
// REST adapter (the auth middleware, bulk export's status endpoint). A 401
// carries its challenge; refusals are not to be cached.
func Write(w http.ResponseWriter, err error) {
	status, oo := Describe(err)
	h := w.Header()
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", Challenge(err))
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(oo.JSON(), '\n'))
}
