package launch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/session"
	"ucp/profiles"
)

// SignInProvider is an OpenID Connect provider people sign in with: NHS
// CIS2 for staff, NHS login for patients. ucp is its relying party:
// authorization code with PKCE (S256), a nonce, and the ID token verified.
type SignInProvider struct {
	// Name is the provider's path segment: /auth/oidc/{Name}/start.
	Name string
	// Label is the sign-in button's text.
	Label string
	// Issuer is the provider's issuer URL (discovery at
	// Issuer/.well-known/openid-configuration).
	Issuer   string
	ClientID string
	// ClientSecret authenticates ucp with client_secret_basic, or Key
	// with private_key_jwt (NHS login's way).
	ClientSecret string
	Key          *auth.SigningKey
	// Scopes beyond openid (CIS2: "profile nationalrbacaccess"; NHS login:
	// "profile").
	Scopes []string
	// Patients says the people are patients, named by the ID token's
	// nhs_number (NHS login) and bound to their own record. Otherwise they
	// are staff, whose ID token is mapped by Staff exactly as a Bearer
	// token from the same issuer is.
	Patients bool
	// HTTPClient talks to the provider; default a client with a 10 s
	// timeout.
	HTTPClient *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

// discover finds the provider's endpoints on first use (in --dev the
// provider is this same server, still starting when the doors are built).
func (sp *SignInProvider) discover(ctx context.Context) (*oidc.Provider, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.provider != nil {
		return sp.provider, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, sp.client()), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, sp.Issuer)
	if err != nil {
		return nil, err
	}
	sp.provider = p
	return p, nil
}

func (sp *SignInProvider) client() *http.Client {
	if sp.HTTPClient != nil {
		return sp.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (sp *SignInProvider) oauth(p *oidc.Provider, redirect string) *oauth2.Config {
	ep := p.Endpoint()
	if sp.Key != nil {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{ClientID: sp.ClientID, ClientSecret: sp.ClientSecret, Endpoint: ep, RedirectURL: redirect,
		Scopes: append([]string{oidc.ScopeOpenID}, sp.Scopes...)}
}

// pending is a sign-in between its redirect to the provider and the
// callback, kept in the Replay state under its state parameter.
type pending struct {
	Provider string `json:"provider"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	ReturnTo string `json:"returnTo"`
	Browser  string `json:"browser"` // the form cookie of the browser that started it
}

const (
	pendingKind = "oidc-pending"
	pendingTTL  = 10 * time.Minute
)

// Pending is the state the OIDC door needs beside Replay: Take, atomic
// get-and-delete (auth/authstate).
type Pending interface {
	Take(ctx context.Context, kind, key string) ([]byte, error)
}

func (d *Doors) provider(name string) *SignInProvider {
	for _, p := range d.cfg.SignIn {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func (d *Doors) callbackURL(name string) string {
	return d.cfg.Origin + "/auth/oidc/" + url.PathEscape(name) + "/callback"
}

// oidcStart sends the browser to the provider.
func (d *Doors) oidcStart(c *gin.Context) {
	sp := d.provider(c.Param("name"))
	if sp == nil {
		d.render(c.Writer, http.StatusNotFound, page{Title: "Page not found"})
		return
	}
	ctx := c.Request.Context()
	p, err := sp.discover(ctx)
	if err != nil {
		d.signInFailed(c, sp, http.StatusServiceUnavailable, "could not reach the provider: "+err.Error())
		return
	}
	state, nonce, verifier := auth.NewJTI(), auth.NewJTI(), oauth2.GenerateVerifier()
	pd := pending{Provider: sp.Name, Nonce: nonce, Verifier: verifier, ReturnTo: session.LocalPath(c.Query("return_to")),
		Browser: d.cfg.Sessions.FormToken(c.Writer)}
	if c.Query("return_to") == "" {
		pd.ReturnTo = ""
	}
	b, _ := json.Marshal(pd)
	if err := d.cfg.Replay.Add(ctx, pendingKind, state, b, d.cfg.Now().Add(pendingTTL)); err != nil {
		d.failed(c, nil, err)
		return
	}
	c.Redirect(http.StatusSeeOther, sp.oauth(p, d.callbackURL(sp.Name)).AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)))
}

// oidcCallback finishes a sign-in: the code exchanged with its PKCE
// verifier, the ID token verified with its nonce, the person mapped.
func (d *Doors) oidcCallback(c *gin.Context) {
	sp := d.provider(c.Param("name"))
	if sp == nil {
		d.render(c.Writer, http.StatusNotFound, page{Title: "Page not found"})
		return
	}
	r := c.Request
	ctx := r.Context()
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		d.signInFailed(c, sp, http.StatusUnauthorized, "the provider answered "+e+": "+q.Get("error_description"))
		return
	}
	b, err := d.cfg.Pending.Take(ctx, pendingKind, q.Get("state"))
	var pd pending
	if err == nil {
		err = json.Unmarshal(b, &pd)
	}
	if err != nil || pd.Provider != sp.Name || pd.Browser == "" || pd.Browser != d.cfg.Sessions.FormCookie(r) {
		// Unknown, used or expired state, or a sign-in another browser
		// started: never sign this browser in with it.
		d.signInFailed(c, sp, http.StatusBadRequest, "unknown, used or expired sign-in state, or another browser's")
		return
	}
	p, err := sp.discover(ctx)
	if err != nil {
		d.signInFailed(c, sp, http.StatusServiceUnavailable, "could not reach the provider: "+err.Error())
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(pd.Verifier)}
	if sp.Key != nil {
		assertion, err := clientAssertion(sp, p.Endpoint().TokenURL, d.cfg.Now())
		if err != nil {
			d.failed(c, nil, err)
			return
		}
		opts = append(opts, oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
			oauth2.SetAuthURLParam("client_assertion", assertion))
	}
	tok, err := sp.oauth(p, d.callbackURL(sp.Name)).Exchange(oidc.ClientContext(ctx, sp.client()), q.Get("code"), opts...)
	if err != nil {
		d.signInFailed(c, sp, http.StatusUnauthorized, "code exchange: "+err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: sp.ClientID, SupportedSigningAlgs: auth.SigningAlgorithms, Now: d.cfg.Now}).Verify(ctx, raw)
	if err != nil {
		d.signInFailed(c, sp, http.StatusUnauthorized, "ID token: "+err.Error())
		return
	}
	if idt.Nonce == "" || idt.Nonce != pd.Nonce {
		d.signInFailed(c, sp, http.StatusUnauthorized, "the ID token's nonce is not this sign-in's")
		return
	}
	var l session.Launch
	var rf *refusal
	if sp.Patients {
		l, rf = d.patientSignIn(ctx, sp, idt)
	} else {
		l, rf = d.staffSignIn(ctx, raw)
	}
	if rf != nil {
		if err := d.audit(r, audit.Login{Door: session.DoorSignIn, User: l.User, Launcher: sp.ClientID, NHSNumber: l.NHSNumber, Status: rf.status, Reason: rf.reason}); err != nil {
			d.failed(c, nil, err)
			return
		}
		d.render(c.Writer, rf.status, page{Title: rf.title, Lead: rf.lead})
		return
	}
	l.Door, l.Launcher = session.DoorSignIn, sp.ClientID
	if err := d.audit(r, audit.Login{Door: session.DoorSignIn, User: l.User, Launcher: sp.ClientID, Patient: l.PatientID, NHSNumber: l.NHSNumber, Status: http.StatusSeeOther}); err != nil {
		d.failed(c, nil, err)
		return
	}
	if _, err := d.cfg.Sessions.Start(ctx, c.Writer, r, l); err != nil {
		d.failed(c, nil, err)
		return
	}
	if pd.ReturnTo != "" && l.User.Role != auth.RolePatient {
		c.Redirect(http.StatusSeeOther, pd.ReturnTo)
		return
	}
	d.land(c, l.PatientID)
}

// staffSignIn maps a staff ID token exactly as a Bearer token from the same
// issuer is mapped (auth.Verifier): role, organisation, assurance.
func (d *Doors) staffSignIn(ctx context.Context, raw string) (session.Launch, *refusal) {
	p, err := d.cfg.Staff.Verify(ctx, raw)
	if err != nil {
		return session.Launch{}, refuse(http.StatusUnauthorized, "You could not be signed in",
			"ucp could not accept the sign-in from your organisation's identity service. Try again; if it keeps happening, call the ucp service desk.",
			"staff ID token: %v", err)
	}
	if p.Role != auth.RoleClinical && p.Role != auth.RoleView && p.Role != auth.RoleAdmin {
		return session.Launch{User: p}, refuse(http.StatusForbidden, "Your role does not give access to care plans",
			"The role you signed in with ("+p.RoleCode+") is not one that may see urgent care plans. If you need access, ask your practice manager.",
			"role_code %q maps to no staff role", p.RoleCode)
	}
	if p.Org != d.cfg.Operator {
		ok, err := d.cfg.Agreements.HasAgreement(ctx, p.Org, d.cfg.Now())
		if err != nil || !ok {
			return session.Launch{User: p}, refuse(http.StatusForbidden, "Your organisation has no information-sharing agreement",
				"Organisation "+p.Org+" has no information-sharing agreement with ucp in force, so ucp cannot show you care plans.",
				"no information-sharing agreement for %s (%v)", p.Org, err)
		}
	}
	q := *p
	q.Scopes = d.scopes
	return session.Launch{User: &q}, nil
}

// patientScopes are what a patient's session may do: their own record.
const patientScopes = "openid fhirUser launch/patient patient/*.rs patient/QuestionnaireResponse.cu"

// patientSignIn binds an NHS login person to their own record, found by
// the NHS number the ID token carries; only at proofing level P9 (NHS
// login's highest, which identifies the person).
func (d *Doors) patientSignIn(ctx context.Context, sp *SignInProvider, idt *oidc.IDToken) (session.Launch, *refusal) {
	var cl struct {
		NHSNumber string `json:"nhs_number"`
		Proofing  string `json:"identity_proofing_level"`
		Name      string `json:"name"`
		Given     string `json:"given_name"`
		Family    string `json:"family_name"`
	}
	if err := idt.Claims(&cl); err != nil || !profiles.ValidNHSNumber(cl.NHSNumber) || cl.Proofing != "P9" {
		return session.Launch{}, refuse(http.StatusForbidden, "NHS login could not confirm who you are",
			"To see your care plan, your NHS login must be fully verified (NHS number and identity checked). You can do this in the NHS App.",
			"no valid nhs_number at proofing level P9 (got %q, %q)", cl.NHSNumber, cl.Proofing)
	}
	pt, err := d.findPatient(ctx, cl.NHSNumber)
	if errors.Is(err, errNoRecord) || errors.Is(err, errManyRecords) {
		return session.Launch{NHSNumber: cl.NHSNumber}, refuse(http.StatusNotFound, "ucp has no care plan for you",
			"There is no urgent care plan for you in ucp. If you think there should be, ask your GP practice.", "no single record for the NHS number")
	}
	if err != nil {
		return session.Launch{}, refuse(http.StatusServiceUnavailable, "You could not be signed in", "Something went wrong at ucp. Try again in a minute.", "%v", err)
	}
	sc, _ := auth.ParseScopes(patientScopes)
	name := cl.Name
	if name == "" {
		name = strings.TrimSpace(cl.Given + " " + cl.Family)
	}
	return session.Launch{User: &auth.Principal{Issuer: idt.Issuer, Subject: idt.Subject, UserID: idt.Subject, Name: name,
		Role: auth.RolePatient, Patient: pt.ID, FHIRUser: "Patient/" + pt.ID, ClientID: sp.ClientID, Scopes: sc},
		PatientID: pt.ID, NHSNumber: cl.NHSNumber}, nil
}

// clientAssertion is ucp's private_key_jwt at the provider's token
// endpoint (RFC 7523).
func clientAssertion(sp *SignInProvider, tokenURL string, now time.Time) (string, error) {
	return sp.Key.Sign(jwt.Claims{Issuer: sp.ClientID, Subject: sp.ClientID, Audience: jwt.Audience{tokenURL}, ID: auth.NewJTI(),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))})
}

// signInFailed answers a sign-in that failed before anyone was identified.
func (d *Doors) signInFailed(c *gin.Context, sp *SignInProvider, status int, reason string) {
	if err := d.audit(c.Request, audit.Login{Door: session.DoorSignIn, Launcher: sp.ClientID, Status: status, Reason: reason}); err != nil {
		d.failed(c, nil, err)
		return
	}
	d.render(c.Writer, status, page{Title: "You could not be signed in",
		Lead:  "The sign-in did not finish. Start again from the sign-in page; if it keeps happening, call the ucp service desk.",
		Links: []link{{Href: d.cfg.Sessions.SignInURL(""), Text: "Sign in again"}}})
}
