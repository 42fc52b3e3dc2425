package main

import (
	"log/slog"

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
	app, err := web.New(web.Config{FHIR: svc, Sessions: sessions, Audit: sink, Collect: audit.WithCollector, Logger: log})
	if err != nil {
		return err
	}
	app.Routes(e.Group("", sessions.Middleware()))
	return nil
}
