package careplan_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/careplan"
	"ucp/internal/resttest"
	"ucp/profiles"
)

// preferredDeath is a UCPPreferredPlace Observation of the place where
// Patient/pat would like to die.
func preferredDeath(id, place string, rank int) map[string]any {
	return map[string]any{
		"resourceType": "Observation", "id": id, "status": "final",
		"meta":                 map[string]any{"profile": []any{profiles.ProfilePreferredPlace}},
		"code":                 resttest.Concept(profiles.SystemUCP, profiles.CodePreferredPlaceOfDeath, "Preferred place of death"),
		"subject":              resttest.Ref("Patient/pat"),
		"effectiveDateTime":    "2026-11-01T10:00:00Z",
		"valueCodeableConcept": resttest.Concept(profiles.SystemDeathLocationType, place, ""),
		"component": []any{map[string]any{
			"code":         resttest.Concept(profiles.SystemUCP, profiles.CodePreferenceRank, "Preference rank"),
			"valueInteger": rank,
		}},
	}
}

// planWithPreference is an approved plan for Patient/pat whose first
// choice of place of death is place (none when "").
func planWithPreference(t *testing.T, place string) *server {
	t.Helper()
	s := mustServer(t)
	plan := seed(s)
	if place != "" {
		s.must(201, "PUT", "Observation/ppd1", preferredDeath("ppd1", place, 1), "clinical")
		s.must(201, "PUT", "Observation/ppd2", preferredDeath("ppd2", profiles.DeathLocationHospital, 2), "clinical")
		plan["supportingInfo"] = append(plan["supportingInfo"].([]any), resttest.Ref("Observation/ppd2"), resttest.Ref("Observation/ppd1"))
	}
	s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentGiven, "active", "permit", "2026-10-01T09:00:00Z"), "clinical")
	s.must(201, "PUT", "CarePlan/plan", with(plan, "status", "active"), "clinical")
	return s
}

func deathParams(params ...string) map[string]any {
	var ps []any
	for i := 0; i+1 < len(params); i += 2 {
		ps = append(ps, map[string]any{"name": params[i], "value" + map[string]string{"date": "DateTime", "place": "Code", "placeDetail": "String"}[params[i]]: params[i+1]})
	}
	return map[string]any{"resourceType": "Parameters", "parameter": ps}
}

// placeOfDeath returns the patient's actual place of death Observations.
func placesOfDeath(s *server) []map[string]any {
	return entries(s.must(200, "GET", "Observation?subject=Patient/pat&code="+profiles.SystemUCP+"|"+profiles.CodeActualPlaceOfDeath, nil, "clinical"))
}

// achieved is the derived component of a place of death Observation: "true",
// "false" or "" when absent.
func achieved(obs map[string]any) string {
	for _, c := range obs["component"].([]any) {
		cm := c.(map[string]any)
		if strings.Contains(diagnosticsOf(cm["code"]), profiles.CodePreferredPlaceAchieved) {
			if cm["valueBoolean"] == true {
				return "true"
			}
			return "false"
		}
	}
	return ""
}

func diagnosticsOf(v any) string {
	m := map[string]any{"issue": v}
	return diagnostics(m)
}

// Recording a death writes, in one transaction, the date on the Patient,
// the actual place with whether the first-choice preference was achieved
// (derived by the server), the plan completed and a Provenance; the death
// is not recorded twice.
func TestRecordDeath(t *testing.T) {
	for _, tc := range []struct {
		name, preferred, actual, want string
	}{
		{"died at home as wished", profiles.DeathLocationOwnHome, profiles.DeathLocationOwnHome, "true"},
		{"died in hospital, wished home", profiles.DeathLocationOwnHome, profiles.DeathLocationHospital, "false"},
		{"a private residence met by own home", profiles.DeathLocationPrivateResidence, profiles.DeathLocationOwnHome, "true"},
		{"hospice wished, care home", profiles.DeathLocationHospice, profiles.DeathLocationCareHome, "false"},
		{"no preference recorded", "", profiles.DeathLocationHospital, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := planWithPreference(t, tc.preferred)
			res := s.must(200, "POST", "Patient/pat/$record-death", deathParams("date", "2026-11-20", "place", tc.actual), "clinical")
			got := map[string]string{}
			for _, p := range res["parameter"].([]any) {
				pm := p.(map[string]any)
				if r, ok := pm["valueReference"].(map[string]any); ok {
					got[pm["name"].(string)] = strings.SplitN(r["reference"].(string), "/", 2)[0]
				}
				if b, ok := pm["valueBoolean"].(bool); ok {
					got[pm["name"].(string)] = map[bool]string{true: "true", false: "false"}[b]
				}
			}
			want := map[string]string{"patient": "Patient", "placeOfDeath": "Observation", "plan": "CarePlan", "provenance": "Provenance"}
			if tc.want != "" {
				want["preferredPlaceAchieved"] = tc.want
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("$record-death answer (-want +got):\n%s", diff)
			}

			pat := s.must(200, "GET", "Patient/pat", nil, "clinical")
			if pat["deceasedDateTime"] != "2026-11-20" {
				t.Errorf("Patient.deceasedDateTime = %v, want 2026-11-20", pat["deceasedDateTime"])
			}
			plan := s.must(200, "GET", "CarePlan/plan", nil, "clinical")
			if plan["status"] != "completed" || plan["meta"].(map[string]any)["versionId"] != "2" {
				t.Errorf("plan after the death: status %v version %v, want completed 2", plan["status"], plan["meta"].(map[string]any)["versionId"])
			}
			places := placesOfDeath(s)
			if len(places) != 1 {
				t.Fatalf("%d actual place of death Observations, want 1", len(places))
			}
			obs := places[0]
			if v := obs["valueCodeableConcept"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"]; v != tc.actual {
				t.Errorf("actual place %v, want %s", v, tc.actual)
			}
			if tc.want != "" {
				if got := achieved(obs); got != tc.want {
					t.Errorf("preferred place achieved = %q, want %q", got, tc.want)
				}
				if d := obs["derivedFrom"].([]any)[0].(map[string]any)["reference"]; d != "Observation/ppd1/_history/1" {
					t.Errorf("derivedFrom %v, want the first choice Observation/ppd1/_history/1", d)
				}
			} else if obs["component"] != nil {
				t.Errorf("no preference, yet components %v", obs["component"])
			}
			provs := entries(s.must(200, "GET", "Provenance?target=CarePlan/plan", nil, "clinical"))
			var death map[string]any
			for _, p := range provs {
				if p["activity"].(map[string]any)["text"] == "Death recorded" {
					death = p
				}
			}
			if death == nil {
				t.Fatalf("no Provenance of the death among %d", len(provs))
			}
			var targets []string
			for _, tg := range death["target"].([]any) {
				targets = append(targets, strings.SplitN(tg.(map[string]any)["reference"].(string), "/", 2)[0])
			}
			if diff := cmp.Diff([]string{"Patient", "Observation", "CarePlan"}, targets); diff != "" {
				t.Errorf("Provenance targets (-want +got):\n%s", diff)
			}
			if who := death["agent"].([]any)[0].(map[string]any)["who"].(map[string]any)["reference"]; who != "Practitioner/dr" {
				t.Errorf("recorded by %v, want Practitioner/dr", who)
			}

			// The death is recorded once.
			if st, oo := s.do("POST", "Patient/pat/$record-death", deathParams("date", "2026-11-20", "place", tc.actual), "clinical"); st != 409 {
				t.Errorf("second $record-death: status %d, want 409: %s", st, diagnostics(oo))
			}
		})
	}
}

// A draft plan is revoked, not completed: it was never in force.
func TestRecordDeathRevokesDraft(t *testing.T) {
	s := mustServer(t)
	plan := seed(s)
	s.must(201, "POST", "Consent", consentRes(profiles.CodeConsentGiven, "active", "permit", "2026-10-01T09:00:00Z"), "clinical")
	s.must(201, "PUT", "CarePlan/plan", plan, "clinical")
	s.must(200, "POST", "Patient/pat/$record-death", deathParams("date", "2026-11-20T03:10:00Z", "place", profiles.DeathLocationHospice), "clinical")
	if got := s.must(200, "GET", "CarePlan/plan", nil, "clinical")["status"]; got != "revoked" {
		t.Errorf("draft plan after the death: %v, want revoked", got)
	}
}

// Bad input is a 400 (404 for an unknown patient) that writes nothing.
func TestRecordDeathBadInput(t *testing.T) {
	s := planWithPreference(t, profiles.DeathLocationOwnHome)
	s.must(200, "PUT", "Patient/pat", map[string]any{"resourceType": "Patient", "id": "pat", "birthDate": "1940-05-06"}, "clinical")
	for _, tc := range []struct {
		name   string
		path   string
		body   map[string]any
		status int
		say    string
	}{
		{"no date", "Patient/pat", deathParams("place", "21"), 400, "date"},
		{"no place", "Patient/pat", deathParams("date", "2026-11-20"), 400, "place"},
		{"a month only", "Patient/pat", deathParams("date", "2026-11", "place", "21"), 400, "YYYY-MM-DD"},
		{"no such day", "Patient/pat", deathParams("date", "2026-02-30", "place", "21"), 400, "YYYY-MM-DD"},
		{"a time without a zone", "Patient/pat", deathParams("date", "2026-11-20T03:00:00", "place", "21"), 400, "zone"},
		{"in the future", "Patient/pat", deathParams("date", "2999-01-01", "place", "21"), 400, "future"},
		{"before birth", "Patient/pat", deathParams("date", "1939-01-01", "place", "21"), 400, "birth"},
		{"unknown place code", "Patient/pat", deathParams("date", "2026-11-20", "place", "99"), 400, "death location type"},
		{"a SNOMED finding is no place", "Patient/pat", deathParams("date", "2026-11-20", "place", profiles.CodePPDUndecided), 400, "death location type"},
		{"other without words", "Patient/pat", deathParams("date", "2026-11-20", "place", "50"), 400, "placeDetail"},
		{"unknown parameter", "Patient/pat", map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "cause", "valueString": "x"}}}, 400, "unknown parameter"},
		{"a parameter twice", "Patient/pat", deathParams("date", "2026-11-20", "date", "2026-11-21", "place", "21"), 400, "twice"},
		{"not Parameters", "Patient/pat", map[string]any{"resourceType": "Patient"}, 400, "Parameters"},
		{"unknown patient", "Patient/nobody", deathParams("date", "2026-11-20", "place", "21"), 404, "nobody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, oo := s.do("POST", tc.path+"/$record-death", tc.body, "clinical")
			if st != tc.status || oo["resourceType"] != "OperationOutcome" || !strings.Contains(diagnostics(oo), tc.say) {
				t.Errorf("status %d, want %d with an OperationOutcome saying %q: %s", st, tc.status, tc.say, diagnostics(oo))
			}
		})
	}
	pat := s.must(200, "GET", "Patient/pat", nil, "clinical")
	plan := s.must(200, "GET", "CarePlan/plan", nil, "clinical")
	if pat["deceasedDateTime"] != nil || plan["status"] != "active" || len(placesOfDeath(s)) != 0 {
		t.Errorf("after refused requests: deceased %v, plan %v, %d places of death; want nothing written", pat["deceasedDateTime"], plan["status"], len(placesOfDeath(s)))
	}
}

func TestPlaceAchieved(t *testing.T) {
	for _, tc := range []struct {
		preferred, actual string
		want              bool
	}{
		{"21", "21", true},
		{"20", "21", true},
		{"20", "22", true},
		{"21", "20", false},
		{"21", "10", false},
		{"30", "40", false},
		{"10", "10", true},
	} {
		if got := careplan.PlaceAchieved(tc.preferred, tc.actual); got != tc.want {
			t.Errorf("PlaceAchieved(%s, %s) = %v, want %v", tc.preferred, tc.actual, got, tc.want)
		}
	}
}

// FuzzParseDeathDate: any input is a date or an error, never a panic, and
// an accepted date is a day or an instant with a zone.
func FuzzParseDeathDate(f *testing.F) {
	for _, s := range []string{"2026-11-20", "2026-11-20T03:10:00Z", "2026-11-20T03:10:00+01:00", "2026-11", "2026", "", "2026-02-30", "T", "2026-11-20T03:10:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := careplan.ParseDeathDate(s)
		if err == nil && d.IsZero() && s != "0001-01-01" && !strings.HasPrefix(s, "0001-01-01T00:00:00") {
			t.Errorf("ParseDeathDate(%q) accepted the zero time", s)
		}
		if err == nil && len(s) < len("2006-01-02") {
			t.Errorf("ParseDeathDate(%q) accepted less than a day", s)
		}
	})
}
