package oauth

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/session"
	"ucp/fhir/outcome"
)

// maxForm bounds the body of the form endpoints.
const maxForm = 64 << 10

// authorize is the authorization endpoint (GET, and POST for
// authorize-post). The app and its exact redirect URI are checked first,
// answered with a page when wrong; then fosite checks the request (PKCE
// S256, response type, scopes), and every later error goes back to the app
// as SMART says, with its state.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "The request could not be read.", "")
		return
	}
	client, ok := s.registered(ctx, r.Form.Get("client_id"), r.Form.Get("redirect_uri"))
	if client == nil {
		s.errorPage(w, http.StatusBadRequest, "This app is not registered with ucp.", "The app's client_id is unknown or the app is disabled. Ask the app's supplier to register it.")
		return
	}
	if !ok {
		s.errorPage(w, http.StatusBadRequest, "This app asked to return to an address that is not registered for it.",
			"ucp sends sign-in results only to an app's registered redirect_uri, exactly as registered. Ask the app's supplier to check its registration.")
		return
	}
	ar, err := s.fosite.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.fosite.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	// PKCE S256 is checked here, before the user is asked anything (fosite
	// checks it again when the code is issued).
	if r.Form.Get("code_challenge") == "" || r.Form.Get("code_challenge_method") != "S256" {
		s.fosite.WriteAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("PKCE is required: send code_challenge with code_challenge_method S256."))
		return
	}
	if !s.audOK(r.Form.Get("aud")) {
		s.fosite.WriteAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("aud must be this server's FHIR base URL, "+s.cfg.Audience+"."))
		return
	}
	if ar.GetRequestedScopes().Has(ScopeLaunch) {
		s.ehrLaunch(w, r, ar)
		return
	}
	user, ok := s.cfg.Users.SignedIn(r)
	if ok && user.Role == auth.RoleNone {
		s.errorPage(w, http.StatusForbidden, "Your role does not let you use ucp.", "Ask your organisation's registration authority about your role.")
		return
	}
	if !ok {
		// Sign in, then come back to the same request (as a GET, so a
		// POSTed one comes back the same).
		http.Redirect(w, r, s.cfg.Users.SignInURL(s.path+"/authorize?"+r.Form.Encode()), http.StatusSeeOther)
		return
	}
	s.consentPage(w, http.StatusOK, ar, client.Name, user, r.Form.Encode(), "")
}

// ehrLaunch completes an authorization that names a launch: the launch
// (made by a registered launcher with POST /auth/launch, single use) gives
// the user and the patient. The user was asserted by the launcher, which
// the app trusts as its EHR, so there is no sign-in or approval here.
func (s *Server) ehrLaunch(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester) {
	ctx := r.Context()
	l, ok, err := s.takeLaunch(ctx, r.Form.Get("launch"))
	if err != nil {
		s.errorPage(w, http.StatusServiceUnavailable, "The launch could not be read just now.", "Launch the app again from the clinical system.")
		return
	}
	if !ok {
		s.fosite.WriteAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The launch is unknown, already used or expired: launch the app again from the clinical system."))
		return
	}
	if l.App != "" && l.App != ar.GetClient().GetID() {
		s.fosite.WriteAuthorizeError(ctx, w, ar, fosite.ErrInvalidRequest.WithHint("The launch was made for another app."))
		return
	}
	s.issueCode(w, r, ar, l.User, l.Patient, true)
}

// approve is the user's answer on the consent page.
func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, http.StatusBadRequest, "The request could not be read.", "")
		return
	}
	user, ok := s.cfg.Users.SignedIn(r)
	if !ok {
		s.errorPage(w, http.StatusUnauthorized, "You are no longer signed in.", "Start again from the app.")
		return
	}
	request, issued := r.PostForm.Get("request"), r.PostForm.Get("issued")
	at, err := strconv.ParseInt(issued, 10, 64)
	// The form is bound to this user and this request and is fresh: a
	// page elsewhere cannot make a signed-in user approve an app.
	if err != nil || !equal(r.PostForm.Get("csrf"), s.sign("consent", userKey(user), request, issued)) || s.cfg.Now().Sub(time.Unix(at, 0)) > consentTTL {
		s.errorPage(w, http.StatusForbidden, "This approval form has expired or was not made for you.", "Start again from the app.")
		return
	}
	q, err := url.ParseQuery(request)
	if err != nil {
		s.errorPage(w, http.StatusBadRequest, "The request could not be read.", "")
		return
	}
	// Check the original request again, as fosite sees it.
	orig := r.Clone(ctx)
	orig.Method, orig.Body, orig.Form, orig.PostForm = http.MethodGet, http.NoBody, nil, nil
	orig.URL = &url.URL{Path: s.path + "/authorize", RawQuery: request}
	client, ok := s.registered(ctx, q.Get("client_id"), q.Get("redirect_uri"))
	if !ok {
		s.errorPage(w, http.StatusBadRequest, "This app is no longer registered with ucp.", "")
		return
	}
	ar, err := s.fosite.NewAuthorizeRequest(ctx, orig)
	if err != nil {
		s.fosite.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	if r.PostForm.Get("decision") != "approve" {
		s.fosite.WriteAuthorizeError(ctx, w, ar, fosite.ErrAccessDenied.WithHint("The user did not approve the app."))
		return
	}
	patient := ""
	if ar.GetRequestedScopes().Has(ScopeLaunchPatient) {
		if user.Role == auth.RolePatient {
			patient = user.Patient // a patient is bound to their own record
		} else {
			nhs := strings.Join(strings.Fields(r.PostForm.Get("nhs_number")), "")
			id, err := s.cfg.Records.PatientByNHSNumber(auth.NewContext(ctx, user), nhs)
			if err != nil {
				msg := "ucp holds no record for NHS number " + nhs + ". Check the number."
				status := http.StatusNotFound
				switch outcome.KindOf(err) {
				case outcome.NotFound:
				case outcome.Invalid:
					msg, status = "That is not a valid NHS number: it must be 10 digits with a correct check digit.", http.StatusBadRequest
				case outcome.Forbidden:
					msg, status = "You may not open this patient's record: "+errText(err), http.StatusForbidden
				default:
					s.errorPage(w, http.StatusServiceUnavailable, "The patient could not be looked up just now.", "Try again in a moment.")
					return
				}
				s.consentPage(w, status, ar, client.Name, user, request, msg)
				return
			}
			patient = id
		}
	}
	s.issueCode(w, r, ar, user, patient, false)
}

// issueCode grants the scopes the user's role allows, builds the session
// (who, the launch context) and sends the app its code.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, user *auth.Principal, patient string, ehr bool) {
	ctx := r.Context()
	for _, g := range Grant(user.Role, strings.Join(ar.GetRequestedScopes(), " "), patient != "", ehr) {
		if registeredFor(ar.GetClient().GetScopes(), g) {
			ar.GrantScope(g)
		}
	}
	ar.GrantAudience(s.cfg.Audience)
	sess := newSession()
	sess.User, sess.Name, sess.Role, sess.RoleCode = user.UserID, user.Name, user.Role, user.RoleCode
	sess.Org, sess.IAL, sess.ACR = user.Org, user.IDAssurance, user.AuthAssurance
	sess.FHIRUser = s.fhirUser(user)
	if patient != "" {
		// A patient bound to their own record is their patient context too.
		sess.Patient = patient
		// An app launched from a GP system sits under the GP system's own
		// banner; a standalone app must show one.
		sess.NeedBanner = !ehr
		plan, err := s.cfg.Records.CurrentPlan(auth.NewContext(ctx, user), patient)
		if err != nil && outcome.KindOf(err) != outcome.Forbidden {
			s.errorPage(w, http.StatusServiceUnavailable, "The patient's plan could not be looked up just now.", "Try again in a moment.")
			return
		}
		if plan != "" {
			sess.FHIRContext = []ContextItem{{Reference: "CarePlan/" + plan}}
		}
	} else if user.Role == auth.RolePatient {
		sess.Patient = user.Patient
	}
	sess.Subject = user.UserID
	now := s.cfg.Now()
	sess.Claims.Subject = user.UserID
	sess.Claims.Issuer = s.cfg.Issuer
	sess.Claims.AuthTime = now.UTC()
	sess.Claims.RequestedAt = now.UTC()
	if ar.GetGrantedScopes().Has(ScopeFHIRUser) && sess.FHIRUser != "" {
		sess.Claims.Add("fhirUser", sess.FHIRUser)
	}
	if user.Name != "" {
		sess.Claims.Add("name", user.Name)
	}
	sess.Headers.Add("kid", s.cfg.IDKey.KeyID())
	resp, err := s.fosite.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.fosite.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	door := session.DoorSMARTStandalone
	if ehr {
		door = session.DoorSMARTEHR
	}
	// Who opened which patient through which app is on record before the
	// app gets its code.
	if err := s.audit(r, audit.Login{Door: door, User: user, Launcher: ar.GetClient().GetID(), Patient: patient, Status: http.StatusSeeOther}); err != nil {
		s.errorPage(w, http.StatusServiceUnavailable, "ucp could not record this sign-in just now.", "Try again in a moment.")
		return
	}
	s.fosite.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// userKey names a signed-in user for the consent form's binding.
func userKey(p *auth.Principal) string {
	return strings.Join([]string{p.Issuer, p.Subject, p.UserID, string(p.Role), p.Org, p.Patient}, "\x00")
}

func errText(err error) string {
	var oe *outcome.Error
	if errors.As(err, &oe) {
		return oe.Message
	}
	return "refused"
}

func equal(a, b string) bool {
	return a != "" && len(a) == len(b) && hmacEqual(a, b)
}

// consentPage asks the user to approve the app's access.
func (s *Server) consentPage(w http.ResponseWriter, status int, ar fosite.AuthorizeRequester, appName string, user *auth.Principal, request, problem string) {
	issued := strconv.FormatInt(s.cfg.Now().Unix(), 10)
	if appName == "" {
		appName = ar.GetClient().GetID()
	}
	granted := Grant(user.Role, strings.Join(ar.GetRequestedScopes(), " "), true, false)
	d := consentData{
		Dev:         s.cfg.Dev,
		App:         appName,
		User:        firstNonEmpty(user.Name, user.UserID),
		Role:        string(user.Role),
		Access:      describeScopes(granted),
		PickPatient: ar.GetRequestedScopes().Has(ScopeLaunchPatient) && user.Role != auth.RolePatient,
		Request:     request,
		Issued:      issued,
		CSRF:        s.sign("consent", userKey(user), request, issued),
		Action:      s.path + "/authorize/approve",
		Problem:     problem,
	}
	render(w, status, consentTmpl, d)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
