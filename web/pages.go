package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/patientplan"
	"ucp/profiles"
)

var funcs = template.FuncMap{
	"join": strings.Join,
	"inc":  func(i int) int { return i + 1 },
	// ownWishes and otherWishes say whether any of the plan's goals are
	// (are not) the patient's own words, which are shown apart.
	"ownWishes":   func(ws []item) bool { return slices.ContainsFunc(ws, func(w item) bool { return w.Own }) },
	"otherWishes": func(ws []item) bool { return slices.ContainsFunc(ws, func(w item) bool { return !w.Own }) },
	// dict passes named values to a shared template (radios).
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			m[k] = kv[i+1]
		}
		return m
	},
	"roleWords": func(r auth.Role) string {
		switch r {
		case auth.RoleClinical:
			return "clinician"
		case auth.RoleView:
			return "urgent care (view only)"
		case auth.RolePatient:
			return "patient"
		case auth.RoleAdmin:
			return "administrator"
		}
		return string(r)
	},
}

func (a *App) accessibility(c *gin.Context, v *view) error {
	v.Title = "Accessibility statement"
	a.render(c, "accessibility", v)
	return nil
}

// urgentData is the urgent care view's data.
type urgentData struct {
	Plan          *planModel
	NoPlan        bool
	Withdrawn     bool
	MayBreakGlass bool
	Reason        string
	ReasonError   string
	BreakGlass    string
	Clinician     bool
	// CurrentPlan is the approved plan when the page shows another one.
	CurrentPlan string
	// Looks are who has looked at the patient's record, newest first, on
	// the patient's own page.
	Looks []look
}

// look is one line of the patient's access log, in words.
type look struct {
	When, Who, Org string
	Emergency      bool
}

// accessLog reads who has looked at the patient's record through
// Patient/{id}/$access-log, which shows the patient only when, the
// organisation, the role, the name and whether it was emergency access.
// The service records the call itself.
func (a *App) accessLog(ctx context.Context, r *http.Request, patient string) ([]look, error) {
	call := &service.Call{Disclosure: &service.Disclosure{}}
	res, err := a.cfg.FHIR(call).Operation(ctx, &service.OperationRequest{Name: "access-log", Method: http.MethodGet,
		Type: "Patient", ID: patient, Path: r.URL.Path})
	if err != nil {
		return nil, err
	}
	params, err := resource.Parse(res.Body)
	if err != nil {
		return nil, err
	}
	var out []look
	for _, p := range objs(params, "parameter") {
		var l look
		var role, roleName, name, org, orgName string
		for _, part := range objs(p, "part") {
			switch str(part, "name") {
			case "when":
				l.When = longDate(str(part, "valueInstant"))
			case "organisation":
				org = str(obj(part, "valueIdentifier"), "value")
			case "organisationName":
				orgName = str(part, "valueString")
			case "role":
				role = str(part, "valueCode")
			case "roleName":
				roleName = str(part, "valueString")
			case "name":
				name = str(part, "valueString")
			case "emergency":
				l.Emergency = part["valueBoolean"] == true
			}
		}
		l.Who = lookerWords(role, roleName, name)
		switch {
		case orgName != "":
			l.Org = orgName
		case org != "":
			l.Org = "Organisation " + org
		default:
			l.Org = "Not recorded"
		}
		out = append(out, l)
	}
	return out, nil
}

// lookerWords says who looked, for a patient: their name where the audit
// has it, and their role in plain English.
func lookerWords(role, roleName, name string) string {
	var what string
	switch auth.Role(role) {
	case auth.RoleClinical:
		what = "a doctor or nurse"
	case auth.RoleView:
		what = "an ambulance, NHS 111 or out-of-hours clinician"
	case auth.RoleSystem:
		what = "a connected NHS computer system"
	case auth.RoleAdmin:
		what = "a ucp administrator"
	default:
		what = "someone at the organisation"
	}
	if roleName != "" {
		what += " (" + roleName + ")"
	}
	if name != "" {
		return name + ", " + what
	}
	return strings.ToUpper(what[:1]) + what[1:]
}

// urgentView is the urgent care view of a patient's current plan (or the
// version ?plan=&version= names); for a patient, their own plan in plain
// English.
func (a *App) urgentView(c *gin.Context, v *view) error {
	return a.showPlan(c, v, c.Request.Context(), &urgentData{})
}

// breakGlass shows a plan hidden because the patient withdrew consent, to
// urgent care staff who state why, as X-Break-Glass does for the API: the
// reason goes into the Call of each read this page makes, which the read
// filter and the audit see, for this request only.
func (a *App) breakGlass(c *gin.Context, v *view) error {
	p := auth.FromContext(c.Request.Context())
	if !auth.BreakGlassAllowed(p) {
		return outcome.Errorf(outcome.Forbidden, "only urgent care staff and clinicians may use emergency access")
	}
	reason, err := auth.ParseBreakGlassReason(c.PostForm("reason"))
	if err != nil {
		d := &urgentData{Reason: c.PostForm("reason"), ReasonError: reasonError(c.PostForm("reason"))}
		v.status = http.StatusUnprocessableEntity
		return a.showPlan(c, v, c.Request.Context(), d)
	}
	return a.showPlan(c, v, c.Request.Context(), &urgentData{BreakGlass: reason})
}

// reasonError says in words what is wrong with a break-glass reason.
func reasonError(s string) string {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "Enter why you need to see the plan"
	case len([]rune(s)) < 4:
		return "The reason is too short: say why you need to see the plan"
	case len([]rune(s)) > auth.MaxBreakGlassReason:
		return "The reason must be 500 characters or fewer"
	}
	return "The reason must be plain text on one line"
}

func (a *App) showPlan(c *gin.Context, v *view, ctx context.Context, d *urgentData) error {
	id := c.Param("id")
	p := auth.FromContext(ctx)
	rd := reader{a: a, ctx: ctx, r: c.Request}
	if d != nil && d.BreakGlass != "" {
		rd.breakGlass = d.BreakGlass
		// Every read of this page is emergency access, recorded as such.
		if pa := pageOf(ctx); pa != nil {
			pa.call.BreakGlass = d.BreakGlass
		}
	}
	banner, _, err := rd.banner(id)
	if err != nil {
		return err
	}
	banner.Own = p != nil && p.Role == auth.RolePatient
	v.Patient = banner
	v.Title = banner.Name
	plans, err := rd.plans(id)
	if err != nil {
		return err
	}
	plan := currentPlan(plans)
	if want := c.Query("plan"); want != "" {
		plan = nil
		for _, pl := range plans {
			if resource.ID(pl) == want {
				plan = pl
			}
		}
		if plan == nil {
			return outcome.Errorf(outcome.NotFound, "there is no plan %s for this patient that you can see", want)
		}
	}
	// Opened from an old link: another plan is the approved one now.
	if cur := currentPlan(plans); plan != nil && cur != nil && resource.ID(cur) != resource.ID(plan) && str(cur, "status") == "active" {
		d.CurrentPlan = resource.ID(cur)
	}
	d.Clinician = p.Role == auth.RoleClinical
	if plan == nil {
		d.NoPlan = true
		if p.Role == auth.RoleView || p.Role == auth.RoleClinical {
			w, err := rd.consentWithdrawn(id)
			if err != nil {
				return err
			}
			d.Withdrawn = w
			d.MayBreakGlass = w && auth.BreakGlassAllowed(p) && d.BreakGlass == ""
		}
	} else {
		latest := versionOf(plan)
		vid := latest
		if s := c.Query("version"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 || n > latest {
				return outcome.Errorf(outcome.NotFound, "this plan has no version %q", s)
			}
			vid = n
		}
		if vid != latest {
			if plan, _, err = rd.vread("CarePlan", resource.ID(plan), vid); err != nil {
				return err
			}
		}
		m, err := rd.model(plan, vid, latest)
		if err != nil {
			return err
		}
		d.Plan = m
		banner.NotForCPR = m.CPR != nil && m.CPR.NotForCPR && m.StatusCode == "active"
	}
	v.Data = d
	if p.Role == auth.RolePatient {
		looks, err := a.accessLog(ctx, c.Request, id)
		if err != nil {
			return err
		}
		d.Looks = looks
		a.render(c, "mine", v)
		return nil
	}
	a.render(c, "urgent", v)
	return nil
}

// versionOf is a resource's meta.versionId.
func versionOf(res map[string]any) int64 {
	n, _ := strconv.ParseInt(str(obj(res, "meta"), "versionId"), 10, 64)
	return n
}

// findData is the find-a-patient page's data.
type findData struct {
	NHS, Family, Birth string
	Searched           bool
	Errors             map[string]string
	Results            []findResult
}

type findResult struct {
	ID, Name, NHS, Born, Plan string
}

// find is the find-a-patient page: by NHS number, or by family name and
// date of birth. A patient is sent to their own record.
func (a *App) find(c *gin.Context, v *view) error {
	p := auth.FromContext(c.Request.Context())
	if p.Role == auth.RolePatient && p.Patient != "" && !patientplan.Verified(p) {
		// A patient proofed below P9 may not see their record, only
		// start their answers.
		c.Redirect(http.StatusSeeOther, QuestionnairePath)
		return nil
	}
	if p.Role == auth.RolePatient && p.Patient != "" {
		c.Redirect(http.StatusSeeOther, Prefix+"/patients/"+url.PathEscape(p.Patient))
		return nil
	}
	v.Title = "Find a patient"
	d := &findData{NHS: strings.TrimSpace(c.Query("nhs")), Family: strings.TrimSpace(c.Query("family")),
		Birth: strings.TrimSpace(c.Query("birthdate")), Errors: map[string]string{}}
	v.Data = d
	if d.NHS == "" && d.Family == "" && d.Birth == "" {
		if c.Request.URL.Path == Prefix+"/patients" {
			d.Errors["nhs"] = "Enter an NHS number, or a family name and date of birth"
			v.status = http.StatusBadRequest
		}
		a.render(c, "find", v)
		return nil
	}
	params := url.Values{"_count": {"20"}}
	if d.NHS != "" {
		n := strings.NewReplacer(" ", "", "-", "").Replace(d.NHS)
		if !validNHSNumber(n) {
			d.Errors["nhs"] = "Enter a valid 10-digit NHS number, like 943 476 5919"
		}
		params.Set("identifier", "https://fhir.nhs.uk/Id/nhs-number|"+n)
	} else {
		if d.Family == "" {
			d.Errors["family"] = "Enter the patient's family name"
		}
		if !validDate(d.Birth) {
			d.Errors["birthdate"] = "Enter the date of birth as year-month-day, like 1940-02-03"
		}
		params.Set("family", d.Family)
		params.Set("birthdate", d.Birth)
	}
	if len(d.Errors) > 0 {
		v.status = http.StatusBadRequest
		a.render(c, "find", v)
		return nil
	}
	d.Searched = true
	rd := reader{a: a, ctx: c.Request.Context(), r: c.Request}
	pats, err := rd.search("Patient", params)
	if err != nil {
		return err
	}
	for _, pt := range pats {
		r := findResult{ID: resource.ID(pt), Name: humanName(pt), NHS: spacedNHS(nhsNumber(pt)), Born: longDate(str(pt, "birthDate"))}
		plans, err := rd.search("CarePlan", url.Values{"subject": {"Patient/" + r.ID}, "status": {"active"}, "_count": {"1"}})
		if err != nil {
			return err
		}
		if len(plans) > 0 {
			r.Plan = "Has an approved care plan"
		} else {
			r.Plan = "No approved care plan"
		}
		d.Results = append(d.Results, r)
	}
	a.render(c, "find", v)
	return nil
}

// validNHSNumber checks 10 digits and the modulus 11 check digit.
func validNHSNumber(s string) bool { return profiles.ValidNHSNumber(s) }

func validDate(s string) bool {
	_, err := time.Parse("2006-01-02", s)
	return err == nil
}
