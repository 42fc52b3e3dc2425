package devissuer_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/devissuer"
)

func TestNewRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"https://ucp.example.org/dev-issuer", "http://10.0.0.1/dev", "not a url", "/dev-issuer", "ftp://127.0.0.1/x"} {
		if _, err := devissuer.New(devissuer.Config{Issuer: u, Audience: "a"}); err == nil {
			t.Errorf("New(%q): want error", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/dev-issuer", "http://localhost/x", "http://[::1]:9/"} {
		if _, err := devissuer.New(devissuer.Config{Issuer: u, Audience: "a", Algorithm: "ES256"}); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	if _, err := devissuer.New(devissuer.Config{Issuer: "https://demo.example/dev", Audience: "a", AllowNonLoopback: true}); err != nil {
		t.Error(err)
	}
}

// TestGinMount mounts the issuer on a gin engine beside a FHIR route, as
// `ucp serve --dev` will, and verifies a token from its endpoint.
func TestGinMount(t *testing.T) {
	gin.SetMode(gin.TestMode)
	engine := gin.New()
	srv := httptest.NewServer(engine)
	defer srv.Close()
	iss, err := devissuer.New(devissuer.Config{Issuer: srv.URL + "/dev-issuer", Audience: srv.URL + "/fhir", Algorithm: "ES256"})
	if err != nil {
		t.Fatal(err)
	}
	iss.Mount(engine)
	v, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{iss.IssuerConfig()}})
	if err != nil {
		t.Fatal(err)
	}
	engine.GET("/fhir/whoami", func(c *gin.Context) {
		p, err := v.Authenticate(c.Request)
		if err != nil || p == nil {
			c.Status(401)
			return
		}
		c.JSON(200, gin.H{"role": p.Role, "org": p.Org})
	})

	resp, err := http.Get(srv.URL + "/dev-issuer/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc map[string]any
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if disc["issuer"] != iss.URL() || disc["jwks_uri"] != iss.URL()+"/jwks" {
		t.Fatalf("discovery %v", disc)
	}

	resp, err = http.PostForm(srv.URL+"/dev-issuer/token", url.Values{"role": {"admin"}, "org": {"X26"}})
	if err != nil {
		t.Fatal(err)
	}
	var tr devissuer.TokenResponse
	json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if resp.Header.Get("Cache-Control") != "no-store" || tr.ExpiresIn != 3600 {
		t.Fatalf("token response %+v %v", tr, resp.Header)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/fhir/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var who map[string]string
	json.NewDecoder(resp.Body).Decode(&who)
	resp.Body.Close()
	if who["role"] != "admin" || who["org"] != "X26" {
		t.Fatalf("whoami %v", who)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	iss, err := devissuer.New(devissuer.Config{Issuer: srv.URL + "/dev-issuer", Audience: "a"})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/dev-issuer/", iss)
	for _, form := range []url.Values{
		{"role": {"superuser"}},
		{"role": {""}},
		{"role": {"patient"}}, // no patient id
		{"role": {"clinical"}, "scope": {"user/*.xyz"}},
		{"role": {"clinical"}, "ttl": {"-5"}},
	} {
		resp, err := http.PostForm(srv.URL+"/dev-issuer/token", form)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]string
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e["error"] != "invalid_request" {
			t.Errorf("%v: %d %v", form, resp.StatusCode, e)
		}
	}
	resp, err := http.Get(srv.URL + "/dev-issuer/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /token: %d", resp.StatusCode)
	}
}

// TestKeyFile: a persisted key keeps tokens valid across a restart.
func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev-key.pem")
	cfg := devissuer.Config{Issuer: "http://127.0.0.1:1/dev-issuer", Audience: "a", KeyFile: path}
	a, err := devissuer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := devissuer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.Key().KeyID() != b.Key().KeyID() {
		t.Fatal("key not reused")
	}
	tok, err := a.Mint(devissuer.TokenRequest{Role: auth.RoleView})
	if err != nil {
		t.Fatal(err)
	}
	// Verify a's token with b's key, without discovery.
	ic := b.IssuerConfig()
	ic.KeySet = b.Key().KeySet()
	v, _ := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{ic}})
	p, err := v.Verify(context.Background(), tok.AccessToken)
	if err != nil || p.Role != auth.RoleView {
		t.Fatalf("%v %+v", err, p)
	}
	if !strings.HasPrefix(p.RoleCode, "UCPDEV-") {
		t.Fatalf("role code %q", p.RoleCode)
	}
}
