package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"ucp/fhir/outcome"
)

// SigningAlgorithms are the JWS algorithms a Verifier accepts. Only
// asymmetric ones: "none" and the HMAC family are absent so that neither an
// unsigned token nor one "signed" with our public key as an HMAC secret can
// ever be parsed.
var SigningAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// joseAlgorithms is SigningAlgorithms as go-jose takes them.
func joseAlgorithms() []jose.SignatureAlgorithm {
	algs := make([]jose.SignatureAlgorithm, len(SigningAlgorithms))
	for i, a := range SigningAlgorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	return algs
}

// IssuerConfig is one trusted token issuer.
type IssuerConfig struct {
	// URL is the issuer identifier; its discovery document is
	// URL/.well-known/openid-configuration and must state the same issuer.
	URL string `json:"url"`
	// Audience must be among the token's aud (for CIS2, the client id
	// "<client>.apps.national"; for ucp's own tokens, the FHIR base URL).
	Audience string `json:"audience"`
	// RoleClaim names a flat claim (a string or an array of strings) that
	// holds role codes, for issuers that do not send CIS2's
	// nhsid_nrbac_roles. Its values go through the RoleMap.
	RoleClaim string `json:"roleClaim,omitempty"`
	// DefaultScopes are granted to person tokens that carry no SMART resource
	// scope: CIS2 tokens carry only OpenID scopes, so for them the role alone
	// decides (e.g. "user/*.cruds"). Leave empty for SMART issuers.
	DefaultScopes string `json:"defaultScopes,omitempty"`
	// Patients lets tokens whose fhirUser is a Patient act as that patient.
	Patients bool `json:"patients,omitempty"`
	// Systems lets client-credentials tokens (sub = client_id, no person)
	// act as RoleSystem.
	Systems bool `json:"systems,omitempty"`
	// OwnRoles lets a token carry ucp's own role in ucp_role: for ucp's own
	// authorization server, which mapped the user's role code once at
	// sign-in (with --roles, or the development codes) and must not map it
	// again through a table that may not know the code.
	OwnRoles bool `json:"-"`
	// MinIDAssurance overrides VerifierConfig.MinIDAssurance when > 0.
	MinIDAssurance int `json:"minIdAssurance,omitempty"`
	// Roles overrides VerifierConfig.Roles for this issuer when set.
	Roles *RoleMap `json:"-"`
	// KeySet, when set, verifies signatures without discovery: for ucp's own
	// tokens, whose issuer is this same server.
	KeySet oidc.KeySet `json:"-"`
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Issuers []IssuerConfig
	// Roles maps national RBAC role codes to roles for every issuer that has
	// none of its own.
	Roles *RoleMap
	// MinIDAssurance is the least CIS2 identity assurance level (0–3) a staff
	// token must carry; 0 turns the check off. NHS guidance for access to
	// clinical records is level 3.
	MinIDAssurance int
	// Skew is the clock difference tolerated for nbf and iat; default 1
	// minute. (exp is checked strictly.)
	Skew time.Duration
	// HTTPClient fetches discovery documents and keys; default
	// http.DefaultClient with a 10 s timeout.
	HTTPClient *http.Client
	// Realm names the WWW-Authenticate realm; default "ucp".
	Realm string
	// Now is the clock, for tests.
	Now func() time.Time
}

// Verifier verifies Bearer tokens and maps their claims to a Principal.
// It is safe for concurrent use. Discovery happens on the first token from
// each issuer, not in NewVerifier, because in --dev the issuer is served by
// the same process that is still starting; a failed discovery is retried
// after a short back-off.
type Verifier struct {
	cfg     VerifierConfig
	issuers map[string]*issuer
	cache   verifiedCache
}

type issuer struct {
	cfg     IssuerConfig
	roles   *RoleMap
	minIAL  int
	scopes  Scopes // parsed DefaultScopes
	mu      sync.Mutex
	oidc    *oidc.IDTokenVerifier
	lastErr error
	lastTry time.Time
}

const discoveryBackoff = 5 * time.Second

// NewVerifier checks the configuration; it does no network I/O.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("auth: no token issuers configured")
	}
	if cfg.Skew <= 0 {
		cfg.Skew = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	v := &Verifier{cfg: cfg, issuers: map[string]*issuer{}}
	for _, ic := range cfg.Issuers {
		if ic.URL == "" || ic.Audience == "" {
			return nil, fmt.Errorf("auth: issuer %q: URL and audience are required", ic.URL)
		}
		if _, dup := v.issuers[ic.URL]; dup {
			return nil, fmt.Errorf("auth: issuer %q configured twice", ic.URL)
		}
		is := &issuer{cfg: ic, roles: ic.Roles, minIAL: ic.MinIDAssurance}
		if is.roles == nil {
			is.roles = cfg.Roles
		}
		if is.minIAL <= 0 {
			is.minIAL = cfg.MinIDAssurance
		}
		if ic.DefaultScopes != "" {
			sc, err := ParseScopes(ic.DefaultScopes)
			if err != nil {
				return nil, fmt.Errorf("auth: issuer %q: default scopes: %w", ic.URL, err)
			}
			is.scopes = sc
		}
		v.issuers[ic.URL] = is
	}
	return v, nil
}

func (v *Verifier) oidcConfig(aud string) *oidc.Config {
	return &oidc.Config{ClientID: aud, SupportedSigningAlgs: SigningAlgorithms, Now: v.cfg.Now}
}

// verifier returns the go-oidc verifier for is, discovering it if need be.
func (v *Verifier) verifier(ctx context.Context, is *issuer) (*oidc.IDTokenVerifier, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.oidc != nil {
		return is.oidc, nil
	}
	if is.cfg.KeySet != nil {
		is.oidc = oidc.NewVerifier(is.cfg.URL, is.cfg.KeySet, v.oidcConfig(is.cfg.Audience))
		return is.oidc, nil
	}
	if is.lastErr != nil && time.Since(is.lastTry) < discoveryBackoff {
		return nil, is.lastErr
	}
	// Only the HTTP client goes into the provider; the request's context just
	// bounds this one discovery request.
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, v.cfg.HTTPClient), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, is.cfg.URL)
	is.lastTry = time.Now()
	if err != nil {
		is.lastErr = fmt.Errorf("discovery of %s: %w", is.cfg.URL, err)
		return nil, is.lastErr
	}
	// Our own key set, not the provider's, so that the token's kid decides
	// its key (see jwksKeySet).
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURI == "" {
		is.lastErr = fmt.Errorf("discovery of %s: no jwks_uri", is.cfg.URL)
		return nil, is.lastErr
	}
	is.lastErr = nil
	is.oidc = oidc.NewVerifier(is.cfg.URL, remoteKeySet(meta.JWKSURI, v.cfg.HTTPClient), v.oidcConfig(is.cfg.Audience))
	return is.oidc, nil
}

// Discover fetches every issuer's discovery document now, for a readiness
// check at start-up; Verify would otherwise do it on first use.
func (v *Verifier) Discover(ctx context.Context) error {
	var errs []error
	for _, is := range v.issuers {
		if _, err := v.verifier(ctx, is); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ParseBearer extracts the token from an Authorization header value. Only
// the Bearer scheme is accepted (RFC 6750 §2.1).
func ParseBearer(header string) (string, error) {
	if header == "" {
		return "", &AuthError{Description: "no bearer token"}
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", unauthenticated(CodeInvalidRequest, "the Authorization scheme must be Bearer", nil)
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t,") {
		return "", unauthenticated(CodeInvalidRequest, "malformed bearer token", nil)
	}
	return token, nil
}

// Authenticate verifies the request's Authorization header. A request with
// no Authorization header is anonymous: it returns (nil, nil) and the
// [Policy] refuses everything but the capability statement with 401.
func (v *Verifier) Authenticate(r *http.Request) (*Principal, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return nil, nil
	}
	if len(vals) > 1 {
		return nil, v.realm(unauthenticated(CodeInvalidRequest, "more than one Authorization header", nil))
	}
	tok, err := ParseBearer(vals[0])
	if err != nil {
		return nil, v.realm(err)
	}
	return v.Verify(r.Context(), tok)
}

// Middleware authenticates each request and puts the principal into its
// context (anonymous requests pass through without one). A bad credential
// is answered here with 401, the challenge and an OperationOutcome, and
// told to refused, when not nil (to audit it): the REST layer never sees
// the request.
func (v *Verifier) Middleware(next http.Handler, refused func(*http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := v.Authenticate(r)
		if err != nil {
			if refused != nil {
				refused(r, err)
			}
			WriteUnauthenticated(w, err)
			return
		}
		if p != nil {
			r = r.WithContext(NewContext(r.Context(), p))
		}
		next.ServeHTTP(w, r)
	})
}

// WriteUnauthenticated answers 401 with the challenge of err (an
// [*AuthError], or a plain one) and an OperationOutcome.
func WriteUnauthenticated(w http.ResponseWriter, err error) {
	var ae *AuthError
	if !errors.As(err, &ae) {
		ae = &AuthError{Code: CodeInvalidToken, Description: "invalid token"}
	}
	msg := ae.Description
	if msg == "" {
		msg = "authentication required"
	}
	outcome.Write(w, &outcome.Error{Kind: outcome.Unauthenticated, Message: msg, Err: ae})
}

func (v *Verifier) realm(err error) error {
	var ae *AuthError
	if errors.As(err, &ae) && ae.Realm == "" {
		ae.Realm = v.cfg.Realm
	}
	return err
}

// Verify checks a raw JWT and returns its principal. Every failure is an
// [*AuthError].
func (v *Verifier) Verify(ctx context.Context, raw string) (*Principal, error) {
	p, err := v.verify(ctx, raw)
	return p, v.realm(err)
}

func (v *Verifier) verify(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" {
		return nil, &AuthError{Description: "no bearer token"}
	}
	now := v.cfg.Now()
	if p := v.cache.get(raw, now); p != nil {
		return p, nil
	}
	p, err := v.verifyUncached(ctx, raw)
	if err != nil {
		return nil, err
	}
	v.cache.put(raw, p, now)
	return p, nil
}

// verifyUncached checks the signature, issuer, audience, expiry and claims
// of raw and maps them to a Principal.
func (v *Verifier) verifyUncached(ctx context.Context, raw string) (*Principal, error) {
	// Peek at the unverified issuer only to choose which configuration
	// verifies the token; nothing else is read before the signature is
	// checked.
	jws, err := jose.ParseSignedCompact(raw, joseAlgorithms())
	if err != nil {
		return nil, unauthenticated(CodeInvalidToken, "malformed token or unsupported algorithm", err)
	}
	var peek struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &peek); err != nil {
		return nil, unauthenticated(CodeInvalidToken, "malformed token", err)
	}
	is, ok := v.issuers[peek.Iss]
	if !ok {
		return nil, unauthenticated(CodeInvalidToken, "untrusted issuer", nil)
	}
	ov, err := v.verifier(ctx, is)
	if err != nil {
		// The issuer is down or misconfigured; to the client the token
		// cannot be checked, which is still a 401 (the log shows why).
		return nil, unauthenticated(CodeInvalidToken, "issuer unavailable", err)
	}
	tok, err := ov.Verify(ctx, raw)
	if err != nil {
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			return nil, unauthenticated(CodeInvalidToken, "token expired", err)
		}
		return nil, unauthenticated(CodeInvalidToken, "invalid token", err)
	}
	var c claims
	if err := tok.Claims(&c); err != nil {
		return nil, unauthenticated(CodeInvalidToken, "malformed claims", err)
	}
	// go-oidc allows nbf five minutes ahead and ignores iat; we hold both to
	// our own, smaller skew.
	now := v.cfg.Now()
	if c.Nbf != nil && time.Unix(int64(*c.Nbf), 0).After(now.Add(v.cfg.Skew)) {
		return nil, unauthenticated(CodeInvalidToken, "token not yet valid", nil)
	}
	if c.Iat != nil && time.Unix(int64(*c.Iat), 0).After(now.Add(v.cfg.Skew)) {
		return nil, unauthenticated(CodeInvalidToken, "token issued in the future", nil)
	}
	if tok.Subject == "" {
		return nil, unauthenticated(CodeInvalidToken, "token has no subject", nil)
	}
	p := is.principal(&c, tok)
	if err := c.roleClaimErr; err != nil {
		return nil, unauthenticated(CodeInvalidToken, "malformed role claim", err)
	}
	if is.minIAL > 0 && (p.Role == RoleClinical || p.Role == RoleView || p.Role == RoleAdmin) && p.IDAssurance < is.minIAL {
		return nil, unauthenticated(CodeInsufficientUserAu, fmt.Sprintf("identity assurance level %d is below the required %d", p.IDAssurance, is.minIAL), nil)
	}
	return p, nil
}

// claims are the token claims we read. CIS2 names follow the NHS CIS2
// OpenID Connect guidance.
type claims struct {
	Nbf *flexInt `json:"nbf"`
	Iat *flexInt `json:"iat"`
	Jti string   `json:"jti"`

	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	GivenName   string `json:"given_name"`
	FamilyName  string `json:"family_name"`

	UserUID        string      `json:"nhsid_useruid"`
	NRBACRoles     []nrbacRole `json:"nhsid_nrbac_roles"`
	SelectedRoleID string      `json:"selected_roleid"`
	IDAssurance    *flexInt    `json:"idassurancelevel"`
	IDAssurance2   *flexInt    `json:"id_assurance_level"`
	Proofing       string      `json:"identity_proofing_level"`
	ACR            string      `json:"acr"`
	Scope          flexStrings `json:"scope"`
	Scp            flexStrings `json:"scp"`
	ClientID       string      `json:"client_id"`
	Azp            string      `json:"azp"`
	Patient        string      `json:"patient"`
	FHIRUser       string      `json:"fhirUser"`
	OrgCode        string      `json:"org_code"`
	UCPRole        string      `json:"ucp_role"`
	RoleCodeClaim  string      `json:"ucp_role_code"`

	roleClaimErr error
}

type nrbacRole struct {
	OrgCode       string   `json:"org_code"`
	PersonRoleID  string   `json:"person_roleid"`
	RoleCode      string   `json:"role_code"`
	RoleName      string   `json:"role_name"`
	ActivityCodes []string `json:"activity_codes"`
}

// flexInt reads a number or a numeric string: CIS2 sends idassurancelevel
// as "3".
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		n = json.Number(s)
	}
	if i, err := n.Int64(); err == nil {
		*f = flexInt(i)
		return nil
	}
	x, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return err
	}
	*f = flexInt(x)
	return nil
}

// flexStrings reads a space-separated string or an array of strings.
type flexStrings []string

func (f *flexStrings) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = strings.Fields(s)
		return nil
	}
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	*f = a
	return nil
}

// principal maps verified claims to a Principal.
func (is *issuer) principal(c *claims, tok *oidc.IDToken) *Principal {
	p := &Principal{
		Issuer:        tok.Issuer,
		Subject:       tok.Subject,
		UserID:        c.UserUID,
		Name:          firstNonEmpty(c.Name, c.DisplayName, strings.TrimSpace(c.GivenName+" "+c.FamilyName)),
		ClientID:      firstNonEmpty(c.ClientID, c.Azp),
		Patient:       c.Patient,
		FHIRUser:      c.FHIRUser,
		AuthAssurance: c.ACR,
		TokenID:       c.Jti,
		Expiry:        tok.Expiry,
		Org:           c.OrgCode,

		IdentityProofing: c.Proofing,
	}
	if c.IDAssurance != nil {
		p.IDAssurance = int(*c.IDAssurance)
	} else if c.IDAssurance2 != nil {
		p.IDAssurance = int(*c.IDAssurance2)
	}
	// Unparsable scopes are dropped: they grant nothing.
	p.Scopes, _ = ParseScopes(strings.Join(append(append([]string{}, c.Scope...), c.Scp...), " "))

	switch {
	case is.cfg.OwnRoles && c.UCPRole != "":
		p.Role, p.RoleCode = ownRole(c.UCPRole), c.RoleCodeClaim
		if p.Role == RolePatient {
			// A patient acts only as themself: the patient claim must name
			// the Patient their fhirUser names.
			if id := patientOf(p.FHIRUser); id == "" || p.Patient != id {
				p.Role = RoleNone
			}
		}
	case len(c.NRBACRoles) > 0:
		// CIS2: the role chosen at login is selected_roleid. Without it we
		// take a role only if there is exactly one; guessing among several
		// could give a user the wrong organisation's access.
		var sel *nrbacRole
		for i := range c.NRBACRoles {
			r := &c.NRBACRoles[i]
			if c.SelectedRoleID != "" && r.PersonRoleID == c.SelectedRoleID {
				sel = r
				break
			}
		}
		if sel == nil && c.SelectedRoleID == "" && len(c.NRBACRoles) == 1 {
			sel = &c.NRBACRoles[0]
		}
		if sel != nil {
			p.Role = is.roles.Role(sel.RoleCode)
			p.RoleCode, p.RoleName, p.RoleID = sel.RoleCode, sel.RoleName, sel.PersonRoleID
			p.Org, p.Activity = sel.OrgCode, sel.ActivityCodes
		}
	case is.cfg.RoleClaim != "":
		p.Role, p.RoleCode, c.roleClaimErr = is.flatRole(tok)
	case is.cfg.Systems && p.ClientID != "" && tok.Subject == p.ClientID && c.UserUID == "" && p.FHIRUser == "":
		p.Role = RoleSystem
	case is.cfg.Patients && patientOf(p.FHIRUser) != "":
		id := patientOf(p.FHIRUser)
		if p.Patient == "" || p.Patient == id {
			p.Role, p.Patient = RolePatient, id
		}
	}
	if p.UserID == "" && p.Role != RoleSystem {
		p.UserID = tok.Subject
	}
	if p.Role != RoleSystem && p.Role != RolePatient && len(is.scopes) > 0 && !hasResourceScope(p.Scopes) {
		p.Scopes = append(p.Scopes, is.scopes...)
	}
	return p
}

// ownRole reads ucp_role: a person's role, never system (a system's token
// has no person and is recognised by its shape).
func ownRole(s string) Role {
	r, err := ParseRole(s)
	if err != nil || r == RoleSystem {
		return RoleNone
	}
	return r
}

// flatRole reads IssuerConfig.RoleClaim. All codes that map must agree.
func (is *issuer) flatRole(tok *oidc.IDToken) (Role, string, error) {
	var all map[string]json.RawMessage
	if err := tok.Claims(&all); err != nil {
		return RoleNone, "", err
	}
	raw, ok := all[is.cfg.RoleClaim]
	if !ok {
		return RoleNone, "", nil
	}
	var codes flexStrings
	if err := json.Unmarshal(raw, &codes); err != nil {
		return RoleNone, "", err
	}
	role, code := RoleNone, ""
	for _, c := range codes {
		r := is.roles.Role(c)
		if r == RoleNone {
			continue
		}
		if role != RoleNone && r != role {
			return RoleNone, "", nil
		}
		role, code = r, c
	}
	return role, code, nil
}

// patientOf returns the id of a Patient fhirUser ("Patient/1" or
// "https://…/Patient/1"), or "".
func patientOf(fhirUser string) string {
	i := strings.LastIndex(fhirUser, "Patient/")
	if i < 0 || (i > 0 && fhirUser[i-1] != '/') {
		return ""
	}
	id := fhirUser[i+len("Patient/"):]
	if id == "" || strings.ContainsAny(id, "/?#") {
		return ""
	}
	return id
}

func hasResourceScope(ss Scopes) bool {
	for _, s := range ss {
		if s.IsResource() {
			return true
		}
	}
	return false
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
