package careplan

import (
	"context"
	"fmt"
	"strconv"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/fhir/validate"
	"ucp/profiles"
	"ucp/store"
)

// section is one resource a plan references, as stored.
type section struct {
	expr string // where the plan references it, e.g. CarePlan.supportingInfo[2]
	v    *store.Version
	res  map[string]any
	// ref and summary stand in for v and res for an entry the plan does not
	// reference itself (the deciding Consent).
	ref, summary string
}

// sections are the resources a plan references, resolved from the store.
type sections struct {
	addresses  []section
	supporting []section
	other      []section // goal, careTeam
}

// referencing lists the plan elements whose references are resolved.
var referencing = []string{"addresses", "supportingInfo", "goal", "careTeam"}

// resolveSections reads every local reference of the plan's addresses,
// supportingInfo, goal and careTeam. A reference that is not local, does not
// exist, or points at another patient's resource is a problem: the plan an
// ambulance crew reads must not mix patients or point nowhere.
func (p *Plans) resolveSections(ctx context.Context, view service.View, res map[string]any, patient string) (*sections, []validate.Issue, error) {
	s := &sections{}
	var issues []validate.Issue
	for _, elem := range referencing {
		for i, r := range resource.List(res[elem]) {
			expr := fmt.Sprintf("CarePlan.%s[%d]", elem, i)
			rm, _ := r.(map[string]any)
			refStr := resource.Str(rm, "reference")
			if refStr == "" {
				continue // identifier-only or display-only: nothing to check
			}
			ref := resource.ParseReference(refStr)
			if !ref.IsLocal() {
				issues = append(issues, problem(expr, "reference %q must be a relative reference to a resource on this server", refStr))
				continue
			}
			var v *store.Version
			var err error
			if tv, ok := view.Version(ref.Type, ref.ID); ok && (ref.Version == "" || ref.Version == strconv.FormatInt(tv.VersionID, 10)) {
				// Written by an earlier entry of the same transaction.
				v = tv
			} else if ref.Version != "" {
				n, _ := strconv.ParseInt(ref.Version, 10, 64)
				v, err = p.cfg.Store.VRead(ctx, ref.Type, ref.ID, n)
				if err == nil && v.Deleted {
					err = outcome.Errorf(outcome.Gone, "deleted")
				}
			} else {
				v, err = p.cfg.Store.Read(ctx, ref.Type, ref.ID)
			}
			if k := outcome.KindOf(err); err != nil && (k == outcome.NotFound || k == outcome.Gone) {
				issues = append(issues, problem(expr, "%s does not exist on this server", refStr))
				continue
			} else if err != nil {
				return nil, nil, err
			}
			sr, err := parseVersion(v)
			if err != nil {
				return nil, nil, err
			}
			if owner := patientOf(sr); owner != "" && owner != patient {
				issues = append(issues, problem(expr, "%s belongs to Patient/%s, not to the plan's Patient/%s", refStr, owner, patient))
				continue
			}
			sec := section{expr: expr, v: v, res: sr}
			switch elem {
			case "addresses":
				s.addresses = append(s.addresses, sec)
			case "supportingInfo":
				s.supporting = append(s.supporting, sec)
			default:
				s.other = append(s.other, sec)
			}
		}
	}
	return s, issues, nil
}

// patientOf returns the Patient id a resource is about (subject, patient or
// beneficiary), "" when it names none.
func patientOf(res map[string]any) string {
	if resource.Type(res) == "Patient" {
		return resource.ID(res)
	}
	for _, k := range []string{"subject", "patient", "beneficiary"} {
		ref := resource.ParseReference(resource.Str(resource.Obj(res, k), "reference"))
		if ref.Type == "Patient" {
			return ref.ID
		}
	}
	return ""
}

// Section kinds, as the plan's document orders them.
const (
	kindBackground = "Medical background"
	kindPrognosis  = "Prognosis"
	kindCPR        = "CPR decision"
	kindEscalation = "Treatment escalation"
	kindPlace      = "Preferred place of care and death"
	kindWishes     = "What matters to the patient"
	kindContacts   = "Key contacts"
	kindConsent    = "Consent to share"
	kindMedicines  = "Medicines"
	kindDecisions  = "Advance decisions and documents"
	kindOther      = "Other information"
)

var kindOrder = []string{kindBackground, kindPrognosis, kindCPR, kindEscalation, kindPlace, kindWishes, kindContacts, kindConsent, kindMedicines, kindDecisions, kindOther}

// kindOf classifies a referenced resource into a document section.
func kindOf(res map[string]any) string {
	switch resource.Type(res) {
	case "Condition":
		return kindBackground
	case "ClinicalImpression":
		return kindPrognosis
	case "Observation":
		code := res["code"]
		switch {
		case resource.HasCoding(code, profiles.SystemSNOMED, profiles.CodeResuscitationStatus):
			return kindCPR
		case resource.HasCoding(code, profiles.SystemSNOMED, profiles.CodeTreatmentEscalation):
			return kindEscalation
		case resource.HasCoding(code, profiles.SystemUCP, profiles.CodePreferredPlaceOfCare, profiles.CodePreferredPlaceOfDeath):
			return kindPlace
		}
	case "Goal":
		// A preferred place is an Observation (UCPPreferredPlace); a Goal is
		// a wish of the patient's, not a place.
		return kindWishes
	case "RelatedPerson", "CareTeam":
		return kindContacts
	case "Consent":
		return kindConsent
	case "MedicationStatement", "MedicationRequest":
		return kindMedicines
	case "Flag", "DocumentReference":
		return kindDecisions
	}
	return kindOther
}

// live reports whether a section resource counts (not entered in error or
// cancelled).
func live(res map[string]any) bool {
	switch resource.Str(res, "status") {
	case "entered-in-error", "cancelled":
		return false
	}
	return true
}

// missing names each mandatory clinical section the plan lacks.
func (s *sections) missing(plan map[string]any) []validate.Issue {
	var issues []validate.Issue
	has := func(secs []section, ok func(map[string]any) bool) bool {
		for _, sec := range secs {
			if live(sec.res) && ok(sec.res) {
				return true
			}
		}
		return false
	}
	if !has(s.addresses, func(r map[string]any) bool { return resource.Type(r) == "Condition" }) {
		issues = append(issues, problem("CarePlan.addresses", "missing section: medical background (addresses must reference at least one Condition)"))
	}
	if !has(s.supporting, func(r map[string]any) bool {
		return resource.Type(r) == "ClinicalImpression" && r["prognosisCodeableConcept"] != nil
	}) {
		issues = append(issues, problem("CarePlan.supportingInfo", "missing section: prognosis (supportingInfo must reference a ClinicalImpression with a prognosis)"))
	}
	if !has(s.supporting, func(r map[string]any) bool { return kindOf(r) == kindCPR && hasValue(r) }) {
		issues = append(issues, problem("CarePlan.supportingInfo", "missing section: CPR decision (supportingInfo must reference an Observation 304251008 with a value)"))
	}
	activity := false
	for _, a := range resource.List(plan["activity"]) {
		am, _ := a.(map[string]any)
		if resource.Str(resource.Obj(am, "detail"), "description") != "" {
			activity = true
		}
	}
	if !activity && !has(s.supporting, func(r map[string]any) bool { return kindOf(r) == kindEscalation }) {
		issues = append(issues, problem("CarePlan.activity", "missing section: emergency treatment plan (an activity with detail.description, or supportingInfo referencing a treatment escalation Observation 735324008)"))
	}
	return issues
}

// hasValue reports whether an Observation has a value[x].
func hasValue(res map[string]any) bool {
	for k := range res {
		if len(k) > 5 && k[:5] == "value" {
			return true
		}
	}
	return false
}
