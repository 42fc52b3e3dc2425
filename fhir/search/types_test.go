package search

import (
	"reflect"
	"testing"

	"ucp/store"
)

// TestExtractTypes extracts a realistic resource of each care-plan type and
// checks its key entries and Patient compartment.
func TestExtractTypes(t *testing.T) {
	r := MustRegistry(t)
	ref := func(param, typ, id string) store.Entry {
		return store.Entry{Param: param, Type: store.Reference, RefType: typ, RefID: id}
	}
	tok := func(param, system, code, text string) store.Entry {
		return store.Entry{Param: param, Type: store.Token, System: system, Code: code, Text: text}
	}
	for _, tc := range []struct {
		name     string
		json     string
		patients []string
		want     []store.Entry
	}{
		{"Condition", `{"resourceType":"Condition","id":"c1","clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
			"code":{"coding":[{"system":"http://snomed.info/sct","code":"363346000","display":"Malignant neoplastic disease"}]},
			"subject":{"reference":"Patient/p1"},"onsetAge":{"value":61,"unit":"yr","system":"http://unitsofmeasure.org","code":"a"},"recordedDate":"2024-01-02",
			"asserter":{"reference":"Practitioner/dr1"}}`,
			[]string{"p1"},
			[]store.Entry{tok("clinical-status", "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", ""),
				tok("code", "http://snomed.info/sct", "363346000", "malignant neoplastic disease"),
				ref("patient", "Patient", "p1"), ref("asserter", "Practitioner", "dr1"),
				{Param: "onset-age", Type: store.Quantity, Num: 61, NumLow: 60.5, NumHigh: 61.5, System: "http://unitsofmeasure.org", Code: "a"},
				{Param: "onset-age", Type: store.Quantity, Num: 61, NumLow: 60.5, NumHigh: 61.5, Code: "yr"},
				{Param: "recorded-date", Type: store.Date, Low: utc("2024-01-02T00:00:00Z"), High: utc("2024-01-03T00:00:00Z")}}},
		{"Consent", `{"resourceType":"Consent","id":"k1","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
			"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"dateTime":"2024-02-01T12:00:00Z",
			"provision":{"type":"permit","period":{"start":"2024-02-01","end":"2026-02-01"},"actor":[{"role":{"text":"recipient"},"reference":{"reference":"Organization/o1"}}]}}`,
			[]string{"p1"},
			[]store.Entry{tok("status", "", "active", ""), ref("patient", "Patient", "p1"), ref("actor", "Organization", "o1"),
				{Param: "period", Type: store.Date, Low: utc("2024-02-01T00:00:00Z"), High: utc("2026-02-02T00:00:00Z")},
				{Param: "date", Type: store.Date, Low: utc("2024-02-01T12:00:00Z"), High: utc("2024-02-01T12:00:01Z")}}},
		{"Goal", `{"resourceType":"Goal","id":"g1","lifecycleStatus":"active","description":{"text":"Die at home"},"subject":{"reference":"Patient/p1"},
			"target":[{"dueDate":"2025-06"}],"startDate":"2024-03-01"}`,
			[]string{"p1"},
			[]store.Entry{tok("lifecycle-status", "", "active", ""), ref("patient", "Patient", "p1"),
				{Param: "target-date", Type: store.Date, Low: utc("2025-06-01T00:00:00Z"), High: utc("2025-07-01T00:00:00Z")},
				{Param: "start-date", Type: store.Date, Low: utc("2024-03-01T00:00:00Z"), High: utc("2024-03-02T00:00:00Z")}}},
		{"DocumentReference", `{"resourceType":"DocumentReference","id":"d1","masterIdentifier":{"system":"urn:ietf:rfc:3986","value":"urn:oid:1.2.3"},"status":"current",
			"type":{"coding":[{"system":"http://snomed.info/sct","code":"736373009"}]},"subject":{"reference":"Patient/p1"},"author":[{"reference":"Organization/o1"}],
			"content":[{"attachment":{"contentType":"application/fhir+json","url":"https://ucp.example.org/fhir/CarePlan/cp1"}}]}`,
			[]string{"p1"},
			[]store.Entry{tok("identifier", "urn:ietf:rfc:3986", "urn:oid:1.2.3", ""), tok("type", "http://snomed.info/sct", "736373009", ""),
				ref("subject", "Patient", "p1"), ref("author", "Organization", "o1"),
				{Param: "location", Type: store.URI, Exact: "https://ucp.example.org/fhir/CarePlan/cp1"}}},
		{"Task", `{"resourceType":"Task","id":"t1","status":"requested","intent":"order","focus":{"reference":"QuestionnaireResponse/qr1"},
			"for":{"reference":"Patient/p1"},"owner":{"reference":"Organization/gp1"},"authoredOn":"2024-03-05T09:00:00Z"}`,
			nil,
			[]store.Entry{tok("status", "", "requested", ""), ref("focus", "QuestionnaireResponse", "qr1"), ref("patient", "Patient", "p1"),
				ref("owner", "Organization", "gp1")}},
		{"Provenance", `{"resourceType":"Provenance","id":"pv1","target":[{"reference":"CarePlan/cp1/_history/2"},{"reference":"Patient/p1"}],"recorded":"2024-03-05T10:00:00.5Z",
			"agent":[{"who":{"reference":"Practitioner/dr1"}}]}`,
			[]string{"p1"},
			[]store.Entry{ref("target", "CarePlan", "cp1"), ref("patient", "Patient", "p1"), ref("agent", "Practitioner", "dr1"),
				{Param: "recorded", Type: store.Date, Low: utc("2024-03-05T10:00:00.5Z"), High: utc("2024-03-05T10:00:00.6Z")}}},
		{"QuestionnaireResponse", `{"resourceType":"QuestionnaireResponse","id":"qr1","questionnaire":"https://ucp.example.org/fhir/Questionnaire/start|1.0",
			"status":"completed","subject":{"reference":"Patient/p1"},"authored":"2024-03-04","author":{"reference":"Patient/p1"}}`,
			[]string{"p1"},
			[]store.Entry{ref("questionnaire", "Questionnaire", "start"), ref("patient", "Patient", "p1"), tok("status", "", "completed", "")}},
		{"AuditEvent", `{"resourceType":"AuditEvent","id":"a1","type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},
			"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"search-type"}],"action":"E","recorded":"2024-03-05T10:00:00Z","outcome":"0",
			"agent":[{"who":{"reference":"Practitioner/dr1"},"requestor":true}],"source":{"observer":{"reference":"Device/ucp"}},
			"entity":[{"what":{"reference":"Patient/p1"}}]}`,
			[]string{"p1"},
			[]store.Entry{tok("type", "http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", ""), tok("action", "", "E", ""),
				ref("agent", "Practitioner", "dr1"), ref("entity", "Patient", "p1"), ref("patient", "Patient", "p1")}},
		{"RelatedPerson", `{"resourceType":"RelatedPerson","id":"rp1","patient":{"reference":"Patient/p1"},"name":[{"family":"Smith","given":["Jo"]}],
			"telecom":[{"system":"phone","value":"07700 900000"}],"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-RoleCode","code":"DAU"}]}]}`,
			[]string{"p1"},
			[]store.Entry{ref("patient", "Patient", "p1"), {Param: "name", Type: store.String, Norm: "jo smith", Exact: "Jo Smith"},
				tok("phone", "phone", "07700 900000", ""), tok("relationship", "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "DAU", "")}},
		{"CareTeam", `{"resourceType":"CareTeam","id":"ct1","status":"active","subject":{"reference":"Patient/p1"},
			"participant":[{"member":{"reference":"RelatedPerson/rp1"}},{"member":{"reference":"Practitioner/dr1"}}]}`,
			[]string{"p1"},
			[]store.Entry{ref("participant", "RelatedPerson", "rp1"), ref("participant", "Practitioner", "dr1"), ref("patient", "Patient", "p1")}},
		{"Flag", `{"resourceType":"Flag","id":"f1","status":"active","code":{"text":"Has urgent care plan"},"subject":{"reference":"Patient/p1"},"period":{"start":"2024-03-05"}}`,
			[]string{"p1"},
			[]store.Entry{{Param: "date", Type: store.Date, Low: utc("2024-03-05T00:00:00Z"), High: store.MaxTime}, ref("patient", "Patient", "p1")}},
		{"Observation code value", `{"resourceType":"Observation","id":"o2","status":"final","code":{"coding":[{"system":"http://snomed.info/sct","code":"1052781000000107"}]},
			"subject":{"reference":"Patient/p1"},"valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"450476008","display":"Not for CPR"}]}}`,
			[]string{"p1"},
			[]store.Entry{tok("value-concept", "http://snomed.info/sct", "450476008", "not for cpr"), tok("combo-value-concept", "http://snomed.info/sct", "450476008", "not for cpr")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, patients, err := r.Extract(MustResource(t, tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(patients, tc.patients) {
				t.Errorf("patients = %v, want %v", patients, tc.patients)
			}
			for _, w := range tc.want {
				if !hasEntry(es, w) {
					t.Errorf("missing %+v", w)
				}
			}
			if t.Failed() {
				t.Log("entries:\n" + dump(es))
			}
		})
	}
}
