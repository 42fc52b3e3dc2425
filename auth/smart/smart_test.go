package smart_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"ucp/auth"
	"ucp/auth/smart"
)

type fixture struct {
	srv      *httptest.Server
	smart    *smart.Server
	tokenURL string
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	v        *auth.Verifier
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	f.rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	f.ecKey, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.tokenURL = f.srv.URL + "/auth/token"
	reg, err := smart.NewMemoryRegistry(
		&smart.Client{ID: "ambulance", Org: "RRU", Scope: "system/CarePlan.rs system/Patient.read",
			JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
				{Key: f.rsaKey.Public(), KeyID: "rsa1", Algorithm: "RS384", Use: "sig"},
				{Key: f.ecKey.Public(), KeyID: "ec1"},
			}}},
		&smart.Client{ID: "retired", Scope: "system/*.rs", Disabled: true,
			JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: f.rsaKey.Public(), KeyID: "rsa1"}}}},
		// An app with the same key: it acts for users, never as a system.
		&smart.Client{ID: "app", RedirectURIs: []string{"https://app.example/cb"}, AuthMethod: smart.AuthPrivateKeyJWT,
			JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: f.rsaKey.Public(), KeyID: "rsa1", Algorithm: "RS384"}}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.NewSigningKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	f.smart, err = smart.New(smart.Config{Issuer: f.srv.URL + "/auth", TokenURL: f.tokenURL, Audience: f.srv.URL + "/fhir", Key: key, Clients: reg})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/auth/token", f.smart)
	mux.Handle("/fhir/.well-known/smart-configuration", f.smart.ConfigurationHandler())
	f.v, err = auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{f.smart.IssuerConfig()}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) claims() map[string]any {
	now := time.Now()
	return map[string]any{"iss": "ambulance", "sub": "ambulance", "aud": f.tokenURL, "exp": now.Add(4 * time.Minute).Unix(), "iat": now.Unix(), "jti": auth.NewJTI()}
}

func assertion(t *testing.T, alg jose.SignatureAlgorithm, key crypto.Signer, kid string, c map[string]any, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) form(a, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {smart.AssertionType}, "client_assertion": {a}, "scope": {scope}}
}

func (f *fixture) post(t *testing.T, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(f.tokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", resp.Header)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestBackendServicesFlow(t *testing.T) {
	f := newFixture(t)
	for _, test := range []struct {
		name string
		alg  jose.SignatureAlgorithm
		key  crypto.Signer
		kid  string
	}{
		{"RS384", jose.RS384, f.rsaKey, "rsa1"},
		{"ES384", jose.ES384, f.ecKey, "ec1"},
	} {
		t.Run(test.name, func(t *testing.T) {
			status, body := f.post(t, f.form(assertion(t, test.alg, test.key, test.kid, f.claims(), nil), "system/CarePlan.rs system/Patient.rs"))
			if status != 200 {
				t.Fatalf("%d %v", status, body)
			}
			if body["token_type"] != "bearer" || body["expires_in"].(float64) > 300 || body["scope"] != "system/CarePlan.rs system/Patient.rs" {
				t.Fatalf("response %v", body)
			}
			p, err := f.v.Verify(context.Background(), body["access_token"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if p.Role != auth.RoleSystem || p.ClientID != "ambulance" || p.Org != "RRU" || time.Until(p.Expiry) > 300*time.Second {
				t.Fatalf("principal %+v", p)
			}
			pol := auth.DefaultPolicy()
			ctx := auth.NewContext(context.Background(), p)
			if err := pol.Authorize(ctx, auth.Access{Interaction: "search-type", Type: "CarePlan", Query: "patient=1"}); err != nil {
				t.Errorf("search CarePlan: %v", err)
			}
			if err := pol.Authorize(ctx, auth.Access{Interaction: "update", Type: "CarePlan", ID: "1"}); err == nil {
				t.Error("update CarePlan allowed with read scopes")
			}
		})
	}
}

func TestReplayedAssertion(t *testing.T) {
	f := newFixture(t)
	a := assertion(t, jose.RS384, f.rsaKey, "rsa1", f.claims(), nil)
	if status, body := f.post(t, f.form(a, "system/CarePlan.rs")); status != 200 {
		t.Fatalf("first use: %d %v", status, body)
	}
	status, body := f.post(t, f.form(a, "system/CarePlan.rs"))
	if status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("replay: %d %v", status, body)
	}
	// The jti is recorded as soon as the assertion verifies, before the
	// scope check, so an assertion refused for its scope cannot be retried.
	c := f.claims()
	b := assertion(t, jose.RS384, f.rsaKey, "rsa1", c, nil)
	if status, _ := f.post(t, f.form(b, "system/Observation.rs")); status != 400 {
		t.Fatalf("bad scope: %d", status)
	}
	if status, body := f.post(t, f.form(b, "system/CarePlan.rs")); status != 401 {
		t.Fatalf("reuse after scope error: %d %v", status, body)
	}
}

func TestRejectedAssertions(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	with := func(k string, v any) map[string]any {
		c := f.claims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, test := range []struct {
		name      string
		form      url.Values
		status    int
		errorCode string
	}{
		{"RS256 not allowed", f.form(assertion(t, jose.RS256, f.rsaKey, "rsa1", f.claims(), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"HS256 with public key", f.form(func() string {
			der, _ := x509.MarshalPKIXPublicKey(f.rsaKey.Public())
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: der, KeyID: "rsa1"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.Signed(s).Claims(f.claims()).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}(), "system/CarePlan.rs"), 401, "invalid_client"},
		{"no kid", f.form(assertion(t, jose.RS384, f.rsaKey, "", f.claims(), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"unknown kid", f.form(assertion(t, jose.RS384, f.rsaKey, "nope", f.claims(), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"wrong RSA key", f.form(assertion(t, jose.RS384, otherRSA, "rsa1", f.claims(), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"wrong EC key", f.form(assertion(t, jose.ES384, otherEC, "ec1", f.claims(), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"ES384 against RS384 key", f.form(assertion(t, jose.ES384, f.ecKey, "rsa1", f.claims(), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"jku header", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", f.claims(), map[jose.HeaderKey]any{"jku": "https://evil.example/jwks"}), "system/CarePlan.rs"), 401, "invalid_client"},
		{"iss != sub", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", with("sub", "other"), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"unknown client", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", func() map[string]any { c := f.claims(); c["iss"], c["sub"] = "nobody", "nobody"; return c }(), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"an app asking for client_credentials", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", func() map[string]any { c := f.claims(); c["iss"], c["sub"] = "app", "app"; return c }(), nil), "system/CarePlan.rs"), 400, "unauthorized_client"},
		{"disabled client", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", func() map[string]any { c := f.claims(); c["iss"], c["sub"] = "retired", "retired"; return c }(), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"client_id mismatch", func() url.Values {
			v := f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", f.claims(), nil), "system/CarePlan.rs")
			v.Set("client_id", "someone-else")
			return v
		}(), 401, "invalid_client"},
		{"wrong aud", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", with("aud", f.srv.URL+"/fhir"), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"expired", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", with("exp", now.Add(-time.Minute).Unix()), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"exp too far ahead", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", with("exp", now.Add(10*time.Minute).Unix()), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"no exp", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", with("exp", nil), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"nbf in future", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", with("nbf", now.Add(2*time.Minute).Unix()), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"no jti", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", with("jti", nil), nil), "system/CarePlan.rs"), 401, "invalid_client"},
		{"garbage", f.form("a.b.c", "system/CarePlan.rs"), 401, "invalid_client"},
		{"scope not registered", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", f.claims(), nil), "system/Observation.rs"), 400, "invalid_scope"},
		{"scope wider than registered", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", f.claims(), nil), "system/CarePlan.cruds"), 400, "invalid_scope"},
		{"user scope", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", f.claims(), nil), "user/CarePlan.rs"), 400, "invalid_scope"},
		{"malformed scope", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", f.claims(), nil), "system/CarePlan.sr"), 400, "invalid_scope"},
		{"no scope", f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", f.claims(), nil), ""), 400, "invalid_scope"},
		{"wrong grant type", func() url.Values {
			v := f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", f.claims(), nil), "system/CarePlan.rs")
			v.Set("grant_type", "password")
			return v
		}(), 400, "unsupported_grant_type"},
		{"wrong assertion type", func() url.Values {
			v := f.form(assertion(t, jose.RS384, f.rsaKey, "rsa1", f.claims(), nil), "system/CarePlan.rs")
			v.Set("client_assertion_type", "urn:other")
			return v
		}(), 400, "invalid_request"},
		{"no assertion", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {smart.AssertionType}}, 400, "invalid_request"},
	} {
		t.Run(test.name, func(t *testing.T) {
			status, body := f.post(t, test.form)
			if status != test.status || body["error"] != test.errorCode {
				t.Fatalf("got %d %v, want %d %s", status, body, test.status, test.errorCode)
			}
			if _, ok := body["access_token"]; ok {
				t.Fatal("access token issued")
			}
		})
	}
}

func TestSmartConfiguration(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.srv.URL + "/fhir/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c smart.Configuration
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	has := func(list []string, v string) bool {
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	if c.TokenEndpoint != f.tokenURL || !has(c.GrantTypesSupported, "client_credentials") ||
		!has(c.TokenEndpointAuthMethodsSupported, "private_key_jwt") || !has(c.TokenEndpointAuthSigningAlgs, "RS384") ||
		!has(c.TokenEndpointAuthSigningAlgs, "ES384") || !has(c.Capabilities, "client-confidential-asymmetric") ||
		!has(c.Capabilities, "permission-v2") || !has(c.Capabilities, "permission-v1") || !has(c.CodeChallengeMethodsSupported, "S256") ||
		has(c.CodeChallengeMethodsSupported, "plain") || len(c.ScopesSupported) == 0 {
		t.Fatalf("configuration %+v", c)
	}
}

func TestRegistryValidation(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, c := range []*smart.Client{
		{ID: "", Scope: "system/*.rs", JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: "a"}}}},
		{ID: "x", Scope: "system/*.rs"},
		{ID: "x", Scope: "system/*.rs", JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: "a"}}}}, // private key
		{ID: "x", Scope: "system/*.rs", JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public()}}}},    // no kid
		{ID: "x", Scope: "user/*.rs", JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: "a"}}}},
	} {
		if _, err := smart.NewMemoryRegistry(c); err == nil {
			t.Errorf("registered %+v", c)
		}
	}
	reg, _ := smart.NewMemoryRegistry()
	if _, err := reg.Client(context.Background(), "x"); !errors.Is(err, smart.ErrUnknownClient) {
		t.Fatal(err)
	}
}
