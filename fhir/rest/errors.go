package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/store"
)

// kindStatus is THE table from error kind to HTTP status and OperationOutcome
// issue code (R4 valueset-issue-type). Every error response goes through it.
var kindStatus = map[store.Kind]struct {
	status int
	code   string
}{
	store.Internal:           {http.StatusInternalServerError, "exception"},
	store.NotFound:           {http.StatusNotFound, "not-found"},
	store.Gone:               {http.StatusGone, "deleted"},
	store.Conflict:           {http.StatusConflict, "conflict"},
	store.PreconditionFailed: {http.StatusPreconditionFailed, "conflict"},
	store.Invalid:            {http.StatusBadRequest, "invalid"},
	store.Unprocessable:      {http.StatusUnprocessableEntity, "processing"},
	store.Unsupported:        {http.StatusBadRequest, "not-supported"},
	store.Forbidden:          {http.StatusForbidden, "forbidden"},
	store.Unauthenticated:    {http.StatusUnauthorized, "login"},
}

// challenger is an authentication error that knows its WWW-Authenticate
// challenge (RFC 6750 §3); a 401 must carry one.
type challenger interface{ Challenge() string }

// issueError is an error with an HTTP status that no store kind expresses
// (406, 413, 415, 405) or with a more precise issue code.
type issueError struct {
	status int
	code   string
	msg    string
	expr   []string
}

func (e *issueError) Error() string { return e.msg }

func statusErr(status int, code, msg string) error {
	return &issueError{status: status, code: code, msg: msg}
}

// invalid returns a store Invalid error (400).
func invalid(format string, args ...any) error {
	return store.Errorf(store.Invalid, format, args...)
}

// invalidAt returns an Invalid error about a FHIRPath location.
func invalidAt(expr string, format string, args ...any) error {
	e := store.Errorf(store.Invalid, format, args...)
	e.Expr = []string{expr}
	return e
}

func precondition(format string, args ...any) error {
	return store.Errorf(store.PreconditionFailed, format, args...)
}

// Status is the HTTP status the API answers for err (a store.Error kind, or
// an error of this package), for callers that report outside HTTP what the
// API would have said (a bulk import's rejected lines).
func Status(err error) int {
	status, _, _, _ := errorStatus(err)
	return status
}

// errorStatus maps err to its status, issue code, message and expressions.
// Internal errors get a generic message: their detail is for the log only.
func errorStatus(err error) (status int, code, msg string, expr []string) {
	var ie *issueError
	if errors.As(err, &ie) {
		return ie.status, ie.code, ie.msg, ie.expr
	}
	if e := store.AsError(err); e != nil {
		k, ok := kindStatus[e.Kind]
		if !ok {
			k = kindStatus[store.Internal]
		}
		if e.Kind == store.Internal {
			return k.status, k.code, "internal server error", nil
		}
		msg := e.Message
		if msg == "" {
			msg = e.Kind.String()
		}
		return k.status, k.code, msg, e.Expr
	}
	k := kindStatus[store.Internal]
	return k.status, k.code, "internal server error", nil
}

// outcomeIssue is OperationOutcome.issue.
type outcomeIssue struct {
	Severity    string          `json:"severity"`
	Code        string          `json:"code"`
	Diagnostics string          `json:"diagnostics,omitempty"`
	Details     *outcomeDetails `json:"details,omitempty"`
	Expression  []string        `json:"expression,omitempty"`
}

type outcomeDetails struct {
	Text string `json:"text,omitempty"`
}

type operationOutcome struct {
	ResourceType string         `json:"resourceType"`
	Issue        []outcomeIssue `json:"issue"`
}

// outcomeJSON builds an OperationOutcome with one issue.
func outcomeJSON(severity, code, msg string, expr []string) []byte {
	b, _ := json.Marshal(operationOutcome{ResourceType: "OperationOutcome", Issue: []outcomeIssue{{
		Severity: severity, Code: code, Diagnostics: msg, Expression: expr,
	}}})
	return b
}

// errorOutcome renders err as (status, OperationOutcome JSON), logging
// internal errors with their detail.
func (s *Server) errorOutcome(c *gin.Context, err error) (int, []byte) {
	status, _, _, _ := errorStatus(err)
	if status == http.StatusUnauthorized {
		challenge := `Bearer realm="ucp"`
		var ch challenger
		if errors.As(err, &ch) {
			challenge = ch.Challenge()
		}
		c.Header("WWW-Authenticate", challenge)
		c.Header("Cache-Control", "no-store")
	}
	return s.outcome(c.Request.Context(), c.Request.Method, c.Request.URL.Path, err)
}

// outcome logs a refused or failed interaction and returns its status and
// OperationOutcome.
func (s *Server) outcome(ctx context.Context, method, path string, err error) (int, []byte) {
	status, code, msg, expr := errorStatus(err)
	if status >= 500 {
		s.log.ErrorContext(ctx, "fhir request failed", "method", method, "path", path, "err", err)
	} else {
		s.log.DebugContext(ctx, "fhir request refused", "method", method, "path", path, "status", status, "err", err)
	}
	sev := "error"
	if status >= 500 {
		sev = "fatal"
	}
	if e := store.AsError(err); e != nil && len(e.Details) > 0 && status < 500 {
		return status, detailsJSON(sev, code, e.Details)
	}
	return status, outcomeJSON(sev, code, msg, expr)
}

// detailsJSON builds an OperationOutcome with one issue per detail.
func detailsJSON(severity, code string, details []store.Detail) []byte {
	oo := operationOutcome{ResourceType: "OperationOutcome"}
	for _, d := range details {
		is := outcomeIssue{Severity: severity, Code: code, Diagnostics: d.Message}
		if d.Code != "" {
			is.Code = d.Code
		}
		if d.Expr != "" {
			is.Expression = []string{d.Expr}
		}
		oo.Issue = append(oo.Issue, is)
	}
	b, _ := json.Marshal(oo)
	return b
}

// handle adapts a handler returning an error to gin: the one place where
// errors become responses. It also records the audit entry.
func (s *Server) handle(h func(*gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := s.cfg.Now()
		err := h(c)
		if err != nil {
			status, body := s.errorOutcome(c, err)
			c.Header("ETag", "")
			c.Header("Last-Modified", "")
			c.Header("Location", "")
			c.Header("Content-Location", "")
			s.writeRaw(c, status, body)
		}
		if a, ok := c.Get(accessKey); ok {
			s.cfg.Audit.Record(c.Request.Context(), AuditRecord{
				Access: a.(Access), Method: c.Request.Method, Path: c.Request.URL.Path,
				Status: c.Writer.Status(), Time: start, Err: err,
			})
		}
	}
}

const accessKey = "ucp.rest.access"

// authorize asks the Authorizer and remembers the access for the audit.
func (s *Server) authorize(c *gin.Context, a Access) error {
	c.Set(accessKey, a)
	return s.cfg.Authorizer.Authorize(c.Request.Context(), a)
}

// recoverMiddleware is the last resort: a panic is logged with its stack and
// answered with a 500 OperationOutcome, never a dropped connection.
func (s *Server) recoverMiddleware(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.ErrorContext(c.Request.Context(), "panic serving fhir request", "method", c.Request.Method, "path", c.Request.URL.Path, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				s.writeRaw(c, http.StatusInternalServerError, outcomeJSON("fatal", "exception", "internal server error", nil))
			}
			c.Abort()
		}
	}()
	c.Next()
}

// logMiddleware logs each request through slog (gin's own logger would
// write to stdout). The query string is left out on purpose: searches carry
// NHS numbers and names, which do not belong in logs; the audit sink records
// what was asked.
func (s *Server) logMiddleware(c *gin.Context) {
	start := time.Now()
	c.Next()
	d := time.Since(start)
	entry := isBundleEntry(c.Request)
	s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "fhir request",
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", c.Writer.Status()),
		slog.Duration("duration", d),
		slog.Bool("bundle_entry", entry))
	if s.cfg.Observer != nil && !entry {
		var interaction, typ string
		if a, ok := c.Get(accessKey); ok {
			acc := a.(Access)
			interaction, typ = acc.Interaction, acc.Type
			if interaction == "operation" {
				interaction = "$" + acc.Operation
			}
		}
		s.cfg.Observer.ObserveRequest(interaction, typ, c.Writer.Status(), d)
	}
}

// httpDate formats t for Last-Modified.
func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
