package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"ucp/auth"
	"ucp/auth/smart"
	"ucp/store"
)

// TestServeBackendServices walks an ambulance CAD system through SMART
// Backend Services: discovery, a signed client assertion for a token, a
// search with it, and a replayed assertion refused.
func TestServeBackendServices(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clients := []*smart.Client{{ID: "lond-ambulance-cad", Name: "London Ambulance CAD", Scope: "system/CarePlan.rs system/Patient.rs", Org: "RRU",
		JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "cad-1", Algorithm: "ES384", Use: "sig"}}}}}
	data, _ := json.Marshal(clients)
	clientsFile := filepath.Join(dir, "clients.json")
	if err := os.WriteFile(clientsFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), MaxBody: 1 << 20,
		Issuers: []string{"https://cis2.invalid"}, Audiences: []string{"ucp"}, ClientsFile: clientsFile, Dev: true}
	srv := serveTest(t, cfg)

	var disc struct {
		TokenEndpoint string   `json:"token_endpoint"`
		Capabilities  []string `json:"capabilities"`
		AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	}
	resp, err := http.Get(srv.base + "/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if resp.StatusCode != 200 || disc.TokenEndpoint == "" || len(disc.Capabilities) == 0 || len(disc.AuthMethods) == 0 {
		t.Fatalf("smart-configuration: %d %+v", resp.StatusCode, disc)
	}
	if code, cs := get(t, srv.base+"/metadata"); code != 200 || !strings.Contains(mustJSON(cs["rest"]), "SMART-on-FHIR") {
		t.Errorf("the CapabilityStatement does not declare the SMART security service")
	}

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: jose.JSONWebKey{Key: key, KeyID: "cad-1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	assertion, err := jwt.Signed(signer).Claims(map[string]any{
		"iss": "lond-ambulance-cad", "sub": "lond-ambulance-cad", "aud": disc.TokenEndpoint,
		"exp": now.Add(4 * time.Minute).Unix(), "iat": now.Unix(), "jti": auth.NewJTI(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {smart.AssertionType},
		"client_assertion": {assertion}, "scope": {"system/CarePlan.rs"}}
	tokenReq := func() (int, map[string]any) {
		resp, err := http.PostForm(disc.TokenEndpoint, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	code, tok := tokenReq()
	if code != 200 || tok["access_token"] == nil {
		t.Fatalf("token: %d %v", code, tok)
	}
	system := tok["access_token"].(string)
	bearer = system
	defer func() { bearer = "" }()
	// The ambulance trust (RRU) has no information-sharing agreement yet.
	if code, b := get(t, srv.base+"/CarePlan?status=active"); code != 403 || !strings.Contains(mustJSON(b), "information-sharing agreement") {
		t.Errorf("system search without an agreement: %d %v, want 403 naming the agreement", code, b)
	}
	// An admin records one; it takes effect at once.
	contract := `{"resourceType":"Contract","status":"executed","applies":{"start":"2026-01-01"},
		"authority":[{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"RRU"}}]}`
	if code, _, _ := call(t, http.MethodPost, srv.base+"/Contract", token(t, srv, auth.RoleAdmin), []byte(contract), "Content-Type: application/fhir+json"); code != 201 {
		t.Fatalf("recording the agreement: %d", code)
	}
	if code, b := get(t, srv.base+"/CarePlan?status=active"); code != 200 {
		r, _ := srv.store.Search(context.Background(), store.Query{Types: []string{"Contract"}, Count: 10})
		for _, v := range r.Versions {
			t.Logf("stored: %s", v.JSON)
		}
		t.Errorf("system search with its token and an agreement: %d %v", code, b)
	}
	if code, _ := get(t, srv.base+"/Patient/x/_history"); code != 403 {
		t.Errorf("outside the client's scopes (history): %d, want 403", code)
	}
	// The same claims signed with the server's own key pass only with the
	// kid of that key: a wrong or missing kid is refused.
	t.Run("kid", func(t *testing.T) {
		pemBytes, err := os.ReadFile(filepath.Join(dir, "server-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(pemBytes)
		priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		issued, err := jose.ParseSignedCompact(system, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		json.Unmarshal(issued.UnsafePayloadWithoutVerification(), &claims)
		for _, tc := range []struct {
			name, kid string
			want      int
		}{
			{"the key's kid", issued.Signatures[0].Header.KeyID, 200},
			{"no kid", "", 401},
			{"another kid", "cad-1", 401},
		} {
			claims["jti"] = auth.NewJTI() // a new token each time
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: tc.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.Signed(s).Claims(claims).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			if code, _, b := call(t, "GET", srv.base+"/CarePlan?status=active", tok, nil); code != tc.want {
				t.Errorf("%s: %d %s, want %d", tc.name, code, b, tc.want)
			}
		}
	})
	if code, body := tokenReq(); code < 400 || code >= 500 || body["error"] != "invalid_client" {
		t.Errorf("replayed assertion: %d %v, want invalid_client", code, body)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestServeAuditsRefusedTokens: a request with a forged or expired token is
// refused by the verifier before the REST layer sees it, and is still
// audited, as a login failure from its address.
func TestServeAuditsRefusedTokens(t *testing.T) {
	db := filepath.Join(t.TempDir(), "ucp.db")
	srv := startTestServer(t, db, false)
	for _, tok := range []string{"not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."} {
		code, h, b := call(t, "GET", srv.base+"/CarePlan?status=active", tok, nil)
		if code != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
			t.Fatalf("bad token: %d %q %s", code, h.Get("WWW-Authenticate"), b)
		}
	}
	if err := srv.Close(); err != nil { // counts still open are recorded on close
		t.Fatal(err)
	}
	srv = startTestServer(t, db, false)
	defer srv.Close()
	bearer = token(t, srv, auth.RoleAdmin)
	defer func() { bearer = "" }()
	_, bundle := get(t, srv.base+"/AuditEvent?address=127.0.0.1&type="+url.QueryEscape("http://dicom.nema.org/resources/ontology/DCM|110114"))
	var descs []string
	for _, e := range asAnyList(bundle["entry"]) {
		ev, _ := e.(map[string]any)["resource"].(map[string]any)
		d, _ := ev["outcomeDesc"].(string)
		descs = append(descs, d)
	}
	// The first at once, the second counted into the window's event.
	if len(descs) != 2 || !strings.HasPrefix(descs[0]+descs[1], "refused") || !strings.Contains(strings.Join(descs, "|"), "refused 1 more times") {
		t.Errorf("AuditEvents of the refused tokens: %q, want the first refusal and a count of 1 more", descs)
	}
}
