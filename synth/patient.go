package synth

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"ucp/profiles"
)

// The stories a plan can have; their weights set the mix of final states.
type story int

const (
	storyDraft     story = iota // written, not yet approved
	storyActive                 // approved, not yet due for review
	storyReviewed               // approved and reviewed: superseded versions in its history
	storyRevoked                // approved, later revoked (some after consent was withdrawn)
	storyCompleted              // approved; the patient has died
)

var storyWeights = []struct {
	s      story
	weight int
}{{storyDraft, 12}, {storyActive, 36}, {storyReviewed, 22}, {storyRevoked, 10}, {storyCompleted, 20}}

// pgen builds one patient's Record.
type pgen struct {
	g      *generator
	r      *rand.Rand
	id     string // id prefix for this patient's resources
	shared []Entry
	seen   []*sharedRes
	own    []Entry
	step   int
	// facts is what the generator decided for this patient, for Expected.
	facts Facts
	// ppd1 is the first-choice preferred place of death drawn.
	ppd1 place
}

func (p *pgen) useShared(s *sharedRes) {
	for _, x := range p.seen {
		if x == s {
			return
		}
	}
	p.seen = append(p.seen, s)
	e := s.entry
	e.FirstUse = !s.used
	s.used = true
	p.shared = append(p.shared, e)
}

// add records a resource owned by this patient, giving it its id, profile
// and synthetic identifier.
func (p *pgen) add(typ, tag, profile string, res map[string]any) string {
	id := p.id + "-" + tag
	res["resourceType"] = typ
	res["id"] = id
	if profile != "" {
		res["meta"] = meta(profile)
	}
	e := Entry{Resource: res, Type: typ, ID: id, Version: 1, Step: p.step}
	if typ != "Provenance" {
		if _, ok := res["identifier"]; !ok {
			res["identifier"] = []any{ident(SystemSynthetic, id)}
		}
		e.IdentifierSystem, e.IdentifierValue = SystemSynthetic, id
	}
	narrative(res)
	p.own = append(p.own, e)
	return id
}

func (g *generator) patient(i int) *Record {
	// Each patient has its own stream, so patient i does not depend on how
	// many random numbers patient i-1 happened to draw (except for the NHS
	// number uniqueness set).
	r := rand.New(rand.NewPCG(g.opts.Seed, uint64(i)+1))
	p := &pgen{g: g, r: r, id: g.prefix + "-" + strconv.Itoa(i)}
	now := g.opts.Now

	st := pickWeighted(r, storyWeights, func(s struct {
		s      story
		weight int
	}) int {
		return s.weight
	}).s

	// Demographics. Urgent care plans are mostly for the old: three in
	// four patients are 75 or over.
	grp := pickWeighted(r, nameGroups, func(n nameGroup) int { return n.weight })
	female := chance(r, 55)
	givenPool := grp.male
	gender := "male"
	if female {
		givenPool, gender = grp.female, "female"
	}
	given := []string{pick(r, givenPool)}
	if chance(r, 35) {
		if g2 := pick(r, givenPool); g2 != given[0] {
			given = append(given, g2)
		}
	}
	family := pick(r, grp.family)
	var age int
	switch u := r.IntN(100); {
	case u < 7:
		age = 30 + r.IntN(30)
	case u < 25:
		age = 60 + r.IntN(15)
	default:
		age = 75 + r.IntN(27)
	}
	birth := now.AddDate(-age, 0, -r.IntN(365))
	prac := pick(r, g.practices)
	gp := pick(r, prac.gps)
	p.useShared(prac.org)
	p.useShared(gp)
	fullName := given[0] + " " + family
	patRef := func() map[string]any { return ref("Patient", p.id+"-patient", fullName) }
	gpRef := func() map[string]any { return ref("Practitioner", gp.entry.ID, gp.name) }

	// Clinical picture.
	dx := pickWeighted(r, diagnoses, func(d diagnosis) int { return d.weight })
	prog := pickWeighted(r, prognoses, func(x struct {
		weight        int
		code, display string
	}) int {
		return x.weight
	})
	if st == storyCompleted && chance(r, 60) {
		prog = prognoses[r.IntN(3)] // those who died were mostly known to be near the end
	}
	shortPrognosis := prog.code == profiles.CodePrognosisDays || prog.code == profiles.CodePrognosisWeeks || prog.code == profiles.CodePrognosisMonths

	// Timeline. A draft is recent; an approved plan was written up to two
	// years ago, early enough for what happened to it since.
	var created time.Time
	switch st {
	case storyDraft:
		created = now.Add(-days(1 + r.IntN(60)))
	case storyReviewed:
		created = now.Add(-days(120 + r.IntN(600)))
	default:
		created = now.Add(-days(20 + r.IntN(700)))
	}
	created = workingHours(r, created)
	approved := workingHours(r, created.Add(days(1+r.IntN(10))))
	directlyActive := st != storyDraft && chance(r, 25) // written and approved at one sitting
	if directlyActive {
		approved = created
	}
	var ended time.Time // revoked or died
	if st == storyRevoked || st == storyCompleted {
		span := int(now.Sub(approved).Hours()/24) - 1
		ended = workingHours(r, approved.Add(days(1+r.IntN(max(span, 1)))))
	}
	decided := workingHours(r, created.Add(-days(r.IntN(30))))

	consentKind := profiles.CodeConsentGiven
	withdrawn := st == storyRevoked && chance(r, 40)
	hasLPA := chance(r, 12) || dx.dementia && chance(r, 25)
	switch u := r.IntN(100); {
	case withdrawn:
	case dx.dementia && u < 55 || u < 8:
		consentKind = profiles.CodeConsentBestInterests
	case hasLPA && u < 60:
		consentKind = profiles.CodeConsentLPA
	case u < 11:
		consentKind = profiles.CodeConsentRepresentative
	}

	// Patient.
	telecom := map[string]any{"system": "phone", "value": fmt.Sprintf("020 7946 %04d", r.IntN(1000)), "use": "home"}
	if chance(r, 40) {
		telecom = map[string]any{"system": "phone", "value": fmt.Sprintf("07700 900%03d", r.IntN(1000)), "use": "mobile"}
	}
	verification := coding(profiles.SystemNHSNumberVerification, "01", "Number present and verified")
	if chance(r, 3) {
		verification = coding(profiles.SystemNHSNumberVerification, "02", "Number present but not traced")
	}
	nhs := g.nhsNumber(r)
	name := humanName(family, given, "")
	if chance(r, 60) {
		name["prefix"] = []any{map[bool]string{true: pick(r, []string{"Mrs", "Ms", "Miss"}), false: "Mr"}[female]}
	}
	pat := map[string]any{
		"identifier": []any{map[string]any{
			"extension": []any{map[string]any{"url": profiles.ExtensionNHSNumberVerificationStatus, "valueCodeableConcept": map[string]any{"coding": []any{verification}}}},
			"system":    profiles.SystemNHSNumber, "value": nhs}},
		"name": []any{name}, "telecom": []any{telecom}, "gender": gender, "birthDate": date(birth),
		"address":             []any{address(r, prac.bor)},
		"generalPractitioner": []any{ref("Organization", prac.org.entry.ID, prac.org.name)},
	}
	if grp.language != "" && chance(r, grp.languageShare) {
		pat["communication"] = []any{map[string]any{"language": codeable("urn:ietf:bcp:47", grp.language, languageNames[grp.language], ""), "preferred": true}}
	}
	// Some patients die before their draft plan is approved: the outcome
	// measures compare them with those who had an approved plan. Drawn from
	// a stream of its own, so the rest of the patient is as it always was.
	dr := rand.New(rand.NewPCG(g.opts.Seed^deathStream, uint64(i)+1))
	var died time.Time
	switch {
	case st == storyCompleted:
		died = ended
	case st == storyDraft && chance(dr, 30):
		span := max(int(now.Sub(created).Hours()/24)-1, 1)
		died = workingHours(dr, created.Add(days(1+dr.IntN(span))))
		if !died.Before(now) {
			died = now.Add(-time.Hour)
		}
	}
	if !died.IsZero() {
		pat["deceasedDateTime"] = instant(died)
	}
	p.add("Patient", "patient", profiles.ProfilePatient, pat)
	p.own[len(p.own)-1].IdentifierSystem, p.own[len(p.own)-1].IdentifierValue = profiles.SystemNHSNumber, nhs
	p.facts = Facts{ODS: prac.org.entry.IdentifierValue, OrgID: prac.org.entry.ID, Birth: birth, Group: dx.group, Died: died}

	// Conditions: the primary end-of-life diagnosis and some comorbidities.
	var conditions []any
	condition := func(tag string, d diagnosis, onset time.Time) {
		id := p.add("Condition", tag, profiles.ProfileCondition, map[string]any{
			"clinicalStatus":     codeable(profiles.SystemConditionClinical, "active", "Active", ""),
			"verificationStatus": codeable("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed", ""),
			"category":           []any{codeable(profiles.SystemConditionCategory, "problem-list-item", "Problem List Item", "")},
			"code":               codeable(profiles.SystemSNOMED, d.code, d.display, d.display),
			"subject":            patRef(),
			"onsetDateTime":      date(onset),
			"recordedDate":       date(onset.Add(days(r.IntN(60)))),
		})
		conditions = append(conditions, ref("Condition", id, d.display))
	}
	condition("dx", dx, created.Add(-days(60+r.IntN(1500))))
	for j, n := 0, r.IntN(3); j < n; j++ {
		c := pick(r, comorbidities)
		if c.code != dx.code {
			condition("dx"+strconv.Itoa(j+2), c, created.Add(-days(365+r.IntN(5000))))
		}
	}

	var sections []any
	section := func(typ, id string) {
		sections = append(sections, ref(typ, id, ""))
		p.facts.noteSection(typ, strings.TrimPrefix(id, p.id+"-"))
	}

	// Key contacts: next of kin first.
	contactName := func(fem bool) (string, string) {
		fam := family
		if chance(r, 30) {
			fam = pick(r, grp.family)
		}
		if fem {
			return fam, pick(r, grp.female)
		}
		return fam, pick(r, grp.male)
	}
	var firstContact map[string]any
	for j, n := 0, 1+r.IntN(3); j < n; j++ {
		rel := pickWeighted(r, relationships, func(x relationship) int { return x.weight })
		fem := rel.female == 1 || rel.female == -1 && chance(r, 50)
		if (rel.code == "SPS" || rel.code == "DOMPART") && !chance(r, 5) {
			fem = !female
		}
		fam, giv := contactName(fem)
		rels := []any{codeable(rel.system, rel.code, rel.label, "")}
		switch {
		case j == 0:
			rels = append(rels, codeable(profiles.SystemV2Relation, profiles.RelationshipNextOfKin, "Next-of-Kin", ""))
		case chance(r, 50):
			rels = append(rels, codeable(profiles.SystemV2Relation, profiles.RelationshipEmergencyContact, "Emergency Contact", ""))
		}
		if chance(r, 25) {
			rels = append(rels, codeable(profiles.SystemUKRelation, profiles.RelationshipCarer, "Carer", ""))
		}
		g := "male"
		if fem {
			g = "female"
		}
		id := p.add("RelatedPerson", "contact"+strconv.Itoa(j+1), profiles.ProfileKeyContact, map[string]any{
			"active": true, "patient": patRef(), "relationship": rels,
			"name":    []any{humanName(fam, []string{giv}, "")},
			"telecom": []any{map[string]any{"system": "phone", "value": fmt.Sprintf("07700 900%03d", r.IntN(1000)), "use": "mobile"}},
			"gender":  g,
		})
		section("RelatedPerson", id)
		if j == 0 {
			firstContact = ref("RelatedPerson", id, giv+" "+fam)
		}
	}

	// LPA for health and welfare: the flag, the attorney, sometimes the
	// registration document.
	var attorney map[string]any
	if hasLPA {
		fam, giv := contactName(chance(r, 55))
		id := p.add("RelatedPerson", "attorney", profiles.ProfileLPAAttorney, map[string]any{
			"active": true, "patient": patRef(),
			"relationship": []any{codeable(profiles.SystemV3RoleCode, profiles.RelationshipHealthcarePOA, "healthcare power of attorney", ""),
				familyRole(r)},
			"name":    []any{humanName(fam, []string{giv}, "")},
			"telecom": []any{map[string]any{"system": "phone", "value": fmt.Sprintf("07700 900%03d", r.IntN(1000)), "use": "mobile"}},
		})
		attorney = ref("RelatedPerson", id, giv+" "+fam)
		section("RelatedPerson", id)
		code, disp := profiles.CodeLPA, "Has appointed person with personal welfare lasting power of attorney (Mental Capacity Act 2005)"
		if chance(r, 60) {
			code, disp = profiles.CodeLPALifeSustaining, "Has appointed person with personal welfare lasting power of attorney with authority for life sustaining treatment decisions (Mental Capacity Act 2005)"
		}
		section("Flag", p.add("Flag", "lpa-flag", profiles.ProfileLPAFlag, map[string]any{
			"status": "active", "code": codeable(profiles.SystemSNOMED, code, disp, ""), "subject": patRef(),
			"period": map[string]any{"start": date(created.Add(-days(30 + r.IntN(2000))))}, "author": gpRef(),
		}))
		if chance(r, 50) {
			section("DocumentReference", p.document("lpa-doc", profiles.SystemUCP, profiles.CodeLPADocument, "Lasting power of attorney registration", created, patRef()))
		}
	}

	// ADRT: more common in MND and cancer.
	if chance(r, 8) || dx.code == "37340000" && chance(r, 35) || dx.cancer && chance(r, 5) {
		code, disp := profiles.CodeADRT, "Has advance decision to refuse treatment (Mental Capacity Act 2005)"
		if chance(r, 70) {
			code, disp = profiles.CodeADRTLifeSustaining, "Has advance decision to refuse life sustaining treatment (Mental Capacity Act 2005)"
		}
		made := created.Add(-days(r.IntN(900)))
		section("Flag", p.add("Flag", "adrt-flag", profiles.ProfileADRTFlag, map[string]any{
			"status": "active", "code": codeable(profiles.SystemSNOMED, code, disp, ""), "subject": patRef(),
			"period": map[string]any{"start": date(made)},
		}))
		section("DocumentReference", p.document("adrt-doc", profiles.SystemUCP, profiles.CodeADRTDocument, "Advance decision to refuse treatment document", made, patRef()))
	}

	// Consent to share, before the plan was written.
	consentAt := workingHours(r, created.Add(-days(r.IntN(14))))
	consentPerformer := patRef()
	consentDisplay := map[string]string{
		profiles.CodeConsentGiven:          "Consent given for sharing end of life care coordination record",
		profiles.CodeConsentBestInterests:  "Best interests decision taken on behalf of patient for sharing end of life care coordination record (Mental Capacity Act 2005)",
		profiles.CodeConsentLPA:            "Consent given by appointed person with lasting power of attorney for personal welfare for sharing end of life care co-ordination record (Mental Capacity Act 2005)",
		profiles.CodeConsentRepresentative: "Consent given by legitimate patient representative for sharing end of life care coordination record",
	}
	switch consentKind {
	case profiles.CodeConsentBestInterests:
		consentPerformer = gpRef()
	case profiles.CodeConsentLPA:
		consentPerformer = attorney
	case profiles.CodeConsentRepresentative:
		consentPerformer = firstContact
	}
	consent := func(tag, status, code, display, provision string, at time.Time, performer map[string]any) string {
		return p.add("Consent", tag, profiles.ProfileConsent, map[string]any{
			"status":     status,
			"scope":      codeable(profiles.SystemConsentScope, "patient-privacy", "Privacy Consent", ""),
			"category":   []any{codeable(profiles.SystemSNOMED, code, display, "")},
			"patient":    patRef(),
			"dateTime":   instant(at),
			"performer":  []any{performer},
			"policyRule": codeable("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", "opt-in", ""),
			"provision":  map[string]any{"type": provision},
		})
	}
	// A withdrawal happens later in the story: it is written at the step
	// that revokes the plan (see withdraw), so that a server replaying the
	// story sees consent given while the plan is drafted and approved.
	var withdraw func()
	if withdrawn {
		section("Consent", consent("consent", "active", profiles.CodeConsentGiven, consentDisplay[profiles.CodeConsentGiven], "permit", consentAt, patRef()))
		withdraw = func() {
			section("Consent", consent("consent-withdrawn", "active", profiles.CodeConsentWithdrawn,
				"Withdrawal of consent for sharing end of life care coordination record", "deny", ended.Add(-days(r.IntN(3))-time.Hour), patRef()))
		}
	} else {
		section("Consent", consent("consent", "active", consentKind, consentDisplay[consentKind], "permit", consentAt, consentPerformer))
	}

	// Prognosis.
	assessor, assessorRef := gp, gpRef()
	if chance(r, 35) {
		d := pick(r, g.doctors)
		p.useShared(d)
		assessor, assessorRef = d, ref("Practitioner", d.entry.ID, d.name)
	}
	section("ClinicalImpression", p.add("ClinicalImpression", "prognosis", profiles.ProfilePrognosis, map[string]any{
		"status": "completed", "subject": patRef(), "date": instant(decided), "assessor": assessorRef,
		"prognosisCodeableConcept": []any{codeable(profiles.SystemSNOMED, prog.code, prog.display, "")},
	}))

	// CPR decision: most people with an urgent care plan are not for CPR.
	dnacpr := chance(r, 62) || (age >= 80 || shortPrognosis) && chance(r, 75)
	cpr := map[string]any{
		"status": "final", "code": codeable(profiles.SystemSNOMED, profiles.CodeResuscitationStatus, "Resuscitation status", ""),
		"category":          []any{codeable(profiles.SystemObservationCategory, "survey", "Survey", "")},
		"subject":           patRef(),
		"effectiveDateTime": instant(decided),
		"performer":         []any{assessorRef},
	}
	if dnacpr {
		cpr["valueCodeableConcept"] = codeable(profiles.SystemSNOMED, profiles.CodeNotForCPR, "Not for attempted cardiopulmonary resuscitation", "DNACPR")
	} else {
		cpr["valueCodeableConcept"] = codeable(profiles.SystemSNOMED, profiles.CodeForCPR, "For attempted cardiopulmonary resuscitation", "For CPR")
	}
	if chance(r, 70) {
		cpr["extension"] = []any{map[string]any{"url": profiles.ExtensionReviewDate, "valueDate": date(decided.AddDate(0, 3+r.IntN(10), 0))}}
	}
	var comps []any
	if chance(r, 80) {
		code := pick(r, [][2]string{
			{profiles.CodeCPRDiscussedWithFamily, "Discussion about cardiopulmonary resuscitation with family member"},
			{profiles.CodeCPRDiscussedWithCarer, "Discussion about resuscitation with carer"},
			{profiles.CodeCPRDiscussed, "Discussion about resuscitation"}})
		comps = append(comps, map[string]any{"code": codeable(profiles.SystemUCP, profiles.CodeCPRDiscussion, "CPR decision discussed with", ""),
			"valueCodeableConcept": codeable(profiles.SystemSNOMED, code[0], code[1], "")})
	}
	if chance(r, 60) {
		code := pick(r, [][2]string{
			{profiles.CodeFamilyInformedOfCPR, "Family member informed of cardiopulmonary resuscitation clinical decision"},
			{profiles.CodeCarerInformedOfCPR, "Carer informed of cardiopulmonary resuscitation clinical decision"},
			{profiles.CodeNotAwareOfDNACPR, "Not aware of do not attempt cardiopulmonary resuscitation clinical decision"}})
		comps = append(comps, map[string]any{"code": codeable(profiles.SystemUCP, profiles.CodeCPRAwareness, "Awareness of CPR decision", ""),
			"valueCodeableConcept": codeable(profiles.SystemSNOMED, code[0], code[1], "")})
	}
	if comps != nil {
		cpr["component"] = comps
	}
	if chance(r, 30) {
		cpr["note"] = []any{map[string]any{"text": "Original DNACPR form kept at the patient's home, in the folder by the front door."}}
	}
	section("Observation", p.add("Observation", "cpr", profiles.ProfileCPRDecision, cpr))

	// Treatment escalation / ReSPECT.
	if chance(r, 75) {
		var respect string
		if chance(r, 40) {
			respect = p.document("respect-doc", profiles.SystemSNOMED, profiles.CodeReSPECTForm,
				"ReSPECT (Recommended Summary Plan for Emergency Care and Treatment) form", decided, assessorRef)
			section("DocumentReference", respect)
		}
		section("Observation", p.escalation(dnacpr, decided, patRef(), assessorRef, respect))
	}

	// Preferred places of death and of care, first and second choices.
	section("Observation", p.preferredPlace("ppd1", profiles.CodePreferredPlaceOfDeath, 1, decided, patRef()))
	// Half the plans that will be reviewed gain their preferred place of
	// care only at the first review (drawn from a stream of its own), so an
	// earlier period sees the plan without it.
	heldBack := ""
	if chance(r, 70) {
		ppc := p.preferredPlace("ppc1", profiles.CodePreferredPlaceOfCare, 1, decided, patRef())
		if hr := rand.New(rand.NewPCG(g.opts.Seed^reviewStream, uint64(i)+1)); st == storyReviewed && chance(hr, 50) {
			heldBack = ppc
		} else {
			section("Observation", ppc)
		}
	}
	if chance(r, 45) {
		section("Observation", p.preferredPlace("ppd2", profiles.CodePreferredPlaceOfDeath, 2, decided, patRef()))
	}

	// Anticipatory medicines, more often as the end nears.
	if chance(r, 45) || shortPrognosis && chance(r, 60) {
		op := opioid
		if dx.renal || chance(r, 5) {
			op = opioidRenal
		}
		anti := levomeprom
		if chance(r, 30) {
			anti = haloperidol
		}
		sec := glycopyrr
		if chance(r, 40) {
			sec = hyoscineButy
		}
		for j, m := range []medicine{op, midazolam, anti, sec} {
			section("MedicationStatement", p.add("MedicationStatement", "med"+strconv.Itoa(j+1), profiles.ProfileAnticipatoryMedication, map[string]any{
				"status":                    "active",
				"medicationCodeableConcept": codeable(profiles.SystemDMD, m.code, m.display, ""),
				"subject":                   patRef(),
				"effectiveDateTime":         date(decided),
				"informationSource":         gpRef(),
				"dosage": []any{map[string]any{"text": m.dose, "asNeededBoolean": true,
					"route": codeable(profiles.SystemSNOMED, "34206005", "Subcutaneous route", "")}},
			}))
		}
	}

	// Care team: the GP practice, the GP, a palliative care nurse, often the
	// next of kin.
	nurse := pick(r, g.nurses)
	p.useShared(nurse)
	members := []any{
		map[string]any{"role": []any{codeable(profiles.SystemSNOMED, "62247001", "General practitioner", "")}, "member": gpRef()},
		map[string]any{"role": []any{map[string]any{"text": "Community palliative care nurse"}}, "member": ref("Practitioner", nurse.entry.ID, nurse.name)},
	}
	if assessor != gp {
		members = append(members, map[string]any{"role": []any{map[string]any{"text": "Palliative care consultant"}}, "member": assessorRef})
	}
	if chance(r, 60) {
		members = append(members, map[string]any{"role": []any{map[string]any{"text": "Next of kin"}}, "member": firstContact})
	}
	careTeam := p.add("CareTeam", "careteam", profiles.ProfileCareTeam, map[string]any{
		"status": "active", "name": "Care team for " + fullName, "subject": patRef(),
		"participant":          members,
		"managingOrganization": []any{ref("Organization", prac.org.entry.ID, prac.org.name)},
	})

	// What matters to the patient.
	var goals []any
	for j, n := 0, r.IntN(3); j < n; j++ {
		id := p.add("Goal", "goal"+strconv.Itoa(j+1), "", map[string]any{
			"lifecycleStatus": "active", "description": map[string]any{"text": pick(r, wishes)},
			"subject": patRef(), "expressedBy": patRef(),
		})
		goals = append(goals, ref("Goal", id, ""))
	}

	// The plan and its history.
	planType := codeable(profiles.SystemSNOMED, profiles.CodeEndOfLifeCarePlan, "End of life care plan", "")
	if chance(r, 25) || !shortPrognosis && chance(r, 30) {
		planType = codeable(profiles.SystemSNOMED, profiles.CodeAdvanceCarePlan, "Advance care plan", "")
	}
	var activities []any
	for j, n := 0, 1+r.IntN(3); j < n; j++ {
		activities = append(activities, map[string]any{"detail": map[string]any{
			"status": "not-started", "description": deteriorationAdvice[(r.IntN(len(deteriorationAdvice))+j)%len(deteriorationAdvice)]}})
	}
	planID := p.id + "-plan"
	version := 0
	author := gpRef()
	plan := func(status string, start time.Time, review time.Time, end time.Time) {
		version++
		res := map[string]any{
			"resourceType": "CarePlan", "id": planID, "meta": meta(profiles.ProfileCarePlan),
			"identifier": []any{ident(SystemSynthetic, planID)},
			"status":     status, "intent": "plan",
			"category":       []any{planType},
			"title":          "Urgent care plan",
			"subject":        patRef(),
			"period":         map[string]any{"start": instant(start)},
			"created":        instant(created),
			"author":         author,
			"careTeam":       []any{ref("CareTeam", careTeam, "")},
			"addresses":      conditions,
			"supportingInfo": slices.Clone(sections),
			"activity":       activities,
		}
		if goals != nil {
			res["goal"] = goals
		}
		if !review.IsZero() {
			res["extension"] = []any{map[string]any{"url": profiles.ExtensionReviewDate, "valueDate": date(review)}}
		}
		if !end.IsZero() {
			res["period"].(map[string]any)["end"] = instant(end)
		}
		narrative(res)
		p.facts.Status, p.facts.Review, p.facts.Ended = status, review, end
		p.own = append(p.own, Entry{Resource: res, Type: "CarePlan", ID: planID, Version: version, Step: p.step,
			IdentifierSystem: SystemSynthetic, IdentifierValue: planID})
	}
	approve := func(at time.Time, who *sharedRes, org *sharedRes) {
		agent := map[string]any{
			"type": codeable("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "attester", "Attester", ""),
			"who":  ref("Practitioner", who.entry.ID, who.name),
		}
		if org != nil {
			agent["onBehalfOf"] = ref("Organization", org.entry.ID, org.name)
		}
		p.facts.Approvals = append(p.facts.Approvals, at)
		p.facts.ApprovedSections = append(p.facts.ApprovedSections, maps.Clone(p.facts.Sections))
		p.add("Provenance", "prov"+strconv.Itoa(version), profiles.ProfileUKCoreProvenance, map[string]any{
			"target":   []any{map[string]any{"reference": "CarePlan/" + planID + "/_history/" + strconv.Itoa(version)}},
			"recorded": instant(at),
			"activity": codeable("http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion", "LA", "legally authenticated", "Plan approved"),
			"agent":    []any{agent},
			"reason":   []any{map[string]any{"text": "Clinical approval of the urgent care plan"}},
		})
	}
	review := func(from time.Time) time.Time { return from.AddDate(0, 3, 0) }

	if st == storyDraft || !directlyActive {
		plan("draft", created, time.Time{}, time.Time{})
		if st == storyDraft {
			if !died.IsZero() {
				// What Patient/{id}/$record-death does to a draft: revoked.
				p.step++
				plan("revoked", created, time.Time{}, died)
				p.death(dr, died, false, patRef())
			}
			return p.record(i)
		}
		p.step++
	}
	plan("active", approved, review(approved), time.Time{})
	approve(approved, gp, prac.org)
	switch st {
	case storyReviewed:
		// Reviewed about every three months, sometimes by the hospice
		// consultant; each review is a new version and a new approval.
		at := approved
		for n := 0; n < 4; n++ {
			at = workingHours(r, at.Add(days(75+r.IntN(30))))
			if at.After(now) || n > 0 && chance(r, 40) {
				break
			}
			p.step++
			who, org := gp, prac.org
			if chance(r, 30) {
				who, org = pick(r, g.doctors), nil
				p.useShared(who)
			}
			author = ref("Practitioner", who.entry.ID, who.name)
			if heldBack != "" {
				section("Observation", heldBack)
				heldBack = ""
			}
			plan("active", approved, review(at), time.Time{})
			approve(at, who, org)
		}
	case storyRevoked, storyCompleted:
		p.step++
		if withdraw != nil {
			withdraw()
		}
		status := "revoked"
		if st == storyCompleted {
			status = "completed"
		}
		plan(status, approved, time.Time{}, ended)
		if st == storyCompleted {
			p.death(dr, died, true, patRef())
		}
	}
	return p.record(i)
}

func (p *pgen) record(i int) *Record {
	p.submission(i)
	f := p.facts
	return &Record{Index: i, Entries: append(p.shared, p.own...), Facts: &f}
}

// death records where the patient died, as Patient/{id}/$record-death
// does: an Observation of the actual place, with whether the first-choice
// preferred place of death was achieved when the plan was approved and
// named a place. About three in four with an approved plan die where they
// wished; fewer die in hospital with a plan than without.
func (p *pgen) death(r *rand.Rand, at time.Time, approvedPlan bool, patient map[string]any) {
	wished := p.ppd1.system == profiles.SystemDeathLocationType && p.ppd1.code != profiles.DeathLocationOther
	var code string
	switch u := r.IntN(100); {
	case approvedPlan && wished && u < 75:
		code = p.ppd1.code
		if code == profiles.DeathLocationPrivateResidence {
			code = profiles.DeathLocationOwnHome
		}
	case approvedPlan && u < 85 || !approvedPlan && u < 54:
		code = profiles.DeathLocationHospital
	default:
		code = pick(r, []string{profiles.DeathLocationOwnHome, profiles.DeathLocationHospice, profiles.DeathLocationCareHome, profiles.DeathLocationOtherResidence})
	}
	label := map[string]string{
		profiles.DeathLocationHospital: "Hospital", profiles.DeathLocationOwnHome: "Patient's own home", profiles.DeathLocationHospice: "Hospice",
		profiles.DeathLocationCareHome: "Care home", profiles.DeathLocationOtherResidence: "Other private residence",
	}[code]
	p.facts.Place = code
	obs := map[string]any{
		"status":               "final",
		"code":                 codeable(profiles.SystemUCP, profiles.CodeActualPlaceOfDeath, "Actual place of death", ""),
		"subject":              patient,
		"effectiveDateTime":    instant(at),
		"valueCodeableConcept": codeable(profiles.SystemDeathLocationType, code, label, ""),
	}
	if approvedPlan && wished {
		// The generator's own reading of "achieved", not the server's.
		met := code == p.ppd1.code || p.ppd1.code == profiles.DeathLocationPrivateResidence &&
			(code == profiles.DeathLocationOwnHome || code == profiles.DeathLocationOtherResidence)
		p.facts.Achieved = &met
		obs["component"] = []any{map[string]any{
			"code":         codeable(profiles.SystemUCP, profiles.CodePreferredPlaceAchieved, "Preferred place of death achieved", ""),
			"valueBoolean": met,
		}}
		obs["derivedFrom"] = []any{ref("Observation", p.id+"-ppd1", "")}
	}
	p.add("Observation", "place-of-death", profiles.ProfilePlaceOfDeath, obs)
}

func (p *pgen) document(tag, system, code, display string, at time.Time, author map[string]any) string {
	return p.add("DocumentReference", tag, profiles.ProfileAdvanceDocument, map[string]any{
		"status":   "current",
		"type":     codeable(system, code, display, ""),
		"category": []any{codeable(profiles.SystemSNOMED, profiles.CodeCarePlanCategory, "Care plan", "")},
		"subject":  ref("Patient", p.id+"-patient", ""),
		"date":     instant(at),
		"author":   []any{author},
		"content": []any{map[string]any{"attachment": map[string]any{
			"contentType": "application/pdf",
			"url":         "https://docs.ucp.example.org/" + p.id + "/" + tag + ".pdf",
			"title":       display,
			"creation":    date(at),
		}}},
	})
}

func (p *pgen) escalation(dnacpr bool, at time.Time, patient, performer map[string]any, respect string) string {
	r := p.r
	type level struct {
		code, display string
		lo, hi        int // ReSPECT priority range that goes with it
	}
	full := level{profiles.CeilingFullEscalation, "Full escalation including intensive care", 1, 30}
	ward := level{profiles.CeilingWardBased, "Ward-based care; not for intensive care", 20, 60}
	home := level{profiles.CeilingCommunity, "Treatment at home; avoid hospital admission", 50, 90}
	comfort := level{profiles.CeilingComfortOnly, "Comfort and symptom control only", 80, 100}
	var l level
	switch u := r.IntN(100); {
	case dnacpr && u < 30, !dnacpr && u < 3:
		l = comfort
	case dnacpr && u < 75, !dnacpr && u < 15:
		l = home
	case dnacpr && u < 96, !dnacpr && u < 55:
		l = ward
	default:
		l = full
	}
	res := map[string]any{
		"status":               "final",
		"code":                 codeable(profiles.SystemSNOMED, profiles.CodeTreatmentEscalation, "Treatment escalation plan", ""),
		"subject":              patient,
		"effectiveDateTime":    instant(at),
		"performer":            []any{performer},
		"valueCodeableConcept": codeable(profiles.SystemTreatmentCeiling, l.code, l.display, ""),
		"extension":            []any{map[string]any{"url": profiles.ExtensionReviewDate, "valueDate": date(at.AddDate(0, 3+r.IntN(4), 0))}},
	}
	comps := []any{map[string]any{
		"code":         codeable(profiles.SystemUCP, profiles.CodeReSPECTPriorityScale, "ReSPECT care priority scale", ""),
		"valueInteger": l.lo + r.IntN(l.hi-l.lo+1),
	}}
	for j, n := 0, r.IntN(3); j < n; j++ {
		comps = append(comps, map[string]any{
			"code":        codeable(profiles.SystemUCP, profiles.CodeTreatmentRecommendation, "Specific treatment recommendation", ""),
			"valueString": treatmentRecommendations[(r.IntN(len(treatmentRecommendations))+j)%len(treatmentRecommendations)],
		})
	}
	res["component"] = comps
	if respect != "" {
		res["derivedFrom"] = []any{ref("DocumentReference", respect, "")}
	}
	return p.add("Observation", "tep", profiles.ProfileTreatmentEscalation, res)
}

// preferredPlace records a first or second choice. Only a first choice may
// be one of the "no preference recorded" findings; a second choice is
// always a place.
func (p *pgen) preferredPlace(tag, kind string, rank int, at time.Time, patient map[string]any) string {
	r := p.r
	pl := pickWeighted(r, places, func(x place) int { return x.weight })
	for rank == 2 && pl.system != profiles.SystemDeathLocationType {
		pl = pickWeighted(r, places, func(x place) int { return x.weight })
	}
	if tag == "ppd1" {
		p.ppd1 = pl
	}
	kindDisplay := map[string]string{profiles.CodePreferredPlaceOfDeath: "Preferred place of death", profiles.CodePreferredPlaceOfCare: "Preferred place of care"}[kind]
	comps := []any{map[string]any{"code": codeable(profiles.SystemUCP, profiles.CodePreferenceRank, "Preference rank", ""), "valueInteger": rank}}
	switch {
	case pl.code == profiles.DeathLocationOther && pl.system == profiles.SystemDeathLocationType:
		comps = append(comps, map[string]any{"code": codeable(profiles.SystemUCP, profiles.CodePlaceDetail, "Named place", ""),
			"valueString": pick(r, []string{"Sister's house in Kent", "Family home in Lagos", "Daughter's flat", "Friend's house", "Home in Cyprus"})})
	case pl.code == profiles.DeathLocationHospice && pl.system == profiles.SystemDeathLocationType && chance(r, 70):
		comps = append(comps, map[string]any{"code": codeable(profiles.SystemUCP, profiles.CodePlaceDetail, "Named place", ""),
			"valueString": pick(r, hospices)})
	}
	return p.add("Observation", tag, profiles.ProfilePreferredPlace, map[string]any{
		"status":               "final",
		"category":             []any{codeable(profiles.SystemObservationCategory, "social-history", "Social History", "")},
		"code":                 codeable(profiles.SystemUCP, kind, kindDisplay, ""),
		"subject":              patient,
		"effectiveDateTime":    instant(at),
		"valueCodeableConcept": codeable(pl.system, pl.code, pl.label, ""),
		"component":            comps,
	})
}

// familyRole is how an LPA attorney is related to the patient, besides
// being the attorney.
func familyRole(r *rand.Rand) map[string]any {
	x := pick(r, [][2]string{{"SON", "natural son"}, {"DAU", "natural daughter"}, {"NIECE", "niece"}, {"NEPHEW", "nephew"}, {"FRND", "unrelated friend"}, {"SPS", "spouse"}})
	return codeable(profiles.SystemV3RoleCode, x[0], x[1], "")
}

// reviewStream seeds the choice of plans that gain a section at review.
const reviewStream = 0x726576696577

// submissionStream seeds the random stream of patient-started submissions,
// apart from the patient's own, so the rest of the patient is as it was.
const submissionStream = 0x7375626d6974

// submission: about one patient in five started their plan themselves. They
// sent their answers (a completed QuestionnaireResponse to
// profiles.QuestionnairePatientPlan) and their practice got a Task, as
// package patientplan writes them; once a clinician made and approved the
// plan from them, the Task is completed with the plan as its output. Most
// submissions led to the plan's first approval; the rest are still waiting.
func (p *pgen) submission(i int) {
	r := rand.New(rand.NewPCG(p.g.opts.Seed^submissionStream, uint64(i)+1))
	if !chance(r, 20) {
		return
	}
	approved := len(p.facts.Approvals) > 0 && chance(r, 75)
	var at time.Time
	if approved {
		at = workingHours(r, p.facts.Approvals[0].Add(-days(1+r.IntN(45))))
		if !at.Before(p.facts.Approvals[0]) {
			return
		}
	} else {
		at = workingHours(r, p.g.opts.Now.Add(-days(1+r.IntN(120))))
		if !at.Before(p.g.opts.Now) {
			return
		}
	}
	if !p.facts.Died.IsZero() && !at.Before(p.facts.Died) {
		return // nobody sends answers after their death
	}
	p.step++
	patient := ref("Patient", p.id+"-patient", "")
	qrID := p.id + "-answers"
	p.add("QuestionnaireResponse", "answers", "", map[string]any{
		"identifier":    ident(SystemSynthetic, qrID), // 0..1 here, not a list
		"questionnaire": profiles.QuestionnairePatientPlan,
		"status":        "completed",
		"subject":       patient,
		"author":        patient,
		"authored":      instant(at),
	})
	task := map[string]any{
		"status":   "requested",
		"intent":   "order",
		"priority": "routine",
		"code": map[string]any{"coding": []any{map[string]any{"system": profiles.CodeSystemBaseURL + "patient-plan-action",
			"code": "review-submission", "display": "Make a care plan from the patient's answers"}}},
		"description": "The patient has sent their care plan questionnaire: create their plan from it.",
		"for":         patient,
		"focus":       ref("QuestionnaireResponse", qrID, ""),
		"requester":   patient,
		"owner":       ref("Organization", p.facts.OrgID, ""),
		"authoredOn":  instant(at),
	}
	if approved {
		task["status"] = "completed"
		task["output"] = []any{map[string]any{
			"type":           map[string]any{"text": "The care plan made from the answers"},
			"valueReference": ref("CarePlan", p.id+"-plan", ""),
		}}
	}
	p.add("Task", "submission", "", task)
	p.facts.Submitted, p.facts.SubmissionApproved = at, approved
}
