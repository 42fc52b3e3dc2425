package oauth

import (
	"encoding/json"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"ucp/auth/smart"
)

// Capabilities are the SMART capabilities ucp implements, and no others.
var Capabilities = []string{
	"launch-ehr", "launch-standalone", "authorize-post",
	"client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
	"context-ehr-patient", "context-standalone-patient", "context-banner",
	"sso-openid-connect",
	"permission-v1", "permission-v2", "permission-patient", "permission-user", "permission-offline",
}

// Configuration is the SMART discovery document: Backend Services' with
// the app launch endpoints and capabilities.
func (s *Server) Configuration() smart.Configuration {
	c := s.backend
	c.Issuer = s.cfg.Issuer
	c.JWKSURI = s.cfg.Issuer + "/jwks"
	c.AuthorizationEndpoint = s.cfg.Issuer + "/authorize"
	c.TokenEndpoint = s.cfg.Issuer + "/token"
	c.IntrospectionEndpoint = s.cfg.Issuer + "/introspect"
	c.RevocationEndpoint = s.cfg.Issuer + "/revoke"
	c.ResponseTypesSupported = []string{"code"}
	c.GrantTypesSupported = []string{"authorization_code", "refresh_token", "client_credentials"}
	c.TokenEndpointAuthMethodsSupported = []string{"private_key_jwt", "client_secret_basic", "none"}
	c.ScopesSupported = append(append([]string{ScopeOpenID, ScopeFHIRUser, ScopeLaunch, ScopeLaunchPatient, ScopeOffline, ScopeOnline}, s.cfg.ScopesSupported...), c.ScopesSupported...)
	c.Capabilities = Capabilities
	c.CodeChallengeMethodsSupported = []string{"S256"}
	return c
}

// ConfigurationHandler serves Configuration (with CORS), at
// [base]/.well-known/smart-configuration.
func (s *Server) ConfigurationHandler() http.Handler {
	return CORS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Configuration())
	}))
}

// openIDConfiguration is OpenID Connect discovery, at
// {issuer}/.well-known/openid-configuration.
func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	sc := s.Configuration()
	writeJSON(w, map[string]any{
		"issuer":                                           s.cfg.Issuer,
		"authorization_endpoint":                           sc.AuthorizationEndpoint,
		"token_endpoint":                                   sc.TokenEndpoint,
		"jwks_uri":                                         sc.JWKSURI,
		"introspection_endpoint":                           sc.IntrospectionEndpoint,
		"revocation_endpoint":                              sc.RevocationEndpoint,
		"response_types_supported":                         []string{"code"},
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            []string{"RS256"},
		"scopes_supported":                                 sc.ScopesSupported,
		"grant_types_supported":                            sc.GrantTypesSupported,
		"token_endpoint_auth_methods_supported":            sc.TokenEndpointAuthMethodsSupported,
		"token_endpoint_auth_signing_alg_values_supported": smart.AssertionAlgorithms,
		"code_challenge_methods_supported":                 []string{"S256"},
		"claims_supported":                                 []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser", "name"},
	})
}

// jwks publishes the public keys of access tokens and ID tokens.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{s.cfg.Key.Public(), s.cfg.IDKey.Public()}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
