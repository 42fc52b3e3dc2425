package devissuer

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"ucp/auth"
)

// The authorization code flow, so that ucp's sign-in (an OpenID Connect
// relying party) can be tried and tested against this issuer as against
// NHS CIS2 or NHS login: GET authorize shows a development login form
// (pick role, user, organisation, or a patient's NHS number and identity
// proofing level, P9 or P5), POST
// authorize redirects back with a code, and the token endpoint exchanges
// the code (PKCE S256 required) for an ID token carrying the nonce.
// Codes are kept in memory: this issuer is for development only.

// codeGrant is an issued, unused authorization code.
type codeGrant struct {
	clientID, redirectURI, challenge string
	req                              TokenRequest
	expires                          time.Time
}

type codes struct {
	mu sync.Mutex
	m  map[string]codeGrant
}

const codeTTL = time.Minute

var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Development identity provider</title></head>
<body style="font-family:Arial,sans-serif;max-width:40em;margin:1em auto;padding:0 1em">
<p style="background:#ffeb3b;padding:.5em;font-weight:bold">DEVELOPMENT identity provider: it signs anyone in as anyone</p>
<h1>Sign in</h1>
<form method="post">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<p><label for="role">Role</label><br><select id="role" name="role"><option>clinical</option><option>view</option><option>admin</option><option>patient</option></select></p>
<p><label for="user">User id</label><br><input id="user" name="user" value="dev-user"></p>
<p><label for="name">Name</label><br><input id="name" name="name" value="Dr Dev Clinician"></p>
<p><label for="org">Organisation (ODS code)</label><br><input id="org" name="org" value="F84012"></p>
<p><label for="nhs_number">NHS number (a patient, as NHS login gives it)</label><br><input id="nhs_number" name="nhs_number"></p>
<p><label for="proofing">Identity proofing (a patient, as NHS login says it)</label><br><select id="proofing" name="proofing"><option>P9</option><option>P5</option></select></p>
<p><button type="submit">Sign in</button></p>
</form></body></html>`))

// authorizeParams are the request parameters the login form carries back.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}

func (i *Issuer) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f := r.Form
	redirect, err := url.Parse(f.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() || f.Get("client_id") == "" {
		// Never redirect to an address we cannot trust.
		http.Error(w, "client_id and an absolute redirect_uri are required", http.StatusBadRequest)
		return
	}
	back := func(q url.Values) {
		u := *redirect
		v := u.Query()
		for k, vs := range q {
			v[k] = vs
		}
		if s := f.Get("state"); s != "" {
			v.Set("state", s)
		}
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
	}
	switch {
	case f.Get("response_type") != "code":
		back(url.Values{"error": {"unsupported_response_type"}})
		return
	case f.Get("code_challenge") == "" || f.Get("code_challenge_method") != "S256":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"PKCE with S256 is required"}})
		return
	}
	if r.Method == http.MethodGet {
		params := map[string]string{}
		for _, k := range authorizeParams {
			params[k] = f.Get(k)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = loginForm.Execute(w, map[string]any{"Params": params})
		return
	}
	req := TokenRequest{Role: auth.Role(f.Get("role")), User: f.Get("user"), Name: f.Get("name"), Org: f.Get("org"),
		NHSNumber: f.Get("nhs_number"), ClientID: f.Get("client_id"), Audience: f.Get("client_id"), Nonce: f.Get("nonce")}
	if req.Role == auth.RolePatient {
		// NHS login names the person by NHS number, not by a FHIR id.
		req.Patient = "nhs-" + req.NHSNumber
		switch p := f.Get("proofing"); p {
		case "", "P9", "P5":
			req.Proofing = p
		default:
			back(url.Values{"error": {"access_denied"}, "error_description": {"identity proofing is P9 or P5"}})
			return
		}
	}
	if _, err := auth.ParseRole(string(req.Role)); err != nil || req.Role == auth.RoleSystem {
		back(url.Values{"error": {"access_denied"}, "error_description": {"pick a person's role"}})
		return
	}
	code := auth.NewJTI()
	i.codes.mu.Lock()
	if i.codes.m == nil {
		i.codes.m = map[string]codeGrant{}
	}
	i.codes.m[code] = codeGrant{clientID: req.ClientID, redirectURI: f.Get("redirect_uri"), challenge: f.Get("code_challenge"), req: req, expires: i.cfg.Now().Add(codeTTL)}
	i.codes.mu.Unlock()
	back(url.Values{"code": {code}})
}

// exchangeCode answers the authorization_code grant.
func (i *Issuer) exchangeCode(w http.ResponseWriter, f url.Values) {
	code := f.Get("code")
	i.codes.mu.Lock()
	g, ok := i.codes.m[code]
	delete(i.codes.m, code) // single use, whatever follows
	i.codes.mu.Unlock()
	clientID := f.Get("client_id")
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case !ok || i.cfg.Now().After(g.expires):
		oauthError(w, "invalid_grant", "unknown, used or expired code")
	case f.Get("redirect_uri") != g.redirectURI:
		oauthError(w, "invalid_grant", "redirect_uri does not match")
	case clientID != "" && clientID != g.clientID:
		oauthError(w, "invalid_grant", "the code was issued to another client")
	case subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1:
		oauthError(w, "invalid_grant", "PKCE verification failed")
	default:
		resp, err := i.Mint(g.req)
		if err != nil {
			oauthError(w, "invalid_request", err.Error())
			return
		}
		// The same signed token serves as the ID token: its aud is the
		// client, its nonce the client's.
		writeJSON(w, http.StatusOK, map[string]any{"access_token": resp.AccessToken, "id_token": resp.AccessToken,
			"token_type": "Bearer", "expires_in": resp.ExpiresIn, "scope": strings.TrimSpace("openid " + resp.Scope)})
	}
}
