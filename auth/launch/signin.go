package launch

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/session"
	"ucp/profiles"
)

// devLauncher names the development sign-in page as the launcher in the
// audit.
const devLauncher = "ucp-dev-signin"

// signInPage is where a person who is not signed in is sent
// (session.Manager.SignInURL).
func (d *Doors) signInPage(c *gin.Context) {
	returnTo := c.Query("return_to")
	if !d.cfg.Dev {
		d.render(c.Writer, http.StatusOK, page{Title: "Sign in to ucp",
			Lead:  "Open ucp from your GP or clinical system: it signs you in and opens the patient's plan.",
			Links: d.providerLinks(returnTo)})
		return
	}
	d.devForm(c, http.StatusOK, returnTo, "", nil)
}

// providerLinks are the sign-in buttons of the configured providers.
func (d *Doors) providerLinks(returnTo string) []link {
	var out []link
	for _, sp := range d.cfg.SignIn {
		href := "/auth/oidc/" + url.PathEscape(sp.Name) + "/start"
		if returnTo != "" {
			href += "?" + url.Values{"return_to": {session.LocalPath(returnTo)}}.Encode()
		}
		out = append(out, link{Href: href, Text: sp.Label})
	}
	return out
}

// devForm shows the development sign-in form; problem, when set, is shown
// above the form.
func (d *Doors) devForm(c *gin.Context, status int, returnTo, problem string, prev map[string]string) {
	get := func(k, def string) string {
		if v := prev[k]; v != "" {
			return v
		}
		return def
	}
	role := get("role", "clinical")
	var opts []option
	for _, r := range []struct{ v, t string }{{"clinical", "Clinician (writes and approves plans)"}, {"view", "Urgent care (reads plans)"},
		{"admin", "Administrator"}, {"patient", "Patient (their own plan)"}, {"report", "Reporting (counts only: the measures dashboard)"}} {
		opts = append(opts, option{Value: r.v, Text: r.t, Selected: r.v == role})
	}
	proofing := get("proofing", session.ProofingP9)
	var levels []option
	for _, l := range []struct{ v, t string }{{session.ProofingP9, "P9: identity verified"},
		{session.ProofingP5, "P5: basic checks only"}} {
		levels = append(levels, option{Value: l.v, Text: l.t, Selected: l.v == proofing})
	}
	p := page{
		Title: "Development sign-in",
		Lead:  "This server runs in development mode: pick who you are. A real server signs people in through NHS CIS2 or NHS login.",
		Form: &form{Action: "/auth/signin/dev", CSRF: d.cfg.Sessions.FormToken(c.Writer), Button: "Sign in",
			Hidden: map[string]string{"return_to": returnTo},
			Fields: []field{
				{Name: "role", Label: "Role", Options: opts},
				{Name: "user", Label: "User id", Hint: "An SDS user id, or any name for development", Value: get("user", "dev-user")},
				{Name: "name", Label: "Name", Value: get("name", "Dr Dev Clinician")},
				{Name: "org", Label: "Organisation (ODS code)", Value: get("org", "F84012")},
				{Name: "nhs_number", Label: "Patient's NHS number", Hint: "Required for a patient; for staff, optional (you can pick the patient next)", Value: get("nhs_number", "")},
				{Name: "proofing", Label: "Patient's NHS login identity level", Hint: "For a patient only, as NHS login would say: P9 sees and sends their plan, P5 may only start their answers", Options: levels},
			}},
	}
	if problem != "" {
		p.Detail = []string{"There is a problem: " + problem}
	}
	p.Links = d.providerLinks(returnTo)
	d.render(c.Writer, status, p)
}

// devSignIn signs in as the person picked on the development form, through
// a real development token verified as the API verifies Bearer tokens, so
// the role, organisation and scopes are exactly a token's.
func (d *Doors) devSignIn(c *gin.Context) {
	if !d.cfg.Dev {
		d.render(c.Writer, http.StatusNotFound, page{Title: "Page not found"})
		return
	}
	r := c.Request
	r.Body = http.MaxBytesReader(c.Writer, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		d.render(c.Writer, http.StatusBadRequest, page{Title: "The form could not be read", Lead: "Go back and try again."})
		return
	}
	if err := d.cfg.Sessions.CheckFormToken(r); err != nil {
		d.render(c.Writer, http.StatusForbidden, page{Title: "The form has expired", Lead: session.ErrCSRF.Error(),
			Links: []link{{Href: d.cfg.Sessions.SignInURL(r.PostForm.Get("return_to")), Text: "Sign in again"}}})
		return
	}
	f := map[string]string{}
	for _, k := range []string{"role", "user", "name", "org", "nhs_number", "proofing", "return_to"} {
		f[k] = strings.TrimSpace(r.PostForm.Get(k))
	}
	returnTo := f["return_to"]
	role, err := auth.ParseRole(f["role"])
	if err != nil || role == auth.RoleSystem {
		d.devForm(c, http.StatusBadRequest, returnTo, "choose a role from the list", f)
		return
	}
	if f["user"] == "" || f["name"] == "" {
		d.devForm(c, http.StatusBadRequest, returnTo, "enter a user id and a name", f)
		return
	}
	if role != auth.RolePatient && !odsPattern.MatchString(f["org"]) {
		d.devForm(c, http.StatusBadRequest, returnTo, "enter the organisation's ODS code (letters and digits, such as F84012)", f)
		return
	}
	nhs := strings.ReplaceAll(f["nhs_number"], " ", "")
	if role == auth.RolePatient && nhs == "" {
		d.devForm(c, http.StatusBadRequest, returnTo, "a patient signs in to their own record: enter their NHS number", f)
		return
	}
	// A patient's level as NHS login would send it; a form without one is
	// P5, as a sign-in that does not say is.
	proofing := ""
	if role == auth.RolePatient {
		switch f["proofing"] {
		case session.ProofingP9, session.ProofingP5:
			proofing = f["proofing"]
		case "":
			proofing = session.ProofingP5
		default:
			d.devForm(c, http.StatusBadRequest, returnTo, "choose the patient's identity level from the list", f)
			return
		}
	}
	var patientID string
	if nhs != "" {
		if !profiles.ValidNHSNumber(nhs) {
			d.devForm(c, http.StatusBadRequest, returnTo, "the NHS number must be 10 digits with a correct check digit", f)
			return
		}
		p, err := d.findPatient(r.Context(), nhs)
		switch {
		case errors.Is(err, errNoRecord):
			d.devForm(c, http.StatusNotFound, returnTo, "ucp has no record for NHS number "+formatNHS(nhs), f)
			return
		case err != nil:
			d.failed(c, nil, err)
			return
		}
		patientID = p.ID
	}
	raw, err := d.cfg.DevMint(role, f["user"], f["name"], f["org"], patientID, proofing)
	if err != nil {
		d.devForm(c, http.StatusBadRequest, returnTo, err.Error(), f)
		return
	}
	user, err := d.cfg.DevVerify.Verify(r.Context(), raw)
	if err != nil {
		d.failed(c, nil, err)
		return
	}
	l := session.Launch{User: user, PatientID: patientID, NHSNumber: nhs, Door: session.DoorDev, Launcher: devLauncher}
	if err := d.audit(r, audit.Login{Door: session.DoorDev, User: user, Launcher: devLauncher, Patient: patientID, NHSNumber: nhs, Status: http.StatusSeeOther}); err != nil {
		d.failed(c, nil, err)
		return
	}
	if _, err := d.cfg.Sessions.Start(r.Context(), c.Writer, r, l); err != nil {
		d.devForm(c, http.StatusBadRequest, returnTo, err.Error(), f)
		return
	}
	if returnTo == "" && role == auth.RoleReport {
		returnTo = reportLanding // the report role has no patient to pick
	}
	if returnTo != "" {
		c.Redirect(http.StatusSeeOther, session.LocalPath(returnTo))
		return
	}
	d.land(c, patientID)
}

// reportLanding is where the report role lands: the web app's dashboard.
const reportLanding = "/app/dashboard"

// patientPage lets a signed-in staff member pick the patient by NHS number
// (standalone: no launcher gave one).
func (d *Doors) patientPage(c *gin.Context) {
	s, ok := d.cfg.Sessions.Current(c.Request)
	if !ok {
		c.Redirect(http.StatusSeeOther, d.cfg.Sessions.SignInURL(c.Request.URL.RequestURI()))
		return
	}
	if s.Launch.User.Role == auth.RolePatient {
		d.land(c, s.Launch.PatientID)
		return
	}
	d.patientForm(c, s, http.StatusOK, "", "")
}

func (d *Doors) patientForm(c *gin.Context, s *session.Session, status int, problem, value string) {
	p := page{Title: "Which patient?", Lead: "Enter the patient's NHS number.",
		Form: &form{Action: "/auth/patient", CSRF: d.cfg.Sessions.CSRFToken(s), Button: "Open the patient's plan",
			Fields: []field{{Name: "nhs_number", Label: "NHS number", Hint: "10 digits, for example 943 476 5919", Value: value}}},
		Links: []link{{Href: "/auth/signout", Text: "Sign out"}}}
	if problem != "" {
		p.Detail = []string{"There is a problem: " + problem}
	}
	d.render(c.Writer, status, p)
}

func (d *Doors) pickPatient(c *gin.Context) {
	r := c.Request
	r.Body = http.MaxBytesReader(c.Writer, r.Body, 64<<10)
	s, ok := d.cfg.Sessions.Current(r)
	if !ok {
		c.Redirect(http.StatusSeeOther, d.cfg.Sessions.SignInURL("/auth/patient"))
		return
	}
	if err := d.cfg.Sessions.CheckCSRF(r, s); err != nil {
		d.render(c.Writer, http.StatusForbidden, page{Title: "The form has expired", Lead: err.Error(), Links: []link{{Href: "/auth/patient", Text: "Try again"}}})
		return
	}
	if s.Launch.User.Role == auth.RolePatient {
		// A patient is bound to their own record.
		d.render(c.Writer, http.StatusForbidden, page{Title: "You can only see your own plan", Links: []link{{Href: session.LandingPath(s.Launch.PatientID), Text: "Your plan"}}})
		return
	}
	raw := r.PostFormValue("nhs_number")
	nhs := strings.ReplaceAll(strings.TrimSpace(raw), " ", "")
	if !profiles.ValidNHSNumber(nhs) {
		d.patientForm(c, s, http.StatusBadRequest, "the NHS number must be 10 digits with a correct check digit", raw)
		return
	}
	p, err := d.findPatient(r.Context(), nhs)
	switch {
	case errors.Is(err, errNoRecord):
		pg := page{Title: "ucp has no care plan for this patient", Lead: "There is no record in ucp for NHS number " + formatNHS(nhs) + ".",
			Links: []link{{Href: "/auth/patient", Text: "Look for another patient"}}}
		if s.Launch.User.Role == auth.RoleClinical {
			pg.Links = append([]link{{Href: CreatePlanPath(nhs), Text: "Create a plan"}}, pg.Links...)
		}
		d.render(c.Writer, http.StatusNotFound, pg)
		return
	case err != nil:
		d.failed(c, nil, err)
		return
	}
	if err := d.audit(r, audit.Login{Door: s.Launch.Door, User: s.Launch.User, Launcher: s.Launch.Launcher, Patient: p.ID, NHSNumber: nhs, Status: http.StatusSeeOther}); err != nil {
		d.failed(c, nil, err)
		return
	}
	if err := d.cfg.Sessions.SetPatient(r.Context(), s, p.ID, nhs); err != nil {
		d.failed(c, nil, err)
		return
	}
	d.land(c, p.ID)
}

func (d *Doors) signOutPage(c *gin.Context) {
	s, ok := d.cfg.Sessions.Current(c.Request)
	if !ok {
		d.render(c.Writer, http.StatusOK, page{Title: "You are signed out", Links: []link{{Href: d.cfg.Sessions.SignInURL(""), Text: "Sign in"}}})
		return
	}
	d.render(c.Writer, http.StatusOK, page{Title: "Sign out of ucp", Lead: "Signed in as " + s.Launch.User.Name + ".",
		Form: &form{Action: "/auth/signout", CSRF: d.cfg.Sessions.CSRFToken(s), Button: "Sign out"}})
}

func (d *Doors) signOut(c *gin.Context) {
	r := c.Request
	r.Body = http.MaxBytesReader(c.Writer, r.Body, 64<<10)
	s, ok := d.cfg.Sessions.Current(r)
	if !ok {
		d.render(c.Writer, http.StatusOK, page{Title: "You are signed out", Links: []link{{Href: d.cfg.Sessions.SignInURL(""), Text: "Sign in"}}})
		return
	}
	if err := d.cfg.Sessions.CheckCSRF(r, s); err != nil {
		d.render(c.Writer, http.StatusForbidden, page{Title: "The form has expired", Lead: err.Error(), Links: []link{{Href: "/auth/signout", Text: "Try again"}}})
		return
	}
	if err := d.cfg.Sessions.End(r.Context(), c.Writer, r); err != nil {
		d.failed(c, nil, err)
		return
	}
	// The session is gone whatever the journal says; a lost sign-out
	// record is logged with the request.
	if err := d.audit(r, audit.Login{Door: s.Launch.Door, User: s.Launch.User, Launcher: s.Launch.Launcher, Patient: s.Launch.PatientID, Status: http.StatusOK, Logout: true}); err != nil {
		_ = c.Error(err)
	}
	d.render(c.Writer, http.StatusOK, page{Title: "You are signed out", Lead: "You have signed out of ucp.",
		Links: []link{{Href: d.cfg.Sessions.SignInURL(""), Text: "Sign in again"}}})
}
