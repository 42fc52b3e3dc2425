package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	jose3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/smart"
)

// MaxAccessTokenTTL is the lifetime of an app's access token. A JWT is
// checked by signature alone, so revoking it (or its family) stops
// introspection and refresh at once but the token itself only at expiry:
// keep that short, as SMART advises.
const MaxAccessTokenTTL = smart.MaxTokenTTL

// Default lifetimes.
const (
	DefaultRefreshTTL = 12 * time.Hour  // a working shift
	DefaultLaunchTTL  = 5 * time.Minute // a launch id is used within seconds
	codeTTL           = time.Minute     // an authorization code is exchanged at once
	consentTTL        = 10 * time.Minute
)

// Users tells who is signed in to ucp in the browser making a request,
// and where to send someone who is not (auth/session provides it).
type Users interface {
	// SignedIn returns the signed-in user, or false.
	SignedIn(r *http.Request) (*auth.Principal, bool)
	// SignInURL is where to send a user who must sign in first; the
	// sign-in returns to returnTo, a local path.
	SignInURL(returnTo string) string
}

// Records finds what a launch is about, as the user in ctx, through the
// FHIR service (so its access rules and audit apply).
type Records interface {
	// PatientByNHSNumber returns the id of the patient with the NHS number,
	// an outcome.NotFound error when ucp holds none.
	PatientByNHSNumber(ctx context.Context, nhs string) (string, error)
	// Patient checks that the patient exists and the user may see them.
	Patient(ctx context.Context, id string) error
	// CurrentPlan returns the id of the patient's current care plan, or ""
	// when there is none.
	CurrentPlan(ctx context.Context, patient string) (string, error)
}

// Journal records AuditEvents durably.
type Journal interface {
	Append(ev *audit.AuditEvent) error
}

// Config configures a Server.
type Config struct {
	// Issuer is the iss of access and ID tokens: the same as Backend
	// Services tokens (…/auth), so one verifier configuration trusts both.
	// Its path is where the endpoints are served (Issuer + "/authorize" …).
	Issuer string
	// Audience is the FHIR base URL: the aud an app must ask for and the
	// aud of its access tokens.
	Audience string
	// Key signs access tokens (the Backend Services key); IDKey, an RS256
	// key, signs ID tokens (OpenID Connect requires RS256).
	Key, IDKey *auth.SigningKey
	// Clients are the registered clients (system clients and apps).
	Clients smart.Registry
	// State keeps codes, tokens, launches and used assertion ids;
	// NotFound and Exists are its errors for a missing entry and for Add
	// over a live one (authstate.ErrNotFound, authstate.ErrExists).
	State            State
	NotFound, Exists error
	// Backend answers the client_credentials grant (SMART Backend Services).
	Backend http.Handler
	// Users and Records: see their types.
	Users   Users
	Records Records
	// Journal records each authorization of an app and each EHR launch
	// (and refusal) as a login AuditEvent (audit.Sink).
	Journal Journal
	// Roles maps the role codes a launcher asserts to roles.
	Roles *auth.RoleMap
	// RefreshTTL, LaunchTTL: defaults DefaultRefreshTTL, DefaultLaunchTTL.
	RefreshTTL, LaunchTTL time.Duration
	// ScopesSupported are advertised in discovery.
	ScopesSupported []string
	// Secret (32 bytes or more) keys the HMAC of codes and refresh tokens:
	// it must be the same across restarts for them to stay valid.
	Secret []byte
	// Dev marks every page as a development server's (--dev).
	Dev bool
	// Now is the clock, for tests.
	Now func() time.Time
}

// Server is ucp's SMART App Launch authorization server.
type Server struct {
	cfg     Config
	fosite  *fosite.Fosite
	store   *tokenStore
	secret  []byte // HMAC key of codes, refresh tokens and consent forms
	path    string // the path of Issuer, e.g. /auth
	backend smart.Configuration
}

// New builds a Server. backend is the discovery document of Backend
// Services, which the server's extends.
func New(cfg Config, backend smart.Configuration) (*Server, error) {
	if cfg.Issuer == "" || cfg.Audience == "" || cfg.Key == nil || cfg.IDKey == nil || cfg.Clients == nil || cfg.Users == nil || cfg.Records == nil || cfg.Journal == nil ||
		cfg.State == nil || cfg.NotFound == nil || cfg.Exists == nil || len(cfg.Secret) < 32 {
		return nil, errors.New("oauth: Issuer, Audience, Key, IDKey, Clients, Users, Records, Journal, State, NotFound, Exists and a Secret of 32 bytes are required")
	}
	if cfg.IDKey.Algorithm() != "RS256" {
		return nil, errors.New("oauth: the ID token key must be RS256")
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("oauth: issuer %q must be an absolute URL", cfg.Issuer)
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.LaunchTTL <= 0 {
		cfg.LaunchTTL = DefaultLaunchTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	secret := cfg.Secret
	s := &Server{cfg: cfg, secret: secret, path: strings.TrimSuffix(u.Path, "/"), backend: backend}
	fc := &fosite.Config{
		AccessTokenLifespan:   MaxAccessTokenTTL,
		RefreshTokenLifespan:  cfg.RefreshTTL,
		AuthorizeCodeLifespan: codeTTL,
		IDTokenLifespan:       time.Hour,
		IDTokenIssuer:         cfg.Issuer,
		AccessTokenIssuer:     cfg.Issuer,
		TokenURL:              cfg.Issuer + "/token",
		// SMART App Launch 2: PKCE for every client, S256 only.
		EnforcePKCE:                    true,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		ScopeStrategy:                  scopeStrategy,
		AudienceMatchingStrategy:       fosite.ExactAudienceMatchingStrategy,
		RefreshTokenScopes:             []string{ScopeOffline, ScopeOnline},
		GlobalSecret:                   secret,
		MinParameterEntropy:            fosite.MinParameterEntropy,
		SendDebugMessagesToClients:     false,
	}
	s.store = &tokenStore{state: cfg.State, notFound: cfg.NotFound, exists: cfg.Exists, clients: cfg.Clients, audience: cfg.Audience,
		now: cfg.Now, access: MaxAccessTokenTTL + time.Minute, refresh: cfg.RefreshTTL}
	idKey := cfg.IDKey
	keyGetter := func(context.Context) (any, error) { return idKey.Signer(), nil }
	strategy := &compose.CommonStrategy{
		CoreStrategy:               &accessTokens{HMACSHAStrategy: compose.NewOAuth2HMACStrategy(fc), key: cfg.Key, issuer: cfg.Issuer, audience: cfg.Audience, now: cfg.Now},
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(keyGetter, fc),
	}
	s.fosite = compose.Compose(fc, s.store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
	).(*fosite.Fosite)
	return s, nil
}

// scopeStrategy is fosite's check that a client may ask for a scope. It
// accepts every scope: an app may ask for more than it can have, and what it
// is granted is decided by Grant and registeredFor, never by refusing the
// request.
func scopeStrategy([]string, string) bool { return true }

// registeredFor reports whether an app registered for registered (none:
// any) may be granted scope: a resource scope needs one registered that
// covers it, any other scope must be registered as written.
func registeredFor(registered []string, scope string) bool {
	if len(registered) == 0 {
		return true
	}
	n, err := auth.ParseScope(scope)
	if err != nil {
		return false
	}
	for _, r := range registered {
		if r == scope {
			return true
		}
		h, err := auth.ParseScope(r)
		if err != nil || !h.IsResource() || !n.IsResource() {
			continue
		}
		if h.Level == n.Level && (h.Type == "*" || h.Type == n.Type) && n.Perm&^h.Perm == 0 && h.Query == nil {
			return true
		}
	}
	return false
}

// ClientAuthenticatedPaths are the endpoints where the client authenticates
// itself (HTTP Basic, an assertion, or a Bearer token checked here): a
// server's Bearer middleware must let their requests through untouched.
func (s *Server) ClientAuthenticatedPaths() []string {
	return []string{s.path + "/token", s.path + "/introspect", s.path + "/revoke"}
}

// fositeClient is a registered app as fosite sees it.
func fositeClient(c *smart.Client, audience string) (fosite.Client, error) {
	dc := &fosite.DefaultClient{
		ID:            c.ID,
		RedirectURIs:  c.RedirectURIs,
		GrantTypes:    []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"},
		Scopes:        strings.Fields(c.Scope),
		Audience:      []string{audience},
		Public:        c.AuthMethod == smart.AuthNone,
	}
	if c.SecretHash != "" {
		dc.Secret = []byte(c.SecretHash)
	}
	oc := &fosite.DefaultOpenIDConnectClient{DefaultClient: dc, TokenEndpointAuthMethod: c.AuthMethod}
	if c.AuthMethod == smart.AuthPrivateKeyJWT {
		// fosite speaks go-jose v3; the registration is v4. JSON carries
		// the public keys across unchanged.
		b, err := json.Marshal(c.JWKS)
		if err != nil {
			return nil, err
		}
		var set jose3.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			return nil, err
		}
		oc.JSONWebKeys = &set
		oc.TokenEndpointAuthSigningAlgorithm = c.JWKS.Keys[0].Algorithm
	}
	return oc, nil
}

// Routes registers the endpoints under the issuer's path.
func (s *Server) Routes(r gin.IRouter) {
	p := s.path
	r.GET(p+"/authorize", gin.WrapF(s.authorize))
	r.POST(p+"/authorize", gin.WrapF(s.authorize))
	r.POST(p+"/authorize/approve", gin.WrapF(s.approve))
	r.POST(p+"/token", gin.WrapH(CORS(http.HandlerFunc(s.token))))
	r.OPTIONS(p+"/token", gin.WrapH(CORS(http.NotFoundHandler())))
	r.POST(p+"/introspect", gin.WrapF(s.introspect))
	r.POST(p+"/revoke", gin.WrapH(CORS(http.HandlerFunc(s.revoke))))
	r.OPTIONS(p+"/revoke", gin.WrapH(CORS(http.NotFoundHandler())))
	r.POST(p+"/launch", gin.WrapF(s.launch))
	r.GET(p+"/jwks", gin.WrapH(CORS(http.HandlerFunc(s.jwks))))
	r.GET(p+"/.well-known/openid-configuration", gin.WrapH(CORS(http.HandlerFunc(s.openIDConfiguration))))
	r.OPTIONS(p+"/.well-known/openid-configuration", gin.WrapH(CORS(http.NotFoundHandler())))
}

// sign returns the HMAC of parts, for consent forms.
func (s *Server) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// audOK reports whether an authorize request's aud names the FHIR base
// (a trailing slash tolerated): SMART requires the server to refuse a token
// meant for another server, so a leaked token cannot be replayed here.
func (s *Server) audOK(aud string) bool {
	return aud != "" && strings.TrimSuffix(aud, "/") == strings.TrimSuffix(s.cfg.Audience, "/")
}

// fhirUser is the absolute URL of the user's FHIR resource.
func (s *Server) fhirUser(p *auth.Principal) string {
	switch {
	case p.FHIRUser != "" && strings.Contains(p.FHIRUser, "://"):
		return p.FHIRUser
	case p.FHIRUser != "":
		return strings.TrimSuffix(s.cfg.Audience, "/") + "/" + p.FHIRUser
	case p.Role == auth.RolePatient && p.Patient != "":
		return strings.TrimSuffix(s.cfg.Audience, "/") + "/Patient/" + p.Patient
	case p.UserID != "":
		return strings.TrimSuffix(s.cfg.Audience, "/") + "/Practitioner/" + p.UserID
	}
	return ""
}

// registered reports whether an app with id is registered with redirect
// exactly among its redirect URIs. It is checked before fosite sees the
// request: a mismatch must never redirect (fosite would also accept any
// port on a loopback address, which an exact match does not).
func (s *Server) registered(ctx context.Context, id, redirect string) (*smart.Client, bool) {
	c, err := s.cfg.Clients.Client(ctx, id)
	if err != nil || c == nil || !c.IsApp() || c.Disabled {
		return nil, false
	}
	return c, slices.Contains(c.RedirectURIs, redirect)
}

// audit records a login: an app authorized for a user, a launch made, or
// one refused.
func (s *Server) audit(r *http.Request, l audit.Login) error {
	l.Time = s.cfg.Now()
	l.Address = r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		l.Address = host
	}
	return s.cfg.Journal.Append(audit.LoginEvent(&l))
}
