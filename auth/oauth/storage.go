package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"ucp/auth/smart"
)

// State is the part of auth/authstate the server keeps its codes, tokens,
// launches and used assertion ids in: durable, so a restart signs no app
// out and lets no used code, refresh token or launch be used again.
type State interface {
	Put(ctx context.Context, kind, key string, value []byte, expires time.Time) error
	Get(ctx context.Context, kind, key string) ([]byte, error)
	Take(ctx context.Context, kind, key string) ([]byte, error)
	Add(ctx context.Context, kind, key string, value []byte, expires time.Time) error
	Delete(ctx context.Context, kind, key string) error
}

// The kinds of entry in State.
const (
	kindCode       = "oauth-code"        // authorization code signature → request
	kindPKCE       = "oauth-pkce"        // code signature → request (code_challenge)
	kindOIDC       = "oauth-oidc"        // code → request (nonce)
	kindAccess     = "oauth-access"      // access token signature → request
	kindRefresh    = "oauth-refresh"     // refresh token signature → request
	kindReqAccess  = "oauth-req-access"  // request id → its latest access token signature
	kindReqRefresh = "oauth-req-refresh" // request id → its latest refresh token signature
	kindJTI        = "oauth-jti"         // a used client assertion id
	kindLaunch     = "oauth-launch"      // launch id → launch context
)

// codeKeep is how long a code's record is kept after issue: longer than
// the code lives, so its reuse is recognised (and what it issued revoked).
const codeKeep = 15 * time.Minute

// record is a fosite request as State keeps it.
type record struct {
	ID                string     `json:"id"`
	RequestedAt       time.Time  `json:"requested_at"`
	Client            string     `json:"client"`
	RequestedScope    []string   `json:"requested_scope,omitempty"`
	GrantedScope      []string   `json:"granted_scope,omitempty"`
	RequestedAudience []string   `json:"requested_audience,omitempty"`
	GrantedAudience   []string   `json:"granted_audience,omitempty"`
	Form              url.Values `json:"form,omitempty"`
	Session           *Session   `json:"session"`
	Active            bool       `json:"active"`
}

// secretParams are never kept: the request is stored to be checked again,
// not to hold credentials.
var secretParams = []string{"client_secret", "client_assertion", "code", "code_verifier", "refresh_token", "password", "token"}

// tokenStore is fosite's storage on State, with the registered apps as clients.
type tokenStore struct {
	state    State
	notFound error // State's error for a missing or expired entry
	exists   error // State's error for Add over a live entry
	clients  smart.Registry
	audience string
	now      func() time.Time
	access   time.Duration // how long access token records live
	refresh  time.Duration // how long refresh token records live
}

// GetClient implements fosite.ClientManager with the registered apps
// (system clients and disabled apps are unknown here).
func (s *tokenStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	cl, err := s.clients.Client(ctx, id)
	if errors.Is(err, smart.ErrUnknownClient) || (err == nil && (!cl.IsApp() || cl.Disabled)) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return fositeClient(cl, s.audience)
}

// ClientAssertionJWTValid implements fosite.ClientManager.
func (s *tokenStore) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	_, err := s.state.Get(ctx, kindJTI, jti)
	switch {
	case err == nil:
		return fosite.ErrJTIKnown
	case errors.Is(err, s.notFound):
		return nil
	}
	return err
}

// SetClientAssertionJWT implements fosite.ClientManager: Add refuses a jti
// already there, so two concurrent uses cannot both pass.
func (s *tokenStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := s.state.Add(ctx, kindJTI, jti, []byte("1"), exp)
	if errors.Is(err, s.exists) {
		return fosite.ErrJTIKnown
	}
	return err
}

func (s *tokenStore) put(ctx context.Context, kind, key string, r fosite.Requester, active bool, ttl time.Duration) error {
	sess, _ := r.GetSession().(*Session)
	form := url.Values{}
	for k, v := range r.GetRequestForm() {
		form[k] = v
	}
	for _, k := range secretParams {
		delete(form, k)
	}
	rec := record{ID: r.GetID(), RequestedAt: r.GetRequestedAt(), Client: r.GetClient().GetID(),
		RequestedScope: r.GetRequestedScopes(), GrantedScope: r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(), GrantedAudience: r.GetGrantedAudience(),
		Form: form, Session: sess, Active: active}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.state.Put(ctx, kind, key, b, s.now().Add(ttl))
}

// get returns the request kept under kind and key, and whether it is
// still active; fosite.ErrNotFound when there is none.
func (s *tokenStore) get(ctx context.Context, kind, key string) (*fosite.Request, bool, error) {
	b, err := s.state.Get(ctx, kind, key)
	if errors.Is(err, s.notFound) {
		return nil, false, fosite.ErrNotFound
	}
	if err != nil {
		return nil, false, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, false, err
	}
	client, err := s.GetClient(ctx, rec.Client)
	if err != nil {
		// The app was removed or disabled since: what it was given ends.
		return nil, false, fosite.ErrNotFound
	}
	if rec.Session == nil {
		rec.Session = newSession()
	}
	return &fosite.Request{
		ID: rec.ID, RequestedAt: rec.RequestedAt, Client: client,
		RequestedScope: rec.RequestedScope, GrantedScope: rec.GrantedScope,
		RequestedAudience: rec.RequestedAudience, GrantedAudience: rec.GrantedAudience,
		Form: rec.Form, Session: rec.Session,
	}, rec.Active, nil
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *tokenStore) CreateAuthorizeCodeSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.put(ctx, kindCode, code, r, true, codeKeep)
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage: a used
// code comes back with ErrInvalidatedAuthorizeCode and its request, so
// fosite revokes what its first use issued.
func (s *tokenStore) GetAuthorizeCodeSession(ctx context.Context, code string, _ fosite.Session) (fosite.Requester, error) {
	r, active, err := s.get(ctx, kindCode, code)
	if err != nil {
		return nil, err
	}
	if !active {
		return r, fosite.ErrInvalidatedAuthorizeCode
	}
	return r, nil
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage.
func (s *tokenStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	r, _, err := s.get(ctx, kindCode, code)
	if err != nil {
		return err
	}
	return s.put(ctx, kindCode, code, r, false, codeKeep)
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *tokenStore) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.put(ctx, kindPKCE, sig, r, true, codeKeep)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *tokenStore) GetPKCERequestSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	r, _, err := s.get(ctx, kindPKCE, sig)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (s *tokenStore) DeletePKCERequestSession(ctx context.Context, sig string) error {
	return s.state.Delete(ctx, kindPKCE, sig)
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *tokenStore) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.put(ctx, kindOIDC, code, r, true, codeKeep)
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *tokenStore) GetOpenIDConnectSession(ctx context.Context, code string, _ fosite.Requester) (fosite.Requester, error) {
	r, _, err := s.get(ctx, kindOIDC, code)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *tokenStore) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.state.Delete(ctx, kindOIDC, code)
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *tokenStore) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	if err := s.put(ctx, kindAccess, sig, r, true, s.access); err != nil {
		return err
	}
	return s.state.Put(ctx, kindReqAccess, r.GetID(), []byte(sig), s.now().Add(s.refresh))
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *tokenStore) GetAccessTokenSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	r, _, err := s.get(ctx, kindAccess, sig)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *tokenStore) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return s.state.Delete(ctx, kindAccess, sig)
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *tokenStore) CreateRefreshTokenSession(ctx context.Context, sig, _ string, r fosite.Requester) error {
	if err := s.put(ctx, kindRefresh, sig, r, true, s.refresh); err != nil {
		return err
	}
	return s.state.Put(ctx, kindReqRefresh, r.GetID(), []byte(sig), s.now().Add(s.refresh))
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage: a rotated
// or revoked token comes back with ErrInactiveToken and its request, so
// fosite treats its use as reuse and revokes the family.
func (s *tokenStore) GetRefreshTokenSession(ctx context.Context, sig string, _ fosite.Session) (fosite.Requester, error) {
	r, active, err := s.get(ctx, kindRefresh, sig)
	if err != nil {
		return nil, err
	}
	if !active {
		return r, fosite.ErrInactiveToken
	}
	return r, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage.
func (s *tokenStore) DeleteRefreshTokenSession(ctx context.Context, sig string) error {
	return s.state.Delete(ctx, kindRefresh, sig)
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the family's
// current refresh token becomes inactive (kept, to recognise its reuse)
// and its access token is revoked.
func (s *tokenStore) RotateRefreshToken(ctx context.Context, requestID, _ string) error {
	if err := s.RevokeRefreshToken(ctx, requestID); err != nil {
		return err
	}
	return s.RevokeAccessToken(ctx, requestID)
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage.
func (s *tokenStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	sig, err := s.state.Get(ctx, kindReqRefresh, requestID)
	if errors.Is(err, s.notFound) {
		return nil
	}
	if err != nil {
		return err
	}
	r, _, err := s.get(ctx, kindRefresh, string(sig))
	if errors.Is(err, fosite.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.put(ctx, kindRefresh, string(sig), r, false, s.refresh)
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage.
func (s *tokenStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	sig, err := s.state.Get(ctx, kindReqAccess, requestID)
	if errors.Is(err, s.notFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.state.Delete(ctx, kindAccess, string(sig))
}
