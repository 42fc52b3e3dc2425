package devissuer_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"ucp/auth/devissuer"
)

// TestCodeFlow runs the authorization code flow and its refusals: PKCE
// S256 required and checked, codes single use, redirect_uri matched.
func TestCodeFlow(t *testing.T) {
	gin.SetMode(gin.TestMode)
	engine := gin.New()
	srv := httptest.NewServer(engine)
	defer srv.Close()
	iss, err := devissuer.New(devissuer.Config{Issuer: srv.URL + "/dev-issuer", Audience: srv.URL + "/fhir"})
	if err != nil {
		t.Fatal(err)
	}
	iss.Mount(engine)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const redirect = "http://127.0.0.1:9/callback"
	verifier := "a-verifier-of-at-least-forty-three-characters-long-xyz"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	authorize := func(extra url.Values) *http.Response {
		f := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {redirect}, "state": {"st"}, "nonce": {"n0"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "role": {"clinical"}, "user": {"u"}, "name": {"N"}, "org": {"F84012"}}
		for k, v := range extra {
			f[k] = v
		}
		resp, err := noRedirect.PostForm(srv.URL+"/dev-issuer/authorize", f)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	codeOf := func(resp *http.Response) string {
		u, _ := url.Parse(resp.Header.Get("Location"))
		if u.Query().Get("state") != "st" {
			t.Errorf("state not echoed: %s", u)
		}
		return u.Query().Get("code")
	}
	exchange := func(code, verifier, redirectURI string) (int, map[string]any) {
		resp, err := http.PostForm(srv.URL+"/dev-issuer/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"code_verifier": {verifier}, "redirect_uri": {redirectURI}, "client_id": {"app"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}

	if resp := authorize(url.Values{"code_challenge_method": {"plain"}}); !strings.Contains(resp.Header.Get("Location"), "error=invalid_request") {
		t.Errorf("plain PKCE: %s", resp.Header.Get("Location"))
	}
	code := codeOf(authorize(nil))
	if st, _ := exchange(code, verifier+"x", redirect); st != http.StatusBadRequest {
		t.Errorf("wrong verifier: %d", st)
	}
	code = codeOf(authorize(nil))
	if st, _ := exchange(code, verifier, "http://127.0.0.1:9/other"); st != http.StatusBadRequest {
		t.Errorf("wrong redirect_uri: %d", st)
	}
	code = codeOf(authorize(nil))
	st, body := exchange(code, verifier, redirect)
	if st != http.StatusOK || body["id_token"] == nil {
		t.Fatalf("exchange: %d %v", st, body)
	}
	parts := strings.Split(body["id_token"].(string), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	json.Unmarshal(payload, &claims)
	if claims["nonce"] != "n0" || claims["aud"] != "app" {
		t.Errorf("ID token nonce %v aud %v, want n0 and app", claims["nonce"], claims["aud"])
	}
	if st, _ := exchange(code, verifier, redirect); st != http.StatusBadRequest {
		t.Errorf("a code used twice: %d", st)
	}
}

// TestCodeFlowPatientProofing: a patient signed in through the code flow
// carries the identity proofing level picked on the form, as NHS login's
// identity_proofing_level; none picked leaves P9 beside the NHS number.
func TestCodeFlowPatientProofing(t *testing.T) {
	gin.SetMode(gin.TestMode)
	engine := gin.New()
	srv := httptest.NewServer(engine)
	defer srv.Close()
	iss, err := devissuer.New(devissuer.Config{Issuer: srv.URL + "/dev-issuer", Audience: srv.URL + "/fhir"})
	if err != nil {
		t.Fatal(err)
	}
	iss.Mount(engine)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const redirect = "http://127.0.0.1:9/callback"
	verifier := "a-verifier-of-at-least-forty-three-characters-long-xyz"
	sum := sha256.Sum256([]byte(verifier))
	for _, tc := range []struct{ picked, want, error string }{{"P5", "P5", ""}, {"P9", "P9", ""}, {"", "P9", ""}, {"P7", "", "access_denied"}} {
		f := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {redirect}, "state": {"st"}, "nonce": {"n0"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
			"role": {"patient"}, "user": {"p"}, "name": {"Ann"}, "nhs_number": {"9434765919"}, "proofing": {tc.picked}}
		resp, err := noRedirect.PostForm(srv.URL+"/dev-issuer/authorize", f)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, _ := url.Parse(resp.Header.Get("Location"))
		if got := u.Query().Get("error"); got != tc.error {
			t.Errorf("proofing %q: error %q, want %q", tc.picked, got, tc.error)
		}
		if tc.error != "" {
			continue
		}
		tr, err := http.PostForm(srv.URL+"/dev-issuer/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
			"code_verifier": {verifier}, "redirect_uri": {redirect}, "client_id": {"app"}})
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(tr.Body).Decode(&body)
		tr.Body.Close()
		idt, _ := body["id_token"].(string)
		parts := strings.Split(idt+"..", ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		json.Unmarshal(payload, &claims)
		if claims["identity_proofing_level"] != tc.want {
			t.Errorf("proofing %q: identity_proofing_level %v, want %s", tc.picked, claims["identity_proofing_level"], tc.want)
		}
	}
}
