package launch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
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

	// Vectors, when set, are sent as the vtr request parameter (NHS
	// login's vectors of trust, a JSON array) and the ID token's vot must
	// be one of them. StepUpVectors are sent instead by a step-up
	// (/auth/oidc/{Name}/start?step=p9): NHS login's P9 vectors.
	Vectors, StepUpVectors []string
	// IDTokenAlgs are the signature algorithms an ID token may carry;
	// default auth.SigningAlgorithms (NHS login: RS512 only).
	IDTokenAlgs []string
	// UserInfo says the person's claims (NHS login: nhs_number,
	// identity_proofing_level, birthdate, email) come from the userinfo
	// endpoint, called with the access token; its sub must be the ID
	// token's.
	UserInfo bool

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
	// Vectors are the vtr sent: the vot must be one of them.
	Vectors []string `json:"vectors,omitempty"`
	// StepUp says the sign-in asked again for P9, keeping ReturnTo.
	StepUp bool `json:"stepUp,omitempty"`
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

// oidcStart sends the browser to the provider. With step=p9 it asks
// again for the provider's StepUpVectors (a P5 patient proving who they
// are) and comes back to return_to, a local path only.
func (d *Doors) oidcStart(c *gin.Context) {
	sp := d.provider(c.Param("name"))
	if sp == nil {
		d.render(c.Writer, http.StatusNotFound, page{Title: "Page not found"})
		return
	}
	vectors, stepUp := sp.Vectors, false
	switch c.Query("step") {
	case "":
	case "p9":
		if len(sp.StepUpVectors) == 0 {
			d.render(c.Writer, http.StatusBadRequest, page{Title: "This sign-in cannot check your identity further",
				Lead: "Sign in again from the sign-in page.", Links: []link{{Href: d.cfg.Sessions.SignInURL(""), Text: "Sign in"}}})
			return
		}
		vectors, stepUp = sp.StepUpVectors, true
	default:
		d.render(c.Writer, http.StatusBadRequest, page{Title: "The sign-in link is not right",
			Lead: "Sign in again from the sign-in page.", Links: []link{{Href: d.cfg.Sessions.SignInURL(""), Text: "Sign in"}}})
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
		Browser: d.cfg.Sessions.FormToken(c.Writer), Vectors: vectors, StepUp: stepUp}
	if c.Query("return_to") == "" {
		pd.ReturnTo = ""
	}
	b, _ := json.Marshal(pd)
	if err := d.cfg.Replay.Add(ctx, pendingKind, state, b, d.cfg.Now().Add(pendingTTL)); err != nil {
		d.failed(c, nil, err)
		return
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if len(vectors) > 0 {
		vtr, _ := json.Marshal(vectors)
		opts = append(opts, oauth2.SetAuthURLParam("vtr", string(vtr)))
	}
	c.Redirect(http.StatusSeeOther, sp.oauth(p, d.callbackURL(sp.Name)).AuthCodeURL(state, opts...))
}

// StepUpPath is where a page sends a patient signed in below P9 to prove
// who they are at the provider named name (NHS login: "nhslogin"), coming
// back to returnTo (a local path) when done.
func StepUpPath(name, returnTo string) string {
	q := url.Values{"step": {"p9"}}
	if returnTo != "" {
		q.Set("return_to", session.LocalPath(returnTo))
	}
	return "/auth/oidc/" + url.PathEscape(name) + "/start?" + q.Encode()
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
	algs := sp.IDTokenAlgs
	if len(algs) == 0 {
		algs = auth.SigningAlgorithms
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: sp.ClientID, SupportedSigningAlgs: algs, Now: d.cfg.Now}).Verify(ctx, raw)
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
		var cl personClaims
		if cl, rf = sp.claims(ctx, p, tok, idt, pd.Vectors); rf == nil {
			l, rf = d.patientSignIn(ctx, sp, idt, cl)
		}
	} else {
		// Staff are mapped from the ID token alone, as a Bearer token of
		// the same issuer is.
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
	// A patient lands on their own record, unless they stepped up from a
	// page of theirs: back to where they were.
	if pd.ReturnTo != "" && (l.User.Role != auth.RolePatient || pd.StepUp) {
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

// personClaims are the claims a patient's sign-in reads: from the ID
// token, and from userinfo where the provider keeps them there.
type personClaims struct {
	Subject   string `json:"sub"`
	NHSNumber string `json:"nhs_number"`
	Proofing  string `json:"identity_proofing_level"`
	Birthdate string `json:"birthdate"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	Given     string `json:"given_name"`
	Family    string `json:"family_name"`
	VOT       string `json:"vot"`
}

// fill takes from o what c lacks.
func (c *personClaims) fill(o personClaims) {
	for _, f := range []struct {
		dst *string
		src string
	}{{&c.NHSNumber, o.NHSNumber}, {&c.Proofing, o.Proofing}, {&c.Birthdate, o.Birthdate},
		{&c.Email, o.Email}, {&c.Name, o.Name}, {&c.Given, o.Given}, {&c.Family, o.Family}} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
}

// claims reads the person's claims: the ID token's, the vot checked
// against the vectors asked for, and, for a provider that keeps them
// there, userinfo's, whose sub must be the ID token's (else the answer
// could be about someone else).
func (sp *SignInProvider) claims(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, idt *oidc.IDToken, vectors []string) (personClaims, *refusal) {
	var cl personClaims
	if err := idt.Claims(&cl); err != nil {
		return cl, refuse(http.StatusUnauthorized, "You could not be signed in", "The sign-in did not finish. Start again from the sign-in page.",
			"ID token claims: %v", err)
	}
	if len(vectors) > 0 && !slices.Contains(vectors, cl.VOT) {
		return cl, refuse(http.StatusForbidden, "NHS login did not confirm your identity as ucp asked",
			"NHS login signed you in at a different level of identity checking from the one ucp asked for, so ucp cannot accept the sign-in. Start again from the sign-in page; if it keeps happening, call the ucp service desk.",
			"vot %q is not one of the vectors requested %v", cl.VOT, vectors)
	}
	if !sp.UserInfo {
		return cl, nil
	}
	ui, err := p.UserInfo(oidc.ClientContext(ctx, sp.client()), oauth2.StaticTokenSource(tok))
	if err != nil {
		return cl, refuse(http.StatusServiceUnavailable, "You could not be signed in",
			"ucp could not get your details from NHS login. Try again in a minute.", "userinfo: %v", err)
	}
	var more personClaims
	if err := ui.Claims(&more); err != nil || ui.Subject != idt.Subject {
		return cl, refuse(http.StatusUnauthorized, "You could not be signed in",
			"NHS login's answers about you did not agree with each other, so ucp cannot accept the sign-in. Start again from the sign-in page.",
			"userinfo sub %q is not the ID token's %q (%v)", ui.Subject, idt.Subject, err)
	}
	cl.fill(more)
	return cl, nil
}

// patientScopes are what a patient's session may do: their own record.
const patientScopes = "openid fhirUser launch/patient patient/*.rs patient/QuestionnaireResponse.cu"

// patientSignIn binds an NHS login person to their own record, found by
// the NHS number the provider traced (never typed by the person, never
// shown back to them) and, when the provider gives one, the same date of
// birth as the record. Their proofing level goes with the session: P9
// sees plan content, P5 may only start their answers (patientplan); the
// lower of identity_proofing_level and the vot's level, and P5 when
// neither says.
func (d *Doors) patientSignIn(ctx context.Context, sp *SignInProvider, idt *oidc.IDToken, cl personClaims) (session.Launch, *refusal) {
	level := proofingLevel(cl.Proofing, cl.VOT)
	if !profiles.ValidNHSNumber(cl.NHSNumber) || level == "" {
		return session.Launch{}, refuse(http.StatusForbidden, "NHS login could not confirm who you are",
			"To use ucp, your NHS login must have at least your NHS number and basic identity checked. You can do this in the NHS App, or at access.login.nhs.uk.",
			"no valid nhs_number at proofing level P5 or P9 (got %d digits, level %q, vot %q)", len(cl.NHSNumber), cl.Proofing, cl.VOT)
	}
	pt, err := d.findPatient(ctx, cl.NHSNumber)
	if errors.Is(err, errNoRecord) || errors.Is(err, errManyRecords) {
		return session.Launch{NHSNumber: cl.NHSNumber}, refuse(http.StatusNotFound, "ucp has no care plan for you",
			"There is no urgent care plan for you in ucp. If you think there should be, ask your GP practice.", "no single record for the NHS number")
	}
	if err != nil {
		return session.Launch{}, refuse(http.StatusServiceUnavailable, "You could not be signed in", "Something went wrong at ucp. Try again in a minute.", "%v", err)
	}
	if cl.Birthdate != "" && pt.BirthDate != "" && cl.Birthdate != pt.BirthDate {
		// The NHS number found a record of someone else's date of birth: a
		// wrong match must not show anyone a plan.
		return session.Launch{NHSNumber: cl.NHSNumber}, refuse(http.StatusForbidden, "Your details do not match ucp's record",
			"The details NHS login holds for you do not match ucp's record, so ucp cannot show it to you. Ask your GP practice to check your details.",
			"NHS login's birthdate does not match the record's")
	}
	sc, _ := auth.ParseScopes(patientScopes)
	name := cl.Name
	if name == "" {
		name = strings.TrimSpace(cl.Given + " " + cl.Family)
	}
	return session.Launch{User: &auth.Principal{Issuer: idt.Issuer, Subject: idt.Subject, UserID: idt.Subject, Name: name,
		Role: auth.RolePatient, Patient: pt.ID, FHIRUser: "Patient/" + pt.ID, ClientID: sp.ClientID, Scopes: sc, IdentityProofing: level},
		PatientID: pt.ID, NHSNumber: cl.NHSNumber}, nil
}

// proofingLevel is the identity proofing a sign-in establishes: the lower
// of the claim and the vot's first component (a vot of P5.Cp.Cd beside a
// claim of P9 is a P5 sign-in; a provider that sends no vot leaves the
// claim alone); P5 when the claim is missing; "" for P0 or anything
// unknown, which ucp does not admit.
func proofingLevel(claim, vot string) string {
	rank := map[string]int{"P5": 5, "P9": 9}
	if claim == "" {
		claim = "P5"
	}
	a, ok := rank[claim]
	if !ok {
		return ""
	}
	if vot != "" {
		v, _, _ := strings.Cut(vot, ".")
		b, ok := rank[v]
		if !ok {
			return ""
		}
		a = min(a, b)
	}
	if a == 9 {
		return session.ProofingP9
	}
	return session.ProofingP5
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
