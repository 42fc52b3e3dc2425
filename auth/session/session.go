// Package session keeps people signed in to ucp's pages: a browser session
// behind an opaque cookie, the one internal launch context every way in ends
// in, and the CSRF and framing rules of the pages.
//
// Every door (the signed in-context link, a SMART launch, the sign-in pages)
// ends by calling [Manager.Start] with a [Launch]: who the user is (as an
// *auth.Principal, mapped exactly as a Bearer token's claims are), which
// patient, which door and which launcher or app. Pages then never care which
// door was used: [Manager.Middleware] puts the session's principal into the
// request context with auth.NewContext, so a page calls fhir/service as that
// user with the same authorizer, care-plan rules and audit as an API client.
//
// The browser holds only a random id (HttpOnly, never a token, so nothing
// readable by JavaScript grants access). The session itself is server-side
// state in a [State] (auth/authstate), keyed by a hash of the id, so a copy
// of that database does not hand out live cookies, and sessions survive a
// restart. A session ends 30 minutes after its last use or 12 hours after it
// began, whichever is first (NHS login has no session management of its
// own, so these are a patient's limits too).
//
// A patient's session keeps their NHS login identity proofing level in
// auth.Principal.IdentityProofing for every request: P9, or P5 when the
// sign-in said anything else or nothing.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/auth"
)

// The doors a launch comes through, for the audit and the pages.
const (
	DoorLink            = "link"             // the signed in-context link
	DoorSMARTEHR        = "smart-ehr"        // EHR launch into ucp's authorization server
	DoorSMARTStandalone = "smart-standalone" // standalone launch into ucp's authorization server
	DoorSMARTApp        = "smart-app"        // ucp launched as a SMART app of a GP system
	DoorSignIn          = "signin"           // delegated sign-in (CIS2, NHS login)
	DoorDev             = "dev"              // the development sign-in page (--dev)
)

// Launch is the one internal launch context: who, on which patient, through
// which door and launcher.
type Launch struct {
	// User is the person signed in. Its Role, Org, RoleCode, Scopes and
	// assurance are what the policy checks; Patient is set to PatientID when
	// the session is bound to one patient (always for RolePatient).
	User *auth.Principal
	// PatientID is the Patient resource's id, "" before a patient is picked.
	PatientID string
	// NHSNumber is the patient's NHS number as the launcher sent it.
	NHSNumber string
	// Door is one of the Door constants.
	Door string
	// Launcher is the client id of the launcher (the GP system) or app.
	Launcher string
}

// Session is one signed-in browser.
type Session struct {
	Launch   Launch
	Created  time.Time
	LastSeen time.Time

	key  string // hash of the cookie id: the State key
	csrf string // the per-session CSRF token
}

// Timeouts of a session.
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
)

// touchEvery bounds how often a request re-stores the session to push its
// idle deadline: each page would otherwise be a write.
const touchEvery = time.Minute

// State is the server-side store the Manager needs: the part of
// auth/authstate it uses. Get returns an error matching Config.NotFound
// when the entry is missing or expired.
type State interface {
	Put(ctx context.Context, kind, key string, value []byte, expires time.Time) error
	Get(ctx context.Context, kind, key string) ([]byte, error)
	Delete(ctx context.Context, kind, key string) error
}

// Config configures a Manager.
type Config struct {
	State State
	// NotFound is the State's "missing or expired" error (authstate.ErrNotFound).
	NotFound error
	// BaseURL is the server's public origin, e.g. https://ucp.example.nhs.uk:
	// an https one makes the cookie Secure.
	BaseURL string
	// TLS says the server itself serves HTTPS (--tls-cert).
	TLS bool
	// FrameAncestors are the origins allowed to frame ucp's pages (GP
	// systems that open ucp in an iframe). When set and the cookie is
	// Secure, the cookie is SameSite=None; Partitioned, so it works in their
	// frame without being a third-party cookie browsers block.
	FrameAncestors []string
	// SignInPath is the sign-in page; default /auth/signin.
	SignInPath string
	// Now is the clock, for tests.
	Now func() time.Time
}

// CookieName is the session cookie. The __Host- prefix (only when Secure)
// pins it to this host and path /, so no sibling domain can plant one.
const (
	cookieName       = "ucp_session"
	secureCookieName = "__Host-ucp_session"
	stateKind        = "session"
)

// Manager starts, finds and ends sessions. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	secure bool
}

// NewManager checks cfg.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.State == nil || cfg.NotFound == nil {
		return nil, errors.New("session: State and NotFound are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SignInPath == "" {
		cfg.SignInPath = "/auth/signin"
	}
	for _, o := range cfg.FrameAncestors {
		if err := checkOrigin(o); err != nil {
			return nil, fmt.Errorf("session: frame ancestor %q: %w", o, err)
		}
	}
	secure := cfg.TLS || strings.HasPrefix(strings.ToLower(cfg.BaseURL), "https://")
	return &Manager{cfg: cfg, secure: secure}, nil
}

// checkOrigin accepts a bare origin: scheme, host and optional port, nothing
// else, since a CSP source with a path or a wildcard would allow more than
// the one GP system meant.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.ContainsAny(o, "*; '\"") {
		return errors.New("want an origin such as https://gp.example.com")
	}
	return nil
}

func (m *Manager) name() string {
	if m.secure {
		return secureCookieName
	}
	return cookieName
}

// record is a Session as stored.
type record struct {
	User      principal `json:"user"`
	PatientID string    `json:"patientId,omitempty"`
	NHSNumber string    `json:"nhsNumber,omitempty"`
	Door      string    `json:"door"`
	Launcher  string    `json:"launcher,omitempty"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"lastSeen"`
	CSRF      string    `json:"csrf"`
}

// principal is an auth.Principal as stored: scopes as their text, parsed
// again when read.
type principal struct {
	Issuer, Subject, UserID, Name   string
	Role                            auth.Role
	RoleCode, RoleName, RoleID, Org string
	Activity                        []string `json:",omitempty"`
	ClientID, Patient, FHIRUser     string
	Scopes                          string
	IDAssurance                     int
	AuthAssurance                   string
	IdentityProofing                string `json:",omitempty"`
}

func fromPrincipal(p *auth.Principal) principal {
	return principal{
		Issuer: p.Issuer, Subject: p.Subject, UserID: p.UserID, Name: p.Name, Role: p.Role,
		RoleCode: p.RoleCode, RoleName: p.RoleName, RoleID: p.RoleID, Org: p.Org, Activity: p.Activity,
		ClientID: p.ClientID, Patient: p.Patient, FHIRUser: p.FHIRUser, Scopes: p.Scopes.String(),
		IDAssurance: p.IDAssurance, AuthAssurance: p.AuthAssurance, IdentityProofing: p.IdentityProofing,
	}
}

func (p principal) principal() (*auth.Principal, error) {
	sc, err := auth.ParseScopes(p.Scopes)
	if err != nil {
		return nil, err
	}
	return &auth.Principal{
		Issuer: p.Issuer, Subject: p.Subject, UserID: p.UserID, Name: p.Name, Role: p.Role,
		RoleCode: p.RoleCode, RoleName: p.RoleName, RoleID: p.RoleID, Org: p.Org, Activity: p.Activity,
		ClientID: p.ClientID, Patient: p.Patient, FHIRUser: p.FHIRUser, Scopes: sc,
		IDAssurance: p.IDAssurance, AuthAssurance: p.AuthAssurance, IdentityProofing: proofing(p.Role, p.IdentityProofing),
	}, nil
}

// Identity proofing levels of NHS login (identity_proofing_level).
const (
	ProofingP5 = "P5" // medium: basic identity information checked
	ProofingP9 = "P9" // high: identity verified, which plan content needs
)

// proofing is the level a session of role carries: a patient whose
// sign-in did not say counts as P5, never as verified, since plan content
// shown to the wrong person cannot be taken back.
func proofing(role auth.Role, level string) string {
	if role == auth.RolePatient && level != ProofingP9 {
		return ProofingP5
	}
	return level
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Start opens a session for l, replacing any session the browser had (a
// fresh id at every sign-in, so an id planted before it is worthless), and
// sets the cookie on w.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, l Launch) (*Session, error) {
	if l.User == nil || l.User.Role == auth.RoleNone || l.User.Role == auth.RoleSystem {
		return nil, errors.New("session: a session is for a person with a role")
	}
	if l.User.Role == auth.RolePatient && (l.PatientID == "" || (l.User.Patient != "" && l.User.Patient != l.PatientID)) {
		return nil, errors.New("session: a patient's session is bound to their own record")
	}
	if old, ok := m.cookie(r); ok {
		if err := m.cfg.State.Delete(ctx, stateKind, hashID(old)); err != nil && !errors.Is(err, m.cfg.NotFound) {
			return nil, err
		}
	}
	u := *l.User
	u.Patient = l.PatientID
	u.IdentityProofing = proofing(u.Role, u.IdentityProofing)
	u.Scopes = append(auth.Scopes(nil), l.User.Scopes...)
	l.User = &u
	now := m.cfg.Now()
	id := randomToken()
	s := &Session{Launch: l, Created: now, LastSeen: now, key: hashID(id), csrf: randomToken()}
	if err := m.save(ctx, s); err != nil {
		return nil, err
	}
	http.SetCookie(w, m.newCookie(id, s.Created.Add(AbsoluteTimeout)))
	return s, nil
}

// SetPatient binds s to a patient (a staff user picking one after a
// standalone sign-in) and stores it.
func (m *Manager) SetPatient(ctx context.Context, s *Session, patientID, nhsNumber string) error {
	if s.Launch.User.Role == auth.RolePatient && patientID != s.Launch.PatientID {
		return errors.New("session: a patient's session is bound to their own record")
	}
	s.Launch.PatientID, s.Launch.NHSNumber = patientID, nhsNumber
	s.Launch.User.Patient = patientID
	return m.save(ctx, s)
}

func (m *Manager) expiry(s *Session) time.Time {
	idle, abs := s.LastSeen.Add(IdleTimeout), s.Created.Add(AbsoluteTimeout)
	if idle.Before(abs) {
		return idle
	}
	return abs
}

func (m *Manager) save(ctx context.Context, s *Session) error {
	rec := record{
		User: fromPrincipal(s.Launch.User), PatientID: s.Launch.PatientID, NHSNumber: s.Launch.NHSNumber,
		Door: s.Launch.Door, Launcher: s.Launch.Launcher, Created: s.Created, LastSeen: s.LastSeen, CSRF: s.csrf,
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return m.cfg.State.Put(ctx, stateKind, s.key, b, m.expiry(s))
}

// newCookie builds the session cookie. Secure whenever the server is
// reached over TLS; framed over TLS it must be SameSite=None to be sent in a
// GP system's iframe, and Partitioned so that it is not a third-party
// cookie (browsers block those) but one kept for that embedding site alone.
// Plain-HTTP development keeps a Lax cookie in a top-level window.
func (m *Manager) newCookie(id string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: m.name(), Value: id, Path: "/", HttpOnly: true, Secure: m.secure, SameSite: http.SameSiteLaxMode}
	if !expires.IsZero() {
		c.Expires = expires
	} else {
		c.MaxAge = -1
	}
	if m.secure && len(m.cfg.FrameAncestors) > 0 {
		c.SameSite, c.Partitioned = http.SameSiteNoneMode, true
	}
	return c
}

func (m *Manager) cookie(r *http.Request) (string, bool) {
	c, err := r.Cookie(m.name())
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return "", false
	}
	return c.Value, true
}

// Current returns the request's session, if it has a live one, and pushes
// its idle deadline.
func (m *Manager) Current(r *http.Request) (*Session, bool) {
	id, ok := m.cookie(r)
	if !ok {
		return nil, false
	}
	ctx := r.Context()
	key := hashID(id)
	b, err := m.cfg.State.Get(ctx, stateKind, key)
	if err != nil {
		return nil, false
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, false
	}
	p, err := rec.User.principal()
	if err != nil {
		return nil, false
	}
	s := &Session{
		Launch:  Launch{User: p, PatientID: rec.PatientID, NHSNumber: rec.NHSNumber, Door: rec.Door, Launcher: rec.Launcher},
		Created: rec.Created, LastSeen: rec.LastSeen, key: key, csrf: rec.CSRF,
	}
	now := m.cfg.Now()
	// The store expires entries too; this is the same rule, held here so
	// that a State with a coarse sweep cannot stretch a session.
	if !now.Before(m.expiry(s)) {
		return nil, false
	}
	if now.Sub(s.LastSeen) >= touchEvery {
		s.LastSeen = now
		// A failed touch leaves the old deadline; the request goes on.
		_ = m.save(ctx, s)
	}
	return s, true
}

// End ends the request's session, if any, and clears the cookie.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	id, ok := m.cookie(r)
	http.SetCookie(w, m.newCookie("", time.Time{}))
	if !ok {
		return nil
	}
	if err := m.cfg.State.Delete(ctx, stateKind, hashID(id)); err != nil && !errors.Is(err, m.cfg.NotFound) {
		return err
	}
	return nil
}

// SignInURL is where a page (or the authorization server) sends a person who
// is not signed in; the sign-in returns to returnTo. Only a local path is
// kept: anything else would make sign-in an open redirect.
func (m *Manager) SignInURL(returnTo string) string {
	return m.cfg.SignInPath + "?" + url.Values{"return_to": {LocalPath(returnTo)}}.Encode()
}

// LocalPath returns p when it is a path on this server ("/app/..."), else
// "/app/". "//host" and "/\host" are other hosts to a browser.
func LocalPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n\t\\") {
		return "/app/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/app/"
	}
	return p
}

// CSRFField is the form field (and X-CSRF-Token the header) that carries
// the CSRF token.
const CSRFField = "csrf_token"

// CSRFToken is the token every state-changing form of s must send back in
// CSRFField.
func (m *Manager) CSRFToken(s *Session) string { return s.csrf }

// ErrCSRF is returned by CheckCSRF.
var ErrCSRF = errors.New("the form has expired or did not come from ucp; go back, reload the page and try again")

// CheckCSRF checks a state-changing request of s: its token (form field or
// X-CSRF-Token header) must be the session's, and an Origin header, when the
// browser sends one, must be this server's.
func (m *Manager) CheckCSRF(r *http.Request, s *Session) error {
	if s == nil || s.csrf == "" {
		return ErrCSRF
	}
	if o := r.Header.Get("Origin"); o != "" && !m.sameOrigin(r, o) {
		return ErrCSRF
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue(CSRFField)
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) != 1 {
		return ErrCSRF
	}
	return nil
}

func (m *Manager) sameOrigin(r *http.Request, origin string) bool {
	if m.cfg.BaseURL != "" {
		if u, err := url.Parse(m.cfg.BaseURL); err == nil && strings.EqualFold(origin, u.Scheme+"://"+u.Host) {
			return true
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(origin, scheme+"://"+r.Host)
}

type contextKey int

const sessionKey contextKey = 0

// FromContext returns the session Middleware put in ctx, or nil.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey).(*Session)
	return s
}

// Middleware puts the session's principal (auth.NewContext) and the session
// (FromContext) into the request context of a request with a live session,
// and sends the framing policy. Requests without one go on anonymous: each
// page decides whether to send them to SignInURL.
func (m *Manager) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		m.SetFrameHeaders(c.Writer.Header())
		if s, ok := m.Current(c.Request); ok {
			ctx := auth.NewContext(c.Request.Context(), s.Launch.User)
			c.Request = c.Request.WithContext(context.WithValue(ctx, sessionKey, s))
		}
		c.Next()
	}
}

// SetFrameHeaders says who may frame a page: this server and the
// configured frame ancestors, nobody else. Pages under /app, /auth and
// /launch send it; the FHIR API is not a page.
func (m *Manager) SetFrameHeaders(h http.Header) {
	src := append([]string{"'self'"}, m.cfg.FrameAncestors...)
	h.Set("Content-Security-Policy", "frame-ancestors "+strings.Join(src, " "))
	if len(m.cfg.FrameAncestors) == 0 {
		// For browsers that know only the older header.
		h.Set("X-Frame-Options", "SAMEORIGIN")
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "same-origin")
}

// LandingPath is where a launch lands: the web app's page for the patient,
// or the patient picker when none is chosen yet.
func LandingPath(patientID string) string {
	if patientID == "" {
		return "/auth/patient"
	}
	return "/app/patients/" + url.PathEscape(patientID)
}

// formCookie carries the CSRF token of a form shown to someone not yet
// signed in (the sign-in forms): double-submitted, since there is no
// session to keep it in.
const (
	formCookieName       = "ucp_form"
	secureFormCookieName = "__Host-ucp_form"
)

// FormToken sets a fresh form cookie on w and returns the token the form
// must send back in CSRFField; for forms shown before sign-in.
func (m *Manager) FormToken(w http.ResponseWriter) string {
	tok := randomToken()
	c := m.newCookie(tok, m.cfg.Now().Add(time.Hour))
	c.Name = formCookieName
	if m.secure {
		c.Name = secureFormCookieName
	}
	http.SetCookie(w, c)
	return tok
}

// CheckFormToken checks a form posted before sign-in: its CSRFField must
// equal the form cookie, and a sent Origin must be this server's.
func (m *Manager) CheckFormToken(r *http.Request) error {
	name := formCookieName
	if m.secure {
		name = secureFormCookieName
	}
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" {
		return ErrCSRF
	}
	if o := r.Header.Get("Origin"); o != "" && !m.sameOrigin(r, o) {
		return ErrCSRF
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue(CSRFField)), []byte(c.Value)) != 1 {
		return ErrCSRF
	}
	return nil
}

// FormCookie returns the form cookie FormToken set, or "": a sign-in that
// leaves ucp and comes back (an OpenID Connect redirect) binds its state
// to the browser with it.
func (m *Manager) FormCookie(r *http.Request) string {
	name := formCookieName
	if m.secure {
		name = secureFormCookieName
	}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}
