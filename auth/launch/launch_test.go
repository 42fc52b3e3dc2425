package launch_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/authstate"
	"ucp/auth/devissuer"
	"ucp/auth/launch"
	"ucp/auth/session"
	"ucp/auth/smart"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/internal/resttest"
)

const (
	nhsJoan     = "9434765919" // on record, born 1940-02-03
	nhsUnknown  = "9434765870" // valid, not on record
	launcherID  = "emis-web-test"
	practiceODS = "F84012"
)

// harness is the doors served over loopback on a real store, with a real
// audit journal, the real agreements and a development issuer.
type harness struct {
	root     string // the server's root URL
	linkURL  string
	key      *auth.SigningKey // the launcher's
	other    *auth.SigningKey // the key of other-practice-launcher, registered for Y00001
	events   *journal
	patient  string // Joan's Patient id
	svc      *service.Service
	handler  http.Handler // the doors' engine, for in-process benchmarks
	launcher *smart.Client
	sessions *session.Manager
}

// journal passes events to the real audit sink and keeps them for the
// test to look at.
type journal struct {
	sink *audit.Sink
	mu   sync.Mutex
	evs  []*audit.AuditEvent
}

func (j *journal) Append(ev *audit.AuditEvent) error {
	j.mu.Lock()
	j.evs = append(j.evs, ev)
	j.mu.Unlock()
	return j.sink.Append(ev)
}

func (j *journal) last(t *testing.T) *audit.AuditEvent {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.evs) == 0 {
		t.Fatal("no AuditEvent recorded")
	}
	return j.evs[len(j.evs)-1]
}

func (j *journal) count() int { j.mu.Lock(); defer j.mu.Unlock(); return len(j.evs) }

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessOn(t, func(h http.Handler) string { return resttest.Serve(t, h).URL }, false, nil)
}

// newHarnessOn serves the doors with serve (which returns the root URL);
// tls and frameAncestors configure the session cookie and framing.
func newHarnessOn(t testing.TB, serve func(http.Handler) string, tls bool, frameAncestors []string, opts ...func(*launch.Config, *devissuer.Issuer, *authstate.Store)) *harness {
	t.Helper()
	gin.SetMode(gin.TestMode)
	st := resttest.OpenStore(t)
	reg := resttest.NewRegistry(t)
	svc, err := service.New(service.Config{Store: st, Registry: reg, Types: reg.Types()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := auth.NewContext(context.Background(), &auth.Principal{Role: auth.RoleClinical, Subject: "test-loader"})
	put := func(typ, body string) string {
		res, err := resource.Parse([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		r, err := svc.Write(ctx, &service.Write{Interaction: "create", Method: "POST", Type: typ, Resource: res})
		if err != nil {
			t.Fatal(err)
		}
		return r.Version.ID
	}
	patient := put("Patient", resttest.Patient(nhsJoan))
	put("Contract", `{"resourceType":"Contract","status":"executed","applies":{"start":"2020-01-01"},
		"authority":[{"identifier":{"system":"`+auth.ODSSystem+`","value":"`+practiceODS+`"}}]}`)
	sink, err := audit.Open(t.TempDir(), st, reg, audit.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })

	key, err := auth.NewSigningKey("ES384")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.NewSigningKey("RS384")
	launcher := &smart.Client{ID: launcherID, JWKS: key.JWKS(), InContextLaunch: true}
	launchers, err := smart.NewMemoryRegistry(launcher,
		&smart.Client{ID: "disabled-launcher", JWKS: key.JWKS(), InContextLaunch: true, Disabled: true},
		&smart.Client{ID: "backend-only", JWKS: key.JWKS(), Scope: "system/CarePlan.rs"},
		&smart.Client{ID: "other-practice-launcher", JWKS: other.JWKS(), InContextLaunch: true, Org: "Y00001"})
	if err != nil {
		t.Fatal(err)
	}
	state, err := authstate.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	e := gin.New()
	root := serve(e)
	mgr, err := session.NewManager(session.Config{State: state, NotFound: authstate.ErrNotFound, BaseURL: root, TLS: tls, FrameAncestors: frameAncestors})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := devissuer.New(devissuer.Config{Issuer: root + "/dev-issuer", Audience: root + "/fhir"})
	if err != nil {
		t.Fatal(err)
	}
	ic := dev.IssuerConfig()
	ic.KeySet = dev.Key().KeySet()
	verifier, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{ic}})
	if err != nil {
		t.Fatal(err)
	}
	roles := auth.DevRoleMap()
	roles.Codes["R8000"] = auth.RoleClinical
	roles.Codes["R8001"] = auth.RoleView
	j := &journal{sink: sink}
	lc := launch.Config{
		Sessions: mgr, Patients: svc, Launchers: launchers, Replay: state, Exists: authstate.ErrExists,
		Agreements: &auth.StoreAgreements{Store: st}, Operator: "X26", Roles: roles, Journal: j,
		LinkURL: root + "/launch/link", Dev: true,
		DevMint: func(role auth.Role, user, name, org, patient, proofing string) (string, error) {
			tok, err := dev.Mint(devissuer.TokenRequest{Role: role, User: user, Name: name, Org: org, Patient: patient, Proofing: proofing})
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		},
		DevVerify: verifier,
	}
	for _, o := range opts {
		o(&lc, dev, state)
	}
	dev.Mount(e)
	doors, err := launch.New(lc)
	if err != nil {
		t.Fatal(err)
	}
	doors.Routes(e)
	// The landing page is the web app's; this one says who is signed in
	// on which patient.
	mgr = lc.Sessions // an option may give the sessions a clock of its own
	app := e.Group("/app", mgr.Middleware())
	app.GET("/patients/:id", func(c *gin.Context) {
		p := auth.FromContext(c.Request.Context())
		if p == nil {
			c.Redirect(http.StatusSeeOther, mgr.SignInURL(c.Request.URL.RequestURI()))
			return
		}
		// A launch binds the session to its patient; a staff member
		// signed in without one opens the patient they ask for.
		patient := p.Patient
		if patient == "" && p.Role != auth.RolePatient {
			patient = c.Param("id")
		}
		if patient != c.Param("id") {
			c.String(http.StatusForbidden, "not your patient")
			return
		}
		who := fmt.Sprintf("signed in as %s (%s, %s) on Patient/%s", p.Name, p.Role, p.Org, patient)
		if !strings.Contains(c.GetHeader("Accept"), "text/html") {
			c.String(http.StatusOK, "%s", who)
			return
		}
		// For a browser: the page tells a page that frames it who is
		// signed in (a test cannot read a cross-site frame).
		c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(`<!doctype html><title>landing</title><p id="who">`+html.EscapeString(who)+
			`</p><script>if (parent !== window) parent.postMessage(document.getElementById("who").textContent, "*")</script>`))
	})
	return &harness{svc: svc, handler: e, root: root, linkURL: root + "/launch/link", key: key, other: other, events: j, patient: patient, launcher: launcher, sessions: mgr}
}

func joanClaims() launch.LinkClaims {
	return launch.LinkClaims{NHSNumber: nhsJoan, BirthDate: "1940-02-03", UserID: "555123456789", Name: "Dr Ann Hale", RoleCode: "R8000", Org: practiceODS}
}

func (h *harness) sign(t testing.TB, c launch.LinkClaims) string {
	t.Helper()
	tok, err := launch.SignLink(h.key, launcherID, h.linkURL, time.Now(), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// client is a browser-like client with cookies that does not follow
// redirects.
func client(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
}

type answer struct {
	status   int
	location string
	body     string
}

func do(t testing.TB, c *http.Client, method, u string, form url.Values) answer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Location"), string(b)}
}

func TestLinkLandsSignedInOnThePatient(t *testing.T) {
	h := newHarness(t)
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			c := client(t)
			tok := h.sign(t, joanClaims())
			var a answer
			if method == "GET" {
				a = do(t, c, "GET", h.linkURL+"?token="+url.QueryEscape(tok), nil)
			} else {
				a = do(t, c, "POST", h.linkURL, url.Values{"token": {tok}})
			}
			if a.status != http.StatusSeeOther || a.location != "/app/patients/"+h.patient {
				t.Fatalf("link answered %d to %q, want 303 to /app/patients/%s:\n%s", a.status, a.location, h.patient, a.body)
			}
			got := do(t, c, "GET", h.root+a.location, nil)
			want := "signed in as Dr Ann Hale (clinical, F84012) on Patient/" + h.patient
			if got.status != http.StatusOK || got.body != want {
				t.Errorf("landing page: %d %q, want 200 %q", got.status, got.body, want)
			}
			ev := h.events.last(t)
			if ev.Outcome != "0" || ev.Type.Code != "110114" || len(ev.Entity) != 1 || ev.Entity[0].What.Reference != "Patient/"+h.patient {
				t.Errorf("AuditEvent: outcome %s type %s entity %+v", ev.Outcome, ev.Type.Code, ev.Entity)
			}
			if !hasAgent(ev, audit.SysClientID, launcherID) || !hasAgent(ev, audit.SysSDSUser, "555123456789") || !hasAgent(ev, auth.ODSSystem, practiceODS) {
				t.Errorf("AuditEvent agents do not name the user, organisation and launcher: %s", ev.JSON())
			}
		})
	}
}

func hasAgent(ev *audit.AuditEvent, system, value string) bool {
	for _, a := range ev.Agent {
		if a.Who.Identifier != nil && a.Who.Identifier.System == system && a.Who.Identifier.Value == value {
			return true
		}
	}
	return false
}

// resign re-signs a token's header and payload changed by edit, with key.
func tamper(t *testing.T, tok string, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	edit(m)
	b, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func signWith(t testing.TB, key *auth.SigningKey, claims map[string]any) string {
	t.Helper()
	tok, err := key.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestLinkRefusals(t *testing.T) {
	h := newHarness(t)
	now := time.Now()
	claims := func(edit func(c *launch.LinkClaims)) string {
		c := joanClaims()
		if edit != nil {
			edit(&c)
		}
		return h.sign(t, c)
	}
	raw := func(edit func(m map[string]any)) map[string]any {
		m := map[string]any{"iss": launcherID, "sub": launcherID, "aud": h.linkURL, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
			"jti": auth.NewJTI(), "nhs_number": nhsJoan, "birthdate": "1940-02-03", "user_id": "555123456789", "name": "Dr Ann Hale",
			"role_code": "R8000", "org": practiceODS}
		edit(m)
		return m
	}
	hs256, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("a secret of at least 32 bytes, for hmac")}, nil)
	hsTok, _ := hs256.Sign([]byte(`{"iss":"` + launcherID + `"}`))
	hsRaw, _ := hsTok.CompactSerialize()
	es256, _ := auth.NewSigningKey("ES256")
	wrongKey, _ := auth.NewSigningKey("ES384")
	for _, tc := range []struct {
		name   string
		token  string
		status int
		page   string // words the page must say
		reason string // words the AuditEvent must say
	}{
		{"no token", "", 400, "no launch token", "no token"},
		{"not a JWT", "not-a-token", 400, "could not be read", "malformed token"},
		{"HMAC-signed", hsRaw, 400, "could not be read", "malformed token"},
		{"ES256, not ES384", signWith(t, es256, raw(func(map[string]any) {})), 400, "could not be read", "malformed token"},
		{"unknown launcher", signWith(t, h.key, raw(func(m map[string]any) { m["iss"], m["sub"] = "nobody", "nobody" })), 401, "not allowed to open ucp", "unknown launcher"},
		{"disabled launcher", signWith(t, h.key, raw(func(m map[string]any) { m["iss"], m["sub"] = "disabled-launcher", "disabled-launcher" })), 401, "not allowed to open ucp", "launcher disabled"},
		{"client not registered for in-context launch", signWith(t, h.key, raw(func(m map[string]any) { m["iss"], m["sub"] = "backend-only", "backend-only" })), 401, "not allowed to open ucp", "not registered for in-context launch"},
		{"key not in the launcher's JWKS", signWith(t, wrongKey, raw(func(map[string]any) {})), 401, "signature could not be checked", "is not in the launcher's JWKS"},
		{"tampered claim (another patient)", tamper(t, claims(nil), func(m map[string]any) { m["nhs_number"] = nhsUnknown }), 401, "changed after your GP system signed them", "bad signature"},
		{"tampered claim (role)", tamper(t, claims(nil), func(m map[string]any) { m["role_code"] = "UCPDEV-admin" }), 401, "changed after your GP system signed them", "bad signature"},
		{"wrong aud", signWith(t, h.key, raw(func(m map[string]any) { m["aud"] = "https://elsewhere.example/launch/link" })), 401, "not what ucp expects", "aud"},
		{"sub is not iss", signWith(t, h.key, raw(func(m map[string]any) { m["sub"] = "someone" })), 401, "not what ucp expects", "sub"},
		{"no exp", signWith(t, h.key, raw(func(m map[string]any) { delete(m, "exp") })), 401, "not what ucp expects", "iat and exp"},
		{"no jti", signWith(t, h.key, raw(func(m map[string]any) { delete(m, "jti") })), 401, "not what ucp expects", "jti"},
		{"lives longer than 2 minutes", signWith(t, h.key, raw(func(m map[string]any) { m["exp"] = now.Add(3 * time.Minute).Unix() })), 401, "not what ucp expects", "at most 2m0s"},
		{"expired", signWith(t, h.key, raw(func(m map[string]any) {
			m["iat"], m["exp"] = now.Add(-3*time.Minute).Unix(), now.Add(-time.Minute-31*time.Second).Unix()
		})), 401, "has expired", "expired"},
		{"issued in the future", signWith(t, h.key, raw(func(m map[string]any) {
			m["iat"], m["exp"] = now.Add(time.Minute).Unix(), now.Add(2*time.Minute).Unix()
		})), 401, "not valid yet", "in the future"},
		{"malformed NHS number", claims(func(c *launch.LinkClaims) { c.NHSNumber = "9434765918" }), 400, "not a valid NHS number", "malformed nhs_number"},
		{"birthdate not a date", claims(func(c *launch.LinkClaims) { c.BirthDate = "03/02/1940" }), 400, "date of birth is missing", "malformed birthdate"},
		{"no user", claims(func(c *launch.LinkClaims) { c.UserID = "" }), 400, "does not say who you are", "user_id"},
		{"a claim of the wrong type", signWith(t, h.key, raw(func(m map[string]any) { m["nhs_number"] = 9434765919 })), 400, "not in the form ucp requires", "malformed claims"},
		{"no org", claims(func(c *launch.LinkClaims) { c.Org = "" }), 400, "ODS code", "malformed org"},
		{"wrong date of birth", claims(func(c *launch.LinkClaims) { c.BirthDate = "1940-03-02" }), 403, "date of birth does not match", "does not match"},
		{"role that may not see plans", claims(func(c *launch.LinkClaims) { c.RoleCode = "R9999" }), 403, "role you are working in", "maps to no staff role"},
		{"patient role", claims(func(c *launch.LinkClaims) { c.RoleCode = "UCPDEV-patient" }), 403, "role you are working in", "maps to no staff role"},
		{"no information-sharing agreement", claims(func(c *launch.LinkClaims) { c.Org = "Y99999" }), 403, "no information-sharing agreement", "no information-sharing agreement"},
		{"launcher registered for another organisation", signWith(t, h.other, raw(func(m map[string]any) {
			m["iss"], m["sub"] = "other-practice-launcher", "other-practice-launcher"
		})), 403, "registered with ucp for another organisation", "is not the launcher's"},
		{"unknown NHS number, urgent care role", claims(func(c *launch.LinkClaims) { c.NHSNumber, c.RoleCode = nhsUnknown, "R8001" }), 404, "no care plan for this patient", "no record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.events.count()
			a := do(t, client(t), "GET", h.linkURL+"?token="+url.QueryEscape(tc.token), nil)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d:\n%s", a.status, tc.status, a.body)
			}
			if !strings.Contains(a.body, tc.page) {
				t.Errorf("page does not say %q:\n%s", tc.page, a.body)
			}
			if strings.Contains(a.body, "Create a plan") {
				t.Error("the page offers to create a plan to someone who may not")
			}
			if h.events.count() != before+1 {
				t.Fatalf("%d AuditEvents recorded, want 1", h.events.count()-before)
			}
			ev := h.events.last(t)
			if ev.Outcome != "4" || !strings.Contains(ev.OutcomeDesc, tc.reason) {
				t.Errorf("AuditEvent outcome %s %q, want 4 saying %q", ev.Outcome, ev.OutcomeDesc, tc.reason)
			}
		})
	}
}

func TestLinkUsedOnce(t *testing.T) {
	h := newHarness(t)
	tok := h.sign(t, joanClaims())
	if a := do(t, client(t), "GET", h.linkURL+"?token="+url.QueryEscape(tok), nil); a.status != http.StatusSeeOther {
		t.Fatalf("first use: %d", a.status)
	}
	a := do(t, client(t), "POST", h.linkURL, url.Values{"token": {tok}})
	if a.status != http.StatusUnauthorized || !strings.Contains(a.body, "already been used") {
		t.Errorf("second use: %d\n%s", a.status, a.body)
	}
	if ev := h.events.last(t); ev.Outcome != "4" || !strings.Contains(ev.OutcomeDesc, "used before") {
		t.Errorf("AuditEvent of the replay: %s %q", ev.Outcome, ev.OutcomeDesc)
	}
}

func TestLinkUnknownPatientOffersAClinicianToCreateAPlan(t *testing.T) {
	h := newHarness(t)
	c := client(t)
	cl := joanClaims()
	cl.NHSNumber = nhsUnknown
	a := do(t, c, "GET", h.linkURL+"?token="+url.QueryEscape(h.sign(t, cl)), nil)
	if a.status != http.StatusNotFound || !strings.Contains(a.body, "943 476 5870") || !strings.Contains(a.body, `href="`+strings.ReplaceAll(launch.CreatePlanPath(nhsUnknown), "&", "&amp;")+`"`) {
		t.Fatalf("%d, want 404 naming the NHS number and offering Create a plan:\n%s", a.status, a.body)
	}
	if ev := h.events.last(t); ev.Outcome != "4" || ev.Entity[0].What.Identifier.Value != nhsUnknown {
		t.Errorf("AuditEvent: %s", ev.JSON())
	}
}
