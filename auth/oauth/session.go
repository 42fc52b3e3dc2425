package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"

	"ucp/auth"
)

// ContextItem is one entry of the token response's fhirContext: a
// reference to a resource the app was launched with (the patient's current
// plan).
type ContextItem struct {
	Reference string `json:"reference,omitempty"`
	Canonical string `json:"canonical,omitempty"`
	Type      string `json:"type,omitempty"`
}

// Session is what an authorization carries from the user's approval to
// every token issued under it (code exchange and each refresh): who the
// user is and the launch context. fosite keeps it with the code and the
// tokens, so the context is the same in the token response, in
// introspection and after a refresh.
type Session struct {
	*openid.DefaultSession

	User     string    `json:"user"` // the user id (SDS id for staff)
	Name     string    `json:"name,omitempty"`
	Role     auth.Role `json:"role"`
	RoleCode string    `json:"role_code,omitempty"`
	Org      string    `json:"org,omitempty"`
	IAL      int       `json:"ial,omitempty"`
	ACR      string    `json:"acr,omitempty"`
	FHIRUser string    `json:"fhirUser,omitempty"` // absolute URL of the Practitioner or Patient

	Patient     string        `json:"patient,omitempty"` // the launch context's Patient id
	NeedBanner  bool          `json:"need_patient_banner"`
	FHIRContext []ContextItem `json:"fhirContext,omitempty"`
}

// newSession returns the session of an approval.
func newSession() *Session {
	return &Session{DefaultSession: openid.NewDefaultSession()}
}

// Clone implements fosite.Session: a deep copy through JSON, which holds
// every field.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	c := newSession()
	if err := json.Unmarshal(b, c); err != nil {
		return nil
	}
	return c
}

// GetExtraClaims implements fosite.ExtraClaimsSession: the launch context
// that introspection answers beside active, scope and sub.
func (s *Session) GetExtraClaims() map[string]any {
	m := map[string]any{}
	if s.Patient != "" {
		m["patient"] = s.Patient
		m["need_patient_banner"] = s.NeedBanner
	}
	if len(s.FHIRContext) > 0 {
		m["fhirContext"] = s.FHIRContext
	}
	if s.FHIRUser != "" {
		m["fhirUser"] = s.FHIRUser
	}
	return m
}

// tokenResponseExtra is the launch context of a token response.
func (s *Session) tokenResponseExtra() map[string]any {
	m := map[string]any{}
	if s.Patient != "" {
		m["patient"] = s.Patient
		m["need_patient_banner"] = s.NeedBanner
	}
	if len(s.FHIRContext) > 0 {
		m["fhirContext"] = s.FHIRContext
	}
	return m
}

// accessTokens issues access tokens as JWTs signed by the server's key,
// which auth.Verifier already trusts for Backend Services tokens: the FHIR
// API verifies an app's token exactly as a system's, without a look-up.
// Codes and refresh tokens stay fosite's opaque HMAC tokens.
type accessTokens struct {
	*oauth2.HMACSHAStrategy
	key      *auth.SigningKey
	issuer   string
	audience string
	now      func() time.Time
}

var _ oauth2.CoreStrategy = (*accessTokens)(nil)

// AccessTokenSignature implements oauth2.AccessTokenStrategy: the JWS
// signature, which names the token in the store.
func (a *accessTokens) AccessTokenSignature(_ context.Context, token string) string {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return ""
	}
	return token[i+1:]
}

// GenerateAccessToken implements oauth2.AccessTokenStrategy.
func (a *accessTokens) GenerateAccessToken(_ context.Context, r fosite.Requester) (string, string, error) {
	s, ok := r.GetSession().(*Session)
	if !ok {
		return "", "", errors.New("oauth: unexpected session type")
	}
	exp := s.GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = a.now().Add(MaxAccessTokenTTL)
	}
	claims := map[string]any{
		"iss":           a.issuer,
		"sub":           s.User,
		"aud":           a.audience,
		"client_id":     r.GetClient().GetID(),
		"scope":         strings.Join(r.GetGrantedScopes(), " "),
		"iat":           a.now().Unix(),
		"exp":           exp.Unix(),
		"jti":           auth.NewJTI(),
		"ucp_role":      string(s.Role),
		"nhsid_useruid": s.User,
	}
	for k, v := range map[string]string{"name": s.Name, "ucp_role_code": s.RoleCode, "org_code": s.Org, "acr": s.ACR, "fhirUser": s.FHIRUser, "patient": s.Patient} {
		if v != "" {
			claims[k] = v
		}
	}
	if s.IAL > 0 {
		claims["idassurancelevel"] = s.IAL
	}
	tok, err := a.key.Sign(claims)
	if err != nil {
		return "", "", err
	}
	return tok, a.AccessTokenSignature(context.Background(), tok), nil
}

// ValidateAccessToken implements oauth2.AccessTokenStrategy: our signature
// and not expired (introspection then also finds it in the store, so a
// revoked token is inactive).
func (a *accessTokens) ValidateAccessToken(_ context.Context, _ fosite.Requester, token string) error {
	t, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(a.key.Algorithm())})
	if err != nil {
		return fosite.ErrInvalidTokenFormat.WithWrap(err)
	}
	var c jwt.Claims
	pub := a.key.Public()
	if err := t.Claims(pub.Key, &c); err != nil {
		return fosite.ErrTokenSignatureMismatch.WithWrap(err)
	}
	if c.Expiry == nil || !c.Expiry.Time().After(a.now()) {
		return fosite.ErrTokenExpired
	}
	return nil
}
