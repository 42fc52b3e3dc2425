package validate_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ucp/fhir/resource"
	"ucp/fhir/validate"
)

// servedTypes are the resource types the server serves; their official
// examples must validate.
var servedTypes = map[string]bool{
	"Patient": true, "Practitioner": true, "PractitionerRole": true, "Organization": true, "RelatedPerson": true,
	"CareTeam": true, "CarePlan": true, "Goal": true, "Consent": true, "Condition": true, "Observation": true,
	"ClinicalImpression": true, "Flag": true, "MedicationStatement": true, "AllergyIntolerance": true,
	"ServiceRequest": true, "DocumentReference": true, "Composition": true, "Questionnaire": true,
	"QuestionnaireResponse": true, "Task": true, "Provenance": true, "AuditEvent": true, "Subscription": true,
	"SearchParameter": true, "StructureDefinition": true, "ValueSet": true, "Binary": true, "Bundle": true,
}

// exampleExceptions lists official examples that truly break a base rule,
// keyed by file name: the issues they are expected to have (matched by a
// substring of the message) and why.
var exampleExceptions = map[string]struct{ message, why string }{
	"Questionnaire-qs1.json": {"missing required element linkId",
		"its nested display items have no linkId, which Questionnaire.item.linkId (1..1) requires"},
	"Observation-clinical-gender.json": {"a reference to a Encounter is not allowed",
		"its performer is Encounter/example, which Observation.performer's targets (Practitioner, PractitionerRole, Organization, CareTeam, Patient, RelatedPerson) do not include"},
}

func TestOfficialExamples(t *testing.T) {
	dir := os.Getenv("FHIR_EXAMPLES")
	if dir == "" {
		t.Skip("FHIR_EXAMPLES is not set")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		base := filepath.Base(f)
		typ, _, _ := strings.Cut(base, "-")
		if !servedTypes[typ] {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := resource.Parse(data)
		if err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		n++
		issues := validate.Resource(res)
		ex, excepted := exampleExceptions[base]
		for _, is := range issues {
			if is.Severity != validate.SeverityError {
				continue
			}
			if excepted && strings.Contains(is.Message, ex.message) {
				continue
			}
			t.Errorf("%s: %s", base, is)
		}
	}
	t.Logf("validated %d official examples", n)
}
