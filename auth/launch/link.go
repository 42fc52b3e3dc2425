package launch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/auth/session"
	"ucp/auth/smart"
	"ucp/profiles"
)

// The signed in-context link's rules (README, "Launch from a GP system").
const (
	// MaxLinkLifetime is the most exp may be after iat.
	MaxLinkLifetime = 2 * time.Minute
	// LinkSkew is the clock difference tolerated on iat and exp.
	LinkSkew = 30 * time.Second
	// maxLinkBytes bounds the token: a link is a few hundred bytes.
	maxLinkBytes = 16 << 10
	jtiKind      = "link-jti"
)

// LinkAlgorithms are the algorithms a link may be signed with.
var LinkAlgorithms = []jose.SignatureAlgorithm{jose.RS384, jose.ES384}

// LinkClaims are the claims of a signed in-context link.
type LinkClaims struct {
	jwt.Claims
	NHSNumber string `json:"nhs_number"`
	BirthDate string `json:"birthdate"`
	UserID    string `json:"user_id"`
	Name      string `json:"name"`
	RoleCode  string `json:"role_code"`
	Org       string `json:"org"`
}

// refusal is a refused launch: the status and the page, in words a GP
// understands, and the reason for the audit.
type refusal struct {
	status int
	title  string
	lead   string
	reason string
}

func (r *refusal) Error() string { return r.reason }

func refuse(status int, title, lead, reason string, args ...any) *refusal {
	return &refusal{status: status, title: title, lead: lead, reason: fmt.Sprintf(reason, args...)}
}

const goBack = "Go back to the patient's record in your GP system and open ucp from there again."

var (
	odsPattern  = regexp.MustCompile(`^[A-Z0-9]{3,10}$`)
	datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// verified is a link that passed every check up to the patient look-up.
type verified struct {
	claims   LinkClaims
	launcher *smart.Client
	user     *auth.Principal
}

// link serves GET /launch/link?token=JWT and POST /launch/link (form field
// token).
func (d *Doors) link(c *gin.Context) {
	r := c.Request
	r.Body = http.MaxBytesReader(c.Writer, r.Body, maxLinkBytes)
	var raw string
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			d.refuseLink(c, nil, "", refuse(http.StatusBadRequest, "The link could not be read", goBack, "unreadable form: %v", err))
			return
		}
		raw = r.PostForm.Get("token")
	} else {
		raw = r.URL.Query().Get("token")
	}
	v, claimed, rf := d.verifyLink(r.Context(), raw)
	if rf != nil {
		d.refuseLink(c, v, claimed, rf)
		return
	}
	p, err := d.findPatient(r.Context(), v.claims.NHSNumber)
	switch {
	case errors.Is(err, errNoRecord):
		d.noRecord(c, v)
		return
	case errors.Is(err, errManyRecords):
		d.refuseLink(c, v, "", refuse(http.StatusConflict, "More than one record has this NHS number",
			"ucp cannot tell which record is this patient's, so it has opened neither. Call the ucp service desk.",
			"NHS number %s matches more than one Patient", v.claims.NHSNumber))
		return
	case err != nil:
		d.failed(c, v, err)
		return
	}
	if p.BirthDate != v.claims.BirthDate {
		d.refuseLink(c, v, p.ID, refuse(http.StatusForbidden, "The date of birth does not match",
			"The date of birth your GP system sent is not the one ucp holds for NHS number "+formatNHS(v.claims.NHSNumber)+
				". ucp has not opened the record, in case it is another patient's. Check the patient's details in your GP system.",
			"birthdate %q does not match the record's", v.claims.BirthDate))
		return
	}
	l := session.Launch{User: v.user, PatientID: p.ID, NHSNumber: v.claims.NHSNumber, Door: session.DoorLink, Launcher: v.launcher.ID}
	if err := d.audit(r, audit.Login{Door: session.DoorLink, User: v.user, Launcher: v.launcher.ID, Patient: p.ID, NHSNumber: v.claims.NHSNumber, Status: http.StatusSeeOther}); err != nil {
		d.failed(c, v, err)
		return
	}
	if _, err := d.cfg.Sessions.Start(r.Context(), c.Writer, r, l); err != nil {
		d.failed(c, v, err)
		return
	}
	d.land(c, p.ID)
}

// verifyLink checks everything a link says that needs no patient record:
// signature, launcher, claims, lifetime, single use, role and agreement.
// claimed is the launcher the link claims to be from, for the audit of a
// link whose signature was not verified.
func (d *Doors) verifyLink(ctx context.Context, raw string) (*verified, string, *refusal) {
	if raw == "" {
		return nil, "", refuse(http.StatusBadRequest, "The link has no launch token",
			"ucp was opened without the details of who you are and which patient. "+goBack, "no token")
	}
	tok, err := jwt.ParseSigned(raw, LinkAlgorithms)
	if err != nil {
		return nil, "", refuse(http.StatusBadRequest, "The link could not be read",
			"The launch details from your GP system are damaged or not signed as ucp requires (RS384 or ES384). "+goBack, "malformed token: %v", err)
	}
	// The unverified iss chooses the launcher whose keys check the
	// signature; nothing else is read before that.
	var peek jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&peek); err != nil || peek.Issuer == "" {
		return nil, "", refuse(http.StatusBadRequest, "The link could not be read",
			"The launch details do not say which system sent them. "+goBack, "no iss")
	}
	claimed := peek.Issuer
	launcher, err := d.cfg.Launchers.Client(ctx, claimed)
	if err != nil || !launcher.InContextLaunch || launcher.Disabled {
		why := "unknown launcher"
		if err == nil && launcher.Disabled {
			why = "launcher disabled"
		} else if err == nil {
			why = "client not registered for in-context launch"
		}
		return nil, claimed, refuse(http.StatusUnauthorized, "Your GP system is not allowed to open ucp",
			"ucp does not recognise the system that sent this link, or it has been switched off. Ask your practice manager to contact the ucp service desk.",
			"%s %q", why, claimed)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return nil, claimed, refuse(http.StatusUnauthorized, "The link's signature could not be checked",
			"The link does not name the key it was signed with. Ask your practice manager to contact your GP system's supplier.", "no kid")
	}
	keys := launcher.JWKS.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return nil, claimed, refuse(http.StatusUnauthorized, "The link's signature could not be checked",
			"The link was signed with a key ucp does not hold for your GP system. Ask your practice manager to contact your GP system's supplier.",
			"kid %q is not in the launcher's JWKS", tok.Headers[0].KeyID)
	}
	var cl LinkClaims
	if err := tok.Claims(keys[0].Key, &cl); err != nil {
		return nil, claimed, refuse(http.StatusUnauthorized, "The link's signature is not valid",
			"The launch details were changed after your GP system signed them, or not signed by it. ucp has not opened the record. "+goBack,
			"bad signature: %v", err)
	}
	v := &verified{claims: cl, launcher: launcher}
	if rf := d.checkClaims(&cl, launcher); rf != nil {
		return v, claimed, rf
	}
	user, rf := d.linkUser(ctx, &cl, launcher)
	if rf != nil {
		return v, claimed, rf
	}
	v.user = user
	// Single use, remembered until the link could no longer be accepted
	// anyway. Only after the signature: nobody else can use up a jti.
	exp := cl.Expiry.Time().Add(LinkSkew)
	if err := d.cfg.Replay.Add(ctx, jtiKind, launcher.ID+"\x00"+cl.ID, nil, exp); err != nil {
		if errors.Is(err, d.cfg.Exists) {
			return v, claimed, refuse(http.StatusUnauthorized, "This link has already been used",
				"Each link from your GP system opens ucp once. "+goBack, "jti %q used before", cl.ID)
		}
		return v, claimed, refuse(http.StatusServiceUnavailable, "ucp could not open the record",
			"Something went wrong at ucp. Try again in a minute; if it keeps happening, call the ucp service desk.", "replay store: %v", err)
	}
	return v, claimed, nil
}

// checkClaims checks the link's registered and ucp claims.
func (d *Doors) checkClaims(cl *LinkClaims, launcher *smart.Client) *refusal {
	now := d.cfg.Now()
	bad := func(reason string, args ...any) *refusal {
		return refuse(http.StatusUnauthorized, "The link is not valid",
			"The launch details from your GP system are not what ucp expects. Ask your practice manager to contact your GP system's supplier.", reason, args...)
	}
	switch {
	case cl.Subject != cl.Issuer:
		return bad("sub %q is not iss %q", cl.Subject, cl.Issuer)
	case len(cl.Audience) != 1 || cl.Audience[0] != d.cfg.LinkURL:
		return bad("aud %v is not %s", []string(cl.Audience), d.cfg.LinkURL)
	case cl.IssuedAt == nil || cl.Expiry == nil:
		return bad("iat and exp are required")
	case cl.ID == "" || len(cl.ID) > 256:
		return bad("jti is required (at most 256 characters)")
	}
	iat, exp := cl.IssuedAt.Time(), cl.Expiry.Time()
	switch {
	case !exp.After(iat) || exp.Sub(iat) > MaxLinkLifetime:
		return bad("exp must be after iat and at most %v after it", MaxLinkLifetime)
	case iat.After(now.Add(LinkSkew)):
		return refuse(http.StatusUnauthorized, "The link is not valid yet",
			"The clock of your GP system and ucp's disagree. "+goBack, "iat %v is in the future", iat)
	case now.After(exp.Add(LinkSkew)):
		return refuse(http.StatusUnauthorized, "This link has expired",
			"Links from your GP system work for 2 minutes. "+goBack, "expired at %v", exp)
	case cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(LinkSkew)):
		return bad("nbf %v is in the future", cl.NotBefore.Time())
	}
	malformed := func(lead, reason string, args ...any) *refusal {
		return refuse(http.StatusBadRequest, "The link's patient or user details are not valid", lead, reason, args...)
	}
	switch {
	case !profiles.ValidNHSNumber(cl.NHSNumber):
		return malformed("The NHS number "+cl.NHSNumber+" is not a valid NHS number (10 digits with a correct check digit). Check the patient's details in your GP system.",
			"malformed nhs_number %q", cl.NHSNumber)
	case !validDate(cl.BirthDate):
		return malformed("The patient's date of birth is missing or not a date. Check the patient's details in your GP system.", "malformed birthdate %q", cl.BirthDate)
	case cl.UserID == "" || cl.Name == "":
		return malformed("The link does not say who you are (your user id and name). Ask your practice manager to contact your GP system's supplier.", "user_id and name are required")
	case !odsPattern.MatchString(cl.Org):
		return malformed("The link does not name your organisation by its ODS code. Ask your practice manager to contact your GP system's supplier.", "malformed org %q", cl.Org)
	case cl.RoleCode == "":
		return malformed("The link does not say which role you are working in. Ask your practice manager to contact your GP system's supplier.", "role_code is required")
	}
	return nil
}

func validDate(s string) bool {
	if !datePattern.MatchString(s) {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// linkUser maps the link's user to a principal as a CIS2 token's is
// mapped: the role through the RoleMap, the organisation, which needs an
// agreement in force.
func (d *Doors) linkUser(ctx context.Context, cl *LinkClaims, launcher *smart.Client) (*auth.Principal, *refusal) {
	if launcher.Org != "" && cl.Org != launcher.Org {
		return nil, refuse(http.StatusForbidden, "Your organisation cannot use this link",
			"Your GP system is registered with ucp for another organisation. Ask your practice manager to contact the ucp service desk.",
			"org %q is not the launcher's %q", cl.Org, launcher.Org)
	}
	role := d.cfg.Roles.Role(cl.RoleCode)
	if role != auth.RoleClinical && role != auth.RoleView && role != auth.RoleAdmin {
		return nil, refuse(http.StatusForbidden, "Your role does not give access to care plans",
			"The role you are working in ("+cl.RoleCode+") is not one that may see urgent care plans. If you need access, ask your practice manager.",
			"role_code %q maps to no staff role", cl.RoleCode)
	}
	if cl.Org != d.cfg.Operator {
		ok, err := d.cfg.Agreements.HasAgreement(ctx, cl.Org, d.cfg.Now())
		if err != nil {
			return nil, refuse(http.StatusServiceUnavailable, "ucp could not open the record",
				"Something went wrong at ucp. Try again in a minute; if it keeps happening, call the ucp service desk.", "agreements: %v", err)
		}
		if !ok {
			return nil, refuse(http.StatusForbidden, "Your organisation has no information-sharing agreement",
				"Organisation "+cl.Org+" has no information-sharing agreement with ucp in force, so ucp cannot show you care plans. Your practice manager can arrange one with the ucp service desk.",
				"no information-sharing agreement for %s", cl.Org)
		}
	}
	return &auth.Principal{
		Issuer: "urn:ucp:launcher:" + launcher.ID,
		// The user, not the launcher: the sub of the link is the
		// launcher's, but what a session hands out is bound to the person.
		Subject: "sds:" + cl.UserID, UserID: cl.UserID, Name: cl.Name,
		Role: role, RoleCode: cl.RoleCode, Org: cl.Org, ClientID: launcher.ID,
		FHIRUser: "Practitioner/" + cl.UserID, Scopes: d.scopes, TokenID: cl.ID,
	}, nil
}

// refuseLink answers a refused link with its page and audits it.
func (d *Doors) refuseLink(c *gin.Context, v *verified, claimed string, rf *refusal) {
	l := audit.Login{Door: session.DoorLink, Launcher: claimed, Status: rf.status, Reason: rf.reason}
	if v != nil {
		l.Launcher, l.User, l.NHSNumber = v.launcher.ID, v.user, v.claims.NHSNumber
	}
	if err := d.audit(c.Request, l); err != nil {
		d.failed(c, v, err)
		return
	}
	d.render(c.Writer, rf.status, page{Title: rf.title, Lead: rf.lead})
}

// noRecord answers a link for an NHS number ucp holds no record of: a
// clinician is signed in and offered to create a plan.
func (d *Doors) noRecord(c *gin.Context, v *verified) {
	r := c.Request
	nhs := v.claims.NHSNumber
	if err := d.audit(r, audit.Login{Door: session.DoorLink, User: v.user, Launcher: v.launcher.ID, NHSNumber: nhs, Status: http.StatusNotFound,
		Reason: "no record for the NHS number"}); err != nil {
		d.failed(c, v, err)
		return
	}
	p := page{Title: "ucp has no care plan for this patient",
		Lead: "There is no record in ucp for NHS number " + formatNHS(nhs) + "."}
	if v.user.Role == auth.RoleClinical {
		if _, err := d.cfg.Sessions.Start(r.Context(), c.Writer, r, session.Launch{User: v.user, NHSNumber: nhs, Door: session.DoorLink, Launcher: v.launcher.ID}); err != nil {
			d.failed(c, v, err)
			return
		}
		p.Detail = []string{"If the patient wants an urgent care plan, you can start one now."}
		p.Links = []link{{Href: CreatePlanPath(nhs), Text: "Create a plan"}}
	} else {
		p.Detail = []string{"If you think the patient has a plan, ask their GP practice."}
	}
	d.render(c.Writer, http.StatusNotFound, p)
}

// failed answers an error of ucp's own (the store, the journal).
func (d *Doors) failed(c *gin.Context, v *verified, err error) {
	_ = c.Error(err)
	d.render(c.Writer, http.StatusServiceUnavailable, page{Title: "ucp could not open the record",
		Lead: "Something went wrong at ucp. Try again in a minute; if it keeps happening, call the ucp service desk."})
}

// SignLink fills a link's registered claims (iss = sub = launcher, aud =
// linkURL, iat = now, exp 2 minutes on, a fresh jti) and signs it with key:
// what a launcher does, for `ucp link` and tests.
func SignLink(key *auth.SigningKey, launcher, linkURL string, now time.Time, c LinkClaims) (string, error) {
	c.Issuer, c.Subject, c.Audience = launcher, launcher, jwt.Audience{linkURL}
	c.IssuedAt, c.Expiry = jwt.NewNumericDate(now), jwt.NewNumericDate(now.Add(MaxLinkLifetime))
	if c.ID == "" {
		c.ID = auth.NewJTI()
	}
	return key.Sign(c)
}
