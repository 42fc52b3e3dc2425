package validate_test

import (
	"context"
	"strings"
	"testing"

	"ucp/fhir/resource"
	"ucp/fhir/validate"
)

func mustParse(t testing.TB, s string) map[string]any {
	t.Helper()
	res, err := resource.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return res
}

const narrative = `"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}`

// TestStructure runs invalid resources, each expecting an issue with a code
// at a FHIRPath location.
func TestStructure(t *testing.T) {
	tests := []struct {
		name, json, code, expr string
		severity               string // "" means error
	}{
		// element names
		{"unknown element", `{"resourceType":"Patient","name":[{"fmily":"x"}]}`, "structure", "Patient.name[0].fmily", ""},
		{"unknown top-level element", `{"resourceType":"Patient","foo":"x"}`, "structure", "Patient.foo", ""},
		{"unknown primitive extension", `{"resourceType":"Patient","_foo":{"id":"a"}}`, "structure", "Patient._foo", ""},
		{"primitive extension of complex element", `{"resourceType":"Patient","_name":{"id":"a"}}`, "structure", "Patient._name", ""},
		{"missing resourceType", `{"id":"x"}`, "structure", "Resource", ""},
		{"unknown resourceType", `{"resourceType":"Patientt"}`, "structure", "Patientt", ""},
		{"abstract resourceType", `{"resourceType":"DomainResource"}`, "structure", "DomainResource", ""},
		// primitive JSON types and lexical forms
		{"boolean as string", `{"resourceType":"Patient","active":"true"}`, "value", "Patient.active", ""},
		{"string as number", `{"resourceType":"Patient","name":[{"family":42}]}`, "value", "Patient.name[0].family", ""},
		{"integer out of range", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":3000000000}`, "value", "Observation.valueInteger", ""},
		{"integer with fraction", `{"resourceType":"Patient","multipleBirthInteger":2.5}`, "value", "Patient.multipleBirthInteger", ""},
		{"positiveInt zero", `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/1"},"activity":[{"detail":{"status":"scheduled","scheduledTiming":{"repeat":{"count":0}}}}]}`, "value", "CarePlan.activity[0].detail.scheduledTiming.repeat.count", ""},
		{"unsignedInt negative", `{"resourceType":"DocumentReference","status":"current","content":[{"attachment":{"size":-1}}]}`, "value", "DocumentReference.content[0].attachment.size", ""},
		{"decimal as string", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"1.5"}}`, "value", "Observation.valueQuantity.value", ""},
		{"bad date", `{"resourceType":"Patient","birthDate":"1990-13-01"}`, "value", "Patient.birthDate", ""},
		{"impossible day", `{"resourceType":"Patient","birthDate":"2023-02-30"}`, "value", "Patient.birthDate", ""},
		{"dateTime without timezone", `{"resourceType":"Patient","deceasedDateTime":"2020-01-01T10:00:00"}`, "value", "Patient.deceasedDateTime", ""},
		{"dateTime without seconds", `{"resourceType":"Patient","deceasedDateTime":"2020-01-01T10:00Z"}`, "value", "Patient.deceasedDateTime", ""},
		{"instant without timezone", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"issued":"2020-01-01T10:00:00"}`, "value", "Observation.issued", ""},
		{"instant date only", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"issued":"2020-01-01"}`, "value", "Observation.issued", ""},
		{"bad time", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueTime":"25:00:00"}`, "value", "Observation.valueTime", ""},
		{"code with spaces", `{"resourceType":"Patient","gender":" female"}`, "value", "Patient.gender", ""},
		{"bad id", `{"resourceType":"Patient","id":"a_b"}`, "value", "Patient.id", ""},
		{"uri with space", `{"resourceType":"Patient","identifier":[{"system":"http://x y","value":"1"}]}`, "value", "Patient.identifier[0].system", ""},
		{"bad oid", `{"resourceType":"Patient","extension":[{"url":"http://e","valueOid":"1.2.3"}]}`, "value", "Patient.extension[0].valueOid", ""},
		{"bad uuid", `{"resourceType":"Patient","extension":[{"url":"http://e","valueUuid":"urn:uuid:ABC"}]}`, "value", "Patient.extension[0].valueUuid", ""},
		{"bad base64", `{"resourceType":"Binary","contentType":"text/plain","data":"!!!"}`, "value", "Binary.data", ""},
		{"empty string", `{"resourceType":"Patient","name":[{"family":""}]}`, "value", "Patient.name[0].family", ""},
		{"empty div", `{"resourceType":"Patient","text":{"status":"generated","div":""}}`, "value", "Patient.text.div", ""},
		// JSON shape
		{"empty object", `{"resourceType":"Patient","name":[{}]}`, "structure", "Patient.name[0]", ""},
		{"object with only id", `{"resourceType":"Patient","name":[{"id":"n1"}]}`, "structure", "Patient.name[0]", ""},
		{"empty array", `{"resourceType":"Patient","name":[]}`, "structure", "Patient.name", ""},
		{"array for single", `{"resourceType":"Patient","gender":["male"]}`, "structure", "Patient.gender", ""},
		{"object for array", `{"resourceType":"Patient","name":{"family":"x"}}`, "structure", "Patient.name", ""},
		{"string for object", `{"resourceType":"Patient","maritalStatus":"M"}`, "structure", "Patient.maritalStatus", ""},
		{"two choice values", `{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020-01-01"}`, "structure", "Patient.deceasedDateTime", ""},
		{"primitive extension not object", `{"resourceType":"Patient","birthDate":"1990-01-01","_birthDate":"x"}`, "structure", "Patient.birthDate", ""},
		{"primitive extension arrays differ", `{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[{"id":"x"}]}]}`, "structure", "Patient.name[0].given", ""},
		{"null without extension", `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[{"id":"x"},null]}]}`, "structure", "Patient.name[0].given[1]", ""},
		{"primitive extension with unknown key", `{"resourceType":"Patient","birthDate":"1990-01-01","_birthDate":{"foo":1}}`, "structure", "Patient.birthDate.foo", ""},
		{"primitive extension with only id and no value", `{"resourceType":"Patient","_birthDate":{"id":"bd"}}`, "structure", "Patient.birthDate", ""},
		{"primitive extension single for list", `{"resourceType":"Patient","name":[{"given":["a"],"_given":{"id":"x"}}]}`, "structure", "Patient.name[0].given", ""},
		// cardinality
		{"missing required", `{"resourceType":"CarePlan","intent":"plan","subject":{"reference":"Patient/1"}}`, "required", "CarePlan.status", ""},
		{"missing required nested", `{"resourceType":"Patient","link":[{"other":{"reference":"Patient/2"}}]}`, "required", "Patient.link[0].type", ""},
		{"missing required goal status", `{"resourceType":"Goal","description":{"text":"x"},"subject":{"reference":"Patient/1"}}`, "required", "Goal.lifecycleStatus", ""},
		// extensions
		{"extension without url", `{"resourceType":"Patient","extension":[{"valueString":"x"}]}`, "required", "Patient.extension[0].url", ""},
		{"extension with value and extensions", `{"resourceType":"Patient","extension":[{"url":"http://e","valueString":"x","extension":[{"url":"a","valueString":"y"}]}]}`, "invariant", "Patient.extension[0]", ""},
		{"extension with neither", `{"resourceType":"Patient","extension":[{"url":"http://e"}]}`, "invariant", "Patient.extension[0]", ""},
		{"unknown modifier extension", `{"resourceType":"Patient","modifierExtension":[{"url":"http://e","valueBoolean":true}]}`, "extension", "Patient.modifierExtension[0]", ""},
		{"unknown nested modifier extension", `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/1"},"activity":[{"modifierExtension":[{"url":"http://e","valueBoolean":true}],"detail":{"status":"scheduled"}}]}`, "extension", "CarePlan.activity[0].modifierExtension[0]", ""},
		// reference targets of the base definitions
		{"reference target type", `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Practitioner/1"}}`, "structure", "CarePlan.subject", ""},
		{"contained reference target type", `{"resourceType":"CarePlan","contained":[{"resourceType":"Organization","id":"o"}],"status":"active","intent":"plan","subject":{"reference":"#o"}}`, "structure", "CarePlan.subject", ""},
		{"absolute reference target type", `{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"x"},"subject":{"reference":"https://other.example.org/fhir/Device/1"}}`, "structure", "Goal.subject", ""},
		// required bindings
		{"gender not in value set", `{"resourceType":"Patient","gender":"man"}`, "code-invalid", "Patient.gender", ""},
		{"careplan status", `{"resourceType":"CarePlan","status":"open","intent":"plan","subject":{"reference":"Patient/1"}}`, "code-invalid", "CarePlan.status", ""},
		{"careplan intent", `{"resourceType":"CarePlan","status":"active","intent":"wish","subject":{"reference":"Patient/1"}}`, "code-invalid", "CarePlan.intent", ""},
		{"narrative status", `{"resourceType":"Patient","text":{"status":"made-up","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`, "code-invalid", "Patient.text.status", ""},
		{"contact point system", `{"resourceType":"Patient","telecom":[{"system":"telex","value":"1"}]}`, "code-invalid", "Patient.telecom[0].system", ""},
		{"human name use", `{"resourceType":"Patient","name":[{"use":"nick","family":"x"}]}`, "code-invalid", "Patient.name[0].use", ""},
		{"identifier use", `{"resourceType":"Patient","identifier":[{"use":"main","value":"1"}]}`, "code-invalid", "Patient.identifier[0].use", ""},
		{"observation status", `{"resourceType":"Observation","status":"done","code":{"text":"x"}}`, "code-invalid", "Observation.status", ""},
		{"consent status", `{"resourceType":"Consent","status":"signed","scope":{"text":"x"},"category":[{"text":"x"}]}`, "code-invalid", "Consent.status", ""},
		{"task intent", `{"resourceType":"Task","status":"requested","intent":"wish"}`, "code-invalid", "Task.intent", ""},
		{"bundle type", `{"resourceType":"Bundle","type":"pile"}`, "code-invalid", "Bundle.type", ""},
		{"condition clinical status coding", `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"gone"}]}}`, "code-invalid", "Condition.clinicalStatus", ""},
		{"condition clinical status text only", `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"clinicalStatus":{"text":"active"}}`, "code-invalid", "Condition.clinicalStatus", ""},
		{"quantity comparator on Age", `{"resourceType":"Condition","subject":{"reference":"Patient/1"},"onsetAge":{"value":3,"comparator":"~","system":"http://unitsofmeasure.org","code":"a"}}`, "code-invalid", "Condition.onsetAge.comparator", ""},
		// contained resources
		{"contained without resourceType", `{"resourceType":"Patient","contained":[{"id":"x"}]}`, "structure", "Patient.contained[0]", ""},
		{"contained of unknown type", `{"resourceType":"Patient","contained":[{"resourceType":"Nope","id":"x"}]}`, "structure", "Patient.contained[0]", ""},
		{"contained with bad element", `{"resourceType":"Patient","contained":[{"resourceType":"Patient","id":"x","fmily":"y"}],"link":[{"other":{"reference":"#x"},"type":"seealso"}]}`, "structure", "Patient.contained[0].fmily", ""},
		{"nested contained", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","contained":[{"resourceType":"Organization","id":"o2"}]}],"managingOrganization":{"reference":"#o"}}`, "invariant", "Patient", ""},
		{"contained with versionId", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","meta":{"versionId":"1"}}],"managingOrganization":{"reference":"#o"}}`, "invariant", "Patient", ""},
		{"contained not referenced", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","name":"x"}]}`, "invariant", "Patient", ""},
		{"contained referring only to itself", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","partOf":{"reference":"#o"}}]}`, "invariant", "Patient", ""},
		{"bundle entry resource", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","fmily":"x"}}]}`, "structure", "Bundle.entry[0].resource.fmily", ""},
		// invariants of resources and datatypes
		{"pat-1 contact without details", `{"resourceType":"Patient","contact":[{"gender":"male"}]}`, "invariant", "Patient.contact[0]", ""},
		{"per-1 period reversed", `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/1"},"period":{"start":"2024-02-01","end":"2024-01-01"}}`, "invariant", "CarePlan.period", ""},
		{"cpl-3 reference and detail", `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/1"},"activity":[{"reference":{"reference":"ServiceRequest/1"},"detail":{"status":"scheduled"}}]}`, "invariant", "CarePlan.activity[0]", ""},
		{"obs-6 value with dataAbsentReason", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"x","dataAbsentReason":{"text":"unknown"}}`, "invariant", "Observation", ""},
		{"obs-7 component repeats code", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"1"}]},"valueString":"x","component":[{"code":{"coding":[{"system":"http://loinc.org","code":"1"}]},"valueString":"y"}]}`, "invariant", "Observation", ""},
		{"qty-3 code without system", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"code":"mg"}}`, "invariant", "Observation.valueQuantity", ""},
		{"ref-1 dangling local reference", `{"resourceType":"Patient","generalPractitioner":[{"reference":"#gp"}]}`, "invariant", "Patient.generalPractitioner[0]", ""},
		{"txt-1 narrative with script", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(1)</script></div>"}}`, "invariant", "Patient.text.div", ""},
		{"ait-2 status with entered-in-error", `{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/1"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical","code":"active"}]},"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/allergyintolerance-verification","code":"entered-in-error"}]}}`, "invariant", "AllergyIntolerance", ""},
		{"dom-6 no narrative is a warning", `{"resourceType":"Patient","active":true}`, "invariant", "Patient", "warning"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustParse(t, tt.json)
			issues := validate.Resource(res)
			sev := tt.severity
			if sev == "" {
				sev = validate.SeverityError
			}
			for _, is := range issues {
				if is.Severity == sev && is.Code == tt.code && is.Expression == tt.expr {
					return
				}
			}
			t.Errorf("want %s %s at %s; got:\n%s", sev, tt.code, tt.expr, dump(issues))
		})
	}
	t.Logf("%d structure cases", len(tests))
}

func dump(issues []validate.Issue) string {
	var b strings.Builder
	for _, is := range issues {
		b.WriteString("  " + is.String() + "\n")
	}
	return b.String()
}

func TestValidMinimalResources(t *testing.T) {
	for _, s := range []string{
		`{"resourceType":"Patient",` + narrative + `,"birthDate":"1990","_birthDate":{"extension":[{"url":"http://e","valueString":"x"}]}}`,
		`{"resourceType":"Patient",` + narrative + `,"name":[{"given":["a",null],"_given":[null,{"extension":[{"url":"http://e","valueString":"x"}]}]}]}`,
		`{"resourceType":"Patient",` + narrative + `,"birthDate":"1990-01-01","_birthDate":{"id":"bd"}}`,
		// dom-3: referenced through another contained resource, or referring to the container
		`{"resourceType":"Patient",` + narrative + `,"contained":[{"resourceType":"Organization","id":"a","name":"A"},{"resourceType":"Organization","id":"b","name":"B","partOf":{"reference":"#a"}}],"managingOrganization":{"reference":"#b"}}`,
		`{"resourceType":"CarePlan",` + narrative + `,"contained":[{"resourceType":"Goal","id":"g","lifecycleStatus":"active","description":{"text":"x"},"subject":{"reference":"Patient/1"},"addresses":[{"reference":"#"}]}],"status":"active","intent":"plan","subject":{"reference":"Patient/1"}}`,
		`{"resourceType":"Patient",` + narrative + `,"_gender":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}`,
		`{"resourceType":"Observation",` + narrative + `,"status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"},"issued":"2020-01-01T10:00:00.123+01:00","effectiveDateTime":"2020-01"}`,
	} {
		if issues := validate.Resource(mustParse(t, s)); len(issues) > 0 {
			t.Errorf("%s:\n%s", s, dump(issues))
		}
	}
}

func TestKnownModifierExtension(t *testing.T) {
	res := mustParse(t, `{"resourceType":"Patient",`+narrative+`,"modifierExtension":[{"url":"https://ucp.example.org/ext/m","valueBoolean":true}]}`)
	if issues := validate.Resource(res); !hasIssue(issues, "extension", "Patient.modifierExtension[0]") {
		t.Errorf("default validator accepted an unknown modifier extension: %v", issues)
	}
	v := validate.New(validate.Options{KnownModifierExtensions: []string{"https://ucp.example.org/ext/m"}})
	if issues := v.Validate(context.Background(), res); len(issues) > 0 {
		t.Errorf("known modifier extension rejected:\n%s", dump(issues))
	}
}

func TestSkippedCoreInvariants(t *testing.T) {
	for _, s := range validate.SkippedCoreInvariants() {
		t.Logf("skipped %s on %s: %s", s.Key, s.Path, s.Reason)
		if !strings.Contains(s.Reason, "natively") {
			t.Errorf("core invariant %s (%s) does not compile: %s", s.Key, s.Expression, s.Reason)
		}
	}
}

func TestHasErrors(t *testing.T) {
	if validate.HasErrors([]validate.Issue{{Severity: "warning"}}) {
		t.Error("a warning is not an error")
	}
	if !validate.HasErrors([]validate.Issue{{Severity: "warning"}, {Severity: "error"}}) {
		t.Error("missed the error")
	}
}
