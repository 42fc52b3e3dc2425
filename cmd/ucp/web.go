package main

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"ucp/auth/audit"
	"ucp/auth/session"
	"ucp/fhir/service"
	"ucp/web"
)

// mountWeb serves the web app's pages at /app on e, each request as the
// user of its session, through the API's own FHIR service (the same
// authorizer, care-plan rules and audit).
func mountWeb(e *gin.Engine, svc *service.Service, sessions *session.Manager, sink *audit.Sink, log *slog.Logger) error {
	app, err := web.New(web.Config{FHIR: svc, Sessions: webSessions{sessions}, Audit: sink, Collect: audit.WithCollector, Logger: log})
	if err != nil {
		return err
	}
	app.Routes(e.Group("", sessions.Middleware()))
	return nil
}

// webSessions adapts auth/session's Manager to what the pages ask of it.
type webSessions struct{ m *session.Manager }

func (w webSessions) SignInURL(returnTo string) string { return w.m.SignInURL(returnTo) }

func (w webSessions) CSRFToken(r *http.Request) string {
	s := session.FromContext(r.Context())
	if s == nil {
		return ""
	}
	return w.m.CSRFToken(s)
}

func (w webSessions) CheckCSRF(r *http.Request) error {
	s := session.FromContext(r.Context())
	if s == nil {
		return errors.New("no session")
	}
	return w.m.CheckCSRF(r, s)
}
