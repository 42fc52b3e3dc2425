package web

import (
	"strings"
	"testing"
	"time"

	"ucp/profiles"
)

func TestValidSCTID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"254637007", true},         // Non-small cell lung cancer
		{"37340000", true},          // Motor neuron disease
		{"304251008", true},         // Resuscitation status
		{"36128511000001108", true}, // dm+d: morphine 10mg/1ml ampoules, an extension id
		{"36128511000001109", false},
		{"254637008", false}, // check digit wrong
		{"254637", false},    // too short for its check digit
		{"0254637007", false},
		{"25463700x", false},
		{"", false},
		{"450476018", false}, // partition 01: a description id, not a concept
	} {
		if got := validSCTID(tc.id); got != tc.want {
			t.Errorf("validSCTID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestUKPhone(t *testing.T) {
	for _, tc := range []struct {
		phone string
		want  bool
	}{
		{"07700 900123", true},
		{"020 7946 0101", true},
		{"+44 20 7946 0101", true},
		{"+44 7700 900123", true},
		{"(01632) 960 001", true},
		{"0161-496-0000", true},
		{"0770 090", false},            // too few digits
		{"07700 9001234", false},       // too many
		{"+1 202 555 0100", false},     // not a UK number
		{"+44 (0) 7700 900123", false}, // the 0 and the +44 together
		{"00 44 7700 900123", false},
		{"7700 900123", false},
		{"07700 900123 ext 2", false},
		{"", false},
	} {
		if got := ukPhone(tc.phone); got != tc.want {
			t.Errorf("ukPhone(%q) = %v, want %v", tc.phone, got, tc.want)
		}
	}
}

func TestSameKind(t *testing.T) {
	flag := func(code string) map[string]any {
		return map[string]any{"resourceType": "Flag", "code": concept(profiles.SystemSNOMED, code)}
	}
	obs := func(system, code string) map[string]any {
		return map[string]any{"resourceType": "Observation", "code": concept(system, code)}
	}
	for _, tc := range []struct {
		name     string
		old, new map[string]any
		want     bool
	}{
		{"ADRT replaces ADRT", flag(profiles.CodeADRT), flag(profiles.CodeADRTLifeSustaining), true},
		{"ADRT never replaces the LPA", flag(profiles.CodeLPA), flag(profiles.CodeADRTLifeSustaining), false},
		{"LPA never replaces the ADRT", flag(profiles.CodeADRT), flag(profiles.CodeLPALifeSustaining), false},
		{"CPR decision replaces CPR decision", obs(profiles.SystemSNOMED, profiles.CodeResuscitationStatus), obs(profiles.SystemSNOMED, profiles.CodeResuscitationStatus), true},
		{"ceiling never replaces the CPR decision", obs(profiles.SystemSNOMED, profiles.CodeResuscitationStatus), obs(profiles.SystemSNOMED, profiles.CodeTreatmentEscalation), false},
		{"a key contact is added", map[string]any{"resourceType": "RelatedPerson"}, map[string]any{"resourceType": "RelatedPerson"}, false},
		{"the attorney replaces the attorney", attorney(), attorney(), true},
		{"a key contact never replaces the attorney", attorney(), map[string]any{"resourceType": "RelatedPerson"}, false},
		{"the attorney never replaces a key contact", map[string]any{"resourceType": "RelatedPerson"}, attorney(), false},
		{"a medicine is added", map[string]any{"resourceType": "MedicationStatement"}, map[string]any{"resourceType": "MedicationStatement"}, false},
		{"prognosis replaces prognosis", map[string]any{"resourceType": "ClinicalImpression"}, map[string]any{"resourceType": "ClinicalImpression"}, true},
	} {
		if got := sameKind(tc.old, tc.new); got != tc.want {
			t.Errorf("%s: sameKind = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func attorney() map[string]any {
	return map[string]any{"resourceType": "RelatedPerson", "relationship": []any{concept(profiles.SystemV3RoleCode, profiles.RelationshipHealthcarePOA)}}
}

func concept(system, c string) map[string]any {
	return map[string]any{"coding": []any{map[string]any{"system": system, "code": c}}}
}

// FuzzFormValues feeds what a person may type into the parsers of the
// pages' inputs: none may panic, a tel: link holds only digits, and an id
// or NHS number accepted is all digits.
func FuzzFormValues(f *testing.F) {
	for _, s := range []string{"254637007", "9434765919", "943 476 5919", "1940-02-03", "2026-11-15T10:00:00Z", "2026-11", "07700 900123", "+44 20 7946 0101", "", "٣٤٥", "Observation/x/_history/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		digits := func(v string) bool {
			for _, r := range v {
				if r < '0' || r > '9' {
					return false
				}
			}
			return v != ""
		}
		if validSCTID(s) && !digits(s) {
			t.Errorf("validSCTID(%q) accepted non-digits", s)
		}
		if validNHSNumber(s) && (!digits(s) || len(s) != 10) {
			t.Errorf("validNHSNumber(%q) accepted it", s)
		}
		if u := string(telURI(s)); u != "" {
			rest := strings.TrimPrefix(strings.TrimPrefix(u, "tel:"), "+")
			if !strings.HasPrefix(u, "tel:") || !digits(rest) {
				t.Errorf("telURI(%q) = %q", s, u)
			}
		}
		if ukPhone(s) && telURI(s) == "" {
			t.Errorf("ukPhone(%q) accepted a number with no tel: link", s)
		}
		_ = longDate(s)
		_, _ = age(s, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
		_, _, _ = refParts(s)
		_ = validDate(s)
	})
}
