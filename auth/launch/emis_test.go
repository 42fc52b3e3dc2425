package launch_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/storage"
	fjwt "github.com/ory/fosite/token/jwt"
	"golang.org/x/crypto/bcrypt"

	"ucp/auth"
	"ucp/auth/authstate"
	"ucp/auth/devissuer"
	"ucp/auth/launch"
	"ucp/internal/resttest"
)

// emis is a stand-in GP system that launches partner apps as EMIS's
// partner platform does: it opens the app with iss (its FHIR base) and a
// one-time launch code, the app runs authorization code with PKCE against
// its authorization server (ory/fosite), and the token response carries
// the user in the ID token and the patient's demographics in
// authorization_details.
type emis struct {
	srv      *httptest.Server
	iss      string // its FHIR base
	store    *storage.MemoryStore
	provider fosite.OAuth2Provider
	key      *rsa.PrivateKey

	mu       sync.Mutex
	launches map[string]emisLaunch // by launch code
	codes    map[string]emisLaunch // by authorization code
}

// emisLaunch is the context of one launch: the GP system's user and
// patient.
type emisLaunch struct {
	UserID, Name, RoleCode, Org string
	NHSNumber, BirthDate        string
}

func newEMIS(t *testing.T) *emis {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e := &emis{store: storage.NewMemoryStore(), key: key, launches: map[string]emisLaunch{}, codes: map[string]emisLaunch{}}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.iss = e.srv.URL + "/fhir"
	cfg := &fosite.Config{
		AccessTokenLifespan: 5 * time.Minute, AuthorizeCodeLifespan: time.Minute, IDTokenLifespan: 5 * time.Minute,
		GlobalSecret: []byte("a stand-in EMIS global secret 32"), IDTokenIssuer: e.srv.URL,
		EnforcePKCE: true, EnablePKCEPlainChallengeMethod: false, SendDebugMessagesToClients: true,
	}
	e.provider = compose.ComposeAllEnabled(cfg, e.store, key)
	mux.HandleFunc("GET /fhir/.well-known/smart-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": e.srv.URL, "jwks_uri": e.srv.URL + "/jwks",
			"authorization_endpoint": e.srv.URL + "/authorize", "token_endpoint": e.srv.URL + "/token",
			"code_challenge_methods_supported": []string{"S256"}, "capabilities": []string{"launch-ehr", "client-confidential-symmetric", "sso-openid-connect"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "emis-1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", e.authorize)
	mux.HandleFunc("POST /token", e.token)
	return e
}

// register registers an app (ucp) with its secret and redirect URI.
func (e *emis) register(t *testing.T, clientID, secret, redirect string) {
	hash, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	e.store.Clients[clientID] = &fosite.DefaultClient{ID: clientID, Secret: hash, RedirectURIs: []string{redirect},
		ResponseTypes: []string{"code"}, GrantTypes: []string{"authorization_code"}, Scopes: []string{"launch", "openid", "fhirUser"}}
}

// launch makes a one-time launch code for the context and returns the URL
// the GP system opens the app with.
func (e *emis) launch(appLaunchURL string, l emisLaunch) string {
	code := auth.NewJTI()
	e.mu.Lock()
	e.launches[code] = l
	e.mu.Unlock()
	return appLaunchURL + "?" + url.Values{"iss": {e.iss}, "launch": {code}}.Encode()
}

// authorize approves at once: the user is already signed in to the GP
// system that launched the app.
func (e *emis) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := e.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		e.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	e.mu.Lock()
	l, ok := e.launches[r.Form.Get("launch")]
	delete(e.launches, r.Form.Get("launch"))
	e.mu.Unlock()
	if !ok || r.Form.Get("aud") != e.iss {
		e.provider.WriteAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("unknown launch, or aud is not this FHIR base"))
		return
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	now := time.Now()
	session := &openid.DefaultSession{
		Claims: &fjwt.IDTokenClaims{Issuer: e.srv.URL, Subject: l.UserID, Audience: []string{ar.GetClient().GetID()}, IssuedAt: now, RequestedAt: now, AuthTime: now,
			Extra: map[string]any{"name": l.Name, "role_code": l.RoleCode, "org": l.Org, "fhirUser": e.iss + "/Practitioner/" + l.UserID}},
		Headers: &fjwt.Headers{Extra: map[string]any{"kid": "emis-1"}},
		Subject: l.UserID,
	}
	resp, err := e.provider.NewAuthorizeResponse(ctx, ar, session)
	if err != nil {
		e.provider.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	e.mu.Lock()
	e.codes[resp.GetCode()] = l
	e.mu.Unlock()
	e.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// token answers the code grant with the patient's demographics in
// authorization_details.
func (e *emis) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	req, err := e.provider.NewAccessRequest(ctx, r, openid.NewDefaultSession())
	if err != nil {
		e.provider.WriteAccessError(ctx, w, req, err)
		return
	}
	resp, err := e.provider.NewAccessResponse(ctx, req)
	if err != nil {
		e.provider.WriteAccessError(ctx, w, req, err)
		return
	}
	e.mu.Lock()
	l := e.codes[r.PostForm.Get("code")]
	e.mu.Unlock()
	resp.SetExtra("authorization_details", []any{map[string]any{"type": "patient_context",
		"patient": map[string]any{"nhsNumber": l.NHSNumber, "birthDate": l.BirthDate}}})
	e.provider.WriteAccessResponse(ctx, w, req, resp)
}

func newSMARTHarness(t *testing.T) (*harness, *emis) {
	t.Helper()
	e := newEMIS(t)
	roles := &auth.RoleMap{Codes: map[string]auth.Role{"R8000": auth.RoleClinical, "R8001": auth.RoleView}}
	h := newHarnessOn(t, func(hd http.Handler) string { return resttest.Serve(t, hd).URL }, false, nil,
		func(c *launch.Config, _ *devissuer.Issuer, state *authstate.Store) {
			c.Pending, c.Origin = state, strings.TrimSuffix(c.LinkURL, "/launch/link")
			c.LaunchingSystems = []*launch.LaunchingSystem{{Name: "EMIS Web (stand-in)", Issuer: e.iss, ClientID: "ucp", ClientSecret: "ucp-secret-at-emis", Roles: roles}}
		})
	e.register(t, "ucp", "ucp-secret-at-emis", h.root+"/launch/smart/callback")
	return h, e
}

func annHale() emisLaunch {
	return emisLaunch{UserID: "555123456789", Name: "Dr Ann Hale", RoleCode: "R8000", Org: practiceODS, NHSNumber: nhsJoan, BirthDate: "1940-02-03"}
}

func TestSMARTAppLaunchInChromium(t *testing.T) {
	h, e := newSMARTHarness(t)
	ctx := browser.Tab(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.launch(h.root+"/launch/smart", annHale()))); err != nil {
		t.Fatal(err)
	}
	who, err := chromedp.Run(ctx, chromedp.Text("#who"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "signed in as Dr Ann Hale (clinical, F84012) on Patient/" + h.patient; who != want {
		t.Errorf("landing page says %q, want %q", who, want)
	}
	ev := h.events.last(t)
	if ev.Outcome != "0" || ev.Entity[0].What.Reference != "Patient/"+h.patient || ev.Subtype[1].Code != "smart-app" {
		t.Errorf("AuditEvent: %s", ev.JSON())
	}
}

func TestSMARTAppLaunchRefusals(t *testing.T) {
	h, e := newSMARTHarness(t)
	follow := func(c *http.Client, u string) answer {
		// Follow the redirects through the stand-in and back, as a
		// browser does, stopping at ucp's answer to the callback.
		for range 5 {
			a := do(t, c, "GET", u, nil)
			if a.status != http.StatusSeeOther && a.status != http.StatusFound {
				return a
			}
			if strings.HasPrefix(a.location, "/app/") {
				return a
			}
			u = a.location
			if strings.HasPrefix(u, "/") {
				u = h.root + u
			}
		}
		t.Fatal("too many redirects")
		return answer{}
	}
	t.Run("unknown iss, refused before any redirect", func(t *testing.T) {
		a := do(t, client(t), "GET", h.root+"/launch/smart?"+url.Values{"iss": {"https://evil.example/fhir"}, "launch": {"x"}}.Encode(), nil)
		if a.status != http.StatusBadRequest || a.location != "" {
			t.Errorf("%d to %q, want 400 and no redirect", a.status, a.location)
		}
		if ev := h.events.last(t); ev.Outcome != "4" || !strings.Contains(ev.OutcomeDesc, "untrusted iss") {
			t.Errorf("AuditEvent: %s", ev.JSON())
		}
	})
	for _, tc := range []struct {
		name   string
		edit   func(*emisLaunch)
		status int
		says   string
	}{
		{"date of birth does not match", func(l *emisLaunch) { l.BirthDate = "1941-02-03" }, 403, "date of birth does not match"},
		{"role that may not see plans", func(l *emisLaunch) { l.RoleCode = "R9999" }, 403, "role you are working in"},
		{"no agreement", func(l *emisLaunch) { l.Org = "Y99999" }, 403, "no information-sharing agreement"},
		{"patient ucp does not hold", func(l *emisLaunch) { l.NHSNumber = nhsUnknown }, 404, "no care plan for this patient"},
		{"no patient", func(l *emisLaunch) { l.NHSNumber = "" }, 400, "did not say which patient"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := annHale()
			tc.edit(&l)
			a := follow(client(t), e.launch(h.root+"/launch/smart", l))
			if a.status != tc.status || !strings.Contains(a.body, tc.says) {
				t.Errorf("%d, want %d saying %q:\n%s", a.status, tc.status, tc.says, a.body)
			}
			if ev := h.events.last(t); ev.Outcome != "4" {
				t.Errorf("AuditEvent outcome %s", ev.Outcome)
			}
		})
	}
	t.Run("the callback twice", func(t *testing.T) {
		c := client(t)
		a := do(t, c, "GET", e.launch(h.root+"/launch/smart", annHale()), nil)
		back := do(t, c, "GET", a.location, nil)
		if first := do(t, c, "GET", back.location, nil); first.status != http.StatusSeeOther {
			t.Fatalf("first callback: %d\n%s", first.status, first.body)
		}
		if again := do(t, c, "GET", back.location, nil); again.status != http.StatusBadRequest {
			t.Errorf("second callback: %d, want 400", again.status)
		}
	})
}
