package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/session"
	"ucp/fhir/outcome"
	"ucp/fhir/service"
	"ucp/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// FHIR is what the pages need of the FHIR service (*service.Service): the
// interactions a page performs, each authorised and read-filtered there.
type FHIR interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	VRead(ctx context.Context, typ, id string, vid int64) (*store.Version, error)
	Search(ctx context.Context, r service.SearchRequest) (*service.SearchResult, error)
	History(ctx context.Context, r service.HistoryRequest) (*service.HistoryResult, error)
	// BatchEntry is the one write a page makes: unlike Write, it
	// authorises the interaction itself, as the REST adapter does before
	// calling Write, so no page can write around the policy.
	BatchEntry(ctx context.Context, e *service.Entry) (*service.Result, error)
	// Operation invokes a FHIR operation ($access-log on the patient's
	// page, $create-plan from Action needed, $evaluate-measure for the
	// dashboard); the service authorises and records it itself.
	Operation(ctx context.Context, req *service.OperationRequest) (*service.OperationResult, error)
}

// Sessions is what the pages need of sign-in (*session.Manager): where to
// send a visitor who is not signed in, and the CSRF token of the session
// (session.FromContext) for forms.
type Sessions interface {
	// SignInURL is the sign-in page that returns to returnTo (a local path).
	SignInURL(returnTo string) string
	// CSRFToken is the token a form of the session carries.
	CSRFToken(s *session.Session) string
	// CheckCSRF refuses a form whose token is not its session's.
	CheckCSRF(r *http.Request, s *session.Session) error
}

// Config configures the app.
type Config struct {
	// FHIR gives the service acting for one interaction (for
	// *service.Service: func(c *service.Call) web.FHIR { return svc.For(c) }),
	// so its hooks see that interaction's break-glass reason and collect
	// what it disclosed.
	FHIR     func(call *service.Call) FHIR
	Sessions Sessions
	// Audit records each interaction a page performs, as the REST adapter
	// records each request (audit.Sink), with the interaction's Call, so
	// its AuditEvent names the patients that interaction returned.
	Audit service.AuditSink
	// SignOutPath is the sign-out form's action (POST), on every page.
	SignOutPath string
	// StepUp is where a patient signed in below P9 goes to verify their
	// identity with NHS login, coming back to returnTo (a local path)
	// (launch.StepUpPath); nil when patients have no NHS login, and the
	// pages then say so instead of offering a button.
	StepUp func(returnTo string) string
	Now    func() time.Time
	Logger *slog.Logger
}

// App serves the pages.
type App struct {
	cfg   Config
	pages map[string]*template.Template
}

// Prefix is where the app is mounted.
const Prefix = "/app"

// New returns the app.
func New(cfg Config) (*App, error) {
	if cfg.FHIR == nil || cfg.Sessions == nil {
		return nil, errors.New("web: FHIR and Sessions are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SignOutPath == "" {
		cfg.SignOutPath = "/auth/signout"
	}
	a := &App{cfg: cfg, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: %s: %w", n, err)
		}
		a.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return a, nil
}

// Routes registers the pages under /app on r, which must run the session
// middleware (session.Manager.Middleware) first.
func (a *App) Routes(r gin.IRouter) {
	g := r.Group(Prefix)
	static, _ := fs.Sub(staticFS, "static")
	g.StaticFS("/static", http.FS(static))
	g.GET("/accessibility", a.page(a.accessibility, false))
	g.GET("/", a.page(a.find, true))
	g.GET("/patients", a.page(a.find, true))
	g.GET("/patients/:id", a.page(a.urgentView, true))
	g.POST("/patients/:id/break-glass", a.page(a.breakGlass, true))
	g.GET("/plans/:id/history", a.page(a.history, true))
	g.POST("/plans/:id/status", a.page(a.changeStatus, true))
	g.GET("/plans/new", a.page(a.newPlan, true))
	g.POST("/patients/:id/plans", a.page(a.createPlan, true))
	g.GET("/plans/:id/edit", a.page(a.editPlan, true))
	g.POST("/plans/:id/sections", a.page(a.saveSection, true))
	a.questionnaireRoutes(g)
	a.actionRoutes(g)
	g.GET("/dashboard", a.page(a.dashboard, true))
	g.GET("/dashboard/:file", a.page(a.dashboardCSV, true))
}

// handler is a page's handler: it renders or returns an error, which page
// turns into a plain page with the status of its outcome kind.
type handler func(c *gin.Context, v *view) error

// view is what every page's template gets.
type view struct {
	Title     string
	User      *auth.Principal
	CSRF      string
	SignOut   string
	Dev       bool
	Patient   *patientBanner
	Data      any
	Error     string
	ErrorHelp string
	// ErrorItems are the separate problems behind Error (each missing
	// section of a plan, say), listed one by one.
	ErrorItems []string
	// Actions is the count of the staff member's organisation's open
	// Tasks (Action needed), nil when not shown.
	Actions *int
	status  int
}

// page wraps a handler: sign-in when needed, the common view, errors as pages.
func (a *App) page(h handler, signedIn bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		p := auth.FromContext(r.Context())
		if signedIn && p == nil {
			if r.Method == http.MethodGet {
				c.Redirect(http.StatusSeeOther, a.cfg.Sessions.SignInURL(r.URL.RequestURI()))
				return
			}
			a.render(c, "error", &view{Title: "You are not signed in", Error: "You are not signed in.",
				ErrorHelp: "Sign in again and repeat what you were doing.", status: http.StatusUnauthorized})
			return
		}
		v := &view{User: p, SignOut: a.cfg.SignOutPath, status: http.StatusOK}
		sess := session.FromContext(r.Context())
		if p != nil && sess != nil {
			v.CSRF = a.cfg.Sessions.CSRFToken(sess)
		}
		v.Actions = a.actionCount(c, p)
		if r.Method == http.MethodPost {
			if err := a.checkCSRF(r, sess); err != nil {
				a.fail(c, v, outcome.Errorf(outcome.Forbidden, "the form has expired or did not come from this service"))
				return
			}
		}
		pa := &pageAudit{call: &service.Call{Disclosure: &service.Disclosure{}}, start: a.cfg.Now()}
		pa.fhir = a.cfg.FHIR(pa.call)
		c.Request = r.WithContext(context.WithValue(r.Context(), pageKey{}, pa))
		err := h(c, v)
		if err != nil {
			a.fail(c, v, err)
		}
		a.recordPage(c, pa, err)
	}
}

// pageAudit is the one audit record of a page view. A page makes a dozen
// reads (the patient, their plans, the approval's Composition, each
// section); they share one Call, so the read filter and the audit see one
// interaction, and the view is recorded once: as its first read, with every
// patient (the Call's Disclosure) and every resource it showed. Writes stay
// interactions of their own, each audited with its write.
type pageAudit struct {
	call  *service.Call
	fhir  FHIR
	start time.Time
	first *service.Access
	shown []string
	seen  map[string]bool
}

type pageKey struct{}

// pageOf is the page view ctx belongs to, nil outside one.
func pageOf(ctx context.Context) *pageAudit {
	pa, _ := ctx.Value(pageKey{}).(*pageAudit)
	return pa
}

// note adds v to what the page showed.
func (pa *pageAudit) note(v *store.Version) {
	ref := v.Type + "/" + v.ID + "/_history/" + strconv.FormatInt(v.VersionID, 10)
	if pa.seen == nil {
		pa.seen = map[string]bool{}
	}
	if !pa.seen[ref] {
		pa.seen[ref] = true
		pa.shown = append(pa.shown, ref)
	}
}

// recordPage records the page view, once, when it read anything: with the
// page's status (or its error's), its path, and what it showed.
func (a *App) recordPage(c *gin.Context, pa *pageAudit, err error) {
	if a.cfg.Audit == nil || pa.first == nil {
		return
	}
	r := c.Request
	status := c.Writer.Status()
	if err != nil {
		status = outcome.Status(err)
	}
	a.cfg.Audit.Record(r.Context(), service.AuditRecord{Access: *pa.first, Call: pa.call, Method: r.Method, Path: r.URL.Path,
		Status: status, Time: pa.start, Err: err, Page: r.URL.Path, Disclosed: pa.shown})
}

// checkCSRF refuses a form without its session's token; a form with no
// session at all is refused too.
func (a *App) checkCSRF(r *http.Request, s *session.Session) error {
	if s == nil {
		return errors.New("no session")
	}
	return a.cfg.Sessions.CheckCSRF(r, s)
}

// fail renders err as a plain page in words, with the status of its kind.
func (a *App) fail(c *gin.Context, v *view, err error) {
	kind := outcome.KindOf(err)
	v.status = kind.Status()
	v.Data = nil
	switch kind {
	case outcome.Forbidden, outcome.Unauthenticated:
		v.Title = "You cannot do this"
		v.Error = "You do not have permission to do this."
		v.ErrorHelp = message(err)
	case outcome.NotFound, outcome.Gone:
		v.Title = "Not found"
		v.Error = "There is nothing here that you can see."
		v.ErrorHelp = message(err)
	case outcome.Invalid, outcome.Unprocessable, outcome.Conflict, outcome.PreconditionFailed:
		v.Title = "This could not be saved"
		v.Error = "This could not be done."
		v.ErrorHelp = message(err)
		v.ErrorItems = problems(err)
	default:
		a.cfg.Logger.ErrorContext(c.Request.Context(), "web: page failed", "path", c.Request.URL.Path, "err", err)
		v.Title = "Sorry, there is a problem with the service"
		v.Error = "Sorry, there is a problem with the service."
		v.ErrorHelp = "Try again later. In an emergency, follow your organisation's usual procedure."
	}
	a.render(c, "error", v)
}

// message is err's text for a person, without the Go wrapping.
func message(err error) string {
	var oe *outcome.Error
	if errors.As(err, &oe) {
		return oe.Message
	}
	return ""
}

// problems lists the separate problems behind err, in words.
func problems(err error) []string {
	var oe *outcome.Error
	if !errors.As(err, &oe) {
		return nil
	}
	var out []string
	for _, is := range oe.Issues {
		if is.Diagnostics != "" {
			out = append(out, is.Diagnostics)
		}
	}
	return out
}

func (a *App) render(c *gin.Context, name string, v *view) {
	t, ok := a.pages[name]
	if !ok {
		panic("web: no template " + name) // ours: a bug
	}
	c.Header("Content-Type", "text/html; charset=utf-8")
	// Plans are clinical records: never cached by the browser or a proxy.
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Status(v.status)
	if err := t.ExecuteTemplate(c.Writer, "layout.html", v); err != nil {
		a.cfg.Logger.ErrorContext(c.Request.Context(), "web: rendering", "page", name, "err", err)
	}
}

// audited runs one service interaction and records it, as the REST adapter
// records a request: one Call per interaction, carrying the break-glass
// reason ("" for none) and collecting what it disclosed for its AuditEvent.
func (a *App) audited(ctx context.Context, r *http.Request, breakGlass string, acc service.Access, do func(ctx context.Context, fhir FHIR) error) error {
	call := &service.Call{BreakGlass: breakGlass, Disclosure: &service.Disclosure{}}
	err := do(ctx, a.cfg.FHIR(call))
	if a.cfg.Audit != nil {
		status := http.StatusOK
		if err != nil {
			status = outcome.Status(err)
		}
		a.cfg.Audit.Record(ctx, service.AuditRecord{Access: acc, Method: r.Method, Path: r.URL.Path,
			Status: status, Time: a.cfg.Now(), Err: err, Call: call})
	}
	return err
}
