package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/bcrypt"
	xoauth2 "golang.org/x/oauth2"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/authstate"
	"ucp/auth/oauth"
	"ucp/auth/smart"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/internal/resttest"
)

// The test world: one patient with an active plan, one without.
const (
	nhsWithPlan = "9434765919"
	nhsNoPlan   = "9434765870"
	appSecret   = "correct horse battery staple"
	publicApp   = "viewer"
	secretApp   = "portal"
	keyApp      = "rota"
	launcherID  = "gp-system"
)

// world is an authorization server on loopback, with a real FHIR service
// behind its look-ups and a verifier that trusts its tokens as ucp's does.
type world struct {
	srv      *httptest.Server
	base     string // FHIR base (the aud)
	issuer   string
	redirect string
	verifier *auth.Verifier
	oauth    *oauth.Server
	launcher *ecdsa.PrivateKey
	appKey   *ecdsa.PrivateKey
	users    *testUsers
	patient  string // the id of the patient with a plan
	plan     string

	journal     journal
	config      oauth.Config
	smartConfig smart.Configuration
	mux         *http.ServeMux
	handler     atomic.Pointer[gin.Engine]
	mounted     bool
}

// testUsers stands in for auth/session in this package's tests: the
// cookie ucp-test-user names one of users, signed in through /test-signin.
type testUsers struct {
	mu    sync.Mutex
	users map[string]*auth.Principal
}

func (u *testUsers) SignedIn(r *http.Request) (*auth.Principal, bool) {
	c, err := r.Cookie("ucp-test-user")
	if err != nil {
		return nil, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	p, ok := u.users[c.Value]
	return p, ok
}

func (u *testUsers) SignInURL(returnTo string) string {
	return "/test-signin?return_to=" + url.QueryEscape(returnTo)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	gin.SetMode(gin.TestMode)
	w := &world{users: &testUsers{users: map[string]*auth.Principal{}}}
	mux := http.NewServeMux()
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)
	w.base = w.srv.URL + "/fhir"
	w.issuer = w.srv.URL + "/auth"
	w.redirect = "http://127.0.0.1:9/callback" // never fetched: the test reads the redirect

	// The FHIR service with ucp's policy, and the patients.
	st := resttest.OpenStore(t)
	reg := resttest.NewRegistry(t)
	pol := auth.DefaultPolicy()
	pol.Patients = reg.Patients
	svc, err := service.New(service.Config{Store: st, Registry: reg, Authorizer: pol})
	if err != nil {
		t.Fatal(err)
	}
	loader, err := service.New(service.Config{Store: st, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(js string) string {
		res, err := resource.Parse([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		r, err := loader.Write(ctx, &service.Write{Interaction: "create", Method: http.MethodPost, Type: resource.Type(res), Resource: res})
		if err != nil {
			t.Fatal(err)
		}
		return r.Version.ID
	}
	w.patient = put(resttest.Patient(nhsWithPlan))
	put(resttest.Patient(nhsNoPlan))
	w.plan = put(`{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/` + w.patient + `"}}`)

	// Clients: one app of each kind and a launcher.
	var err2 error
	w.launcher, err2 = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err2 != nil {
		t.Fatal(err2)
	}
	w.appKey, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	hash, _ := bcrypt.GenerateFromPassword([]byte(appSecret), bcrypt.MinCost)
	reg2, err := smart.NewMemoryRegistry(
		&smart.Client{ID: publicApp, Name: "Care plan viewer", RedirectURIs: []string{w.redirect}, AuthMethod: smart.AuthNone},
		&smart.Client{ID: secretApp, Name: "Hospice portal", RedirectURIs: []string{w.redirect}, AuthMethod: smart.AuthClientSecretBasic, SecretHash: string(hash)},
		&smart.Client{ID: keyApp, Name: "Rota", RedirectURIs: []string{w.redirect}, AuthMethod: smart.AuthPrivateKeyJWT,
			JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: w.appKey.Public(), KeyID: "rota-1", Algorithm: "ES384", Use: "sig"}}}},
		&smart.Client{ID: launcherID, Name: "GP system", Scope: "system/Patient.rs", Org: "F84012", EHRLaunch: true,
			JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: w.launcher.Public(), KeyID: "gp-1", Algorithm: "ES384", Use: "sig"}}}},
		// A system client that is not a launcher, with the same key.
		&smart.Client{ID: "ambulance", Name: "Ambulance CAD", Scope: "system/Patient.rs", Org: "RRU",
			JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: w.launcher.Public(), KeyID: "gp-1", Algorithm: "ES384", Use: "sig"}}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.NewSigningKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	idKey, err := auth.NewSigningKey("RS256")
	if err != nil {
		t.Fatal(err)
	}
	backend, err := smart.New(smart.Config{Issuer: w.issuer, TokenURL: w.issuer + "/token", Audience: w.base, Key: key, Clients: reg2})
	if err != nil {
		t.Fatal(err)
	}
	state, err := authstate.Open(ctx, filepath.Join(t.TempDir(), "auth-state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { state.Close() })
	secret := make([]byte, 32)
	rand.Read(secret)
	w.config = oauth.Config{
		Issuer: w.issuer, Audience: w.base, Key: key, IDKey: idKey, Clients: reg2, Backend: backend,
		Users: w.users, Records: oauth.ServiceRecords{Service: svc}, Roles: auth.DevRoleMap(),
		State: state, NotFound: authstate.ErrNotFound, Exists: authstate.ErrExists, Secret: secret, Journal: &w.journal,
	}
	w.smartConfig = backend.Configuration()
	w.oauth, err = oauth.New(w.config, w.smartConfig)
	if err != nil {
		t.Fatal(err)
	}
	ic := backend.IssuerConfig()
	ic.OwnRoles = true
	w.verifier, err = auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{ic}})
	if err != nil {
		t.Fatal(err)
	}
	w.mux = mux
	w.mount()
	return w
}

// mount serves w.oauth (again, after a restart).
func (w *world) mount() {
	e := gin.New()
	w.oauth.Routes(e)
	e.GET("/fhir/.well-known/smart-configuration", gin.WrapH(w.oauth.ConfigurationHandler()))
	// The stand-in sign-in: signs in the user named by ?as= (set by the test
	// on its jar), then goes back.
	e.GET("/test-signin", func(c *gin.Context) {
		c.Redirect(http.StatusSeeOther, c.Query("return_to"))
	})
	// As ucp serves it: Bearer tokens verified in front, except where the
	// client authenticates itself.
	mux := w.mux
	w.handler.Store(e)
	if w.mounted {
		return
	}
	w.mounted = true
	mux.Handle("/", w.verifier.Middleware(http.HandlerFunc(w.serve), nil))
	for _, p := range w.oauth.ClientAuthenticatedPaths() {
		mux.HandleFunc(p, w.serve)
	}
}

func (w *world) serve(rw http.ResponseWriter, r *http.Request) { w.handler.Load().ServeHTTP(rw, r) }

// restart builds a new authorization server on the same state, keys and
// secret, as a restart of ucp does.
func (w *world) restart(t *testing.T) {
	t.Helper()
	s, err := oauth.New(w.config, w.smartConfig)
	if err != nil {
		t.Fatal(err)
	}
	w.oauth = s
	w.mount()
}

// browser is a user's browser: cookies, and redirects followed up to the
// app's redirect URI, which it does not fetch.
type browser struct {
	c *http.Client
}

func (w *world) browser(t *testing.T, user *auth.Principal) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	if user != nil {
		id := rand.Text()
		w.users.mu.Lock()
		w.users.users[id] = user
		w.users.mu.Unlock()
		u, _ := url.Parse(w.srv.URL)
		jar.SetCookies(u, []*http.Cookie{{Name: "ucp-test-user", Value: id, Path: "/"}})
	}
	return &browser{c: &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), w.redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) get(t *testing.T, u string) page {
	t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, resp)
}

func (b *browser) post(t *testing.T, u string, form url.Values) page {
	t.Helper()
	resp, err := b.c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, resp)
}

func read(t *testing.T, resp *http.Response) page {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(b)}
}

// app is an OAuth client as a SMART app is (x/oauth2, PKCE S256).
func (w *world) app(id string, scopes ...string) *xoauth2.Config {
	style := xoauth2.AuthStyleInParams
	if id == secretApp {
		style = xoauth2.AuthStyleInHeader
	}
	return &xoauth2.Config{ClientID: id, RedirectURL: w.redirect, Scopes: scopes,
		Endpoint: xoauth2.Endpoint{AuthURL: w.issuer + "/authorize", TokenURL: w.issuer + "/token", AuthStyle: style}}
}

// clinician and the other users, as auth/session would hand them over.
// Their scopes are what a staff sign-in carries (the issuer's default
// scopes): the role decides.
func clinician() *auth.Principal {
	sc, _ := auth.ParseScopes("user/*.cruds")
	return &auth.Principal{Issuer: "http://cis2", Subject: "555001", UserID: "555001", Name: "Dr Ada Jones", Role: auth.RoleClinical, RoleCode: "R8000", Org: "F84012", IDAssurance: 3, Scopes: sc}
}

// authorizeURL is the app's authorize request.
func (w *world) authorizeURL(cfg *xoauth2.Config, state, verifier string, extra ...xoauth2.AuthCodeOption) string {
	opts := append([]xoauth2.AuthCodeOption{xoauth2.S256ChallengeOption(verifier), xoauth2.SetAuthURLParam("aud", w.base)}, extra...)
	return cfg.AuthCodeURL(state, opts...)
}

// approve signs in (already, by cookie), approves on the consent page with
// nhs (if the page asks for one) and returns the redirect to the app.
func (w *world) approve(t *testing.T, b *browser, authorize, nhs string) *url.URL {
	t.Helper()
	p := b.get(t, authorize)
	if p.status != http.StatusOK || !strings.Contains(p.body, `action="/auth/authorize/approve"`) {
		t.Fatalf("consent page: %d %s", p.status, p.body)
	}
	form := url.Values{"decision": {"approve"}, "nhs_number": {nhs}}
	for _, f := range []string{"request", "issued", "csrf"} {
		form.Set(f, hidden(t, p.body, f))
	}
	r := b.post(t, w.srv.URL+"/auth/authorize/approve", form)
	return redirected(t, r)
}

func redirected(t *testing.T, p page) *url.URL {
	t.Helper()
	if p.status != http.StatusSeeOther && p.status != http.StatusFound {
		t.Fatalf("want a redirect to the app, got %d %s", p.status, p.body)
	}
	u, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// hidden reads a hidden input's value from a page.
func hidden(t *testing.T, body, name string) string {
	t.Helper()
	i := strings.Index(body, `name="`+name+`" value="`)
	if i < 0 {
		t.Fatalf("no %s field in %s", name, body)
	}
	rest := body[i+len(`name="`+name+`" value="`):]
	v := rest[:strings.IndexByte(rest, '"')]
	return htmlUnescape(v)
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// systemToken gets the launcher a Backend Services token.
func (w *world) systemToken(t *testing.T, client string) string {
	t.Helper()
	assertion := signAssertion(t, w.launcher, "gp-1", client, w.issuer+"/token")
	resp, err := http.PostForm(w.issuer+"/token", url.Values{
		"grant_type": {"client_credentials"}, "scope": {"system/Patient.rs"},
		"client_assertion_type": {smart.AssertionType}, "client_assertion": {assertion},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := read(t, resp)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(p.body), &tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("system token: %d %s", p.status, p.body)
	}
	return tr.AccessToken
}

func signAssertion(t *testing.T, key *ecdsa.PrivateKey, kid, client, aud string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: client, Subject: client, Audience: jwt.Audience{aud},
		Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: rand.Text()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// launch makes an EHR launch as the launcher, for user role code, on the
// patient with nhs.
func (w *world) launch(t *testing.T, token string, body string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.issuer+"/launch", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, resp)
}

// postForm posts to an endpoint of the server as a client would.
func postForm(t *testing.T, u string, form url.Values, basic ...string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, resp)
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return m
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// journal keeps the AuditEvents the server records, as JSON.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) Append(ev *audit.AuditEvent) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, string(ev.JSON()))
	return nil
}

// recorded returns the events recorded so far that contain every one of
// parts.
func (j *journal) recorded(parts ...string) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
next:
	for _, e := range j.events {
		for _, p := range parts {
			if !strings.Contains(e, p) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}
