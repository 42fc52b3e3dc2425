package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

// patientBanner is the patient banner: who the page is about.
type patientBanner struct {
	ID, Name, NHS, Born, Gender, Address, GP string
	Age                                      string
	// NotForCPR puts the DNACPR band on the banner.
	NotForCPR bool
	// Own is a patient's banner on their own page: it leaves out the NHS
	// number, which NHS login's rules say is never shown back to the
	// person it traced.
	Own bool
}

// planModel is a plan as the pages show it, in the urgent care order.
type planModel struct {
	ID      string
	Version int64
	// Latest is the plan's current version; Latest > Version when an old
	// version is shown.
	Latest     int64
	StatusCode string
	Status     string // in words
	Title      string
	ApprovedBy string
	ApprovedAt string
	NextReview string
	// FromDocument is true when the page is rendered from the approval's
	// Composition (the exact section versions approved).
	FromDocument bool

	CPR          *cprModel
	Ceiling      []string
	Deteriorates []string
	// Wishes are the patient's Goals (CarePlan.goal): what matters to
	// them, their wishes about resuscitation and who to involve, in their
	// own words. Never a clinical decision: the pages mark them so.
	Wishes       []item
	PlaceOfCare  []string
	PlaceOfDeath []string
	LPA          []string
	// Attorneys are the LPA's attorneys, with their phone numbers: a crew
	// rings them about decisions the patient cannot make.
	Attorneys []contact
	ADRT      []string
	Documents []string
	Contacts  []contact
	Diagnosis []string
	Prognosis []string
	Medicines []string
	// MedicineItems are Medicines with the section each came from, for
	// the edit page's remove buttons.
	MedicineItems []item
	Other         []string
	// Withheld counts the sections the user may not read.
	Withheld int
}

type cprModel struct {
	Decision      string
	NotForCPR     bool
	Date          string
	DecidedBy     string
	DiscussedWith []string
	AwareOf       []string
	Notes         []string
	Review        string
}

type contact struct {
	Name, Relationship, Phone string
	// Ref is the section the plan references for this contact
	// ("RelatedPerson/id"), "" when it comes from the care team: only a
	// contact of the plan's own can be removed from it.
	Ref string
	// Tel is a tel: link made of the number's digits only, so it is safe
	// as a URL (html/template refuses tel: strings).
	Tel template.URL
}

// item is one line of a section with the section resource it came from.
type item struct {
	Text, Ref string
	// Own is true for a wish the patient expressed (Goal.expressedBy).
	Own bool
}

// ID is the id part of the item's Ref, for the page's field ids.
func (i item) ID() string {
	_, id, _ := refParts(i.Ref)
	return id
}

// statusWords says a plan's state in words: colour is lost on paper.
func statusWords(status string) string {
	switch status {
	case "draft":
		return "Draft: awaiting approval"
	case "active":
		return "Approved"
	case "revoked":
		return "Revoked: no longer in use"
	case "completed":
		return "Completed: no longer in use"
	case "entered-in-error":
		return "Entered in error: do not use"
	case "on-hold":
		return "On hold"
	}
	return status
}

// reader performs a page's reads through the service, each audited.
type reader struct {
	a   *App
	ctx context.Context
	r   *http.Request
	// breakGlass is the emergency-access reason the user gave on this
	// page, "" for none.
	breakGlass string
}

// do runs one read interaction of the page: through the Call the page's
// reads share, recorded once for the page (pageAudit), or, outside a
// page, as an interaction audited on its own.
func (rd reader) do(acc service.Access, f func(ctx context.Context, fhir FHIR) error) error {
	pa := pageOf(rd.ctx)
	if pa == nil {
		return rd.a.audited(rd.ctx, rd.r, rd.breakGlass, acc, f)
	}
	if pa.first == nil {
		pa.first = &acc
	}
	return f(rd.ctx, pa.fhir)
}

// shown notes that the page showed v, for its audit record.
func (rd reader) shown(vs ...store.Version) {
	if pa := pageOf(rd.ctx); pa != nil {
		for i := range vs {
			pa.note(&vs[i])
		}
	}
}

func (rd reader) read(typ, id string) (map[string]any, *store.Version, error) {
	var v *store.Version
	err := rd.do(service.Access{Interaction: "read", Type: typ, ID: id}, func(ctx context.Context, fhir FHIR) error {
		var err error
		v, err = fhir.Read(ctx, typ, id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	rd.shown(*v)
	res, err := resource.Parse(v.JSON)
	return res, v, err
}

func (rd reader) vread(typ, id string, vid int64) (map[string]any, *store.Version, error) {
	var v *store.Version
	err := rd.do(service.Access{Interaction: "vread", Type: typ, ID: id}, func(ctx context.Context, fhir FHIR) error {
		var err error
		v, err = fhir.VRead(ctx, typ, id, vid)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	rd.shown(*v)
	res, err := resource.Parse(v.JSON)
	return res, v, err
}

// search runs a search of typ and returns the matches, parsed.
func (rd reader) search(typ string, params url.Values) ([]map[string]any, error) {
	var res *service.SearchResult
	// The pages show matches, never a count: no total, which the service
	// would otherwise correct for what the caller may not see, by
	// counting again.
	if params.Get("_total") == "" {
		params = cloneValues(params)
		params.Set("_total", "none")
	}
	query := params.Encode()
	err := rd.do(service.Access{Interaction: "search-type", Type: typ, Query: query}, func(ctx context.Context, fhir FHIR) error {
		var err error
		res, err = fhir.Search(ctx, service.SearchRequest{Type: typ, Params: params, Query: query})
		return err
	})
	if err != nil {
		return nil, err
	}
	rd.shown(res.Matches...)
	out := make([]map[string]any, 0, len(res.Matches))
	for _, v := range res.Matches {
		m, err := resource.Parse(v.JSON)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+1)
	for k, vs := range v {
		out[k] = vs
	}
	return out
}

// banner reads the patient and builds the banner.
func (rd reader) banner(id string) (*patientBanner, map[string]any, error) {
	p, _, err := rd.read("Patient", id)
	if err != nil {
		return nil, nil, err
	}
	b := &patientBanner{ID: id, Name: humanName(p), NHS: spacedNHS(nhsNumber(p)), Gender: genderWords(str(p, "gender"))}
	if bd := str(p, "birthDate"); bd != "" {
		b.Born = longDate(bd)
		if y, ok := age(bd, rd.a.cfg.Now()); ok {
			b.Age = strconv.Itoa(y)
		}
	}
	if ads := objs(p, "address"); len(ads) > 0 {
		ad := ads[0]
		var parts []string
		if l, ok := ad["line"].([]any); ok {
			for _, e := range l {
				if s, ok := e.(string); ok {
					parts = append(parts, s)
				}
			}
		}
		for _, k := range []string{"city", "postalCode"} {
			if s := str(ad, k); s != "" {
				parts = append(parts, s)
			}
		}
		b.Address = strings.Join(parts, ", ")
	}
	if gps := objs(p, "generalPractitioner"); len(gps) > 0 {
		gp := gps[0]
		b.GP = str(gp, "display")
		if b.GP == "" {
			if typ, gid, _ := refParts(str(gp, "reference")); typ == "Organization" {
				// The practice's name; a practice the user may not read is
				// left out, not an error.
				if o, _, err := rd.read(typ, gid); err == nil {
					b.GP = humanName(o)
				}
			}
		}
	}
	return b, p, nil
}

func genderWords(g string) string {
	switch g {
	case "female":
		return "Female"
	case "male":
		return "Male"
	case "other":
		return "Other"
	case "unknown":
		return "Not known"
	}
	return ""
}

// plans are the patient's plans the user may see, most recently changed
// first.
func (rd reader) plans(patient string) ([]map[string]any, error) {
	return rd.search("CarePlan", url.Values{
		"subject":  {"Patient/" + patient},
		"category": {profiles.SystemSNOMED + "|" + profiles.CodeEndOfLifeCarePlan + "," + profiles.SystemSNOMED + "|" + profiles.CodeAdvanceCarePlan},
		"_sort":    {"-_lastUpdated"},
		"_count":   {"20"},
	})
}

// currentPlan picks the plan to show: the approved one, else the most
// recent.
func currentPlan(plans []map[string]any) map[string]any {
	for _, p := range plans {
		if str(p, "status") == "active" {
			return p
		}
	}
	if len(plans) > 0 {
		return plans[0]
	}
	return nil
}

// consentWithdrawn reports whether the patient's latest active Consent
// withdraws sharing: then the plan is hidden from urgent care, which may
// break the glass.
func (rd reader) consentWithdrawn(patient string) (bool, error) {
	cs, err := rd.search("Consent", url.Values{
		"patient": {"Patient/" + patient}, "status": {"active"}, "_sort": {"-date"}, "_count": {"1"},
	})
	if err != nil || len(cs) == 0 {
		return false, err
	}
	c := cs[0]
	for _, cat := range objs(c, "category") {
		if hasCoding(cat, profiles.SystemSNOMED, profiles.CodeConsentWithdrawn) {
			return true, nil
		}
	}
	return str(obj(c, "provision"), "type") == "deny", nil
}

// model builds the plan's page model from the plan version plan (vid), and
// its sections: from the approval's Composition when the version is an
// approved one, else from the references the plan holds now.
func (rd reader) model(plan map[string]any, vid, latest int64) (*planModel, error) {
	id := resource.ID(plan)
	m := &planModel{ID: id, Version: vid, Latest: latest, StatusCode: str(plan, "status"),
		Status: statusWords(str(plan, "status")), Title: str(plan, "title"),
		NextReview: longDate(extensionDate(plan, profiles.ExtensionReviewDate))}
	if m.Latest > m.Version && m.StatusCode == "active" {
		m.Status = "Superseded by a newer version"
	}
	for _, a := range objs(plan, "activity") {
		if d := str(obj(a, "detail"), "description"); d != "" {
			if when := conceptText(obj(obj(a, "detail"), "code")); when != "" {
				d = when + ": " + d
			}
			m.Deteriorates = append(m.Deteriorates, d)
		}
	}
	var refs []string
	if m.StatusCode == "active" || m.StatusCode == "on-hold" {
		comp, err := rd.composition(plan, vid)
		if err != nil {
			return nil, err
		}
		if comp != nil {
			m.FromDocument = true
			m.ApprovedAt = longDate(str(comp, "date"))
			for _, at := range objs(comp, "attester") {
				if p := obj(at, "party"); p != nil {
					m.ApprovedBy = refDisplay(p)
				}
			}
			planRef := "CarePlan/" + id + "/_history/" + strconv.FormatInt(vid, 10)
			for _, sec := range objs(comp, "section") {
				for _, e := range objs(sec, "entry") {
					if ref := str(e, "reference"); ref != planRef {
						refs = append(refs, ref)
					}
				}
			}
		}
	}
	if !m.FromDocument {
		for _, k := range []string{"addresses", "supportingInfo", "goal", "careTeam"} {
			for _, r := range objs(plan, k) {
				refs = append(refs, str(r, "reference"))
			}
		}
	}
	for _, ref := range refs {
		typ, rid, rvid := refParts(ref)
		if typ == "" || rid == "" {
			continue
		}
		var res map[string]any
		var err error
		if rvid > 0 {
			res, _, err = rd.vread(typ, rid, rvid)
		} else {
			res, _, err = rd.read(typ, rid)
		}
		if err != nil {
			// A section the user may not read is left out of the page,
			// as the API leaves it out of an include; the plan itself
			// was readable. The page says that something is left out.
			m.Withheld++
			continue
		}
		rd.section(m, res)
	}
	return m, nil
}

// composition finds the Composition the approval of plan version vid
// wrote: its event.detail names that version.
func (rd reader) composition(plan map[string]any, vid int64) (map[string]any, error) {
	want := "CarePlan/" + resource.ID(plan) + "/_history/" + strconv.FormatInt(vid, 10)
	// Most pages show the plan's current approval, the newest document
	// whose entries include the plan: one match to read, not every
	// document the patient has.
	subject := str(obj(plan, "subject"), "reference")
	comps, err := rd.search("Composition", url.Values{"subject": {subject}, "entry": {"CarePlan/" + resource.ID(plan)}, "_sort": {"-date"}, "_count": {"1"}})
	if err != nil {
		return nil, err
	}
	if c := approvalOf(comps, want); c != nil {
		return c, nil
	}
	comps, err = rd.search("Composition", url.Values{"subject": {subject}, "_sort": {"-date"}, "_count": {"50"}})
	if err != nil {
		return nil, err
	}
	return approvalOf(comps, want), nil
}

// approvalOf is the Composition among comps whose event names the plan
// version want.
func approvalOf(comps []map[string]any, want string) map[string]any {
	for _, c := range comps {
		for _, ev := range objs(c, "event") {
			for _, d := range objs(ev, "detail") {
				if str(d, "reference") == want {
					return c
				}
			}
		}
	}
	return nil
}

func live(res map[string]any) bool {
	switch str(res, "status") {
	case "entered-in-error", "cancelled", "inactive":
		return false
	}
	return true
}

// section files one section resource into the model.
func (rd reader) section(m *planModel, res map[string]any) {
	if !live(res) {
		return
	}
	code := obj(res, "code")
	switch resource.Type(res) {
	case "Condition":
		m.Diagnosis = append(m.Diagnosis, conceptText(code))
	case "ClinicalImpression":
		for _, p := range objs(res, "prognosisCodeableConcept") {
			t := conceptText(p)
			if d := str(res, "description"); d != "" {
				t += " (" + d + ")"
			}
			m.Prognosis = append(m.Prognosis, t)
		}
	case "Observation":
		switch {
		case hasCoding(code, profiles.SystemSNOMED, profiles.CodeResuscitationStatus):
			c := &cprModel{Decision: value(res), NotForCPR: hasCoding(obj(res, "valueCodeableConcept"), profiles.SystemSNOMED, profiles.CodeNotForCPR),
				Date: longDate(str(res, "effectiveDateTime")), DiscussedWith: component(res, "cpr-discussion"),
				AwareOf: component(res, "cpr-awareness"), Review: longDate(extensionDate(res, profiles.ExtensionReviewDate))}
			for _, p := range objs(res, "performer") {
				c.DecidedBy = rd.name(p)
			}
			for _, n := range objs(res, "note") {
				c.Notes = append(c.Notes, str(n, "text"))
			}
			m.CPR = c
		case hasCoding(code, profiles.SystemSNOMED, profiles.CodeTreatmentEscalation):
			if v := value(res); v != "" {
				m.Ceiling = append(m.Ceiling, v)
			}
			m.Ceiling = append(m.Ceiling, component(res, "treatment-recommendation")...)
		case hasCoding(code, profiles.SystemUCP, profiles.CodePreferredPlaceOfDeath):
			m.PlaceOfDeath = append(m.PlaceOfDeath, placeText(res))
		case hasCoding(code, profiles.SystemUCP, profiles.CodePreferredPlaceOfCare):
			m.PlaceOfCare = append(m.PlaceOfCare, placeText(res))
		default:
			m.Other = append(m.Other, strings.TrimSpace(conceptText(code)+": "+value(res)))
		}
	case "Goal":
		// Only a goal the patient expressed is shown as their own words.
		m.Wishes = append(m.Wishes, item{Text: conceptText(obj(res, "description")), Ref: "Goal/" + resource.ID(res),
			Own: strings.HasPrefix(str(obj(res, "expressedBy"), "reference"), "Patient/")})
	case "RelatedPerson":
		// An attorney is shown with the LPA, and changed through its form;
		// any other person is a key contact of the plan's.
		if isAttorney(res) {
			m.Attorneys = appendContact(m.Attorneys, contactOf(res))
			break
		}
		c := contactOf(res)
		c.Ref = resource.Type(res) + "/" + resource.ID(res)
		m.Contacts = appendContact(m.Contacts, c)
	case "CareTeam":
		for _, p := range objs(res, "participant") {
			mem := obj(p, "member")
			typ, id, _ := refParts(str(mem, "reference"))
			if typ != "RelatedPerson" && typ != "Practitioner" {
				continue
			}
			person, _, err := rd.read(typ, id)
			if err != nil {
				continue
			}
			c := contactOf(person)
			for _, role := range objs(p, "role") {
				if c.Relationship == "" {
					c.Relationship = conceptText(role)
				}
			}
			m.Contacts = appendContact(m.Contacts, c)
		}
	case "Flag":
		t := conceptText(code)
		switch {
		case hasCoding(code, profiles.SystemSNOMED, profiles.CodeLPA, profiles.CodeLPALifeSustaining):
			m.LPA = append(m.LPA, t)
		case hasCoding(code, profiles.SystemSNOMED, profiles.CodeADRT, profiles.CodeADRTLifeSustaining):
			m.ADRT = append(m.ADRT, t)
		default:
			m.Other = append(m.Other, t)
		}
	case "DocumentReference":
		t := conceptText(obj(res, "type"))
		for _, c := range objs(res, "content") {
			if title := str(obj(c, "attachment"), "title"); title != "" {
				t += ": " + title
			}
		}
		if d := str(res, "description"); d != "" {
			t += " (" + d + ")"
		}
		m.Documents = append(m.Documents, t)
	case "MedicationStatement", "MedicationRequest":
		t := conceptText(obj(res, "medicationCodeableConcept"))
		for _, d := range objs(res, "dosage") {
			if s := str(d, "text"); s != "" {
				t += ": " + s
			}
		}
		m.Medicines = append(m.Medicines, t)
		m.MedicineItems = append(m.MedicineItems, item{Text: t, Ref: resource.Type(res) + "/" + resource.ID(res)})
	case "Consent":
		// Shown by the banner's state; the page need not repeat it.
	}
}

func placeText(res map[string]any) string {
	t := value(res)
	if rank := component(res, "preference-rank"); len(rank) > 0 {
		t += " (preference " + rank[0] + ")"
	}
	return t
}

// name is the person a Reference names: its display, else the name read.
func (rd reader) name(ref map[string]any) string {
	if d := str(ref, "display"); d != "" {
		return d
	}
	typ, id, _ := refParts(str(ref, "reference"))
	if typ == "" {
		return ""
	}
	res, _, err := rd.read(typ, id)
	if err != nil {
		return ""
	}
	return humanName(res)
}

func isAttorney(res map[string]any) bool {
	for _, r := range objs(res, "relationship") {
		if hasCoding(r, profiles.SystemV3RoleCode, "HPOWATT", "POWATT") {
			return true
		}
	}
	return false
}

func contactOf(res map[string]any) contact {
	c := contact{Name: humanName(res)}
	var rels []string
	for _, r := range objs(res, "relationship") {
		rels = append(rels, conceptText(r))
	}
	c.Relationship = strings.Join(rels, ", ")
	for _, t := range objs(res, "telecom") {
		if str(t, "system") == "phone" && c.Phone == "" {
			c.Phone = str(t, "value")
			c.Tel = telURI(c.Phone)
		}
	}
	return c
}

func appendContact(cs []contact, c contact) []contact {
	for _, o := range cs {
		if o.Name == c.Name && o.Phone == c.Phone {
			return cs
		}
	}
	return append(cs, c)
}

// telURI is a tel: link for a UK phone number as written.
func telURI(phone string) template.URL {
	var b strings.Builder
	for i, r := range phone {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	if n := strings.TrimPrefix(b.String(), "+"); n == "" {
		return "" // no digits: no link
	}
	return template.URL("tel:" + b.String())
}
