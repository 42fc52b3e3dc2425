package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/authstate"
	"ucp/auth/oauth"
	"ucp/auth/session"
	"ucp/fhir/service"
)

// idKeyFile is the RS256 key of ID tokens, beside the SQLite file (OpenID
// Connect requires RS256; the access tokens keep server-key.pem).
func idKeyFile(dataDir string) string { return filepath.Join(dataDir, "oidc-key.pem") }

// oauthSecretFile keys the HMAC of authorization codes and refresh tokens,
// beside the SQLite file: kept across restarts, so they stay valid.
func oauthSecretFile(dataDir string) string { return filepath.Join(dataDir, "oauth-secret") }

// loadOrCreateSecret reads 32 random bytes from path, or makes them there
// (mode 0600) when the file does not exist.
func loadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("%s: want at least 32 bytes", path)
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	// O_EXCL: two processes starting together must not overwrite each other's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	return b, f.Close()
}

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
func mountOAuth(cfg serveConfig, e *gin.Engine, sec *security, doors *launchDoors, svc *service.Service, journal oauth.Journal) error {
	idKey, err := auth.LoadOrCreateSigningKey(idKeyFile(cfg.dataDir()), "RS256")
	if err != nil {
		return fmt.Errorf("ID token key: %w", err)
	}
	secret, err := loadOrCreateSecret(oauthSecretFile(cfg.dataDir()))
	if err != nil {
		return fmt.Errorf("authorization server secret: %w", err)
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
		Users: sessionUsers{doors.sessions}, Records: oauth.ServiceRecords{Service: svc}, Roles: roles,
		State: doors.state, NotFound: authstate.ErrNotFound, Exists: authstate.ErrExists, Secret: secret, Journal: journal, Dev: sec.dev != nil,
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
