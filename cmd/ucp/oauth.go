package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/oauth"
	"ucp/auth/session"
	"ucp/fhir/service"
)

// idKeyFile is the RS256 key of ID tokens, beside the SQLite file (OpenID
// Connect requires RS256; the access tokens keep server-key.pem).
func idKeyFile(dataDir string) string { return filepath.Join(dataDir, "oidc-key.pem") }

// sessionUsers is the signed-in user of auth/session, as auth/oauth asks.
type sessionUsers struct{ m *session.Manager }

func (u sessionUsers) SignedIn(r *http.Request) (*auth.Principal, bool) {
	s, ok := u.m.Current(r)
	if !ok || s.Launch.User == nil {
		return nil, false
	}
	return s.Launch.User, true
}

func (u sessionUsers) SignInURL(returnTo string) string { return u.m.SignInURL(returnTo) }

// mountOAuth serves ucp's SMART App Launch authorization server beside the
// Backend Services token endpoint it extends: users sign in through the
// sessions of the launch doors, and launch look-ups go through the API's
// service as the user.
func mountOAuth(cfg serveConfig, e *gin.Engine, sec *security, sessions *session.Manager, svc *service.Service) error {
	idKey, err := auth.LoadOrCreateSigningKey(idKeyFile(cfg.dataDir()), "RS256")
	if err != nil {
		return fmt.Errorf("ID token key: %w", err)
	}
	roles := &auth.RoleMap{Codes: map[string]auth.Role{}}
	if sec.roles != nil {
		for k, v := range sec.roles.Codes {
			roles.Codes[k] = v
		}
	}
	if sec.dev != nil {
		for k, v := range auth.DevRoleMap().Codes {
			roles.Codes[k] = v
		}
	}
	ic := sec.smart.IssuerConfig()
	srv, err := oauth.New(oauth.Config{
		Issuer: ic.URL, Audience: ic.Audience, Key: sec.key, IDKey: idKey, Clients: sec.clients, Backend: sec.smart,
		Users: sessionUsers{sessions}, Records: oauth.ServiceRecords{Service: svc}, Roles: roles,
		ScopesSupported: []string{"patient/*.rs", "patient/CarePlan.rs", "user/*.rs", "user/*.cruds"},
	}, sec.smart.Configuration())
	if err != nil {
		return err
	}
	srv.Routes(e)
	sec.oauth = srv
	return nil
}

// oauthBypass reports whether the request goes to an endpoint where the
// client authenticates itself (HTTP Basic or an assertion), which the
// Bearer middleware must not refuse first.
func (sec *security) oauthBypass(r *http.Request) bool {
	return sec.oauth != nil && slices.Contains(sec.oauth.ClientAuthenticatedPaths(), r.URL.Path)
}
