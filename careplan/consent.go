package careplan

import (
	"context"
	"net/url"
	"time"

	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

// consentKind is what a patient's latest active Consent says.
type consentKind int

const (
	consentNone      consentKind = iota // no active consent to share
	consentPermit                       // sharing permitted
	consentWithdrawn                    // the latest active consent is a withdrawal
)

// consent is a patient's consent state and the Consent that decides it.
type consent struct {
	state consentKind
	id    string
	ref   string // Consent/{id}/_history/{v}
}

// permitCodes are the consent-to-share decisions that permit sharing.
var permitCodes = []string{
	profiles.CodeConsentGiven, profiles.CodeConsentBestInterests,
	profiles.CodeConsentLPA, profiles.CodeConsentRepresentative,
}

// maxConsents bounds the active Consents read for one patient; a patient has
// one or two in practice (a withdrawal makes the consent it replaces
// inactive).
const maxConsents = 50

// consentState reads the patient's active Consents through the index
// (Consent?patient=Patient/{id}&status=active) and judges the latest by
// dateTime, then by lastUpdated: a withdrawal (code 882941000000102 or
// provision.type deny) withdraws; a permitting decision with provision.type
// permit permits; anything else does not count as consent.
func (p *Plans) consentState(ctx context.Context, view service.View, patient string) (consent, error) {
	q, err := p.cfg.Registry.ParseCondition(ctx, "Consent", "patient="+url.QueryEscape("Patient/"+patient)+"&status=active")
	if err != nil {
		return consent{}, err
	}
	q.Types = []string{"Consent"}
	q.Count = maxConsents
	q.Total = store.TotalNone
	r, err := p.cfg.Store.Search(ctx, *q)
	if err != nil {
		return consent{}, err
	}
	// Consents written by earlier entries of the same transaction count
	// too, and replace their stored versions.
	candidates := make([]*store.Version, 0, len(r.Versions))
	for i := range r.Versions {
		if _, replaced := view.Version("Consent", r.Versions[i].ID); !replaced {
			candidates = append(candidates, &r.Versions[i])
		}
	}
	candidates = append(candidates, view.PatientVersions("Consent", patient)...)
	var best map[string]any
	var bestV *store.Version
	for _, v := range candidates {
		res, err := parseVersion(v)
		if err != nil {
			return consent{}, err
		}
		if resource.Str(res, "status") != "active" || patientOf(res) != patient {
			continue // a pending Consent of another patient, or not active
		}
		if !consentCategory(res) {
			continue // some other kind of Consent (e.g. treatment)
		}
		if best == nil || later(res, v, best, bestV) {
			best, bestV = res, v
		}
	}
	if best == nil {
		return consent{state: consentNone}, nil
	}
	c := consent{id: bestV.ID, ref: versionRef(bestV)}
	withdrawn := false
	permit := false
	for _, cat := range resource.List(best["category"]) {
		if resource.HasCoding(cat, profiles.SystemSNOMED, profiles.CodeConsentWithdrawn) {
			withdrawn = true
		}
		if resource.HasCoding(cat, profiles.SystemSNOMED, permitCodes...) {
			permit = true
		}
	}
	pt := resource.Str(resource.Obj(best, "provision"), "type")
	switch {
	case withdrawn || pt == "deny":
		c.state = consentWithdrawn
	case permit && pt == "permit":
		c.state = consentPermit
	}
	return c, nil
}

// consentCategory reports whether a Consent is a consent-to-share decision.
func consentCategory(res map[string]any) bool {
	for _, cat := range resource.List(res["category"]) {
		if resource.HasCoding(cat, profiles.SystemSNOMED, append([]string{profiles.CodeConsentWithdrawn}, permitCodes...)...) {
			return true
		}
	}
	return false
}

// later reports whether consent a is more recent than b: by dateTime, then
// by lastUpdated (the later record of two decisions at one time wins).
func later(a map[string]any, av *store.Version, b map[string]any, bv *store.Version) bool {
	at, bt := fhirTime(resource.Str(a, "dateTime")), fhirTime(resource.Str(b, "dateTime"))
	if !at.Equal(bt) {
		return at.After(bt)
	}
	return av.LastUpdated.After(bv.LastUpdated)
}

// fhirTime parses a FHIR dateTime at any precision; an unparsable one is
// the zero time (the validator has refused it on write anyway).
func fhirTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
