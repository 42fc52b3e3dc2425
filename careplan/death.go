package careplan

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

// DeathService is what recording a death needs of the FHIR service: the
// patient read as the caller, and one transaction for everything the death
// changes. *service.Service satisfies it.
type DeathService interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	Transaction(ctx context.Context, entries []*service.Entry) ([]service.EntryResult, error)
}

// maxPlansPerPatient bounds the plans a death completes; a patient has one
// or two (an old revoked one and the current one), so more is a data fault
// worth refusing loudly rather than completing a partial set.
const maxPlansPerPatient = 50

// RecordDeathOperation returns Patient/{id}/$record-death, which records
// that the patient died, through svc (the REST server's service, so the
// caller's authorisation, the care-plan rules and the audit apply to every
// write). It is registered after the server is built, because it needs the
// server's service; see the package doc, "Recording a death".
func (p *Plans) RecordDeathOperation(svc DeathService) service.Operation {
	return service.Operation{
		Name:          "record-death",
		Definition:    profiles.OperationRecordDeath,
		Documentation: "Records a patient's death: Patient.deceasedDateTime, an Observation of the actual place of death (NHS Data Dictionary death location type) with whether the preferred place of death was achieved (derived), the completion of the patient's plans, and a Provenance naming who recorded it, all in one transaction. Parameters: date (dateTime, required), place (code, required), placeDetail (string).",
		Instance:      []string{"Patient"},
		AffectsState:  true,
		Handler: func(ctx context.Context, req *service.OperationRequest) (int, any, error) {
			return p.recordDeath(ctx, svc, req)
		},
	}
}

// deathInput is the operation's parameters, checked.
type deathInput struct {
	date        string // as written
	at          time.Time
	place       string // death location type code
	placeDetail string
}

// deathPlaces are the NHS Data Dictionary death location type codes with
// their displays.
var deathPlaces = map[string]string{
	profiles.DeathLocationHospital:         "Hospital",
	profiles.DeathLocationPrivateResidence: "Private residence",
	profiles.DeathLocationOwnHome:          "Patient's own home",
	profiles.DeathLocationOtherResidence:   "Other private residence",
	profiles.DeathLocationHospice:          "Hospice",
	profiles.DeathLocationCareHome:         "Care home",
	profiles.DeathLocationOther:            "Other",
}

// ParseDeathDate parses a date of death: a FHIR date with a day
// (YYYY-MM-DD) or a dateTime with a time and a zone. A year or a month
// alone is refused: the measures count deaths by day.
func ParseDeathDate(s string) (time.Time, error) {
	if len(s) == len("2006-01-02") {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return time.Time{}, fmt.Errorf("date %q: expected YYYY-MM-DD or a dateTime with a time zone", s)
		}
		return t, nil
	}
	if !strings.Contains(s, "T") {
		return time.Time{}, fmt.Errorf("date %q: expected YYYY-MM-DD or a dateTime with a time zone", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: expected YYYY-MM-DD or a dateTime with a time zone", s)
	}
	return t, nil
}

// deathParams reads and checks the parameters; every problem is a 400.
func deathParams(req *service.OperationRequest) (deathInput, error) {
	known := map[string]bool{"date": true, "place": true, "placeDetail": true}
	for name := range req.Query {
		if !known[name] && name != "_format" && name != "_pretty" { // the response format is the REST layer's
			return deathInput{}, outcome.Errorf(outcome.Invalid, "unknown parameter %q: $record-death takes date, place and placeDetail", name)
		}
	}
	ps, _ := req.Parameters["parameter"].([]any)
	seen := map[string]bool{}
	for i, x := range ps {
		m, _ := x.(map[string]any)
		name, _ := m["name"].(string)
		if !known[name] {
			return deathInput{}, outcome.Errorf(outcome.Invalid, "Parameters.parameter[%d]: unknown parameter %q: $record-death takes date, place and placeDetail", i, name)
		}
		if seen[name] {
			return deathInput{}, outcome.Errorf(outcome.Invalid, "Parameters.parameter[%d]: parameter %q given twice", i, name)
		}
		seen[name] = true
	}
	if req.Resource != nil {
		return deathInput{}, outcome.Errorf(outcome.Invalid, "$record-death takes a Parameters resource, not a %s", resource.Type(req.Resource))
	}
	in := deathInput{date: req.String("date"), place: req.String("place"), placeDetail: strings.TrimSpace(req.String("placeDetail"))}
	if in.date == "" {
		return in, outcome.Errorf(outcome.Invalid, "parameter date (the date of death, YYYY-MM-DD or a dateTime) is required")
	}
	var err error
	if in.at, err = ParseDeathDate(in.date); err != nil {
		return in, outcome.Errorf(outcome.Invalid, "parameter %v", err)
	}
	if in.place == "" {
		return in, outcome.Errorf(outcome.Invalid, "parameter place (the actual place of death, an NHS Data Dictionary death location type code: 10, 20, 21, 22, 30, 40 or 50) is required")
	}
	if _, ok := deathPlaces[in.place]; !ok {
		return in, outcome.Errorf(outcome.Invalid, "parameter place %q is not an NHS Data Dictionary death location type code (10, 20, 21, 22, 30, 40 or 50)", in.place)
	}
	if in.place == profiles.DeathLocationOther && in.placeDetail == "" {
		return in, outcome.Errorf(outcome.Invalid, "place 50 (other) needs placeDetail, the place in words")
	}
	return in, nil
}

// recordDeath is Patient/{id}/$record-death.
func (p *Plans) recordDeath(ctx context.Context, svc DeathService, req *service.OperationRequest) (int, any, error) {
	in, err := deathParams(req)
	if err != nil {
		return 0, nil, err
	}
	pv, err := svc.Read(ctx, "Patient", req.ID)
	if err != nil {
		return 0, nil, err
	}
	patient, err := parseVersion(pv)
	if err != nil {
		return 0, nil, err
	}
	if Deceased(patient) {
		return 0, nil, outcome.Errorf(outcome.Conflict, "Patient/%s is already recorded as deceased; correct the record with an update of the Patient", req.ID)
	}
	now := p.cfg.Now()
	if in.at.After(now) {
		return 0, nil, outcome.Errorf(outcome.Invalid, "parameter date %s is in the future", in.date)
	}
	if bd := resource.Str(patient, "birthDate"); bd != "" && len(in.date) >= len(bd) && in.date[:len(bd)] < bd {
		return 0, nil, outcome.Errorf(outcome.Invalid, "parameter date %s is before the patient's birth date %s", in.date, bd)
	}
	plans, err := p.patientPlans(ctx, req.ID)
	if err != nil {
		return 0, nil, err
	}
	achieved, basis, err := p.preferredAchieved(ctx, plans, in.place)
	if err != nil {
		return 0, nil, err
	}

	patient["deceasedDateTime"] = in.date
	entries := []*service.Entry{{
		Method: http.MethodPut, Type: "Patient", ID: req.ID, Path: "Patient/" + req.ID,
		Resource: patient, IfMatch: pv.VersionID,
	}}
	obsURN := "urn:uuid:" + uuid.NewString()
	entries = append(entries, &service.Entry{
		Method: http.MethodPost, Type: "Observation", Path: "Observation", FullURL: obsURN,
		Resource: placeOfDeath(req.ID, in, achieved, basis),
	})
	targets := []reference{{Reference: "Patient/" + req.ID + "/_history/" + strconv.FormatInt(pv.VersionID+1, 10)}, {Reference: obsURN}}
	for _, pl := range plans {
		res := pl.res
		// A plan in force ends with the patient's life: completed. A draft
		// (or a plan held from draft) was never approved and now never
		// will be: revoked, so it never counts as a completed plan.
		if resource.Str(res, "status") == "active" || pl.approved {
			res["status"] = "completed"
		} else {
			res["status"] = "revoked"
		}
		// An ended plan records when it ended (ucp-cp-2): at the death,
		// unless it already says.
		period := asMap(res["period"])
		if period == nil {
			period = map[string]any{}
		}
		if _, ok := period["end"]; !ok {
			period["end"] = in.date
		}
		res["period"] = period
		entries = append(entries, &service.Entry{
			Method: http.MethodPut, Type: "CarePlan", ID: pl.v.ID, Path: "CarePlan/" + pl.v.ID,
			Resource: res, IfMatch: pl.v.VersionID,
		})
		targets = append(targets, reference{Reference: "CarePlan/" + pl.v.ID + "/_history/" + strconv.FormatInt(pl.v.VersionID+1, 10)})
	}
	prov := provenance{
		ResourceType: "Provenance",
		Meta:         meta{Profile: []string{profiles.ProfileUKCoreProvenance}},
		Target:       targets,
		Recorded:     resource.FormatInstant(now.UTC().Truncate(time.Microsecond)),
		Activity:     concept{Text: "Death recorded"},
		Agent: []provAgent{{
			Type: concept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/provenance-participant-type", Code: "author", Display: "Author"}}},
			Who:  recorder(ctx),
		}},
		Reason: []concept{{Text: "Death of the patient recorded against the urgent care plan"}},
	}
	entries = append(entries, &service.Entry{Method: http.MethodPost, Type: "Provenance", Path: "Provenance", Resource: tree(prov)})
	for i, e := range entries {
		e.Index = i
		e.URL = e.Path
	}
	results, err := svc.Transaction(ctx, entries)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, deathResult(results, achieved), nil
}

// recorder is who recorded the death, for the Provenance.
func recorder(ctx context.Context) reference {
	pr := auth.FromContext(ctx)
	switch {
	case pr == nil:
		return reference{Display: "unknown (no authenticated user)"}
	case pr.FHIRUser != "":
		return reference{Reference: pr.FHIRUser, Display: pr.Name}
	case pr.UserID != "" && !pr.IsSystem():
		return reference{Identifier: &identifier{System: profiles.SystemSDSUserID, Value: pr.UserID}, Display: pr.Name}
	case pr.ClientID != "":
		return reference{Display: "system " + pr.ClientID}
	}
	return reference{Display: "unknown (" + pr.Subject + ")"}
}

// deathResult is the operation's answer: a Parameters naming what was
// written, and whether the preferred place was achieved when it could be
// told.
func deathResult(results []service.EntryResult, achieved *bool) map[string]any {
	var params []any
	for _, r := range results {
		if r.Version == nil {
			continue
		}
		name := map[string]string{"Patient": "patient", "Observation": "placeOfDeath", "CarePlan": "plan", "Provenance": "provenance"}[r.Version.Type]
		params = append(params, map[string]any{"name": name, "valueReference": map[string]any{
			"reference": r.Version.Type + "/" + r.Version.ID + "/_history/" + strconv.FormatInt(r.Version.VersionID, 10)}})
	}
	if achieved != nil {
		params = append(params, map[string]any{"name": "preferredPlaceAchieved", "valueBoolean": *achieved})
	}
	return map[string]any{"resourceType": "Parameters", "parameter": params}
}

// placeOfDeath is the Observation of the actual place of death.
func placeOfDeath(patient string, in deathInput, achieved *bool, basis string) map[string]any {
	obs := map[string]any{
		"resourceType": "Observation",
		"meta":         map[string]any{"profile": []any{profiles.ProfilePlaceOfDeath}},
		"status":       "final",
		"code": map[string]any{"coding": []any{map[string]any{
			"system": profiles.SystemUCP, "code": profiles.CodeActualPlaceOfDeath, "display": "Actual place of death"}}},
		"subject":           map[string]any{"reference": "Patient/" + patient},
		"effectiveDateTime": in.date,
		"valueCodeableConcept": map[string]any{"coding": []any{map[string]any{
			"system": profiles.SystemDeathLocationType, "code": in.place, "display": deathPlaces[in.place]}}},
	}
	var comps []any
	if in.placeDetail != "" {
		comps = append(comps, map[string]any{
			"code":        map[string]any{"coding": []any{map[string]any{"system": profiles.SystemUCP, "code": profiles.CodePlaceDetail}}},
			"valueString": in.placeDetail,
		})
	}
	if achieved != nil {
		comps = append(comps, map[string]any{
			"code":         map[string]any{"coding": []any{map[string]any{"system": profiles.SystemUCP, "code": profiles.CodePreferredPlaceAchieved, "display": "Preferred place of death achieved"}}},
			"valueBoolean": *achieved,
		})
		obs["derivedFrom"] = []any{map[string]any{"reference": basis}}
	}
	if comps != nil {
		obs["component"] = comps
	}
	return obs
}

// patientPlan is one of the patient's urgent care plans a death ends.
type patientPlan struct {
	v        *store.Version
	res      map[string]any
	approved bool // on hold after having been active
}

// patientPlans returns the patient's urgent care plans that are still open
// (draft, active, on hold), read from the store rather than as the caller:
// a plan the caller may not see (consent withdrawn) must end too, or it
// would stay in force for a dead patient.
func (p *Plans) patientPlans(ctx context.Context, patient string) ([]patientPlan, error) {
	q, err := p.cfg.Registry.ParseCondition(ctx, "CarePlan", "subject="+url.QueryEscape("Patient/"+patient)+"&status=draft,active,on-hold")
	if err != nil {
		return nil, err
	}
	q.Types = []string{"CarePlan"}
	q.Count = maxPlansPerPatient + 1
	q.Total = store.TotalNone
	r, err := p.cfg.Store.Search(ctx, *q)
	if err != nil {
		return nil, err
	}
	if len(r.Versions) > maxPlansPerPatient {
		return nil, outcome.Errorf(outcome.Unprocessable, "Patient/%s has more than %d open care plans; close the ones filed in error first", patient, maxPlansPerPatient)
	}
	var out []patientPlan
	for i := range r.Versions {
		v := &r.Versions[i]
		res, err := parseVersion(v)
		if err != nil {
			return nil, err
		}
		if !IsUrgentCarePlan(res) {
			continue
		}
		pl := patientPlan{v: v, res: res}
		if resource.Str(res, "status") == "on-hold" {
			if pl.approved, err = p.everActive(ctx, v); err != nil {
				return nil, err
			}
		}
		out = append(out, pl)
	}
	return out, nil
}

// preferredAchieved derives whether the actual place of death is the
// first-choice preferred place of death of the patient's plan in force:
// nil when it cannot be told (no approved plan, no first choice recorded,
// or a choice that is not a place, such as "undecided", or "other").
// basis is the preference it was compared with (Observation/id/_history/n).
func (p *Plans) preferredAchieved(ctx context.Context, plans []patientPlan, actual string) (*bool, string, error) {
	for _, pl := range plans {
		if resource.Str(pl.res, "status") != "active" && !pl.approved {
			continue
		}
		for _, r := range resource.List(pl.res["supportingInfo"]) {
			ref := resource.ParseReference(resource.Str(asMap(r), "reference"))
			if !ref.IsLocal() || ref.Type != "Observation" {
				continue
			}
			var v *store.Version
			var err error
			if ref.Version != "" {
				n, _ := strconv.ParseInt(ref.Version, 10, 64)
				v, err = p.cfg.Store.VRead(ctx, "Observation", ref.ID, n)
			} else {
				v, err = p.cfg.Store.Read(ctx, "Observation", ref.ID)
			}
			if k := outcome.KindOf(err); err != nil && (k == outcome.NotFound || k == outcome.Gone) || err == nil && v.Deleted {
				continue
			} else if err != nil {
				return nil, "", err
			}
			obs, err := parseVersion(v)
			if err != nil {
				return nil, "", err
			}
			if !live(obs) || !resource.HasCoding(obs["code"], profiles.SystemUCP, profiles.CodePreferredPlaceOfDeath) || PreferenceRank(obs) != 1 {
				continue
			}
			preferred := ""
			for _, c := range resource.List(asMap(obs["valueCodeableConcept"])["coding"]) {
				if cm := asMap(c); resource.Str(cm, "system") == profiles.SystemDeathLocationType {
					preferred = resource.Str(cm, "code")
				}
			}
			if preferred == "" || preferred == profiles.DeathLocationOther || actual == profiles.DeathLocationOther {
				return nil, "", nil
			}
			ok := PlaceAchieved(preferred, actual)
			return &ok, versionRef(v), nil
		}
	}
	return nil, "", nil
}

// PlaceAchieved reports whether a death at actual meets a preference for
// preferred, both death location type codes: the same place, or a private
// residence (20) met by the patient's own home (21) or another private
// residence (22), which are the kinds of it.
func PlaceAchieved(preferred, actual string) bool {
	if preferred == actual {
		return true
	}
	return preferred == profiles.DeathLocationPrivateResidence &&
		(actual == profiles.DeathLocationOwnHome || actual == profiles.DeathLocationOtherResidence)
}

// PreferenceRank is a preferred place Observation's rank component (1 =
// first choice), 0 when it has none.
func PreferenceRank(obs map[string]any) int {
	for _, c := range resource.List(obs["component"]) {
		cm := asMap(c)
		if !resource.HasCoding(cm["code"], profiles.SystemUCP, profiles.CodePreferenceRank) {
			continue
		}
		switch v := cm["valueInteger"].(type) {
		case interface{ Int64() (int64, error) }:
			n, _ := v.Int64()
			return int(n)
		case float64:
			return int(v)
		}
	}
	return 0
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// Deceased reports whether a Patient is recorded as deceased.
func Deceased(patient map[string]any) bool {
	_, dated := patient["deceasedDateTime"]
	return dated || patient["deceasedBoolean"] == true
}
