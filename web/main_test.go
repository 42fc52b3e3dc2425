package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/careplan"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/internal/browsertest"
	"ucp/internal/resttest"
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
	sink   *audit.Sink
}

// testCookie carries the test's principal until auth/session's cookie does
// the same: role|patient|name, base64.
const testCookie = "ucp_test_session"

// testSessions is the test's stand-in for auth/session's Manager: the CSRF
// token is a hash of the session cookie, checked on every form.
type testSessions struct{}

func (testSessions) SignInURL(returnTo string) string {
	return "/test/signin?next=" + url.QueryEscape(returnTo)
}

func csrfOf(cookie string) string {
	h := sha256.Sum256([]byte("csrf:" + cookie))
	return hex.EncodeToString(h[:])
}

func (testSessions) CSRFToken(r *http.Request) string {
	c, err := r.Cookie(testCookie)
	if err != nil {
		return ""
	}
	return csrfOf(c.Value)
}

func (testSessions) CheckCSRF(r *http.Request) error {
	c, err := r.Cookie(testCookie)
	if err != nil || r.PostFormValue("csrf_token") != csrfOf(c.Value) {
		return errors.New("bad csrf token")
	}
	return nil
}

// principalOf turns the test cookie into a principal with the scopes a
// session of that role gets.
func principalOf(v string) *auth.Principal {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	parts := strings.SplitN(string(b), "|", 3)
	if len(parts) != 3 {
		return nil
	}
	p := &auth.Principal{Role: auth.Role(parts[0]), Patient: parts[1], Name: parts[2], Subject: parts[2], UserID: "u-" + parts[0], Org: "F84012"}
	scope := map[auth.Role]string{auth.RoleClinical: "user/*.cruds", auth.RoleView: "user/*.rs", auth.RolePatient: "patient/*.rs"}[p.Role]
	p.Scopes, _ = auth.ParseScopes(scope)
	if p.Role == auth.RoleClinical {
		p.FHIRUser = "Practitioner/ex-gp"
	}
	return p
}

func cookieFor(role auth.Role, patient, name string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(role) + "|" + patient + "|" + name))
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, reg := resttest.OpenStore(t), resttest.NewRegistry(t)
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
		WriteInterceptor: audit.WriteInterceptor{Next: plans, Patients: patients},
		ReadInterceptor:  audit.CollectingReader{Next: plans, Patients: patients},
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil))}
	loader, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Authorizer = auth.OperationPolicy{Next: policy}
	svc, err := service.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app, err := web.New(web.Config{FHIR: svc, Sessions: testSessions{}, Audit: sink, Collect: audit.WithCollector,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	e.Use(func(c *gin.Context) {
		if ck, err := c.Request.Cookie(testCookie); err == nil {
			if p := principalOf(ck.Value); p != nil {
				c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), p))
			}
		}
	})
	// The test's sign-in: sets the cookie and goes on.
	e.GET("/test/signin", func(c *gin.Context) {
		v := cookieFor(auth.Role(c.Query("role")), c.Query("patient"), c.Query("name"))
		http.SetCookie(c.Writer, &http.Cookie{Name: testCookie, Value: v, Path: "/", HttpOnly: true})
		next := c.Query("next")
		if next == "" {
			next = "/app/"
		}
		c.Redirect(http.StatusSeeOther, next)
	})
	app.Routes(e)
	srv := resttest.Serve(t, e)
	en := &env{t: t, url: srv.URL, st: st, loader: loader, sink: sink}
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
