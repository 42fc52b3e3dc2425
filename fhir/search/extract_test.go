package search

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"ucp/store"
)

func hasEntry(es []store.Entry, want store.Entry) bool {
	for _, e := range es {
		if e == want {
			return true
		}
	}
	return false
}

func dump(es []store.Entry) string {
	s := ""
	for _, e := range es {
		s += fmt.Sprintf("  %+v\n", e)
	}
	return s
}

func TestExtractPatient(t *testing.T) {
	r := MustRegistry(t)
	es, patients, err := r.Extract(MustResource(t, patientJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(patients, []string{"p0", "p1"}) {
		t.Errorf("patients = %v, want [p0 p1]", patients)
	}
	for _, want := range []store.Entry{
		{Param: "identifier", Type: store.Token, System: "https://fhir.nhs.uk/Id/nhs-number", Code: "9000000009", Text: "nhs number"},
		{Param: "active", Type: store.Token, Code: "true"},
		{Param: "gender", Type: store.Token, Code: "female"},
		{Param: "phone", Type: store.Token, System: "phone", Code: "0123 456"},
		{Param: "email", Type: store.Token, System: "email", Code: "zoe@example.org"},
		{Param: "telecom", Type: store.Token, System: "phone", Code: "0123 456"},
		{Param: "family", Type: store.String, Norm: "o'brien", Exact: "O'Brien"},
		{Param: "given", Type: store.String, Norm: "zoe", Exact: "Zoë"},
		{Param: "name", Type: store.String, Norm: "zoe", Exact: "Zoë"},
		{Param: "name", Type: store.String, Norm: "mrs", Exact: "Mrs"},
		{Param: "name", Type: store.String, Norm: "mrs zoe anne o'brien", Exact: "Mrs Zoë Anne O'Brien"},
		{Param: "name", Type: store.String, Norm: "zoe smith", Exact: "Zoe  Smith"},
		{Param: "address", Type: store.String, Norm: "12 high street", Exact: "12 High Street"},
		{Param: "address-city", Type: store.String, Norm: "london", Exact: "Londön"},
		{Param: "address-postalcode", Type: store.String, Norm: "sw1a 1aa", Exact: "SW1A 1AA"},
		{Param: "birthdate", Type: store.Date, Low: utc("1950-07-01T00:00:00Z"), High: utc("1950-08-01T00:00:00Z")},
		{Param: "general-practitioner", Type: store.Reference, RefType: "Organization", RefID: "gp1"},
		{Param: "general-practitioner", Type: store.Reference, RefType: "Practitioner", RefID: "dr1"},
		{Param: "general-practitioner", Type: store.Reference, URL: "https://other.example/fhir/Practitioner/x"},
		{Param: "general-practitioner", Type: store.Reference, System: "https://fhir.nhs.uk/Id/ods-organization-code", Code: "A81001"},
		{Param: "link", Type: store.Reference, RefType: "Patient", RefID: "p0"},
		{Param: "_tag", Type: store.Token, System: "http://ucp/tags", Code: "vip", Text: "vip"},
		{Param: "_profile", Type: store.URI, Exact: "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient|2.0"},
		{Param: "_source", Type: store.URI, Exact: "http://gp.example/emis"},
	} {
		if !hasEntry(es, want) {
			t.Errorf("missing %+v", want)
		}
	}
	for _, e := range es {
		if e.Param == "_id" || e.Param == "_lastUpdated" {
			t.Errorf("unexpected entry %+v: the store answers _id and _lastUpdated", e)
		}
		if e.Param == "general-practitioner" && e.URL == "#c1" {
			t.Errorf("contained reference indexed: %+v", e)
		}
	}
	if t.Failed() {
		t.Log("entries:\n" + dump(es))
	}
}

func TestExtractCarePlan(t *testing.T) {
	r := MustRegistry(t)
	es, patients, err := r.Extract(MustResource(t, carePlanJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(patients, []string{"p1"}) {
		t.Errorf("patients = %v, want [p1]", patients)
	}
	for _, want := range []store.Entry{
		{Param: "status", Type: store.Token, Code: "active"},
		{Param: "intent", Type: store.Token, Code: "plan"},
		{Param: "category", Type: store.Token, System: "http://snomed.info/sct", Code: "736373009", Text: "urgent care plan end of life care plan"},
		{Param: "activity-code", Type: store.Token, System: "http://snomed.info/sct", Code: "304253006", Text: "not for resuscitation"},
		{Param: "identifier", Type: store.Token, System: "https://ucp.example.org/plan-id", Code: "UCP-1"},
		{Param: "subject", Type: store.Reference, RefType: "Patient", RefID: "p1", System: "https://fhir.nhs.uk/Id/nhs-number", Code: "9000000009"},
		{Param: "patient", Type: store.Reference, RefType: "Patient", RefID: "p1", System: "https://fhir.nhs.uk/Id/nhs-number", Code: "9000000009"},
		{Param: "performer", Type: store.Reference, RefType: "RelatedPerson", RefID: "rp1"},
		{Param: "activity-reference", Type: store.Reference, RefType: "ServiceRequest", RefID: "sr1"},
		{Param: "instantiates-canonical", Type: store.Reference, RefType: "PlanDefinition", RefID: "ucp"},
		{Param: "date", Type: store.Date, Low: utc("2024-03-05T00:00:00Z"), High: utc("2025-03-05T11:00:01Z")},
		{Param: "activity-date", Type: store.Date, Low: utc("2024-04-01T10:00:00Z"), High: utc("2024-04-04T00:00:00Z")},
		{Param: "activity-date", Type: store.Date, Low: utc("2024-05-01T00:00:00Z"), High: store.MaxTime},
		{Param: "_profile", Type: store.URI, Exact: "https://ucp.example.org/fhir/StructureDefinition/UrgentCarePlan"},
	} {
		if !hasEntry(es, want) {
			t.Errorf("missing %+v", want)
		}
	}
	if t.Failed() {
		t.Log("entries:\n" + dump(es))
	}
}

func TestExtractQuantity(t *testing.T) {
	r := MustRegistry(t)
	obs := MustResource(t, `{"resourceType": "Observation", "id": "o1", "status": "final",
	  "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
	  "subject": {"reference": "https://ucp.example.org/fhir/Patient/p9"},
	  "effectiveDateTime": "2024-03-05T10:15:30+01:00",
	  "valueQuantity": {"value": 1.50, "unit": "kilogram", "system": "http://unitsofmeasure.org", "code": "kg"}}`)
	es, patients, err := r.Extract(obs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(patients, []string{"p9"}) {
		t.Errorf("patients = %v, want [p9]", patients)
	}
	for _, want := range []store.Entry{
		{Param: "value-quantity", Type: store.Quantity, Num: 1.5, NumLow: 1.495, NumHigh: 1.505, System: "http://unitsofmeasure.org", Code: "kg",
			CanonCode: "g", CanonNum: 1.5 * 1e3, CanonLow: 1.495 * 1e3, CanonHigh: 1.505 * 1e3},
		{Param: "value-quantity", Type: store.Quantity, Num: 1.5, NumLow: 1.495, NumHigh: 1.505, Code: "kilogram"},
		{Param: "date", Type: store.Date, Low: utc("2024-03-05T09:15:30Z"), High: utc("2024-03-05T09:15:31Z")},
		{Param: "subject", Type: store.Reference, RefType: "Patient", RefID: "p9"},
	} {
		if !hasEntry(es, want) {
			t.Errorf("missing %+v", want)
		}
	}
	if t.Failed() {
		t.Log("entries:\n" + dump(es))
	}
}

// TestItem covers each FHIR datatype path of the extractor directly, whatever
// expression produced the value.
func TestItem(t *testing.T) {
	num := func(s string) json.Number { return json.Number(s) }
	for _, tc := range []struct {
		name  string
		ptype store.ParamType
		typ   string
		v     string // JSON
		want  []store.Entry
	}{
		{"token code", store.Token, "code", `"active"`, []store.Entry{{Code: "active"}}},
		{"token boolean", store.Token, "boolean", `false`, []store.Entry{{Code: "false"}}},
		{"token Coding", store.Token, "Coding", `{"system":"s","code":"c","display":"Dïsplay"}`, []store.Entry{{System: "s", Code: "c", Text: "display"}}},
		{"token CodeableConcept", store.Token, "CodeableConcept", `{"coding":[{"system":"s","code":"a"},{"system":"t","code":"b","display":"B"}],"text":"T"}`,
			[]store.Entry{{System: "s", Code: "a", Text: "t"}, {System: "t", Code: "b", Text: "t b"}}},
		{"token CodeableConcept text only", store.Token, "CodeableConcept", `{"text":"Just text"}`, []store.Entry{{Text: "just text"}}},
		{"token Identifier", store.Token, "Identifier", `{"system":"s","value":"v"}`, []store.Entry{{System: "s", Code: "v"}}},
		{"token Identifier of-type", store.Token, "Identifier", `{"system":"s","value":"v","type":{"coding":[{"system":"t","code":"MR"}]}}`,
			[]store.Entry{{System: "s", Code: "v"}, {Param: "p:of-type", System: "t", Code: "MR|v"}}},
		{"token ContactPoint", store.Token, "ContactPoint", `{"system":"email","value":"a@b"}`, []store.Entry{{System: "email", Code: "a@b"}}},
		{"token untyped Coding", store.Token, "", `{"system":"s","code":"c"}`, []store.Entry{{System: "s", Code: "c"}}},
		{"token System.Boolean", store.Token, "System.Boolean", `true`, []store.Entry{{Code: "true"}}},
		{"string", store.String, "string", `"Ångström  Lab"`, []store.Entry{{Norm: "angstrom lab", Exact: "Ångström  Lab"}}},
		{"string Address", store.String, "Address", `{"line":["1 Road"],"city":"Leeds","text":"1 Road, Leeds"}`,
			[]store.Entry{{Norm: "1 road", Exact: "1 Road"}, {Norm: "leeds", Exact: "Leeds"}, {Norm: "1 road, leeds", Exact: "1 Road, Leeds"}}},
		{"date year", store.Date, "date", `"2024"`, []store.Entry{{Low: utc("2024-01-01T00:00:00Z"), High: utc("2025-01-01T00:00:00Z")}}},
		{"date day", store.Date, "date", `"2024-02-29"`, []store.Entry{{Low: utc("2024-02-29T00:00:00Z"), High: utc("2024-03-01T00:00:00Z")}}},
		{"dateTime no zone is UTC", store.Date, "dateTime", `"2024-02-29T23:00:00"`, []store.Entry{{Low: utc("2024-02-29T23:00:00Z"), High: utc("2024-02-29T23:00:01Z")}}},
		{"instant ms", store.Date, "instant", `"2024-02-29T23:00:00.250Z"`, []store.Entry{{Low: utc("2024-02-29T23:00:00.25Z"), High: utc("2024-02-29T23:00:00.251Z")}}},
		{"Period open start", store.Date, "Period", `{"end":"2024"}`, []store.Entry{{Low: store.MinTime, High: utc("2025-01-01T00:00:00Z")}}},
		{"Timing bounds", store.Date, "Timing", `{"repeat":{"boundsPeriod":{"start":"2024-01-01"}}}`, []store.Entry{{Low: utc("2024-01-01T00:00:00Z"), High: store.MaxTime}}},
		{"bad date skipped", store.Date, "date", `"2024-02-30"`, nil},
		{"reference relative", store.Reference, "Reference", `{"reference":"Patient/1/_history/3"}`, []store.Entry{{RefType: "Patient", RefID: "1"}}},
		{"reference local absolute", store.Reference, "Reference", `{"reference":"https://ucp.example.org/fhir/Patient/1"}`, []store.Entry{{RefType: "Patient", RefID: "1"}}},
		{"reference urn", store.Reference, "Reference", `{"reference":"urn:uuid:abc"}`, []store.Entry{{URL: "urn:uuid:abc"}}},
		{"reference contained", store.Reference, "Reference", `{"reference":"#x"}`, nil},
		{"reference identifier only, single target", store.Reference, "Reference", `{"identifier":{"system":"s","value":"v"}}`, []store.Entry{{RefType: "Patient", System: "s", Code: "v"}}},
		{"reference canonical", store.Reference, "canonical", `"http://x/Questionnaire/q|2"`, []store.Entry{{URL: "http://x/Questionnaire/q"}}},
		{"number integer", store.Number, "integer", `100`, []store.Entry{{Num: 100, NumLow: 99.5, NumHigh: 100.5}}},
		{"quantity Age", store.Quantity, "Age", `{"value":3,"system":"http://unitsofmeasure.org","code":"a"}`, []store.Entry{{Num: 3, NumLow: 2.5, NumHigh: 3.5, System: "http://unitsofmeasure.org", Code: "a"}}},
		{"quantity Range", store.Quantity, "Range", `{"low":{"value":1,"code":"a"}}`, []store.Entry{{Num: 1, NumLow: 0.5, NumHigh: math.MaxFloat64, Code: "a"}}},
		{"uri", store.URI, "uri", `"http://x/y"`, []store.Entry{{Exact: "http://x/y"}}},
		{"extension value", store.String, "Extension", `{"url":"u","valueString":"Maiden"}`, []store.Entry{{Norm: "maiden", Exact: "Maiden"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = num
			p := &Param{Code: "p", Type: tc.ptype, Target: []string{"Patient"}}
			x := extractor{base: "https://ucp.example.org/fhir"}
			v := MustResource(t, `{"v":`+tc.v+`}`)["v"]
			x.item(p, tc.typ, v)
			x.dedupe(0)
			var want []store.Entry
			for _, w := range tc.want {
				if w.Param == "" {
					w.Param = "p"
				}
				w.Type = tc.ptype
				want = append(want, w)
			}
			if !reflect.DeepEqual(x.out, want) {
				t.Errorf("got\n%s want\n%s", dump(x.out), dump(want))
			}
		})
	}
}

func TestDateRange(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi string
	}{
		{"2024", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"2024-12", "2024-12-01T00:00:00Z", "2025-01-01T00:00:00Z"},
		{"2024-03-05T10:00", "2024-03-05T10:00:00Z", "2024-03-05T10:01:00Z"},
		{"2024-03-05T10:00:00-05:00", "2024-03-05T15:00:00Z", "2024-03-05T15:00:01Z"},
		{"2024-03-05T10:00:00.1+14:00", "2024-03-04T20:00:00.1Z", "2024-03-04T20:00:00.2Z"},
	} {
		lo, hi, ok := dateRange(tc.in)
		if !ok || !lo.Equal(utc(tc.lo)) || !hi.Equal(utc(tc.hi)) {
			t.Errorf("dateRange(%q) = %v, %v, %v; want %s, %s", tc.in, lo, hi, ok, tc.lo, tc.hi)
		}
	}
	for _, bad := range []string{"", "24", "2024-", "2024-13", "2024-02-30", "2024-03-05T", "2024-03-05T25:00", "2024-03-05T10:00:00+5", "2024-03-05T10:00:00.Z", "2024-03-05 10:00", "2024-03-05T10:00:00ZZ"} {
		if _, _, ok := dateRange(bad); ok {
			t.Errorf("dateRange(%q) ok, want failure", bad)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct {
		in        string
		v, lo, hi float64
	}{
		{"100", 100, 99.5, 100.5},
		{"1.50", 1.5, 1.495, 1.505},
		{"-3", -3, -3.5, -2.5},
		{"1e2", 100, 50, 150},
		{"0.001", 0.001, 0.0005, 0.0015},
	} {
		d, ok := parseDecimal(tc.in)
		if !ok || d.v != tc.v || d.lo != tc.lo || d.hi != tc.hi {
			t.Errorf("parseDecimal(%q) = %+v, %v; want %v [%v, %v)", tc.in, d, ok, tc.v, tc.lo, tc.hi)
		}
	}
	for _, bad := range []string{"", "-", ".", "inf", "NaN", "0x10", "1_000", "1e", "1e999", "1.2.3", "--1"} {
		if d, ok := parseDecimal(bad); ok {
			t.Errorf("parseDecimal(%q) = %+v, want failure", bad, d)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"  Zoë   O'Brien ": "zoe o'brien",
		"ÅNGSTRÖM":         "angstrom",
		"Crème\tbrûlée":    "creme brulee",
		"":                 "",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

var _ = time.Second
