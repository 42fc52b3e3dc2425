package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/session"
	"ucp/profiles"
)

// LaunchingSystem is a GP system trusted to launch ucp as a SMART app
// (EMIS's partner launch): it opens /launch/smart?iss=…&launch=…, ucp runs
// authorization code with PKCE against the system's authorization server,
// and the token response carries the user (ID token) and the patient
// (authorization_details).
type LaunchingSystem struct {
	// Name names the system on pages and in the audit.
	Name string
	// Issuer is the system's FHIR base, the iss it launches with, exactly.
	Issuer string
	// ClientID is ucp's client id at the system; ClientSecret or Key
	// (private_key_jwt) authenticates ucp.
	ClientID     string
	ClientSecret string
	Key          *auth.SigningKey
	// Roles maps the role codes the system sends (ID token claim
	// role_code) to ucp's roles.
	Roles *auth.RoleMap
	// Scopes asked for; default "launch openid fhirUser".
	Scopes     []string
	HTTPClient *http.Client

	mu  sync.Mutex
	cfg *smartConfig
}

// smartConfig is what ucp reads of a launching system's
// .well-known/smart-configuration.
type smartConfig struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
}

func (ls *LaunchingSystem) client() *http.Client {
	if ls.HTTPClient != nil {
		return ls.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (ls *LaunchingSystem) discover(ctx context.Context) (*smartConfig, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.cfg != nil {
		return ls.cfg, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(ls.Issuer, "/")+"/.well-known/smart-configuration", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ls.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("smart-configuration: %s", resp.Status)
	}
	var c smartConfig
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&c); err != nil {
		return nil, fmt.Errorf("smart-configuration: %w", err)
	}
	if c.AuthorizationEndpoint == "" || c.TokenEndpoint == "" || c.Issuer == "" || c.JWKSURI == "" {
		return nil, errors.New("smart-configuration: authorization_endpoint, token_endpoint, issuer and jwks_uri are required")
	}
	ls.cfg = &c
	return &c, nil
}

func (ls *LaunchingSystem) oauth(c *smartConfig, redirect string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if ls.Key != nil {
		style = oauth2.AuthStyleInParams
	}
	scopes := ls.Scopes
	if len(scopes) == 0 {
		scopes = []string{"launch", "openid", "fhirUser"}
	}
	return &oauth2.Config{ClientID: ls.ClientID, ClientSecret: ls.ClientSecret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: c.AuthorizationEndpoint, TokenURL: c.TokenEndpoint, AuthStyle: style}}
}

const smartPendingKind = "smart-app-pending"

func (d *Doors) launchingSystem(iss string) *LaunchingSystem {
	for _, ls := range d.cfg.LaunchingSystems {
		if ls.Issuer == iss {
			return ls
		}
	}
	return nil
}

// smartLaunch serves GET /launch/smart?iss=…&launch=…: a trusted system's
// launch is sent to its authorization server; anything else is refused
// here, before any redirect.
func (d *Doors) smartLaunch(c *gin.Context) {
	r := c.Request
	iss, launchID := c.Query("iss"), c.Query("launch")
	ls := d.launchingSystem(iss)
	if ls == nil || launchID == "" {
		reason := fmt.Sprintf("untrusted iss %q", iss)
		if ls != nil {
			reason = "no launch parameter"
		}
		if err := d.audit(r, audit.Login{Door: session.DoorSMARTApp, Launcher: iss, Status: http.StatusBadRequest, Reason: reason}); err != nil {
			d.failed(c, nil, err)
			return
		}
		d.render(c.Writer, http.StatusBadRequest, page{Title: "ucp cannot be opened from this system",
			Lead: "ucp does not know the system that tried to open it, or it did not say which patient. Ask your practice manager to contact the ucp service desk."})
		return
	}
	sc, err := ls.discover(r.Context())
	if err != nil {
		d.smartFailed(c, ls, http.StatusBadGateway, "discovery: "+err.Error())
		return
	}
	state, nonce, verifier := auth.NewJTI(), auth.NewJTI(), oauth2.GenerateVerifier()
	b, _ := json.Marshal(pending{Provider: ls.Issuer, Nonce: nonce, Verifier: verifier, Browser: d.cfg.Sessions.FormToken(c.Writer)})
	if err := d.cfg.Replay.Add(r.Context(), smartPendingKind, state, b, d.cfg.Now().Add(pendingTTL)); err != nil {
		d.failed(c, nil, err)
		return
	}
	u := ls.oauth(sc, d.cfg.Origin+"/launch/smart/callback").AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("launch", launchID), oauth2.SetAuthURLParam("aud", ls.Issuer))
	c.Redirect(http.StatusSeeOther, u)
}

// patientContext is the patient as the launching system's token response
// gives it in authorization_details.
type patientContext struct {
	Type    string `json:"type"`
	Patient struct {
		NHSNumber string `json:"nhsNumber"`
		BirthDate string `json:"birthDate"`
	} `json:"patient"`
}

// smartCallback finishes a launch: the code exchanged with PKCE, the ID
// token (the user) verified with its nonce, the patient taken from
// authorization_details and checked against ucp's record.
func (d *Doors) smartCallback(c *gin.Context) {
	r := c.Request
	ctx := r.Context()
	q := r.URL.Query()
	b, err := d.cfg.Pending.Take(ctx, smartPendingKind, q.Get("state"))
	var pd pending
	if err == nil {
		err = json.Unmarshal(b, &pd)
	}
	ls := d.launchingSystem(pd.Provider)
	if err != nil || ls == nil || pd.Browser == "" || pd.Browser != d.cfg.Sessions.FormCookie(r) {
		if err := d.audit(r, audit.Login{Door: session.DoorSMARTApp, Status: http.StatusBadRequest, Reason: "unknown, used or expired launch state, or another browser's"}); err != nil {
			d.failed(c, nil, err)
			return
		}
		d.render(c.Writer, http.StatusBadRequest, page{Title: "The launch did not finish", Lead: "Open ucp again from your GP system."})
		return
	}
	if e := q.Get("error"); e != "" {
		d.smartFailed(c, ls, http.StatusUnauthorized, "the system answered "+e+": "+q.Get("error_description"))
		return
	}
	sc, err := ls.discover(ctx)
	if err != nil {
		d.smartFailed(c, ls, http.StatusBadGateway, "discovery: "+err.Error())
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(pd.Verifier)}
	if ls.Key != nil {
		a, err := clientAssertion(&SignInProvider{ClientID: ls.ClientID, Key: ls.Key}, sc.TokenEndpoint, d.cfg.Now())
		if err != nil {
			d.failed(c, nil, err)
			return
		}
		opts = append(opts, oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
			oauth2.SetAuthURLParam("client_assertion", a))
	}
	cctx := oidc.ClientContext(ctx, ls.client())
	tok, err := ls.oauth(sc, d.cfg.Origin+"/launch/smart/callback").Exchange(cctx, q.Get("code"), opts...)
	if err != nil {
		d.smartFailed(c, ls, http.StatusUnauthorized, "code exchange: "+err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := oidc.NewVerifier(sc.Issuer, oidc.NewRemoteKeySet(cctx, sc.JWKSURI), &oidc.Config{ClientID: ls.ClientID, SupportedSigningAlgs: auth.SigningAlgorithms, Now: d.cfg.Now}).Verify(cctx, raw)
	if err != nil || idt.Nonce != pd.Nonce {
		d.smartFailed(c, ls, http.StatusUnauthorized, fmt.Sprintf("ID token: %v (or its nonce is not this launch's)", err))
		return
	}
	var user struct {
		Name     string `json:"name"`
		RoleCode string `json:"role_code"`
		Org      string `json:"org"`
		FHIRUser string `json:"fhirUser"`
	}
	if err := idt.Claims(&user); err != nil {
		d.smartFailed(c, ls, http.StatusUnauthorized, "ID token claims: "+err.Error())
		return
	}
	var pc patientContext
	if details, ok := tok.Extra("authorization_details").([]any); ok {
		for _, det := range details {
			b, _ := json.Marshal(det)
			var x patientContext
			if json.Unmarshal(b, &x) == nil && x.Patient.NHSNumber != "" {
				pc = x
				break
			}
		}
	}
	nhs := pc.Patient.NHSNumber
	fail := func(rf *refusal, p *auth.Principal) {
		if err := d.audit(r, audit.Login{Door: session.DoorSMARTApp, User: p, Launcher: ls.ClientID, NHSNumber: nhs, Status: rf.status, Reason: rf.reason}); err != nil {
			d.failed(c, nil, err)
			return
		}
		d.render(c.Writer, rf.status, page{Title: rf.title, Lead: rf.lead})
	}
	if !profiles.ValidNHSNumber(nhs) || !validDate(pc.Patient.BirthDate) {
		fail(refuse(http.StatusBadRequest, "Your GP system did not say which patient",
			"The launch did not carry a valid NHS number and date of birth. "+goBack, "no valid patient in authorization_details (%q, %q)", nhs, pc.Patient.BirthDate), nil)
		return
	}
	roles := ls.Roles
	if roles == nil {
		roles = d.cfg.Roles
	}
	p := &auth.Principal{Issuer: sc.Issuer, Subject: idt.Subject, UserID: idt.Subject, Name: user.Name, Role: roles.Role(user.RoleCode),
		RoleCode: user.RoleCode, Org: user.Org, ClientID: ls.ClientID, FHIRUser: user.FHIRUser, Scopes: d.scopes}
	if rf := d.staffAccess(ctx, p); rf != nil {
		fail(rf, p)
		return
	}
	pt, err := d.findPatient(ctx, nhs)
	switch {
	case errors.Is(err, errNoRecord):
		fail(refuse(http.StatusNotFound, "ucp has no care plan for this patient", "There is no record in ucp for NHS number "+formatNHS(nhs)+".", "no record"), p)
		return
	case err != nil:
		d.failed(c, nil, err)
		return
	}
	if pt.BirthDate != pc.Patient.BirthDate {
		fail(refuse(http.StatusForbidden, "The date of birth does not match",
			"The date of birth your GP system sent is not the one ucp holds for NHS number "+formatNHS(nhs)+". ucp has not opened the record.",
			"birthdate %q does not match the record's", pc.Patient.BirthDate), p)
		return
	}
	l := session.Launch{User: p, PatientID: pt.ID, NHSNumber: nhs, Door: session.DoorSMARTApp, Launcher: ls.ClientID}
	if err := d.audit(r, audit.Login{Door: session.DoorSMARTApp, User: p, Launcher: ls.ClientID, Patient: pt.ID, NHSNumber: nhs, Status: http.StatusSeeOther}); err != nil {
		d.failed(c, nil, err)
		return
	}
	if _, err := d.cfg.Sessions.Start(ctx, c.Writer, r, l); err != nil {
		d.failed(c, nil, err)
		return
	}
	d.land(c, pt.ID)
}

// staffAccess refuses a staff member whose role may not see plans or whose
// organisation has no agreement in force.
func (d *Doors) staffAccess(ctx context.Context, p *auth.Principal) *refusal {
	if p.Role != auth.RoleClinical && p.Role != auth.RoleView && p.Role != auth.RoleAdmin {
		return refuse(http.StatusForbidden, "Your role does not give access to care plans",
			"The role you are working in ("+p.RoleCode+") is not one that may see urgent care plans. If you need access, ask your practice manager.",
			"role_code %q maps to no staff role", p.RoleCode)
	}
	if p.Org == d.cfg.Operator {
		return nil
	}
	ok, err := d.cfg.Agreements.HasAgreement(ctx, p.Org, d.cfg.Now())
	if err != nil {
		return refuse(http.StatusServiceUnavailable, "ucp could not open the record",
			"Something went wrong at ucp. Try again in a minute; if it keeps happening, call the ucp service desk.", "agreements: %v", err)
	}
	if !ok {
		return refuse(http.StatusForbidden, "Your organisation has no information-sharing agreement",
			"Organisation "+p.Org+" has no information-sharing agreement with ucp in force, so ucp cannot show you care plans. Your practice manager can arrange one with the ucp service desk.",
			"no information-sharing agreement for %s", p.Org)
	}
	return nil
}

func (d *Doors) smartFailed(c *gin.Context, ls *LaunchingSystem, status int, reason string) {
	if err := d.audit(c.Request, audit.Login{Door: session.DoorSMARTApp, Launcher: ls.ClientID, Status: status, Reason: reason}); err != nil {
		d.failed(c, nil, err)
		return
	}
	d.render(c.Writer, status, page{Title: "ucp could not be opened from " + ls.Name, Lead: "The launch did not finish. " + goBack})
}
