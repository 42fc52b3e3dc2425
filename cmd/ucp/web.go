package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/launch"
	"ucp/auth/session"
	"ucp/fhir/service"
	"ucp/loadgen"
	"ucp/web"
)

// mountWeb serves the web app's pages at /app on e, each request as the
// user of its session, through the API's own FHIR service (the same
// authorizer, care-plan rules and audit).
func mountWeb(e *gin.Engine, svc *service.Service, sessions *session.Manager, sink *audit.Sink, stepUp func(string) string, log *slog.Logger) error {
	// The patient's page shows who has looked at their record; the API
	// serves the same operation.
	if err := svc.RegisterOperation(audit.AccessLogOperation(svc)); err != nil {
		return err
	}
	app, err := web.New(web.Config{FHIR: func(c *service.Call) web.FHIR { return svc.For(c) }, Sessions: sessions, Audit: sink, StepUp: stepUp, Logger: log})
	if err != nil {
		return err
	}
	app.Routes(e.Group("", sessions.Middleware()))
	return nil
}

// nhsLoginStepUp is the web app's link for a patient to verify their
// identity (to P9) with NHS login, nil when --nhslogin-issuer is not set:
// the development identity provider's patients cannot step up, and the
// pages then say so.
func nhsLoginStepUp(lf launchFlags) func(returnTo string) string {
	if lf.NHSLoginIssuer == "" {
		return nil
	}
	return func(returnTo string) string { return launch.StepUpPath("nhslogin", returnTo) }
}

// webBench is ucp bench's "urgent care view page": the page an ambulance
// clinician opens, GET /app/patients/{id} with a session cookie, for the
// patients of w. weight reports what one view downloads: the HTML and its
// two stylesheets.
func webBench(ctx context.Context, srv *server, w *world) (loadgen.Scenario, func(context.Context) (string, error), error) {
	cookie, err := benchSession(ctx, srv.launch.sessions)
	if err != nil {
		return loadgen.Scenario{}, nil, err
	}
	root := publicOrigin(srv.base)
	get := func(ctx context.Context, c *http.Client, u string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Cookie", cookie)
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %.200s", u, resp.StatusCode, b)
		}
		return b, nil
	}
	sc := loadgen.Scenario{Name: "urgent care view page", Do: func(ctx context.Context, c *http.Client, wk, n int) error {
		b, err := get(ctx, c, root+web.Prefix+"/patients/"+w.patients[(wk*7919+n)%len(w.patients)])
		if err == nil && !bytes.Contains(b, []byte(`id="cpr-decision"`)) {
			return errors.New("urgent care view page without a CPR decision")
		}
		return err
	}}
	weight := func(ctx context.Context) (string, error) {
		c := &http.Client{Timeout: 30 * time.Second}
		var sizes []int
		for _, u := range []string{web.Prefix + "/patients/" + w.patients[0], web.Prefix + "/static/nhsuk.min.css", web.Prefix + "/static/app.css"} {
			b, err := get(ctx, c, root+u)
			if err != nil {
				return "", err
			}
			sizes = append(sizes, len(b))
		}
		return fmt.Sprintf("urgent care view page weight: HTML %.1f KB + NHS.UK styles %.1f KB + ucp styles %.1f KB = %.1f KB (uncompressed)",
			float64(sizes[0])/1024, float64(sizes[1])/1024, float64(sizes[2])/1024, float64(sizes[0]+sizes[1]+sizes[2])/1024), nil
	}
	return sc, weight, nil
}

// benchSession opens an urgent-care (view) session of the development
// organisation, as a sign-in would, and returns its Cookie header.
func benchSession(ctx context.Context, sessions *session.Manager) (string, error) {
	scopes, err := auth.ParseScopes("user/*.rs")
	if err != nil {
		return "", err
	}
	p := &auth.Principal{Role: auth.RoleView, Name: "Benchmark paramedic", UserID: "bench", Subject: "bench", Org: devOrg, Scopes: scopes}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return "", err
	}
	rec := headerRecorder{h: http.Header{}}
	if _, err := sessions.Start(ctx, rec, req, session.Launch{User: p, Door: session.DoorDev}); err != nil {
		return "", err
	}
	resp := http.Response{Header: rec.h}
	var parts []string
	for _, c := range resp.Cookies() {
		parts = append(parts, c.Name+"="+c.Value)
	}
	if len(parts) == 0 {
		return "", errors.New("the session set no cookie")
	}
	return strings.Join(parts, "; "), nil
}

// headerRecorder keeps the headers Start sets (its cookie).
type headerRecorder struct{ h http.Header }

func (r headerRecorder) Header() http.Header         { return r.h }
func (r headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r headerRecorder) WriteHeader(int)             {}
