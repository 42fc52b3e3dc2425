// Package devissuer is an in-process OpenID Connect issuer for `ucp serve
// --dev` and for tests. It mints a token for any role, organisation, user,
// patient and scope it is asked for, so it must never be trusted by a
// production server: New refuses an issuer URL that is not on a loopback
// address unless told otherwise, and its role codes ("UCPDEV-clinical", …)
// map to roles only through auth.DevRoleMap.
//
// It serves, under the path of its issuer URL (e.g. /dev-issuer):
//
//	GET  /.well-known/openid-configuration
//	GET  /jwks
//	POST /token   form: role, role_code, org, user, name, patient, fhir_user,
//	              scope, client_id, aud, ttl (seconds), ial
//
// Tokens are signed with a key generated at start, or kept in Config.KeyFile
// so they survive a restart, and verify through auth.Verifier by ordinary
// discovery.
package devissuer

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/auth"
)

// Config configures an Issuer.
type Config struct {
	// Issuer is the absolute issuer URL, e.g. http://127.0.0.1:8080/dev-issuer.
	// Its path is where the handler expects its requests.
	Issuer string
	// Audience is the aud of minted tokens unless a request names another;
	// normally the FHIR base URL.
	Audience string
	// KeyFile keeps the signing key across restarts; empty means a new key
	// each start.
	KeyFile string
	// Algorithm is RS256 (default) or ES256.
	Algorithm string
	// TTL is the default token lifetime; default one hour.
	TTL time.Duration
	// AllowNonLoopback lets the issuer URL be on another host (a shared
	// demo machine). Keep it false.
	AllowNonLoopback bool
	// Now is the clock, for tests.
	Now func() time.Time
}

// Issuer is the development issuer; it is an http.Handler.
type Issuer struct {
	cfg    Config
	prefix string
	key    *auth.SigningKey
	roles  *auth.RoleMap
	codes  codes // authorization codes (code.go)
}

// New builds an Issuer.
func New(cfg Config) (*Issuer, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("devissuer: issuer %q must be an absolute http(s) URL", cfg.Issuer)
	}
	if !cfg.AllowNonLoopback && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("devissuer: issuer %q is not on a loopback address; the development issuer mints any token asked for", cfg.Issuer)
	}
	if cfg.Audience == "" {
		return nil, errors.New("devissuer: audience is required")
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = "RS256"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var key *auth.SigningKey
	if cfg.KeyFile != "" {
		key, err = auth.LoadOrCreateSigningKey(cfg.KeyFile, cfg.Algorithm)
	} else {
		key, err = auth.NewSigningKey(cfg.Algorithm)
	}
	if err != nil {
		return nil, fmt.Errorf("devissuer: %w", err)
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	return &Issuer{cfg: cfg, prefix: strings.TrimSuffix(u.Path, "/"), key: key, roles: auth.DevRoleMap()}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL is the issuer URL.
func (i *Issuer) URL() string { return i.cfg.Issuer }

// Prefix is the path the handler serves under ("" or e.g. "/dev-issuer").
func (i *Issuer) Prefix() string { return i.prefix }

// Key is the signing key.
func (i *Issuer) Key() *auth.SigningKey { return i.key }

// IssuerConfig is what a Verifier needs to trust this issuer: discovery at
// URL, the development role codes, patients and systems.
func (i *Issuer) IssuerConfig() auth.IssuerConfig {
	return auth.IssuerConfig{URL: i.cfg.Issuer, Audience: i.cfg.Audience, Roles: auth.DevRoleMap(), Patients: true, Systems: true}
}

// Mount registers the handler on a gin router under Prefix.
func (i *Issuer) Mount(r gin.IRoutes) {
	h := gin.WrapH(i)
	r.GET(i.prefix+"/.well-known/openid-configuration", h)
	r.GET(i.prefix+"/jwks", h)
	r.POST(i.prefix+"/token", h)
	r.GET(i.prefix+"/authorize", h)
	r.POST(i.prefix+"/authorize", h)
}

// ServeHTTP serves discovery, keys and tokens.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, i.prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case path == "/.well-known/openid-configuration" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                i.cfg.Issuer,
			"jwks_uri":                              i.cfg.Issuer + "/jwks",
			"token_endpoint":                        i.cfg.Issuer + "/token",
			"authorization_endpoint":                i.cfg.Issuer + "/authorize",
			"response_types_supported":              []string{"code", "token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{i.key.Algorithm()},
			"grant_types_supported":                 []string{"urn:ucp:dev-issuer", "authorization_code"},
			"code_challenge_methods_supported":      []string{"S256"},
		})
	case path == "/jwks" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, i.key.JWKS())
	case path == "/token" && r.Method == http.MethodPost:
		i.serveToken(w, r)
	case path == "/authorize" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		i.serveAuthorize(w, r)
	default:
		http.NotFound(w, r)
	}
}

// TokenRequest asks for a token. Empty fields take development defaults.
type TokenRequest struct {
	Role        auth.Role
	RoleCode    string // overrides the development code for Role (to test a RoleMap)
	Org         string // ODS code; default F84012
	User        string // user id; default dev-user (or dev-patient-<id>)
	Name        string
	Patient     string // the patient (RolePatient) or the launch context patient
	FHIRUser    string
	Scope       string // default depends on Role
	ClientID    string // default ucp-dev-app, or dev-system for RoleSystem
	Audience    string
	IDAssurance int // CIS2 idassurancelevel; 0 means 3, negative leaves the claim out
	TTL         time.Duration
	// NHSNumber, for a patient, is sent as NHS login sends it (nhs_number,
	// with identity_proofing_level P9).
	NHSNumber string
	// Proofing, for a patient, is the identity_proofing_level claim (P5,
	// P9); "" leaves it out (P9 with NHSNumber).
	Proofing string
	// Nonce is the OpenID Connect nonce of the authorization request.
	Nonce string
}

// TokenResponse is the OAuth token response (RFC 6749 §5.1) plus the SMART
// patient context.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	Patient     string `json:"patient,omitempty"`
}

// DefaultScopes are the scopes a role gets when a request names none.
func DefaultScopes(r auth.Role) string {
	switch r {
	case auth.RoleClinical, auth.RoleAdmin:
		return "openid fhirUser user/*.cruds"
	case auth.RoleView:
		return "openid fhirUser user/*.rs"
	case auth.RolePatient:
		return "openid fhirUser launch/patient patient/*.rs patient/QuestionnaireResponse.cu"
	case auth.RoleSystem:
		return "system/*.rs"
	}
	return "openid"
}

// Mint signs a token for req.
func (i *Issuer) Mint(req TokenRequest) (*TokenResponse, error) {
	if _, err := auth.ParseRole(string(req.Role)); err != nil {
		return nil, err
	}
	if req.Scope == "" {
		req.Scope = DefaultScopes(req.Role)
	}
	if _, err := auth.ParseScopes(req.Scope); err != nil {
		return nil, err
	}
	if req.TTL <= 0 {
		req.TTL = i.cfg.TTL
	}
	if req.Audience == "" {
		req.Audience = i.cfg.Audience
	}
	if req.IDAssurance == 0 {
		req.IDAssurance = 3
	}
	now := i.cfg.Now()
	c := map[string]any{
		"iss":   i.cfg.Issuer,
		"aud":   req.Audience,
		"iat":   now.Unix(),
		"exp":   now.Add(req.TTL).Unix(),
		"jti":   auth.NewJTI(),
		"scope": req.Scope,
	}
	switch req.Role {
	case auth.RoleSystem:
		id := def(req.ClientID, "dev-system")
		c["sub"], c["client_id"] = id, id
		if req.Org != "" {
			c["org_code"] = req.Org
		}
	case auth.RolePatient:
		if req.Patient == "" {
			return nil, errors.New("a patient token needs a patient id")
		}
		c["sub"] = def(req.User, "dev-patient-"+req.Patient)
		c["fhirUser"] = "Patient/" + req.Patient
		c["patient"] = req.Patient
		c["client_id"] = def(req.ClientID, "ucp-dev-app")
		c["name"] = req.Name
	default:
		user := def(req.User, "dev-user")
		code := req.RoleCode
		if code == "" {
			code = auth.DevRoleCode(req.Role)
		}
		roleID := "dev-role-" + user
		c["sub"] = user
		c["nhsid_useruid"] = user
		c["name"] = def(req.Name, "Dev "+strings.ToUpper(string(req.Role[:1]))+string(req.Role[1:]))
		c["client_id"] = def(req.ClientID, "ucp-dev-app")
		if req.IDAssurance > 0 {
			c["idassurancelevel"] = strconv.Itoa(req.IDAssurance)
		}
		c["acr"] = "AAL3_ANY"
		c["fhirUser"] = def(req.FHIRUser, "Practitioner/"+user)
		c["selected_roleid"] = roleID
		c["nhsid_nrbac_roles"] = []map[string]any{{
			"org_code": def(req.Org, "F84012"), "person_roleid": roleID,
			"role_code": code, "role_name": "Development " + string(req.Role),
		}}
		if req.Patient != "" {
			c["patient"] = req.Patient
		}
	}
	if req.FHIRUser != "" {
		c["fhirUser"] = req.FHIRUser
	}
	if req.NHSNumber != "" {
		c["nhs_number"], c["identity_proofing_level"] = req.NHSNumber, "P9"
	}
	if req.Proofing != "" {
		c["identity_proofing_level"] = req.Proofing
	}
	if req.Nonce != "" {
		c["nonce"] = req.Nonce
	}
	tok, err := i.key.Sign(c)
	if err != nil {
		return nil, err
	}
	resp := &TokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(req.TTL / time.Second), Scope: req.Scope}
	if p, ok := c["patient"].(string); ok {
		resp.Patient = p
	}
	return resp, nil
}

func def(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") == "authorization_code" {
		i.exchangeCode(w, f)
		return
	}
	req := TokenRequest{
		Role: auth.Role(f.Get("role")), RoleCode: f.Get("role_code"), Org: f.Get("org"),
		User: f.Get("user"), Name: f.Get("name"), Patient: f.Get("patient"), FHIRUser: f.Get("fhir_user"),
		Scope: f.Get("scope"), ClientID: f.Get("client_id"), Audience: f.Get("aud"),
	}
	if s := f.Get("ttl"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			oauthError(w, "invalid_request", "ttl must be a positive number of seconds")
			return
		}
		req.TTL = time.Duration(n) * time.Second
	}
	if s := f.Get("ial"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			oauthError(w, "invalid_request", "ial must be a number")
			return
		}
		req.IDAssurance = n
		if n == 0 {
			req.IDAssurance = -1
		}
	}
	resp, err := i.Mint(req)
	if err != nil {
		oauthError(w, "invalid_request", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
