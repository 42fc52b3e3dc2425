// Package launch holds the doors into a ucp browser session: the signed
// in-context link of GP systems that do not speak SMART (/launch/link), ucp
// as a SMART app of a GP system (/launch/smart), delegated sign-in as an
// OpenID Connect relying party (/auth/oidc/{name}/…: NHS CIS2 for staff,
// NHS login for patients under its own rules, NHSLogin), the development
// sign-in page (/auth/signin, --dev only), the patient picker after a staff
// sign-in (/auth/patient) and sign-out (/auth/signout).
//
// It lives under auth/ because each door is authentication: it verifies who
// the person is (a launcher's signed assertion, the development issuer's
// token) and maps them to an *auth.Principal exactly as the Bearer-token
// path does; what they may then do is auth.Policy's, through fhir/service.
// Every door ends in the one session.Launch and a session.Manager.Start,
// and every sign-in and launch, refused or not, is an AuditEvent.
package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/session"
	"ucp/auth/smart"
	"ucp/profiles"
	"ucp/store"
)

// Patients finds Patient resources: fhir/service's Find.
type Patients interface {
	Find(ctx context.Context, typ, query string, limit int) ([]store.Version, error)
}

// Launchers finds registered clients (the --clients file).
type Launchers interface {
	Client(ctx context.Context, id string) (*smart.Client, error)
}

// Replay remembers used one-time values: auth/authstate's Add, which
// fails with Config.Exists while an unexpired entry is there.
type Replay interface {
	Add(ctx context.Context, kind, key string, value []byte, expires time.Time) error
}

// Agreements says whether an organisation has an information-sharing
// agreement in force (auth.StoreAgreements).
type Agreements interface {
	HasAgreement(ctx context.Context, ods string, at time.Time) (bool, error)
}

// Journal records AuditEvents durably (audit.Sink).
type Journal interface {
	Append(ev *audit.AuditEvent) error
}

// TokenVerifier verifies a Bearer token as the API does (auth.Verifier).
type TokenVerifier interface {
	Verify(ctx context.Context, raw string) (*auth.Principal, error)
}

// DevMinter mints a development token (devissuer.Issuer.Mint, wrapped);
// proofing is a patient's identity_proofing_level (P5, P9), "" for staff.
type DevMinter func(role auth.Role, user, name, org, patient, proofing string) (string, error)

// Config configures the doors.
type Config struct {
	Sessions *session.Manager
	// Patients resolves an NHS number to the Patient: trusted identity
	// resolution, called with Resolver in the context (what the person may
	// then see is decided by the policy on every page).
	Patients Patients
	// Resolver is the principal NHS numbers are resolved as; default a
	// named in-process principal.
	Resolver *auth.Principal

	Launchers  Launchers
	Replay     Replay
	Exists     error // Replay's "already used" error (authstate.ErrExists)
	Agreements Agreements
	// Operator is the ODS code that runs the service; it needs no
	// agreement.
	Operator string
	// Roles maps the link's role_code to a role, as --roles does for CIS2
	// tokens (with --dev, the development codes too).
	Roles *auth.RoleMap
	// StaffScopes are what a signed-in staff member's session is granted
	// (the role then limits it): --oidc-default-scopes.
	StaffScopes string
	Journal     Journal
	// LinkURL is the absolute URL of /launch/link as the server announces
	// it: the aud every link must carry.
	LinkURL string

	// Dev turns on the development sign-in page; DevMint and DevVerify make
	// its principal through a real development token, verified as the API
	// verifies one.
	Dev       bool
	DevMint   DevMinter
	DevVerify TokenVerifier

	// SignIn are the OpenID Connect providers people sign in with (NHS
	// CIS2, NHS login); Staff maps a staff ID token as the API maps a
	// Bearer token from the same issuer (auth.Verifier, configured with the
	// provider's client id as the audience); Pending takes a sign-in's
	// state back once (auth/authstate). Origin is the server's public
	// origin, for the callback URL.
	SignIn  []*SignInProvider
	Staff   TokenVerifier
	Pending Pending
	Origin  string
	// LaunchingSystems are the GP systems trusted to launch ucp as a SMART
	// app (/launch/smart); they need Pending and Origin too.
	LaunchingSystems []*LaunchingSystem

	Now func() time.Time
}

// Doors serves the ways in.
type Doors struct {
	cfg    Config
	scopes auth.Scopes
}

// New checks cfg.
func New(cfg Config) (*Doors, error) {
	if cfg.Sessions == nil || cfg.Patients == nil || cfg.Launchers == nil || cfg.Replay == nil || cfg.Exists == nil ||
		cfg.Agreements == nil || cfg.Journal == nil || cfg.LinkURL == "" {
		return nil, errors.New("launch: Sessions, Patients, Launchers, Replay, Exists, Agreements, Journal and LinkURL are required")
	}
	if u, err := url.Parse(cfg.LinkURL); err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("launch: LinkURL %q is not an absolute URL", cfg.LinkURL)
	}
	if cfg.Dev && (cfg.DevMint == nil || cfg.DevVerify == nil) {
		return nil, errors.New("launch: the development sign-in needs DevMint and DevVerify")
	}
	for _, sp := range cfg.SignIn {
		if sp.Name == "" || sp.Issuer == "" || sp.ClientID == "" || (sp.ClientSecret == "" && sp.Key == nil) {
			return nil, errors.New("launch: a sign-in provider needs a name, issuer, client id and a secret or key")
		}
		if !sp.Patients && (len(sp.Vectors) > 0 || len(sp.StepUpVectors) > 0 || sp.UserInfo) {
			return nil, fmt.Errorf("launch: %s: vectors of trust and userinfo claims are read for patients' sign-in only", sp.Name)
		}
		if !sp.Patients && cfg.Staff == nil {
			return nil, fmt.Errorf("launch: staff sign-in with %s needs Staff, the verifier of its ID tokens", sp.Issuer)
		}
		if cfg.Pending == nil || cfg.Origin == "" {
			return nil, errors.New("launch: sign-in providers need Pending and Origin")
		}
	}
	for _, ls := range cfg.LaunchingSystems {
		if ls.Issuer == "" || ls.ClientID == "" || (ls.ClientSecret == "" && ls.Key == nil) || cfg.Pending == nil || cfg.Origin == "" {
			return nil, errors.New("launch: a launching system needs an issuer, a client id, a secret or key, and Pending and Origin")
		}
	}
	if cfg.Roles == nil {
		cfg.Roles = &auth.RoleMap{}
	}
	if cfg.StaffScopes == "" {
		cfg.StaffScopes = "user/*.cruds"
	}
	sc, err := auth.ParseScopes("openid fhirUser " + cfg.StaffScopes)
	if err != nil {
		return nil, fmt.Errorf("launch: staff scopes: %w", err)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = &auth.Principal{Role: auth.RoleSystem, Subject: "ucp-launch", ClientID: "ucp-launch", Name: "ucp sign-in (NHS number look-up)"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Doors{cfg: cfg, scopes: sc}, nil
}

// Routes registers the doors: /launch/link, and under /auth the sign-in,
// patient picker and sign-out pages.
func (d *Doors) Routes(r gin.IRouter) {
	r.GET("/launch/link", d.link)
	r.POST("/launch/link", d.link)
	r.GET("/auth/signin", d.signInPage)
	r.POST("/auth/signin/dev", d.devSignIn)
	r.GET("/auth/patient", d.patientPage)
	r.POST("/auth/patient", d.pickPatient)
	r.GET("/auth/signout", d.signOutPage)
	r.POST("/auth/signout", d.signOut)
	r.GET("/auth/oidc/:name/start", d.oidcStart)
	r.GET("/auth/oidc/:name/callback", d.oidcCallback)
	r.GET("/launch/smart", d.smartLaunch)
	r.GET("/launch/smart/callback", d.smartCallback)
}

// patient is what a door needs of a Patient.
type patient struct {
	ID        string `json:"id"`
	BirthDate string `json:"birthDate"`
}

// errNoRecord and errManyRecords are findPatient's answers when the NHS
// number finds no Patient, or more than one.
var (
	errNoRecord    = errors.New("no record")
	errManyRecords = errors.New("more than one record")
)

// findPatient resolves an NHS number (already checked) to its Patient.
func (d *Doors) findPatient(ctx context.Context, nhs string) (*patient, error) {
	ctx = auth.NewContext(ctx, d.cfg.Resolver)
	q := url.Values{"identifier": {profiles.SystemNHSNumber + "|" + nhs}}
	vs, err := d.cfg.Patients.Find(ctx, "Patient", q.Encode(), 2)
	if err != nil {
		return nil, err
	}
	switch len(vs) {
	case 0:
		return nil, errNoRecord
	case 1:
	default:
		return nil, errManyRecords
	}
	var p patient
	if err := json.Unmarshal(vs[0].JSON, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// audit records a login; a journal that cannot take it fails the launch
// (an unaudited sign-in must not happen).
func (d *Doors) audit(r *http.Request, l audit.Login) error {
	l.Time = d.cfg.Now()
	l.Address = clientAddr(r)
	return d.cfg.Journal.Append(audit.LoginEvent(&l))
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// land sends the browser to the launch's landing page.
func (d *Doors) land(c *gin.Context, patientID string) {
	d.cfg.Sessions.SetFrameHeaders(c.Writer.Header())
	c.Redirect(http.StatusSeeOther, session.LandingPath(patientID))
}

// formatNHS writes an NHS number as 3-3-4 digits, as people read it.
func formatNHS(n string) string {
	if len(n) != 10 {
		return n
	}
	return n[:3] + " " + n[3:6] + " " + n[6:]
}

// CreatePlanPath is where "Create a plan" takes a clinician for an NHS
// number ucp has no record of (the web app's page).
func CreatePlanPath(nhs string) string {
	return "/app/plans/new?" + url.Values{"nhs_number": {nhs}}.Encode()
}
