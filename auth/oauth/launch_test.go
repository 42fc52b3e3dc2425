package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	xoauth2 "golang.org/x/oauth2"

	"ucp/auth"
	"ucp/auth/oauth"
)

// exchange swaps a code as the app does and returns the token.
func exchange(t *testing.T, cfg *xoauth2.Config, code, verifier string, opts ...xoauth2.AuthCodeOption) *xoauth2.Token {
	t.Helper()
	tok, err := cfg.Exchange(context.Background(), code, append(opts, xoauth2.VerifierOption(verifier))...)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

// TestDiscovery is Inferno's discovery group: the SMART configuration and
// the OpenID configuration list exactly what works, with CORS.
func TestDiscovery(t *testing.T) {
	w := newWorld(t)
	req, _ := http.NewRequest(http.MethodGet, w.base+"/.well-known/smart-configuration", nil)
	req.Header.Set("Origin", "https://app.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	p := read(t, resp)
	if p.status != 200 || p.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("smart-configuration: %d, CORS %q", p.status, p.header.Get("Access-Control-Allow-Origin"))
	}
	c := decode(t, p.body)
	got := map[string]any{}
	for _, k := range []string{"issuer", "authorization_endpoint", "token_endpoint", "introspection_endpoint", "revocation_endpoint", "jwks_uri", "capabilities", "code_challenge_methods_supported", "grant_types_supported", "token_endpoint_auth_methods_supported"} {
		got[k] = c[k]
	}
	want := map[string]any{
		"issuer": w.issuer, "authorization_endpoint": w.issuer + "/authorize", "token_endpoint": w.issuer + "/token",
		"introspection_endpoint": w.issuer + "/introspect", "revocation_endpoint": w.issuer + "/revoke", "jwks_uri": w.issuer + "/jwks",
		"capabilities": []any{"launch-ehr", "launch-standalone", "authorize-post", "client-public", "client-confidential-symmetric",
			"client-confidential-asymmetric", "context-ehr-patient", "context-standalone-patient", "context-banner", "sso-openid-connect",
			"permission-v1", "permission-v2", "permission-patient", "permission-user", "permission-offline"},
		"code_challenge_methods_supported":      []any{"S256"},
		"grant_types_supported":                 []any{"authorization_code", "refresh_token", "client_credentials"},
		"token_endpoint_auth_methods_supported": []any{"private_key_jwt", "client_secret_basic", "none"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("smart-configuration (-want +got):\n%s", diff)
	}
	// OpenID Connect discovery, as a relying party library reads it.
	prov, err := oidc.NewProvider(context.Background(), w.issuer)
	if err != nil {
		t.Fatal(err)
	}
	var oc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := prov.Claims(&oc); err != nil || !slices.Contains(oc.Algs, "RS256") {
		t.Errorf("id_token algorithms %v (%v); want RS256 among them", oc.Algs, err)
	}
	// A CORS preflight of the token endpoint.
	req, _ = http.NewRequest(http.MethodOptions, w.issuer+"/token", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	p = read(t, resp)
	if p.status != http.StatusNoContent || p.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("token preflight: %d %v", p.status, p.header)
	}
}

// TestStandaloneLaunch is Inferno's standalone launch and OpenID Connect
// groups: a clinician signs in, picks the patient by NHS number, approves;
// the token response carries the context, the ID token names the user and
// the access token is accepted by the FHIR API's verifier with the granted
// scopes.
func TestStandaloneLaunch(t *testing.T) {
	w := newWorld(t)
	cfg := w.app(publicApp, "launch/patient", "openid", "fhirUser", "offline_access", "user/*.cruds", "patient/*.rs", "system/*.rs")
	v := xoauth2.GenerateVerifier()
	b := w.browser(t, clinician())
	back := w.approve(t, b, w.authorizeURL(cfg, "state-12345678", v, xoauth2.SetAuthURLParam("nonce", "nonce-12345678")), nhsWithPlan)
	if back.Query().Get("state") != "state-12345678" || back.Query().Get("code") == "" {
		t.Fatalf("redirect %s: want the code and the state echoed", back)
	}
	tok := exchange(t, cfg, back.Query().Get("code"), v)
	if got := tok.Extra("patient"); got != w.patient {
		t.Errorf("patient = %v, want %s", got, w.patient)
	}
	if got := tok.Extra("need_patient_banner"); got != true {
		t.Errorf("need_patient_banner = %v, want true for a standalone launch", got)
	}
	if diff := cmp.Diff([]any{map[string]any{"reference": "CarePlan/" + w.plan}}, tok.Extra("fhirContext")); diff != "" {
		t.Errorf("fhirContext (-want +got):\n%s", diff)
	}
	// A clinician may not delete; system scopes are never an app's.
	if diff := cmp.Diff("launch/patient openid fhirUser offline_access user/*.crus patient/*.rs", tok.Extra("scope")); diff != "" {
		t.Errorf("granted scope (-want +got):\n%s", diff)
	}
	if tok.RefreshToken == "" {
		t.Error("no refresh token with offline_access")
	}
	// The ID token: RS256, verified through discovery, naming the user.
	prov, err := oidc.NewProvider(context.Background(), w.issuer)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&oidc.Config{ClientID: publicApp, SupportedSigningAlgs: []string{"RS256"}}).Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	var claims struct {
		FHIRUser string `json:"fhirUser"`
		Nonce    string `json:"nonce"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if got := w.journal.recorded("smart-standalone", "555001", "Patient/"+w.patient, publicApp); len(got) != 1 {
		t.Errorf("the standalone authorization's AuditEvent: %d recorded", len(got))
	}
	if claims.FHIRUser != w.base+"/Practitioner/555001" || claims.Nonce != "nonce-12345678" || idt.Subject != "555001" {
		t.Errorf("id_token sub %q, fhirUser %q, nonce %q", idt.Subject, claims.FHIRUser, claims.Nonce)
	}
	// The access token, as the FHIR API sees it.
	pr, err := w.verifier.Verify(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatalf("the API's verifier refused the token: %v", err)
	}
	got := struct {
		Role           auth.Role
		User, Org      string
		Patient, Scope string
		IAL            int
	}{pr.Role, pr.UserID, pr.Org, pr.Patient, pr.Scopes.String(), pr.IDAssurance}
	want := struct {
		Role           auth.Role
		User, Org      string
		Patient, Scope string
		IAL            int
	}{auth.RoleClinical, "555001", "F84012", w.patient, "launch/patient openid fhirUser offline_access user/*.crus patient/*.rs", 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
}

// TestStandaloneUnknownPatient: an NHS number ucp has no record of is said
// plainly on the approval page, and nothing is issued.
func TestStandaloneUnknownPatient(t *testing.T) {
	w := newWorld(t)
	cfg := w.app(publicApp, "launch/patient", "patient/*.rs")
	b := w.browser(t, clinician())
	p := b.get(t, w.authorizeURL(cfg, "state-12345678", xoauth2.GenerateVerifier()))
	form := url.Values{"decision": {"approve"}, "nhs_number": {"9000000009"}}
	for _, f := range []string{"request", "issued", "csrf"} {
		form.Set(f, hidden(t, p.body, f))
	}
	r := b.post(t, w.srv.URL+"/auth/authorize/approve", form)
	if r.status != http.StatusNotFound || !strings.Contains(r.body, "ucp holds no record for NHS number 9000000009") {
		t.Errorf("unknown patient: %d %s", r.status, r.body)
	}
	// A form posted for another user (or forged) is refused.
	form.Set("csrf", "forged")
	if r := b.post(t, w.srv.URL+"/auth/authorize/approve", form); r.status != http.StatusForbidden {
		t.Errorf("forged approval: %d, want 403", r.status)
	}
	// Not signed in: sent to sign in, to come back to the same request.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(w.authorizeURL(cfg, "state-12345678", xoauth2.GenerateVerifier()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/test-signin?return_to=%2Fauth%2Fauthorize%3F") {
		t.Errorf("not signed in: %d to %q", resp.StatusCode, loc)
	}
}

// TestEHRLaunch is Inferno's EHR launch group: a registered launcher
// creates the launch, the app authorizes with launch and gets the patient,
// without a banner (the GP system shows its own).
func TestEHRLaunch(t *testing.T) {
	w := newWorld(t)
	sys := w.systemToken(t, launcherID)
	body := `{"nhs_number": "` + nhsWithPlan + `", "user": {"id": "555003", "name": "Dr Lee", "role_code": "` + auth.DevRoleCode(auth.RoleView) + `", "org": "F84012"}}`
	p := w.launch(t, sys, body)
	if p.status != http.StatusCreated {
		t.Fatalf("launch: %d %s", p.status, p.body)
	}
	l := decode(t, p.body)
	if l["iss"] != w.base || l["launch"] == "" {
		t.Fatalf("launch response %v", l)
	}
	cfg := w.app(secretApp, "launch", "openid", "fhirUser", "user/*.cruds")
	cfg.ClientSecret = appSecret
	v := xoauth2.GenerateVerifier()
	b := w.browser(t, nil) // nobody signed in to ucp: the launcher vouches for the user
	authorize := w.authorizeURL(cfg, "state-ehr-123456", v, xoauth2.SetAuthURLParam("launch", l["launch"].(string)))
	back := redirected(t, b.get(t, authorize))
	tok := exchange(t, cfg, back.Query().Get("code"), v)
	if tok.Extra("patient") != w.patient || tok.Extra("need_patient_banner") != false {
		t.Errorf("patient %v, banner %v", tok.Extra("patient"), tok.Extra("need_patient_banner"))
	}
	// A view user launched with user/*.cruds gets read-only.
	if diff := cmp.Diff("launch openid fhirUser user/*.rs", tok.Extra("scope")); diff != "" {
		t.Errorf("scope (-want +got):\n%s", diff)
	}
	// The launch and the app's authorization are on record: who, which
	// patient, through which launcher and app.
	if got := w.journal.recorded("smart-ehr", "555003", "Patient/"+w.patient, launcherID); len(got) != 1 {
		t.Errorf("the launch's AuditEvent: %d recorded", len(got))
	}
	if got := w.journal.recorded("smart-ehr", "555003", "Patient/"+w.patient, secretApp); len(got) != 1 {
		t.Errorf("the app's authorization AuditEvent: %d recorded", len(got))
	}
	// The launch id is single use.
	again := redirected(t, b.get(t, w.authorizeURL(cfg, "state-ehr-123456", v, xoauth2.SetAuthURLParam("launch", l["launch"].(string)))))
	if again.Query().Get("error") != "invalid_request" || again.Query().Get("code") != "" {
		t.Errorf("second use of a launch: %s", again)
	}
}

// TestLaunchRefused: only registered launchers, for a staff role, on a
// patient ucp holds, may create a launch.
func TestLaunchRefused(t *testing.T) {
	w := newWorld(t)
	sys := w.systemToken(t, launcherID)
	user := `"user": {"id": "555003", "role_code": "` + auth.DevRoleCode(auth.RoleClinical) + `", "org": "F84012"}`
	for _, tc := range []struct {
		name, token, body string
		status            int
		audited           bool // a refusal of an authenticated launcher is on record
	}{
		{"no token", "", `{"nhs_number": "` + nhsWithPlan + `", ` + user + `}`, http.StatusUnauthorized, false},
		{"a system client that is not a launcher", w.systemToken(t, "ambulance"), `{"nhs_number": "` + nhsWithPlan + `", ` + user + `}`, http.StatusForbidden, true},
		{"unknown patient", sys, `{"nhs_number": "9000000009", ` + user + `}`, http.StatusNotFound, true},
		{"bad NHS number", sys, `{"nhs_number": "9434765918", ` + user + `}`, http.StatusBadRequest, false},
		{"both patient and NHS number", sys, `{"patient": "x", "nhs_number": "` + nhsWithPlan + `", ` + user + `}`, http.StatusBadRequest, false},
		{"unmapped role", sys, `{"nhs_number": "` + nhsWithPlan + `", "user": {"id": "1", "role_code": "R9999", "org": "F84012"}}`, http.StatusForbidden, true},
		{"unknown member", sys, `{"nhs_number": "` + nhsWithPlan + `", "usr": {}}`, http.StatusBadRequest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(w.journal.recorded("smart-ehr"))
			if p := w.launch(t, tc.token, tc.body); p.status != tc.status || !strings.Contains(p.body, "OperationOutcome") {
				t.Errorf("%d %s; want %d with an OperationOutcome", p.status, p.body, tc.status)
			}
			if got := len(w.journal.recorded("smart-ehr")) - before; (got == 1) != tc.audited {
				t.Errorf("%d AuditEvents recorded; audited %v", got, tc.audited)
			}
		})
	}
}

// TestRefreshAndIntrospection is Inferno's token refresh (with and without
// scope) and introspection groups: the launch context survives a refresh
// and is in introspection; a refresh token is rotated and a reused one
// revokes its family.
func TestRefreshAndIntrospection(t *testing.T) {
	w := newWorld(t)
	cfg := w.app(secretApp, "launch/patient", "openid", "fhirUser", "offline_access", "patient/*.rs")
	cfg.ClientSecret = appSecret
	v := xoauth2.GenerateVerifier()
	back := w.approve(t, w.browser(t, clinician()), w.authorizeURL(cfg, "state-12345678", v), nhsWithPlan)
	tok := exchange(t, cfg, back.Query().Get("code"), v)

	refresh := func(rt, scope string) page {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		if scope != "" {
			f.Set("scope", scope)
		}
		return postForm(t, w.issuer+"/token", f, secretApp, appSecret)
	}
	// Without scope: the same scopes and context.
	r1 := refresh(tok.RefreshToken, "")
	if r1.status != 200 || r1.header.Get("Cache-Control") != "no-store" || r1.header.Get("Pragma") != "no-cache" {
		t.Fatalf("refresh: %d %v %s", r1.status, r1.header, r1.body)
	}
	t1 := decode(t, r1.body)
	if t1["patient"] != w.patient || t1["scope"] != tok.Extra("scope") || t1["fhirContext"] == nil || t1["refresh_token"] == tok.RefreshToken {
		t.Errorf("refresh without scope: %v", t1)
	}
	// With scope: narrowed, context kept.
	r2 := refresh(t1["refresh_token"].(string), "patient/*.rs offline_access")
	t2 := decode(t, r2.body)
	if r2.status != 200 || t2["scope"] != "patient/*.rs offline_access" || t2["patient"] != w.patient {
		t.Errorf("refresh with scope: %d %v", r2.status, t2)
	}
	// Asking for more than was granted is refused.
	if r := refresh(t2["refresh_token"].(string), "user/*.rs"); r.status != 400 || !strings.Contains(r.body, "invalid_scope") {
		t.Errorf("refresh widening scope: %d %s", r.status, r.body)
	}

	// Introspection, by the confidential app: active with the context.
	intro := func(token string) map[string]any {
		p := postForm(t, w.issuer+"/introspect", url.Values{"token": {token}}, secretApp, appSecret)
		if p.status != 200 {
			t.Fatalf("introspect: %d %s", p.status, p.body)
		}
		return decode(t, p.body)
	}
	in := intro(t2["access_token"].(string))
	if in["active"] != true || in["patient"] != w.patient || in["scope"] != "patient/*.rs offline_access" || in["fhirContext"] == nil || in["client_id"] != secretApp {
		t.Errorf("introspection: %v", in)
	}

	// Reusing a rotated refresh token revokes the family: the newest
	// refresh token stops working and its access token is inactive.
	latest := t2["refresh_token"].(string)
	if r := refresh(tok.RefreshToken, ""); r.status != 400 || !strings.Contains(r.body, "invalid_grant") {
		t.Errorf("reused refresh token: %d %s", r.status, r.body)
	}
	if r := refresh(latest, ""); r.status != 400 {
		t.Errorf("the family's newest refresh token after a reuse: %d %s", r.status, r.body)
	}
	if in := intro(t2["access_token"].(string)); in["active"] != false {
		t.Errorf("access token after the family was revoked: %v", in)
	}
}

// TestRevoke: RFC 7009 for a refresh token.
func TestRevoke(t *testing.T) {
	w := newWorld(t)
	cfg := w.app(publicApp, "launch/patient", "offline_access", "patient/*.rs")
	v := xoauth2.GenerateVerifier()
	back := w.approve(t, w.browser(t, clinician()), w.authorizeURL(cfg, "state-12345678", v), nhsNoPlan)
	tok := exchange(t, cfg, back.Query().Get("code"), v)
	if tok.Extra("fhirContext") != nil {
		t.Errorf("fhirContext %v for a patient with no plan", tok.Extra("fhirContext"))
	}
	if p := postForm(t, w.issuer+"/revoke", url.Values{"token": {tok.RefreshToken}, "client_id": {publicApp}}); p.status != 200 {
		t.Fatalf("revoke: %d %s", p.status, p.body)
	}
	p := postForm(t, w.issuer+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {publicApp}})
	if p.status != 400 {
		t.Errorf("refresh after revoke: %d %s", p.status, p.body)
	}
}

// TestAsymmetricClient: a private_key_jwt app authenticates with a signed
// assertion; a wrong key is refused.
func TestAsymmetricClient(t *testing.T) {
	w := newWorld(t)
	cfg := w.app(keyApp, "launch/patient", "patient/*.rs")
	v := xoauth2.GenerateVerifier()
	back := w.approve(t, w.browser(t, clinician()), w.authorizeURL(cfg, "state-12345678", v), nhsWithPlan)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {w.redirect},
		"code_verifier": {v}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
	form.Set("client_assertion", signAssertion(t, w.launcher, "rota-1", keyApp, w.issuer+"/token"))
	if p := postForm(t, w.issuer+"/token", form); p.status != 401 || !strings.Contains(p.body, "invalid_client") {
		t.Errorf("assertion signed by the wrong key: %d %s", p.status, p.body)
	}
	back = w.approve(t, w.browser(t, clinician()), w.authorizeURL(cfg, "state-12345678", v), nhsWithPlan)
	form.Set("code", back.Query().Get("code"))
	form.Set("client_assertion", signAssertion(t, w.appKey, "rota-1", keyApp, w.issuer+"/token"))
	p := postForm(t, w.issuer+"/token", form)
	if p.status != 200 || decode(t, p.body)["patient"] != w.patient {
		t.Errorf("private_key_jwt exchange: %d %s", p.status, p.body)
	}
}

// TestRefusals: what the specifications say must be refused, is.
func TestRefusals(t *testing.T) {
	w := newWorld(t)
	cfg := w.app(publicApp, "launch/patient", "offline_access", "patient/*.rs")
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	t.Run("wrong redirect_uri is a page, never a redirect", func(t *testing.T) {
		bad := *cfg
		bad.RedirectURL = "http://127.0.0.1:9/callback/other"
		for _, u := range []string{w.authorizeURL(&bad, "state-12345678", xoauth2.GenerateVerifier()),
			strings.Replace(w.authorizeURL(cfg, "state-12345678", xoauth2.GenerateVerifier()), "127.0.0.1%3A9", "127.0.0.1%3A10", 1)} {
			resp, err := noRedirects.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			p := read(t, resp)
			if p.status != 400 || p.header.Get("Location") != "" || !strings.Contains(p.body, "not registered") {
				t.Errorf("%s: %d %q %s", u, p.status, p.header.Get("Location"), p.body)
			}
		}
	})
	t.Run("wrong aud", func(t *testing.T) {
		u := cfg.AuthCodeURL("state-12345678", xoauth2.S256ChallengeOption(xoauth2.GenerateVerifier()), xoauth2.SetAuthURLParam("aud", "https://other.example/fhir"))
		back := redirected(t, w.browser(t, clinician()).get(t, u))
		if back.Query().Get("error") != "invalid_request" || back.Query().Get("state") != "state-12345678" || back.Query().Get("code") != "" {
			t.Errorf("wrong aud: %s", back)
		}
	})
	t.Run("no PKCE", func(t *testing.T) {
		u := cfg.AuthCodeURL("state-12345678", xoauth2.SetAuthURLParam("aud", w.base))
		back := redirected(t, w.browser(t, clinician()).get(t, u))
		if back.Query().Get("error") != "invalid_request" || back.Query().Get("code") != "" {
			t.Errorf("no code_challenge: %s", back)
		}
	})
	t.Run("PKCE plain", func(t *testing.T) {
		u := cfg.AuthCodeURL("state-12345678", xoauth2.SetAuthURLParam("aud", w.base),
			xoauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)), xoauth2.SetAuthURLParam("code_challenge_method", "plain"))
		back := redirected(t, w.browser(t, clinician()).get(t, u))
		if back.Query().Get("error") != "invalid_request" || back.Query().Get("code") != "" {
			t.Errorf("plain code_challenge_method: %s", back)
		}
	})
	t.Run("PKCE mismatch", func(t *testing.T) {
		v := xoauth2.GenerateVerifier()
		back := w.approve(t, w.browser(t, clinician()), w.authorizeURL(cfg, "state-12345678", v), nhsWithPlan)
		_, err := cfg.Exchange(context.Background(), back.Query().Get("code"), xoauth2.VerifierOption(xoauth2.GenerateVerifier()))
		var re *xoauth2.RetrieveError
		if !errorsAs(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("wrong code_verifier: %v", err)
		}
	})
	t.Run("reused code revokes what the first use issued", func(t *testing.T) {
		v := xoauth2.GenerateVerifier()
		back := w.approve(t, w.browser(t, clinician()), w.authorizeURL(cfg, "state-12345678", v), nhsWithPlan)
		code := back.Query().Get("code")
		tok := exchange(t, cfg, code, v)
		_, err := cfg.Exchange(context.Background(), code, xoauth2.VerifierOption(v))
		var re *xoauth2.RetrieveError
		if !errorsAs(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("second use of a code: %v", err)
		}
		p := postForm(t, w.issuer+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {publicApp}})
		if p.status != 400 {
			t.Errorf("refresh token issued by the first use still works after the code's reuse: %d %s", p.status, p.body)
		}
	})
	t.Run("denied", func(t *testing.T) {
		b := w.browser(t, clinician())
		p := b.get(t, w.authorizeURL(cfg, "state-12345678", xoauth2.GenerateVerifier()))
		form := url.Values{"decision": {"deny"}}
		for _, f := range []string{"request", "issued", "csrf"} {
			form.Set(f, hidden(t, p.body, f))
		}
		back := redirected(t, b.post(t, w.srv.URL+"/auth/authorize/approve", form))
		if back.Query().Get("error") != "access_denied" || back.Query().Get("state") != "state-12345678" {
			t.Errorf("denied: %s", back)
		}
	})
}

// TestGrant is the table of role × requested scopes → granted scopes.
func TestGrant(t *testing.T) {
	for _, tc := range []struct {
		name      string
		role      auth.Role
		requested string
		patient   bool
		ehr       bool
		want      []string
	}{
		{"view user asking for everything gets read-only", auth.RoleView, "launch user/*.cruds", true, true, []string{"launch", "user/*.rs"}},
		{"view user, v1 syntax", auth.RoleView, "user/*.* user/*.write user/CarePlan.read", false, false, []string{"user/*.read", "user/CarePlan.read"}},
		{"clinician may not delete", auth.RoleClinical, "user/*.cruds patient/CarePlan.cud", true, false, []string{"user/*.crus", "patient/CarePlan.cu"}},
		{"clinician v1 write becomes v2 letters", auth.RoleClinical, "user/*.write", false, false, []string{"user/*.cu"}},
		{"admin keeps cruds", auth.RoleAdmin, "user/Contract.cruds", false, false, []string{"user/Contract.cruds"}},
		{"patient scopes need a patient", auth.RoleClinical, "launch/patient patient/*.rs", false, false, nil},
		{"patient gets patient scopes, not user ones", auth.RolePatient, "launch/patient patient/*.cruds user/*.rs", true, false, []string{"launch/patient", "patient/*.crs"}},
		{"system scopes never", auth.RoleAdmin, "system/*.rs", false, false, nil},
		{"launch only in an EHR launch", auth.RoleClinical, "launch launch/patient", true, false, []string{"launch/patient"}},
		{"identity and refresh scopes", auth.RoleView, "openid fhirUser offline_access online_access", false, false, []string{"openid", "fhirUser", "offline_access", "online_access"}},
		{"granular scope keeps its query", auth.RoleView, "patient/Observation.cruds?category=vital-signs", true, false, []string{"patient/Observation.rs?category=vital-signs"}},
		{"no role, nothing", auth.RoleNone, "openid user/*.rs launch", false, true, nil},
		{"malformed and unknown scopes dropped", auth.RoleClinical, "user/*.rsx launch/encounter profile user/*.rs user/*.rs", false, false, []string{"user/*.rs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, oauth.Grant(tc.role, tc.requested, tc.patient, tc.ehr)); diff != "" {
				t.Errorf("Grant(%s, %q) (-want +got):\n%s", tc.role, tc.requested, diff)
			}
		})
	}
}

// TestRestart: codes, refresh tokens and launches are kept in the state
// file, so a restart of ucp signs no app out, and what was used before it
// stays used.
func TestRestart(t *testing.T) {
	w := newWorld(t)
	cfg := w.app(publicApp, "launch/patient", "offline_access", "patient/*.rs")
	v := xoauth2.GenerateVerifier()
	back := w.approve(t, w.browser(t, clinician()), w.authorizeURL(cfg, "state-12345678", v), nhsWithPlan)
	code := back.Query().Get("code")
	tok := exchange(t, cfg, code, v)
	sys := w.systemToken(t, launcherID)
	p := w.launch(t, sys, `{"patient": "`+w.patient+`", "user": {"id": "555003", "role_code": "`+auth.DevRoleCode(auth.RoleView)+`", "org": "F84012"}}`)
	launchID, _ := decode(t, p.body)["launch"].(string)

	w.restart(t)

	refresh := func(rt string) page {
		return postForm(t, w.issuer+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicApp}})
	}
	r := refresh(tok.RefreshToken)
	if r.status != 200 || decode(t, r.body)["patient"] != w.patient {
		t.Fatalf("refresh after a restart: %d %s", r.status, r.body)
	}
	// The code used before the restart is still used.
	if _, err := cfg.Exchange(context.Background(), code, xoauth2.VerifierOption(v)); err == nil {
		t.Error("a code used before the restart was accepted after it")
	}
	// The launch made before the restart still works, once.
	ehr := w.app(publicApp, "launch", "user/*.rs")
	v2 := xoauth2.GenerateVerifier()
	b := w.browser(t, nil)
	back = redirected(t, b.get(t, w.authorizeURL(ehr, "state-ehr-123456", v2, xoauth2.SetAuthURLParam("launch", launchID))))
	if back.Query().Get("code") == "" {
		t.Errorf("launch after a restart: %s", back)
	}
}

// TestPatientStandalone: a patient is bound to their own record: no NHS
// number is asked for, and the context is theirs; they get patient scopes
// only.
func TestPatientStandalone(t *testing.T) {
	w := newWorld(t)
	sc, _ := auth.ParseScopes("patient/*.rs")
	me := &auth.Principal{Issuer: "http://nhs-login", Subject: "p-1", UserID: "p-1", Name: "Ann Smith", Role: auth.RolePatient, Patient: w.patient, Scopes: sc}
	cfg := w.app(publicApp, "launch/patient", "openid", "fhirUser", "patient/*.cruds", "user/*.rs")
	v := xoauth2.GenerateVerifier()
	b := w.browser(t, me)
	p := b.get(t, w.authorizeURL(cfg, "state-12345678", v))
	if p.status != 200 || strings.Contains(p.body, `name="nhs_number"`) {
		t.Fatalf("a patient's approval page: %d, asks for an NHS number: %v", p.status, strings.Contains(p.body, `name="nhs_number"`))
	}
	back := w.approve(t, b, w.authorizeURL(cfg, "state-12345678", v), "")
	tok := exchange(t, cfg, back.Query().Get("code"), v)
	if tok.Extra("patient") != w.patient || tok.Extra("scope") != "launch/patient openid fhirUser patient/*.crs" {
		t.Errorf("patient %v, scope %v", tok.Extra("patient"), tok.Extra("scope"))
	}
	pr, err := w.verifier.Verify(context.Background(), tok.AccessToken)
	if err != nil || pr.Role != auth.RolePatient || pr.Patient != w.patient || pr.FHIRUser != w.base+"/Patient/"+w.patient {
		t.Errorf("as the API sees the token: %+v, %v", pr, err)
	}
}
