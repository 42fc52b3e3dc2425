package smart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"ucp/auth"
)

// The client assertion type of RFC 7523 §2.2.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionAlgorithms are the algorithms SMART Backend Services lets a
// client sign its assertion with.
var AssertionAlgorithms = []string{"RS384", "ES384"}

// MaxTokenTTL is the longest access token we issue: SMART says expires_in
// SHOULD NOT exceed 300 s, and a system token cannot be revoked.
const MaxTokenTTL = 300 * time.Second

// maxAssertionTTL is how far ahead an assertion's exp may be.
const maxAssertionTTL = 5 * time.Minute

// Config configures a Server.
type Config struct {
	// Issuer is the iss of the access tokens, e.g. https://ucp.example/auth.
	Issuer string
	// TokenURL is the absolute URL of the token endpoint, which client
	// assertions must name as their aud.
	TokenURL string
	// Audience is the aud of the access tokens: the FHIR base URL.
	Audience string
	// Key signs the access tokens.
	Key *auth.SigningKey
	// Clients are the registered clients.
	Clients Registry
	// TTL of access tokens; default and maximum MaxTokenTTL.
	TTL time.Duration
	// Skew is the clock difference tolerated on assertions; default 30 s.
	Skew time.Duration
	// ReplayCacheSize bounds the remembered assertion ids; default 100000.
	ReplayCacheSize int
	// ScopesSupported are advertised in smart-configuration.
	ScopesSupported []string
	// Now is the clock, for tests.
	Now func() time.Time
}

// Server is the token endpoint and discovery document.
type Server struct {
	cfg    Config
	replay *replayCache
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Issuer == "" || cfg.TokenURL == "" || cfg.Audience == "" || cfg.Key == nil || cfg.Clients == nil {
		return nil, errors.New("smart: Issuer, TokenURL, Audience, Key and Clients are required")
	}
	if cfg.TTL <= 0 || cfg.TTL > MaxTokenTTL {
		cfg.TTL = MaxTokenTTL
	}
	if cfg.Skew <= 0 {
		cfg.Skew = 30 * time.Second
	}
	if cfg.ReplayCacheSize <= 0 {
		cfg.ReplayCacheSize = 100000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ScopesSupported == nil {
		cfg.ScopesSupported = []string{"system/*.rs", "system/*.cruds", "system/CarePlan.rs", "system/AuditEvent.rs"}
	}
	return &Server{cfg: cfg, replay: newReplayCache(cfg.ReplayCacheSize)}, nil
}

// IssuerConfig lets an auth.Verifier trust the access tokens this server
// issues, with the server's public key and no discovery.
func (s *Server) IssuerConfig() auth.IssuerConfig {
	return auth.IssuerConfig{URL: s.cfg.Issuer, Audience: s.cfg.Audience, Systems: true, KeySet: s.cfg.Key.KeySet()}
}

// Configuration is the SMART discovery document
// (https://hl7.org/fhir/smart-app-launch/conformance.html).
type Configuration struct {
	Issuer                            string   `json:"issuer,omitempty"`
	JWKSURI                           string   `json:"jwks_uri,omitempty"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint,omitempty"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	ResponseTypesSupported            []string `json:"response_types_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	Capabilities                      []string `json:"capabilities"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
}

// Configuration returns the discovery document of Backend Services alone;
// the authorization server of app launch (auth/oauth) adds what it
// implements.
func (s *Server) Configuration() Configuration {
	return Configuration{
		TokenEndpoint:                     s.cfg.TokenURL,
		GrantTypesSupported:               []string{"client_credentials"},
		TokenEndpointAuthMethodsSupported: []string{"private_key_jwt"},
		TokenEndpointAuthSigningAlgs:      AssertionAlgorithms,
		ScopesSupported:                   s.cfg.ScopesSupported,
		Capabilities:                      []string{"client-confidential-asymmetric", "permission-v1", "permission-v2"},
		CodeChallengeMethodsSupported:     []string{"S256"},
	}
}

// ConfigurationHandler serves Configuration at
// [base]/.well-known/smart-configuration.
func (s *Server) ConfigurationHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Configuration())
	})
}

// JWKSHandler publishes the public key of the access tokens, for resource
// servers other than ucp.
func (s *Server) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.cfg.Key.JWKS())
	})
}

// TokenResponse is the successful answer (RFC 6749 §5.1).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// oauthError is an RFC 6749 §5.2 error.
type oauthError struct {
	status int
	Code   string `json:"error"`
	Desc   string `json:"error_description,omitempty"`
	cause  error
}

func (e *oauthError) Error() string {
	if e.cause != nil {
		return e.Code + ": " + e.Desc + ": " + e.cause.Error()
	}
	return e.Code + ": " + e.Desc
}

func invalidClient(desc string, cause error) *oauthError {
	return &oauthError{http.StatusUnauthorized, "invalid_client", desc, cause}
}

func badRequest(code, desc string) *oauthError {
	return &oauthError{http.StatusBadRequest, code, desc, nil}
}

// ServeHTTP is the token endpoint: POST, form-encoded.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, badRequest("invalid_request", "use POST"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, badRequest("invalid_request", "bad form body"))
		return
	}
	resp, err := s.Token(r.Context(), r.PostForm)
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			oe = &oauthError{http.StatusInternalServerError, "server_error", "", err}
		}
		writeJSON(w, oe.status, oe)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// assertionClaims are the client assertion's claims.
type assertionClaims struct {
	jwt.Claims
}

// Token runs the client credentials grant on a parsed form. Errors are RFC
// 6749 errors; the HTTP status is chosen by ServeHTTP.
func (s *Server) Token(ctx context.Context, form url.Values) (*TokenResponse, error) {
	get := func(k string) string {
		if v := form[k]; len(v) == 1 {
			return v[0]
		}
		return "" // absent, or repeated: RFC 6749 §3.2 forbids repeats
	}
	if get("grant_type") != "client_credentials" {
		return nil, badRequest("unsupported_grant_type", "grant_type must be client_credentials")
	}
	if get("client_assertion_type") != AssertionType {
		return nil, badRequest("invalid_request", "client_assertion_type must be "+AssertionType)
	}
	assertion := get("client_assertion")
	if assertion == "" {
		return nil, badRequest("invalid_request", "client_assertion is required")
	}
	client, err := s.verifyAssertion(ctx, assertion, get("client_id"))
	if err != nil {
		return nil, err
	}
	granted, oerr := grant(get("scope"), client.Scope)
	if oerr != nil {
		return nil, oerr
	}
	now := s.cfg.Now()
	tok := map[string]any{
		"iss":       s.cfg.Issuer,
		"sub":       client.ID,
		"aud":       s.cfg.Audience,
		"client_id": client.ID,
		"scope":     granted,
		"iat":       now.Unix(),
		"exp":       now.Add(s.cfg.TTL).Unix(),
		"jti":       auth.NewJTI(),
	}
	if client.Org != "" {
		tok["org_code"] = client.Org
	}
	signed, err := s.cfg.Key.Sign(tok)
	if err != nil {
		return nil, err
	}
	return &TokenResponse{AccessToken: signed, TokenType: "bearer", ExpiresIn: int(s.cfg.TTL / time.Second), Scope: granted}, nil
}

// verifyAssertion checks the client assertion of SMART Backend Services
// §"Authenticating to the Token endpoint".
func (s *Server) verifyAssertion(ctx context.Context, raw, formClientID string) (*Client, error) {
	algs := make([]jose.SignatureAlgorithm, len(AssertionAlgorithms))
	for i, a := range AssertionAlgorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	tok, err := jwt.ParseSigned(raw, algs)
	if err != nil {
		return nil, invalidClient("malformed client assertion or unsupported algorithm (want RS384 or ES384)", err)
	}
	if len(tok.Headers) != 1 {
		return nil, invalidClient("client assertion must have one signature", nil)
	}
	h := tok.Headers[0]
	if h.KeyID == "" {
		return nil, invalidClient("client assertion has no kid", nil)
	}
	if _, ok := h.ExtraHeaders["jku"]; ok {
		// We never fetch keys from a URL the assertion names; registered
		// keys only.
		return nil, invalidClient("jku is not supported; register the client's keys", nil)
	}
	var unverified assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, invalidClient("malformed client assertion", err)
	}
	id := unverified.Issuer
	if id == "" || unverified.Subject != id || (formClientID != "" && formClientID != id) {
		return nil, invalidClient("iss and sub must both be the client_id", nil)
	}
	client, err := s.cfg.Clients.Client(ctx, id)
	if err != nil && !errors.Is(err, ErrUnknownClient) {
		return nil, err // the registry failed: a 500, not the client's fault
	}
	if err != nil || client == nil || client.Disabled {
		return nil, invalidClient("unknown or disabled client", err)
	}
	if client.IsApp() {
		// An app acts for a user; client_credentials would let it act for
		// nobody, with system scopes it was never registered for.
		return nil, &oauthError{http.StatusBadRequest, "unauthorized_client", "an app client may not use client_credentials", nil}
	}
	keys := client.JWKS.Key(h.KeyID)
	var claims assertionClaims
	verified := false
	for _, k := range keys {
		if (k.Algorithm != "" && k.Algorithm != h.Algorithm) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if err := tok.Claims(k.Key, &claims); err == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, invalidClient("client assertion signature does not verify with the registered key "+h.KeyID, nil)
	}
	now := s.cfg.Now()
	if claims.Issuer != id || claims.Subject != id {
		return nil, invalidClient("iss and sub must both be the client_id", nil)
	}
	if !slices.Contains([]string(claims.Audience), s.cfg.TokenURL) {
		return nil, invalidClient("aud must be the token endpoint URL", nil)
	}
	if claims.Expiry == nil {
		return nil, invalidClient("client assertion has no exp", nil)
	}
	exp := claims.Expiry.Time()
	if !exp.After(now.Add(-s.cfg.Skew)) {
		return nil, invalidClient("client assertion expired", nil)
	}
	if exp.After(now.Add(maxAssertionTTL + s.cfg.Skew)) {
		return nil, invalidClient("client assertion exp is more than five minutes ahead", nil)
	}
	if claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(s.cfg.Skew)) {
		return nil, invalidClient("client assertion not yet valid", nil)
	}
	if claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(s.cfg.Skew)) {
		return nil, invalidClient("client assertion issued in the future", nil)
	}
	if claims.ID == "" || len(claims.ID) > 256 {
		return nil, invalidClient("client assertion needs a jti", nil)
	}
	// Checked last, so only assertions that verified take up room.
	replayed, full := s.replay.add(id, claims.ID, exp.Add(s.cfg.Skew), now)
	if replayed {
		return nil, invalidClient("client assertion already used (jti replay)", nil)
	}
	if full {
		return nil, &oauthError{http.StatusServiceUnavailable, "temporarily_unavailable", "too many recent client assertions; retry shortly", nil}
	}
	return client, nil
}

// grant checks the requested scopes against the client's registration.
// Every requested scope must be a system scope that an allowed scope covers;
// we refuse rather than silently narrow, so a misconfigured client finds out
// at once.
func grant(requested, allowed string) (string, *oauthError) {
	req, err := auth.ParseScopes(requested)
	if err != nil {
		return "", badRequest("invalid_scope", err.Error())
	}
	if len(req) == 0 {
		return "", badRequest("invalid_scope", "scope is required")
	}
	allow, _ := auth.ParseScopes(allowed)
	for _, r := range req {
		if r.Level != auth.LevelSystem {
			return "", badRequest("invalid_scope", fmt.Sprintf("%q: only system scopes can be granted to a backend service", r.Raw))
		}
		if !slices.ContainsFunc(allow, func(a auth.Scope) bool { return covers(a, r) }) {
			return "", badRequest("invalid_scope", fmt.Sprintf("%q is not registered for this client", r.Raw))
		}
	}
	return req.String(), nil
}

// covers reports whether allowed scope a includes requested scope r.
func covers(a, r auth.Scope) bool {
	if a.Level != r.Level || (a.Type != "*" && a.Type != r.Type) || r.Perm&^a.Perm != 0 {
		return false
	}
	if a.Query == nil {
		return true
	}
	// A granular registration only covers the same restriction (or a
	// narrower one we do not try to prove).
	return r.Query != nil && r.Query.Encode() == a.Query.Encode()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	// RFC 6749 §5.1: token responses must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
