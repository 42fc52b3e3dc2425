package patientplan

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/profiles"
	"ucp/store"
)

func answer(link string, value map[string]any) map[string]any {
	return map[string]any{"linkId": link, "answer": []any{value}}
}

// TestAnswersToPlan: what each answer pre-fills, and what it never does.
func TestAnswersToPlan(t *testing.T) {
	home := map[string]any{"valueCoding": map[string]any{"system": profiles.SystemDeathLocationType, "code": "21"}}
	dau := map[string]any{"valueCoding": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "DAU"}}
	for _, tc := range []struct {
		name  string
		items []any
		want  []string
	}{
		{"nothing answered", nil, nil},
		{"place of death with its reason", []any{map[string]any{"linkId": "matters", "item": []any{
			answer(profiles.QItemPlaceOfDeath, home),
			answer(profiles.QItemPlaceOfDeathReason, map[string]any{"valueString": "My family is here"}),
		}}}, []string{"Observation UCPPreferredPlace preferred-place-of-death 21 note:My family is here"}},
		{"a place outside the value set is left for the clinician", []any{map[string]any{"linkId": "matters", "item": []any{
			answer(profiles.QItemPlaceOfCare, map[string]any{"valueCoding": map[string]any{"system": "http://example.org", "code": "x"}}),
		}}}, nil},
		{"a full contact is a key contact; one without a phone a plain RelatedPerson", []any{map[string]any{"linkId": "contacts", "item": []any{
			map[string]any{"linkId": profiles.QItemContact, "item": []any{answer(profiles.QItemContactName, map[string]any{"valueString": "Sam"}),
				answer(profiles.QItemContactRelation, dau), answer(profiles.QItemContactPhone, map[string]any{"valueString": "07700 900123"})}},
			map[string]any{"linkId": profiles.QItemContact, "item": []any{answer(profiles.QItemContactName, map[string]any{"valueString": "Alex"})}},
			map[string]any{"linkId": profiles.QItemContact, "item": []any{answer(profiles.QItemContactPhone, map[string]any{"valueString": "07700 900123"})}},
		}}}, []string{"RelatedPerson UCPKeyContact Sam", "RelatedPerson - Alex"}},
		{"resuscitation wishes are a Goal in the patient's words", []any{map[string]any{"linkId": "ahead", "item": []any{
			answer(profiles.QItemResuscitation, map[string]any{"valueString": "No CPR for me"}),
		}}}, []string{"Goal My wishes about resuscitation, in my own words: No CPR for me"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qr := map[string]any{"resourceType": "QuestionnaireResponse", "item": tc.items}
			pf := answersToPlan(qr, map[string]any{"reference": "Patient/p"}, "QuestionnaireResponse/q/_history/2", "2026-12-07T10:00:00Z")
			var got []string
			for _, e := range append(append(append([]*service.Entry{}, pf.places...), pf.contacts...), pf.goals...) {
				r := e.Resource
				profile := "-"
				for _, p := range resource.List(resource.Obj(r, "meta")["profile"]) {
					profile = p.(string)[len(profiles.BaseURL):]
				}
				switch resource.Type(r) {
				case "Observation":
					code := resource.Str(resource.List(resource.Obj(r, "code")["coding"])[0].(map[string]any), "code")
					value := resource.Str(resource.List(resource.Obj(r, "valueCodeableConcept")["coding"])[0].(map[string]any), "code")
					note := resource.Str(resource.List(r["note"])[0].(map[string]any), "text")
					got = append(got, "Observation "+profile+" "+code+" "+value+" note:"+note)
					if resource.Str(resource.List(r["derivedFrom"])[0].(map[string]any), "reference") != "QuestionnaireResponse/q/_history/2" {
						t.Errorf("the place is not derived from the answers: %v", r["derivedFrom"])
					}
				case "RelatedPerson":
					got = append(got, "RelatedPerson "+profile+" "+resource.Str(resource.List(r["name"])[0].(map[string]any), "text"))
				case "Goal":
					got = append(got, "Goal "+resource.Str(resource.Obj(r, "description"), "text"))
					if resource.Str(resource.Obj(r, "expressedBy"), "reference") != "Patient/p" {
						t.Errorf("the wish is not the patient's: %v", r["expressedBy"])
					}
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("pre-filled (-want +got):\n%s", d)
			}
		})
	}
}

// TestApprovesFromDraft: only a plan's first approval tells the patient.
func TestApprovesFromDraft(t *testing.T) {
	version := func(status string) *store.Version {
		b, _ := json.Marshal(map[string]any{"resourceType": "CarePlan", "status": status})
		return &store.Version{JSON: b}
	}
	comp := []map[string]any{{"resourceType": "Composition"}}
	for _, tc := range []struct {
		name string
		op   service.WriteOp
		want bool
	}{
		{"draft to active with its Composition", service.WriteOp{Type: "CarePlan", Resource: map[string]any{"status": "active"}, Previous: version("draft"), Extra: comp}, true},
		{"created active", service.WriteOp{Type: "CarePlan", Resource: map[string]any{"status": "active"}, Extra: comp}, true},
		{"a review of an active plan", service.WriteOp{Type: "CarePlan", Resource: map[string]any{"status": "active"}, Previous: version("active"), Extra: comp}, false},
		{"no approval written", service.WriteOp{Type: "CarePlan", Resource: map[string]any{"status": "active"}, Previous: version("draft")}, false},
		{"a draft saved", service.WriteOp{Type: "CarePlan", Resource: map[string]any{"status": "draft"}, Previous: version("draft"), Extra: comp}, false},
		{"not a plan", service.WriteOp{Type: "Task", Resource: map[string]any{"status": "active"}, Extra: comp}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := approvesFromDraft(&tc.op); got != tc.want {
				t.Errorf("approvesFromDraft = %v, want %v", got, tc.want)
			}
		})
	}
}
