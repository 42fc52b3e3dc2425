package rest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/fhir/outcome"
	"ucp/fhir/service"
)

// refuse returns an error of kind k with msg as it is.
func refuse(k outcome.Kind, msg string) error {
	return &outcome.Error{Kind: k, Message: msg}
}

// invalid returns an Invalid error (400).
func invalid(format string, args ...any) error {
	return outcome.Errorf(outcome.Invalid, format, args...)
}

// invalidAt returns an Invalid error about a FHIRPath location.
func invalidAt(expr string, format string, args ...any) error {
	return outcome.At(outcome.Invalid, expr, format, args...)
}

func precondition(format string, args ...any) error {
	return outcome.Errorf(outcome.PreconditionFailed, format, args...)
}

// outcomeJSON builds an OperationOutcome with one issue.
func outcomeJSON(severity, code, msg string, expr []string) []byte {
	return outcome.New(outcome.Issue{Severity: severity, Code: code, Diagnostics: msg, Expression: expr}).JSON()
}

// errorOutcome renders err as (status, OperationOutcome JSON), logging
// internal errors with their detail.
func (s *Server) errorOutcome(c *gin.Context, err error) (int, []byte) {
	if outcome.Status(err) == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", outcome.Challenge(err))
		c.Header("Cache-Control", "no-store")
	}
	return s.outcome(c.Request.Context(), c.Request.Method, c.Request.URL.Path, err)
}

// outcome logs a refused or failed interaction and returns its status and
// OperationOutcome. A client that went away is logged, not as a fault.
func (s *Server) outcome(ctx context.Context, method, path string, err error) (int, []byte) {
	status, oo := outcome.Describe(err)
	switch {
	case status == outcome.StatusClientClosed:
		s.log.InfoContext(ctx, "fhir request canceled by the client", "method", method, "path", path, "err", err)
	case status >= 500:
		s.log.ErrorContext(ctx, "fhir request failed", "method", method, "path", path, "err", err)
	default:
		s.log.DebugContext(ctx, "fhir request refused", "method", method, "path", path, "status", status, "err", err)
	}
	return status, oo.JSON()
}

// handle adapts a handler returning an error to gin: the one place where
// errors become responses. It also records the audit entry.
func (s *Server) handle(h func(*gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := s.cfg.Now()
		call := s.newCall(c.Request)
		c.Set(callKey, call)
		err := h(c)
		if err != nil {
			status, body := s.errorOutcome(c, err)
			c.Header("ETag", "")
			c.Header("Last-Modified", "")
			c.Header("Location", "")
			c.Header("Content-Location", "")
			s.writeRaw(c, status, body)
		}
		if a, ok := c.Get(accessKey); ok && !c.GetBool(auditedKey) {
			s.cfg.Audit.Record(c.Request.Context(), AuditRecord{
				Access: a.(Access), Call: call, Method: c.Request.Method, Path: c.Request.URL.Path,
				Status: c.Writer.Status(), Time: start, Err: err,
			})
		}
	}
}

const accessKey = "ucp.rest.access"

// callKey holds the request's *service.Call (see newCall).
const callKey = "ucp.rest.call"

// newCall is the service.Call of a request: its break-glass reason, as
// Config.BreakGlass reads it, and a new disclosure record for its audit.
func (s *Server) newCall(r *http.Request) *service.Call {
	call := &service.Call{Disclosure: &service.Disclosure{}}
	if s.cfg.BreakGlass != nil {
		call.BreakGlass = s.cfg.BreakGlass(r)
	}
	return call
}

// callOf returns the request's Call; nil outside handle.
func callOf(c *gin.Context) *service.Call {
	v, _ := c.Get(callKey)
	call, _ := v.(*service.Call)
	return call
}

// service is the FHIR service acting for the request's Call: every
// interaction of a request goes through it, so the hooks get the Call as
// a parameter.
func (s *Server) service(c *gin.Context) *service.Service { return s.svc.For(callOf(c)) }

// auditedKey marks a request whose interaction the service recorded
// itself (an operation), so handle does not record it again.
const auditedKey = "ucp.rest.audited"

// authorize asks the Authorizer and remembers the access for the audit.
func (s *Server) authorize(c *gin.Context, a Access) error {
	s.note(c, a)
	return s.cfg.Authorizer.Authorize(c.Request.Context(), a)
}

// note remembers a for the audit record of the request, for an
// interaction that the service authorises itself.
func (s *Server) note(c *gin.Context, a Access) { c.Set(accessKey, a) }

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
				status, oo := outcome.Describe(fmt.Errorf("panic: %v", r))
				s.writeRaw(c, status, oo.JSON())
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
	s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "fhir request",
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", c.Writer.Status()),
		slog.Duration("duration", d),
		slog.Bool("bundle_entry", false))
	if s.cfg.Observer != nil {
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
