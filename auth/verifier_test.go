package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"ucp/auth"
	"ucp/auth/devissuer"
)

const aud = "http://127.0.0.1/fhir"

type env struct {
	srv *httptest.Server
	iss *devissuer.Issuer
	v   *auth.Verifier
}

// newEnv serves a development issuer on loopback and a Verifier that
// trusts it through real discovery.
func newEnv(t *testing.T, tweak func(*auth.VerifierConfig)) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss, err := devissuer.New(devissuer.Config{Issuer: srv.URL + "/dev-issuer", Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/dev-issuer/", iss)
	cfg := auth.VerifierConfig{Issuers: []auth.IssuerConfig{iss.IssuerConfig()}, MinIDAssurance: 3}
	if tweak != nil {
		tweak(&cfg)
	}
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, iss: iss, v: v}
}

// claims returns valid staff claims for e's issuer.
func (e *env) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": e.iss.URL(), "aud": aud, "sub": "u1", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"scope": "user/*.cruds", "idassurancelevel": "3", "selected_roleid": "r1",
		"nhsid_nrbac_roles": []map[string]any{{"org_code": "F84012", "person_roleid": "r1", "role_code": auth.DevRoleCode(auth.RoleClinical)}},
	}
}

func (e *env) sign(t *testing.T, c map[string]any) string {
	t.Helper()
	tok, err := e.iss.Key().Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// mint asks the issuer's token endpoint over HTTP, as `ucp token` does.
func (e *env) mint(t *testing.T, form url.Values) string {
	t.Helper()
	resp, err := http.PostForm(e.iss.URL()+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("token endpoint: %s %s", resp.Status, body)
	}
	var tr devissuer.TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" || tr.TokenType != "Bearer" {
		t.Fatalf("token response %s: %v", body, err)
	}
	return tr.AccessToken
}

func TestVerifyDevTokensOverHTTP(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()

	p, err := e.v.Verify(ctx, e.mint(t, url.Values{"role": {"clinical"}, "org": {"Y12345"}, "user": {"555"}, "name": {"Dr Who"}}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != auth.RoleClinical || p.Org != "Y12345" || p.UserID != "555" || p.Name != "Dr Who" || p.IDAssurance != 3 ||
		p.RoleCode != auth.DevRoleCode(auth.RoleClinical) || !p.Scopes.Allows("create", "CarePlan") || p.FHIRUser != "Practitioner/555" || p.TokenID == "" {
		t.Fatalf("clinical principal %+v", p)
	}

	p, err = e.v.Verify(ctx, e.mint(t, url.Values{"role": {"patient"}, "patient": {"9000000009"}}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != auth.RolePatient || p.Patient != "9000000009" || !p.Scopes.AllowsQuery("patient", "read", "CarePlan", "") {
		t.Fatalf("patient principal %+v", p)
	}

	p, err = e.v.Verify(ctx, e.mint(t, url.Values{"role": {"system"}, "client_id": {"ambulance"}, "scope": {"system/CarePlan.rs"}}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != auth.RoleSystem || p.ClientID != "ambulance" || p.UserID != "" || !p.Scopes.AllowsQuery("system", "search-type", "CarePlan", "") {
		t.Fatalf("system principal %+v", p)
	}

	p, err = e.v.Verify(ctx, e.mint(t, url.Values{"role": {"view"}, "patient": {"p7"}, "scope": {"launch/patient patient/*.rs"}}))
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != auth.RoleView || p.Patient != "p7" {
		t.Fatalf("view principal with launch context %+v", p)
	}
}

func TestVerifyCIS2Claims(t *testing.T) {
	roles, err := auth.ParseRoleMap("roles.json", []byte(`{"codes": {"S8000:G8000:R8000": "clinical", "R8001": "view"}}`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *auth.VerifierConfig) {
		c.Issuers[0].Roles = roles
		c.Issuers[0].DefaultScopes = "user/*.cruds"
	})
	ctx := context.Background()
	two := []map[string]any{
		{"org_code": "A1", "person_roleid": "r1", "role_code": "S0:G0:R8001", "role_name": "Viewer", "activity_codes": []string{"B0264"}},
		{"org_code": "B2", "person_roleid": "r2", "role_code": "S8000:G8000:R8000", "role_name": "Clinical Practitioner Access Role"},
	}
	for _, test := range []struct {
		name     string
		change   map[string]any
		wantRole auth.Role
		wantOrg  string
		wantErr  string
	}{
		{"selected second role", map[string]any{"nhsid_nrbac_roles": two, "selected_roleid": "r2"}, auth.RoleClinical, "B2", ""},
		{"selected first role", map[string]any{"nhsid_nrbac_roles": two, "selected_roleid": "r1"}, auth.RoleView, "A1", ""},
		{"unknown selected role", map[string]any{"nhsid_nrbac_roles": two, "selected_roleid": "r9"}, auth.RoleNone, "", ""},
		{"several roles, none selected", map[string]any{"nhsid_nrbac_roles": two, "selected_roleid": nil}, auth.RoleNone, "", ""},
		{"unmapped code", map[string]any{"nhsid_nrbac_roles": []map[string]any{{"org_code": "A1", "person_roleid": "r1", "role_code": "R9999"}}, "selected_roleid": "r1"}, auth.RoleNone, "A1", ""},
		{"numeric assurance", map[string]any{"nhsid_nrbac_roles": two, "selected_roleid": "r2", "idassurancelevel": 3}, auth.RoleClinical, "B2", ""},
		{"assurance too low", map[string]any{"nhsid_nrbac_roles": two, "selected_roleid": "r2", "idassurancelevel": "2"}, "", "", auth.CodeInsufficientUserAu},
		{"assurance missing", map[string]any{"nhsid_nrbac_roles": two, "selected_roleid": "r2", "idassurancelevel": nil}, "", "", auth.CodeInsufficientUserAu},
	} {
		t.Run(test.name, func(t *testing.T) {
			c := e.claims()
			delete(c, "scope") // CIS2 tokens carry no SMART scopes
			for k, v := range test.change {
				if v == nil {
					delete(c, k)
				} else {
					c[k] = v
				}
			}
			p, err := e.v.Verify(ctx, e.sign(t, c))
			if test.wantErr != "" {
				var ae *auth.AuthError
				if !errors.As(err, &ae) || ae.Code != test.wantErr {
					t.Fatalf("got %v, want %s", err, test.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Role != test.wantRole || p.Org != test.wantOrg {
				t.Fatalf("role %q org %q, want %q %q", p.Role, p.Org, test.wantRole, test.wantOrg)
			}
			if !p.Scopes.Allows("read", "CarePlan") {
				t.Fatalf("default scopes not applied: %v", p.Scopes)
			}
		})
	}
}

// rsaPEMPublic is the issuer's public key as PEM, the "secret" of the
// classic HS256 key-confusion attack.
func publicKeyBytes(t *testing.T, k *auth.SigningKey) [][]byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public().Key)
	if err != nil {
		t.Fatal(err)
	}
	jwk, _ := json.Marshal(k.Public())
	return [][]byte{pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), der, jwk}
}

func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, c map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyRejectsForgeries(t *testing.T) {
	e := newEnv(t, nil)
	// A second, trusted issuer: its valid key must not sign for the first.
	other, err := devissuer.New(devissuer.Config{Issuer: e.srv.URL + "/other", Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b64 := base64.RawURLEncoding.EncodeToString
	now := time.Now()
	with := func(k string, v any) map[string]any {
		c := e.claims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	payload, _ := json.Marshal(e.claims())
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	cases := map[string]string{
		"empty":               "",
		"garbage":             "abc.def.ghi",
		"not a jwt":           "hello",
		"alg none":            b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + ".",
		"alg none with kid":   b64([]byte(`{"alg":"none","kid":"`+e.iss.Key().KeyID()+`"}`)) + "." + b64(payload) + ".",
		"alg None":            b64([]byte(`{"alg":"None"}`)) + "." + b64(payload) + ".",
		"wrong key, own kid":  signWith(t, jose.RS256, rsaKey, e.iss.Key().KeyID(), e.claims()),
		"wrong key, no kid":   signWith(t, jose.RS256, rsaKey, "", e.claims()),
		"wrong EC key":        signWith(t, jose.ES256, ecKey, e.iss.Key().KeyID(), e.claims()),
		"other issuer's key":  func() string { tok, _ := other.Key().Sign(e.claims()); return tok }(),
		"expired":             e.sign(t, with("exp", now.Add(-time.Minute).Unix())),
		"no exp":              e.sign(t, with("exp", nil)),
		"nbf in future":       e.sign(t, with("nbf", now.Add(3*time.Minute).Unix())),
		"iat in future":       e.sign(t, with("iat", now.Add(3*time.Minute).Unix())),
		"wrong issuer":        e.sign(t, with("iss", "https://evil.example")),
		"no issuer":           e.sign(t, with("iss", nil)),
		"issuer trailing /":   e.sign(t, with("iss", e.iss.URL()+"/")),
		"wrong audience":      e.sign(t, with("aud", "https://other.example/fhir")),
		"no audience":         e.sign(t, with("aud", nil)),
		"no subject":          e.sign(t, with("sub", nil)),
		"bad role claim type": e.sign(t, with("nhsid_nrbac_roles", "clinical")),
		"tampered payload": func() string {
			parts := strings.Split(e.sign(t, e.claims()), ".")
			c := e.claims()
			c["sub"] = "admin"
			p, _ := json.Marshal(c)
			return parts[0] + "." + b64(p) + "." + parts[2]
		}(),
	}
	for i, secret := range publicKeyBytes(t, e.iss.Key()) {
		cases["HS256 with public key as secret "+string(rune('a'+i))] = signWith(t, jose.HS256, secret, e.iss.Key().KeyID(), e.claims())
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := e.v.Verify(ctx, tok)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("error %v does not match ErrUnauthenticated", err)
			}
		})
	}
	// The control: the same claims, properly signed, pass.
	if _, err := e.v.Verify(ctx, e.sign(t, e.claims())); err != nil {
		t.Fatalf("valid token: %v", err)
	}
}

func TestAuthenticateHeader(t *testing.T) {
	e := newEnv(t, nil)
	good := e.mint(t, url.Values{"role": {"view"}})
	for _, test := range []struct {
		name    string
		headers []string
		anon    bool
		code    string
	}{
		{"none", nil, true, ""},
		{"bearer", []string{"Bearer " + good}, false, ""},
		{"bearer lower case", []string{"bearer " + good}, false, ""},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, false, auth.CodeInvalidRequest},
		{"bearer alone", []string{"Bearer"}, false, auth.CodeInvalidRequest},
		{"bearer and space", []string{"Bearer "}, false, auth.CodeInvalidRequest},
		{"two tokens", []string{"Bearer " + good + " " + good}, false, auth.CodeInvalidRequest},
		{"two headers", []string{"Bearer " + good, "Bearer " + good}, false, auth.CodeInvalidRequest},
		{"junk token", []string{"Bearer junk"}, false, auth.CodeInvalidToken},
	} {
		t.Run(test.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/fhir/CarePlan", nil)
			for _, h := range test.headers {
				r.Header.Add("Authorization", h)
			}
			p, err := e.v.Authenticate(r)
			switch {
			case test.anon:
				if p != nil || err != nil {
					t.Fatalf("anonymous: %v %v", p, err)
				}
			case test.code == "":
				if err != nil || p == nil {
					t.Fatalf("got %v", err)
				}
			default:
				var ae *auth.AuthError
				if !errors.As(err, &ae) || ae.Code != test.code {
					t.Fatalf("got %v, want %s", err, test.code)
				}
				if !strings.Contains(ae.Challenge(), `error="`+test.code+`"`) {
					t.Fatalf("challenge %q", ae.Challenge())
				}
			}
		})
	}
}

// TestMiddlewareAndPolicy runs a request through Verifier.Middleware and
// Policy.Authorize, as the server will.
func TestMiddlewareAndPolicy(t *testing.T) {
	e := newEnv(t, nil)
	pol := auth.DefaultPolicy()
	var refused []string // told to the hook: bad credentials only
	var mu sync.Mutex
	h := e.v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := pol.Authorize(r.Context(), auth.Access{Interaction: "create", Type: "CarePlan"})
		switch {
		case err == nil:
			w.WriteHeader(201)
		case errors.Is(err, auth.ErrUnauthenticated):
			auth.WriteUnauthenticated(w, err)
		default:
			w.WriteHeader(403)
		}
	}), func(r *http.Request, err error) {
		mu.Lock()
		defer mu.Unlock()
		refused = append(refused, r.Method+" "+r.URL.Path+": "+err.Error())
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(authz string) *http.Response {
		req, _ := http.NewRequest("POST", srv.URL+"/fhir/CarePlan", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := do(""); r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") != `Bearer realm="ucp"` {
		t.Errorf("anonymous: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := do("Bearer nope"); r.StatusCode != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("bad token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := do("Bearer " + e.mint(t, url.Values{"role": {"view"}})); r.StatusCode != 403 {
		t.Errorf("view creating a plan: %d", r.StatusCode)
	}
	if r := do("Bearer " + e.mint(t, url.Values{"role": {"clinical"}})); r.StatusCode != 201 {
		t.Errorf("clinical creating a plan: %d", r.StatusCode)
	}
	if r := do("Bearer " + e.mint(t, url.Values{"role": {"clinical"}, "scope": {"user/*.rs"}})); r.StatusCode != 403 {
		t.Errorf("clinical with read scopes creating a plan: %d", r.StatusCode)
	}
	// The anonymous request reaches the handler (the REST layer audits it);
	// only the bad token is refused by the middleware.
	mu.Lock()
	defer mu.Unlock()
	if len(refused) != 1 || !strings.HasPrefix(refused[0], "POST /fhir/CarePlan: ") {
		t.Errorf("refusals told to the hook: %q, want the one bad token", refused)
	}
}

func TestVerifierDiscoveryFailure(t *testing.T) {
	// Nothing listens here once the server is closed.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	iss, err := devissuer.New(devissuer.Config{Issuer: url + "/dev-issuer", Audience: aud})
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{iss.IssuerConfig()}})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := iss.Mint(devissuer.TokenRequest{Role: auth.RoleClinical})
	if _, err := v.Verify(context.Background(), tok.AccessToken); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("got %v", err)
	}
	if err := v.Discover(context.Background()); err == nil {
		t.Fatal("Discover: want error")
	}
}

func TestNewVerifierConfig(t *testing.T) {
	for _, cfg := range []auth.VerifierConfig{
		{},
		{Issuers: []auth.IssuerConfig{{URL: "https://a"}}},
		{Issuers: []auth.IssuerConfig{{URL: "https://a", Audience: "x"}, {URL: "https://a", Audience: "y"}}},
		{Issuers: []auth.IssuerConfig{{URL: "https://a", Audience: "x", DefaultScopes: "user/*.xyz"}}},
	} {
		if _, err := auth.NewVerifier(cfg); err == nil {
			t.Errorf("NewVerifier(%+v): want error", cfg)
		}
	}
}

// TestVerifyKidNamesTheKey signs tokens with the issuer's own private key
// but a wrong or missing kid: the signature verifies, yet the header does
// not name the key, so both the discovered JWKS and the in-process key set
// (the SMART token endpoint's) must refuse them.
func TestVerifyKidNamesTheKey(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := t.TempDir() + "/issuer.pem"
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss, err := devissuer.New(devissuer.Config{Issuer: srv.URL + "/dev-issuer", Audience: aud, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/dev-issuer/", iss)
	e := &env{srv: srv, iss: iss}
	kid := iss.Key().KeyID()

	discovered, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{iss.IssuerConfig()}})
	if err != nil {
		t.Fatal(err)
	}
	ic := iss.IssuerConfig()
	ic.KeySet = iss.Key().KeySet()
	inProcess, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{ic}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, v := range []struct {
		name string
		v    *auth.Verifier
	}{{"discovered JWKS", discovered}, {"key set", inProcess}} {
		t.Run(v.name, func(t *testing.T) {
			for _, tc := range []struct {
				name, kid string
				ok        bool
			}{
				{"the key's kid", kid, true},
				{"no kid", "", false},
				{"unknown kid", "someone-else", false},
				{"kid with a suffix", kid + "x", false},
			} {
				// A fresh token each time: a verified one is cached by its text.
				c := e.claims()
				c["jti"] = auth.NewJTI()
				_, err := v.v.Verify(ctx, signWith(t, jose.RS256, priv, tc.kid, c))
				if tc.ok && err != nil {
					t.Errorf("%s: %v", tc.name, err)
				}
				if !tc.ok && !errors.Is(err, auth.ErrUnauthenticated) {
					t.Errorf("%s: got %v, want ErrUnauthenticated", tc.name, err)
				}
			}
			// The issuer's own tokens, as minted, still pass.
			tok, err := iss.Mint(devissuer.TokenRequest{Role: auth.RoleClinical})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.v.Verify(ctx, tok.AccessToken); err != nil {
				t.Errorf("minted token: %v", err)
			}
		})
	}
}

// TestVerifyUnnamedKeys: an issuer whose JWKS names no key may send tokens
// with no kid; a kid is then a name of no key.
func TestVerifyUnnamedKeys(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("/iss/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL + "/iss", "jwks_uri": srv.URL + "/iss/jwks",
			"id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("/iss/jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), Use: "sig"}}})
	})
	v, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{{URL: srv.URL + "/iss", Audience: aud, Systems: true}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := map[string]any{"iss": srv.URL + "/iss", "aud": aud, "sub": "cad", "client_id": "cad", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if _, err := v.Verify(context.Background(), signWith(t, jose.ES256, priv, "", c)); err != nil {
		t.Errorf("no kid, unnamed keys: %v", err)
	}
	c["jti"] = "2"
	if _, err := v.Verify(context.Background(), signWith(t, jose.ES256, priv, "k1", c)); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("kid naming no key: got %v, want ErrUnauthenticated", err)
	}
}
