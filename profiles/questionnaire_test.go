package profiles_test

import (
	"context"
	"testing"

	"ucp/profiles"
)

// TestPatientPlanQuestionnaire checks the patient's form: it is a valid R4
// Questionnaire, every linkId is unique, every coded question draws on one
// of our ValueSets, every linkId the server reads is there, and nothing in
// it asks for a CPR decision as a code (the patient's wishes are their own
// words, never the clinical decision).
func TestPatientPlanQuestionnaire(t *testing.T) {
	qs := profiles.Questionnaires()
	if len(qs) != 1 {
		t.Fatalf("got %d Questionnaires, want 1", len(qs))
	}
	q := qs[0]
	if got := str(q, "url"); got != profiles.QuestionnairePatientPlan {
		t.Fatalf("url = %q, want %q", got, profiles.QuestionnairePatientPlan)
	}
	for name, v := range validators(t) {
		for _, is := range v.Validate(context.Background(), q) {
			if is.Severity == "error" {
				t.Errorf("%s: %s at %s: %s", name, is.Code, is.Expression, is.Message)
			}
		}
	}
	types := map[string]string{}
	var walk func(items []any)
	walk = func(items []any) {
		for _, it := range items {
			m := it.(map[string]any)
			id := str(m, "linkId")
			if _, dup := types[id]; dup {
				t.Errorf("linkId %q appears twice", id)
			}
			types[id] = str(m, "type")
			if vs := str(m, "answerValueSet"); vs != "" {
				if _, ok := profiles.Lookup(vs); !ok {
					t.Errorf("%s: answerValueSet %s is not one of ours", id, vs)
				}
				if vs == profiles.ValueSetResuscitationStatus {
					t.Errorf("%s asks for a CPR decision: a patient's wishes are words, never the decision", id)
				}
			} else if types[id] == "choice" {
				t.Errorf("%s is a choice with no answerValueSet", id)
			}
			walk(list(m, "item"))
		}
	}
	walk(list(q, "item"))
	for id, want := range map[string]string{
		profiles.QItemEmail: "string", profiles.QItemContact: "group", profiles.QItemContactName: "string",
		profiles.QItemContactRelation: "choice", profiles.QItemContactPhone: "string",
		profiles.QItemPlaceOfCare: "choice", profiles.QItemPlaceOfCareDetail: "string", profiles.QItemPlaceOfCareReason: "text",
		profiles.QItemPlaceOfDeath: "choice", profiles.QItemPlaceOfDeathDetail: "string", profiles.QItemPlaceOfDeathReason: "text",
		profiles.QItemResuscitation: "text", profiles.QItemWhatMatters: "text",
	} {
		if types[id] != want {
			t.Errorf("item %s has type %q, want %q", id, types[id], want)
		}
	}
}
