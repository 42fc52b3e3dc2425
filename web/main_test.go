package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/authstate"
	"ucp/auth/session"
	"ucp/careplan"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/internal/browsertest"
	"ucp/internal/resttest"
	"ucp/notify"
	"ucp/patientplan"
	"ucp/profiles"
	"ucp/store"
	"ucp/web"
)

var browser *browsertest.Browser

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	b, err := browsertest.Start()
	if err != nil && !errors.Is(err, browsertest.ErrNoChromium) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if b == nil {
		fmt.Fprintln(os.Stderr, "web: skipping browser tests:", err)
	}
	browser = b
	code := m.Run()
	browser.Close()
	os.Exit(code)
}

// env is the app served on loopback over a real SQLite store with the
// care-plan rules, the policy and the audit, as ucp serve wires them.
type env struct {
	t      *testing.T
	url    string
	st     store.Store
	loader *service.Service
	svc    *service.Service // the pages' service, with the policy
	sink   *audit.Sink
}

// principal is a signed-in user of role, with the scopes a session of
// that role gets.
func principal(role auth.Role, patient, name string) *auth.Principal {
	p := &auth.Principal{Role: role, Patient: patient, Name: name, Subject: name, UserID: "u-" + string(role), Org: "F84012"}
	scope := map[auth.Role]string{auth.RoleClinical: "user/*.cruds", auth.RoleView: "user/*.rs", auth.RolePatient: "patient/*.rs patient/QuestionnaireResponse.cu"}[role]
	p.Scopes, _ = auth.ParseScopes(scope)
	if role == auth.RoleClinical {
		p.FHIRUser = "Practitioner/ex-gp"
	}
	return p
}

// newEnv starts the app on a fresh store; opts adjust its Config.
func newEnv(t *testing.T, opts ...func(*web.Config)) *env {
	t.Helper()
	st, reg := resttest.OpenStore(t), resttest.NewRegistry(t)
	// ucp's own search parameters (supporting-info, for the urgent query),
	// as ucp serve registers them.
	for _, sp := range profiles.SearchParameters() {
		if err := reg.Register(sp); err != nil {
			t.Fatal(err)
		}
	}
	plans, err := careplan.New(careplan.Config{Store: st, Registry: reg, Validator: careplan.NewValidator(st, reg)})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := audit.Open(t.TempDir(), st, reg, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	patients := audit.NewPatients(reg)
	policy := auth.DefaultPolicy()
	policy.Compartment = auth.StoreCompartment(st)
	policy.Patients = reg.Patients
	cfg := service.Config{Store: st, Registry: reg, Types: reg.Types(),
		WriteInterceptor: audit.WriteInterceptor{Next: &patientplan.Rules{Next: notify.JobGuard{Next: plans}, Store: st}, Patients: patients},
		ReadInterceptor:  audit.CollectingReader{Next: plans, Patients: patients},
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil))}
	loader, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Authorizer = auth.InProcess{Next: patientplan.Proofing{Next: auth.OperationPolicy{Next: policy}}, Trusted: []*auth.Principal{audit.AccessLogReader, patientplan.Principal}}
	cfg.Audit = sink
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RegisterOperation(audit.AccessLogOperation(svc)); err != nil {
		t.Fatal(err)
	}
	for _, op := range []service.Operation{patientplan.CreatePlanOperation(svc, nil), patientplan.AskForChangeOperation(svc, nil)} {
		if err := svc.RegisterOperation(op); err != nil {
			t.Fatal(err)
		}
	}
	// Real sessions (auth/session on auth/authstate's SQLite file): the
	// cookie, the CSRF tokens and the session middleware are ucp serve's.
	// The test opens a session at /test/signin the way every sign-in door
	// ends, with Manager.Start; cmd/ucp's test goes through a signed link.
	state, err := authstate.Open(context.Background(), filepath.Join(t.TempDir(), "auth-state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	var mgr *session.Manager
	e := gin.New()
	e.Use(func(c *gin.Context) { mgr.Middleware()(c) })
	e.GET("/test/signin", func(c *gin.Context) {
		p := principal(auth.Role(c.Query("role")), c.Query("patient"), c.Query("name"))
		if org := c.Query("org"); org != "" {
			p.Org = org
		}
		// The session keeps a patient's identity proofing level as a
		// sign-in door gives it; tests that do not say are verified (P9).
		if p.Role == auth.RolePatient {
			p.IdentityProofing = session.ProofingP9
			if lvl := c.Query("proofing"); lvl != "" {
				p.IdentityProofing = lvl
			}
		}
		if _, err := mgr.Start(c.Request.Context(), c.Writer, c.Request, session.Launch{User: p, PatientID: p.Patient, Door: session.DoorDev}); err != nil {
			c.String(http.StatusForbidden, err.Error())
			return
		}
		c.Redirect(http.StatusSeeOther, session.LocalPath(c.Query("next")))
	})
	wcfg := web.Config{FHIR: func(c *service.Call) web.FHIR { return svc.For(c) }, Sessions: sessionsOf{&mgr}, Audit: sink,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&wcfg)
	}
	app, err := web.New(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	app.Routes(e)
	srv := resttest.Serve(t, e)
	if mgr, err = session.NewManager(session.Config{State: state, NotFound: authstate.ErrNotFound, BaseURL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	en := &env{t: t, url: srv.URL, st: st, loader: loader, svc: svc, sink: sink}
	return en
}

// put writes a testdata/profiles/valid example as the trusted loader, as a
// clinician (approvals need one).
func (e *env) put(names ...string) {
	e.t.Helper()
	for _, n := range names {
		e.putRes(e.load(n))
	}
}

// seedPlan writes the example patient and their approved plan.
func (e *env) seedPlan() {
	e.t.Helper()
	e.put("organization-gp", "practitioner-gp", "practitioner-nurse", "patient", "patient-minimal", "consent-given", "condition",
		"prognosis", "cpr-dnacpr", "document-respect", "treatment-escalation", "preferred-place-death-home", "key-contact",
		"careteam", "adrt-flag", "document-adrt", "medication-morphine", "careplan-active")
}

// signIn returns the URL that signs a tab in as role and goes to next.
func (e *env) signIn(role auth.Role, patient, name, next string) string {
	return e.url + "/test/signin?" + url.Values{"role": {string(role)}, "patient": {patient}, "name": {name}, "next": {next}}.Encode()
}

// load reads a testdata/profiles/valid example.
func (e *env) load(name string) map[string]any {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "profiles", "valid", name+".json"))
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := resource.Parse(b)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// putRes writes res as the trusted loader, as a clinician.
func (e *env) putRes(res map[string]any) {
	e.t.Helper()
	ctx := auth.NewContext(context.Background(), &auth.Principal{Role: auth.RoleClinical, Name: "Dr Priya Shah", FHIRUser: "Practitioner/ex-gp"})
	if _, err := e.loader.Write(ctx, &service.Write{Interaction: "update", Method: http.MethodPut, Type: resource.Type(res),
		ID: resource.ID(res), Resource: res, CreateOnMissing: true}); err != nil {
		e.t.Fatalf("put %s/%s: %v", resource.Type(res), resource.ID(res), err)
	}
}

// sessionsOf is the Manager made once the server's address is known.
type sessionsOf struct{ m **session.Manager }

func (s sessionsOf) SignInURL(returnTo string) string { return (*s.m).SignInURL(returnTo) }
func (s sessionsOf) CSRFToken(se *session.Session) string {
	return (*s.m).CSRFToken(se)
}
func (s sessionsOf) CheckCSRF(r *http.Request, se *session.Session) error {
	return (*s.m).CheckCSRF(r, se)
}
