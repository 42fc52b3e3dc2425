// Package nhslogintest stands NHS login in for tests. There is no local
// NHS login to develop against, so this is an OpenID provider on loopback
// that keeps NHS login's published rules (the interface specification and
// the developer pages at nhsconnect.github.io/nhslogin) strictly, so that a
// relying party that passes here has been checked against them:
//
//   - discovery at /.well-known/openid-configuration and keys at
//     /.well-known/jwks.json;
//   - /authorize: the authorization code flow for a registered client and
//     redirect_uri only, openid in the scope, a state and a nonce, PKCE
//     with S256 when sent, and vtr, a JSON array of vectors of trust from
//     NHS login's list (P0, P5 or P9 proofing with Cp.Cd, Cp.Ck or Cm
//     authentication, and P0.Cp); a page lists the test users to sign in as;
//   - /token: private_key_jwt client authentication only (no secret): an
//     RS512-signed client_assertion checked against the client's registered
//     keys, iss and sub the client id, aud this token endpoint, an exp no
//     more than five minutes ahead, and a jti never used before; then the
//     code, its redirect_uri and PKCE verifier;
//   - an RS512 ID token carrying vot (the vector the sign-in met, one of
//     those requested), vtm, nonce and the standard claims, but not
//     nhs_number, birthdate, identity_proofing_level or email, which come
//     from /userinfo with the access token.
//
// A P5 user asked only for P9 vectors is taken through proving who they
// are, as NHS login's uplift journey does, and comes back P9. Faults make
// the provider misbehave as a relying party must notice: an ID token signed
// HS256 or RS256, a vot outside the request, another sub at userinfo.
package nhslogintest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// User is a test person at NHS login.
type User struct {
	Sub        string
	NHSNumber  string
	Proofing   string // identity_proofing_level: P0, P5 or P9
	GivenName  string
	FamilyName string
	Birthdate  string // YYYY-MM-DD
	Email      string
}

// Client is a relying party registered with the provider.
type Client struct {
	ID           string
	RedirectURIs []string
	// JWKS holds the public keys its client assertions are signed with.
	JWKS jose.JSONWebKeySet
}

// Faults make the provider break one of its rules, for tests of the
// relying party's checks.
type Faults struct {
	// IDTokenAlg signs ID tokens with HS256 (keyed with the client id) or
	// RS256 instead of RS512.
	IDTokenAlg string
	// VOT is the vot of every ID token, whatever was asked for.
	VOT string
	// UserInfoSub is the sub userinfo answers with.
	UserInfoSub string
}

// Server is the stand-in NHS login.
type Server struct {
	url     string
	key     *rsa.PrivateKey
	kid     string
	clients map[string]Client
	srv     *http.Server
	ln      net.Listener

	mu      sync.Mutex
	users   map[string]User
	codes   map[string]grant
	tokens  map[string]string    // access token → sub
	jtis    map[string]time.Time // used client assertion ids → their exp
	faults  Faults
	lastVTR string
}

type grant struct {
	client, redirect, challenge, nonce, sub, vot string
	expires                                      time.Time
}

// Start serves a provider on loopback for the test's life.
func Start(t testing.TB, clients []Client, users ...User) *Server {
	t.Helper()
	s, err := New(clients, users...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New serves a provider on a loopback port; Close stops it.
func New(clients []Client, users ...User) (*Server, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{url: "http://" + ln.Addr().String(), key: key, kid: "nhslogin-test-" + base64.RawURLEncoding.EncodeToString(key.N.Bytes()[:6]),
		clients: map[string]Client{}, users: map[string]User{}, codes: map[string]grant{}, tokens: map[string]string{}, jtis: map[string]time.Time{}, ln: ln}
	for _, c := range clients {
		s.clients[c.ID] = c
	}
	for _, u := range users {
		s.users[u.Sub] = u
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /.well-known/jwks.json", s.jwks)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /authorize", s.authorize)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("GET /userinfo", s.userinfo)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Register registers a client (or replaces it): a relying party whose
// callback URL is known only once it serves.
func (s *Server) Register(c Client) { s.mu.Lock(); s.clients[c.ID] = c; s.mu.Unlock() }

// URL is the issuer.
func (s *Server) URL() string { return s.url }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetFaults makes the provider misbehave from now on; the zero Faults
// restores it.
func (s *Server) SetFaults(f Faults) { s.mu.Lock(); s.faults = f; s.mu.Unlock() }

// User returns a test user as the provider now knows them (a P5 user who
// proved who they are is P9).
func (s *Server) User(sub string) User { s.mu.Lock(); defer s.mu.Unlock(); return s.users[sub] }

// LastVTR is the vtr of the last authorization request, as sent.
func (s *Server) LastVTR() string { s.mu.Lock(); defer s.mu.Unlock(); return s.lastVTR }

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": s.url, "authorization_endpoint": s.url + "/authorize", "token_endpoint": s.url + "/token",
		"userinfo_endpoint": s.url + "/userinfo", "jwks_uri": s.url + "/.well-known/jwks.json",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"scopes_supported":                                 []string{"openid", "profile", "email", "phone", "basic_demographics", "profile_extended"},
		"id_token_signing_alg_values_supported":            []string{"RS512"},
		"token_endpoint_auth_methods_supported":            []string{"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS512"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"vtr_supported":                                    vectors,
		"claims_supported": []string{"iss", "aud", "sub", "exp", "iat", "nonce", "vot", "vtm", "auth_time", "jti", "nhs_number", "birthdate",
			"family_name", "given_name", "identity_proofing_level", "email", "email_verified"},
	})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: s.kid, Algorithm: "RS512", Use: "sig"}}})
}

// vectors are the vectors of trust NHS login accepts in vtr.
var vectors = []string{"P0.Cp", "P0.Cp.Cd", "P0.Cp.Ck", "P0.Cm", "P5.Cp.Cd", "P5.Cp.Ck", "P5.Cm", "P9.Cp.Cd", "P9.Cp.Ck", "P9.Cm"}

// defaultVTR is what NHS login assumes when a request sends no vtr.
var defaultVTR = []string{"P9.Cp.Cd", "P9.Cp.Ck", "P9.Cm"}

// ParseVTR reads a vtr parameter: a JSON array of known vectors.
func ParseVTR(v string) ([]string, error) {
	if v == "" {
		return defaultVTR, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil || len(out) == 0 {
		return nil, errors.New("vtr must be a JSON array of vectors of trust")
	}
	for _, x := range out {
		if !slices.Contains(vectors, x) {
			return nil, fmt.Errorf("vtr: %q is not a vector NHS login supports", x)
		}
	}
	return out, nil
}

var page = template.Must(template.New("p").Parse(`<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>NHS login (test stand-in)</title></head>
<body style="font-family:Arial,sans-serif;max-width:40em;margin:1em auto;padding:0 1em">
<p style="background:#ffeb3b;padding:.5em;font-weight:bold">TEST stand-in for NHS login</p>
<h1>Who is signing in?</h1>
<p>Asked for: {{.VTR}}</p>
<form method="post">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
{{range .Users}}<p><button type="submit" id="user-{{.Sub}}" name="user" value="{{.Sub}}">{{.GivenName}} {{.FamilyName}} ({{.Proofing}})</button></p>
{{end}}</form></body></html>`))

// authorizeParams are carried from the request to the page's form.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "vtr"}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f := r.Form
	s.mu.Lock()
	c, ok := s.clients[f.Get("client_id")]
	s.mu.Unlock()
	if !ok || !slices.Contains(c.RedirectURIs, f.Get("redirect_uri")) {
		// Never redirect to an address not registered.
		http.Error(w, "unknown client or redirect_uri not registered", http.StatusBadRequest)
		return
	}
	redirect, _ := url.Parse(f.Get("redirect_uri"))
	back := func(q url.Values) {
		v := redirect.Query()
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("state", f.Get("state"))
		u := *redirect
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
	}
	fail := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }
	vtr, err := ParseVTR(f.Get("vtr"))
	switch {
	case f.Get("response_type") != "code":
		fail("unsupported_response_type", "only the authorization code flow")
		return
	case !slices.Contains(strings.Fields(f.Get("scope")), "openid"):
		fail("invalid_scope", "openid is required")
		return
	case f.Get("state") == "" || f.Get("nonce") == "":
		fail("invalid_request", "state and nonce are required")
		return
	case f.Get("code_challenge") != "" && f.Get("code_challenge_method") != "S256":
		fail("invalid_request", "PKCE must use S256")
		return
	case err != nil:
		fail("invalid_request", err.Error())
		return
	}
	s.mu.Lock()
	s.lastVTR = f.Get("vtr")
	s.mu.Unlock()
	if r.Method == http.MethodGet {
		params := map[string]string{}
		for _, k := range authorizeParams {
			params[k] = f.Get(k)
		}
		s.mu.Lock()
		var users []User
		for _, u := range s.users {
			users = append(users, u)
		}
		s.mu.Unlock()
		slices.SortFunc(users, func(a, b User) int { return strings.Compare(a.Sub, b.Sub) })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, map[string]any{"Params": params, "Users": users, "VTR": strings.Join(vtr, ", ")})
		return
	}
	s.mu.Lock()
	u, ok := s.users[f.Get("user")]
	if !ok {
		s.mu.Unlock()
		fail("access_denied", "no such user")
		return
	}
	vot := meet(vtr, u.Proofing)
	if vot == "" && u.Proofing == "P5" && meet(vtr, "P9") != "" {
		// NHS login's uplift: the user proves who they are and is P9 from
		// now on.
		u.Proofing = "P9"
		s.users[u.Sub] = u
		vot = meet(vtr, "P9")
	}
	code := newID()
	if vot != "" {
		s.codes[code] = grant{client: c.ID, redirect: f.Get("redirect_uri"), challenge: f.Get("code_challenge"), nonce: f.Get("nonce"),
			sub: u.Sub, vot: vot, expires: time.Now().Add(time.Minute)}
	}
	s.mu.Unlock()
	if vot == "" {
		fail("access_denied", "the user cannot meet any requested vector of trust")
		return
	}
	back(url.Values{"code": {code}})
}

// meet is the first requested vector a user proofed at level meets
// exactly, authenticated by password and device (Cp.Cd) by preference.
func meet(vtr []string, level string) string {
	for _, pref := range []string{".Cp.Cd", ".Cp.Ck", ".Cm", ".Cp"} {
		if v := level + pref; slices.Contains(vtr, v) {
			return v
		}
	}
	return ""
}

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	if _, _, ok := r.BasicAuth(); ok || f.Get("client_secret") != "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "NHS login authenticates clients with private_key_jwt only")
		return
	}
	if f.Get("client_assertion_type") != assertionType || f.Get("client_assertion") == "" {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client_assertion_type must be "+assertionType+" with a client_assertion")
		return
	}
	client, err := s.checkAssertion(f.Get("client_assertion"), f.Get("client_id"))
	if err != nil {
		oauthError(w, http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	if f.Get("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "authorization_code only")
		return
	}
	s.mu.Lock()
	g, ok := s.codes[f.Get("code")]
	delete(s.codes, f.Get("code")) // single use, whatever follows
	u := s.users[g.sub]
	faults := s.faults
	s.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case !ok || time.Now().After(g.expires):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown, used or expired code")
		return
	case g.client != client:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
		return
	case f.Get("redirect_uri") != g.redirect:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		return
	case g.challenge != "" && subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}
	now := time.Now()
	vot := g.vot
	if faults.VOT != "" {
		vot = faults.VOT
	}
	claims := map[string]any{"iss": s.url, "aud": client, "sub": u.Sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"auth_time": now.Unix(), "nonce": g.nonce, "jti": newID(), "vot": vot, "vtm": s.url + "/trustmark"}
	idToken, err := s.sign(claims, faults.IDTokenAlg, client)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	access := newID()
	s.mu.Lock()
	s.tokens[access] = u.Sub
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600, "id_token": idToken,
		"scope": "openid profile"})
}

// checkAssertion verifies a private_key_jwt client assertion and returns
// the client it authenticates.
func (s *Server) checkAssertion(raw, clientID string) (string, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS512})
	if err != nil {
		return "", fmt.Errorf("client_assertion must be a JWT signed RS512: %v", err)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return "", errors.New("client_assertion claims unreadable")
	}
	s.mu.Lock()
	c, ok := s.clients[unverified.Issuer]
	s.mu.Unlock()
	if !ok || (clientID != "" && clientID != c.ID) {
		return "", errors.New("client_assertion iss is not a registered client (or not the client_id)")
	}
	var cl jwt.Claims
	verified := false
	for _, k := range c.JWKS.Keys {
		if len(tok.Headers) > 0 && tok.Headers[0].KeyID != "" && k.KeyID != "" && k.KeyID != tok.Headers[0].KeyID {
			continue
		}
		if err := tok.Claims(k.Key, &cl); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return "", errors.New("client_assertion signature does not verify with the client's registered keys")
	}
	now := time.Now()
	switch {
	case cl.Issuer != c.ID || cl.Subject != c.ID:
		return "", errors.New("client_assertion iss and sub must be the client id")
	case !cl.Audience.Contains(s.url + "/token"):
		return "", errors.New("client_assertion aud must be the token endpoint")
	case cl.Expiry == nil || !now.Before(cl.Expiry.Time()):
		return "", errors.New("client_assertion has expired or has no exp")
	case cl.Expiry.Time().After(now.Add(5*time.Minute + 5*time.Second)):
		return "", errors.New("client_assertion exp is more than five minutes ahead")
	case cl.ID == "":
		return "", errors.New("client_assertion needs a jti")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for j, exp := range s.jtis {
		if now.After(exp) {
			delete(s.jtis, j)
		}
	}
	if _, used := s.jtis[c.ID+" "+cl.ID]; used {
		return "", errors.New("client_assertion jti has been used before")
	}
	s.jtis[c.ID+" "+cl.ID] = cl.Expiry.Time()
	return c.ID, nil
}

func (s *Server) sign(claims map[string]any, alg, client string) (string, error) {
	key := jose.SigningKey{Algorithm: jose.RS512, Key: jose.JSONWebKey{Key: s.key, KeyID: s.kid}}
	switch alg {
	case "", "RS512":
	case "RS256":
		key = jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: s.key, KeyID: s.kid}}
	case "HS256":
		key = jose.SigningKey{Algorithm: jose.HS256, Key: []byte(client + "-hmac-key-of-at-least-32-bytes")}
	default:
		return "", fmt.Errorf("nhslogintest: no ID token algorithm %q", alg)
	}
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	sub, known := s.tokens[tok]
	u := s.users[sub]
	faults := s.faults
	s.mu.Unlock()
	if !ok || !known {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		oauthError(w, http.StatusUnauthorized, "invalid_token", "unknown access token")
		return
	}
	out := map[string]any{"sub": u.Sub, "identity_proofing_level": u.Proofing, "family_name": u.FamilyName, "given_name": u.GivenName,
		"birthdate": u.Birthdate, "email": u.Email, "email_verified": u.Email != ""}
	if u.Proofing != "P0" {
		out["nhs_number"] = u.NHSNumber
	}
	if faults.UserInfoSub != "" {
		out["sub"] = faults.UserInfoSub
	}
	writeJSON(w, http.StatusOK, out)
}

func newID() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
