package search

import (
	"context"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/outcome"
	"ucp/store"
)

func ptrBool(b bool) *bool { return &b }

func mustValues(t *testing.T, q string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseWhere(t *testing.T) {
	r := MustRegistry(t)
	day := func(s string) (time.Time, time.Time) { lo, hi, _ := dateRange(s); return lo, hi }
	mar1, mar2 := day("2024-03")
	y1, y2 := day("2024")
	tenth := utc("2026-01-01T00:00:00Z").Sub(utc("2016-01-01T00:00:00Z")) / 10
	for _, tc := range []struct {
		name, typ, query string
		want             []store.Clause
	}{
		{"hot path", "CarePlan", "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009",
			[]store.Clause{{Any: []store.Cond{
				{Param: "subject", Type: store.Reference, Identifier: true, System: "https://fhir.nhs.uk/Id/nhs-number", SystemSet: true, Code: "9000000009"},
				// …or the referenced Group's or Patient's own identifier.
				{Param: "subject", Type: store.Reference, RefType: "Group", Chain: &store.Chain{Type: "Group", Where: []store.Clause{{Any: []store.Cond{
					{Param: "identifier", Type: store.Token, System: "https://fhir.nhs.uk/Id/nhs-number", SystemSet: true, Code: "9000000009"}}}}, OwnIdentifier: true}},
				{Param: "subject", Type: store.Reference, RefType: "Patient", Chain: &store.Chain{Type: "Patient", Where: []store.Clause{{Any: []store.Cond{
					{Param: "identifier", Type: store.Token, System: "https://fhir.nhs.uk/Id/nhs-number", SystemSet: true, Code: "9000000009"}}}}, OwnIdentifier: true}},
			}}}},
		{"token or", "CarePlan", "status=active,draft",
			[]store.Clause{{Any: []store.Cond{{Param: "status", Type: store.Token, Code: "active"}, {Param: "status", Type: store.Token, Code: "draft"}}}}},
		{"token and", "CarePlan", "status=active&status=draft",
			[]store.Clause{{Any: []store.Cond{{Param: "status", Type: store.Token, Code: "active"}}}, {Any: []store.Cond{{Param: "status", Type: store.Token, Code: "draft"}}}}},
		{"token no system", "Patient", "identifier=|123",
			[]store.Clause{{Any: []store.Cond{{Param: "identifier", Type: store.Token, SystemSet: true, Code: "123"}}}}},
		{"token system only", "Patient", "identifier=http://x|",
			[]store.Clause{{Any: []store.Cond{{Param: "identifier", Type: store.Token, System: "http://x", SystemSet: true}}}}},
		{"token escaped", "Patient", `identifier=a\|b\,c\\`,
			[]store.Clause{{Any: []store.Cond{{Param: "identifier", Type: store.Token, Code: `a|b,c\`}}}}},
		{"token not", "CarePlan", "status:not=revoked",
			[]store.Clause{{Any: []store.Cond{{Param: "status", Type: store.Token, Code: "revoked", Not: true}}}}},
		{"token text", "CarePlan", "category:text=End  of Lífe",
			[]store.Clause{{Any: []store.Cond{{Param: "category", Type: store.Token, TextMatch: "end of life"}}}}},
		{"token of-type", "Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|123",
			[]store.Clause{{Any: []store.Cond{{Param: "identifier:of-type", Type: store.Token, System: "http://terminology.hl7.org/CodeSystem/v2-0203", SystemSet: true, Code: "MR|123"}}}}},
		{"missing", "CarePlan", "category:missing=true",
			[]store.Clause{{Any: []store.Cond{{Param: "category", Type: store.Token, Missing: ptrBool(true)}}}}},
		{"_id", "Patient", "_id=a,b",
			[]store.Clause{{Any: []store.Cond{{Param: "_id", Type: store.Token, Code: "a"}, {Param: "_id", Type: store.Token, Code: "b"}}}}},
		{"string default", "Patient", "name=Zoë",
			[]store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "zoe"}}}}},
		{"string exact", "Patient", "name:exact=Zoë",
			[]store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "Zoë", StringMatch: store.StringExact}}}}},
		{"string contains", "Patient", "family:contains=BRI",
			[]store.Clause{{Any: []store.Cond{{Param: "family", Type: store.String, Value: "bri", StringMatch: store.StringContains}}}}},
		{"date month", "Patient", "birthdate=2024-03",
			[]store.Clause{{Any: []store.Cond{{Param: "birthdate", Type: store.Date, Low: mar1, High: mar2}}}}},
		{"_lastUpdated gt", "Patient", "_lastUpdated=gt2024",
			[]store.Clause{{Any: []store.Cond{{Param: "_lastUpdated", Type: store.Date, Prefix: store.Gt, Low: y1, High: y2}}}}},
		{"date ap", "Patient", "birthdate=ap2016",
			// now is 2026-01-01: widened by a tenth of the 10 years between.
			[]store.Clause{{Any: []store.Cond{{Param: "birthdate", Type: store.Date, Prefix: store.Ap,
				Low: utc("2016-01-01T00:00:00Z").Add(-tenth), High: utc("2017-01-01T00:00:00Z").Add(tenth)}}}}},
		{"reference typed", "CarePlan", "subject=Patient/p1",
			[]store.Clause{{Any: []store.Cond{{Param: "subject", Type: store.Reference, RefType: "Patient", RefID: "p1"}}}}},
		{"reference id with type modifier", "CarePlan", "subject:Patient=p1",
			[]store.Clause{{Any: []store.Cond{{Param: "subject", Type: store.Reference, RefType: "Patient", RefID: "p1"}}}}},
		{"reference id single target", "CarePlan", "care-team=ct1",
			[]store.Clause{{Any: []store.Cond{{Param: "care-team", Type: store.Reference, RefType: "CareTeam", RefID: "ct1"}}}}},
		{"reference id several targets", "CarePlan", "patient=p1",
			[]store.Clause{{Any: []store.Cond{{Param: "patient", Type: store.Reference, RefID: "p1"}}}}},
		{"reference local absolute", "CarePlan", "subject=https://ucp.example.org/fhir/Patient/p1",
			[]store.Clause{{Any: []store.Cond{{Param: "subject", Type: store.Reference, RefType: "Patient", RefID: "p1"}, {Param: "subject", Type: store.Reference, URL: "https://ucp.example.org/fhir/Patient/p1"}}}}},
		{"reference canonical", "CarePlan", "instantiates-canonical=http://x/PlanDefinition/a|2",
			[]store.Clause{{Any: []store.Cond{{Param: "instantiates-canonical", Type: store.Reference, URL: "http://x/PlanDefinition/a"}}}}},
		{"uri below", "Questionnaire", "url:below=http://x/",
			[]store.Clause{{Any: []store.Cond{{Param: "url", Type: store.URI, Value: "http://x/", URIMatch: store.URIBelow}}}}},
		{"uri above", "Questionnaire", "url:above=http://x/a/b",
			[]store.Clause{{Any: []store.Cond{{Param: "url", Type: store.URI, Value: "http://x/a/b", URIMatch: store.URIAbove}}}}},
		{"quantity", "Observation", "value-quantity=le5.40|http://unitsofmeasure.org|mg",
			// A UCUM unit in the table is searched in its canonical form.
			[]store.Clause{{Any: []store.Cond{{Param: "value-quantity", Type: store.Quantity, Prefix: store.Le, Num: 5.4 * 1e-3, NumLow: 5.395 * 1e-3, NumHigh: 5.405 * 1e-3, Canonical: true, Code: "g"}}}}},
		{"quantity ucum temperature", "Observation", "value-quantity=37|http://unitsofmeasure.org|Cel",
			[]store.Clause{{Any: []store.Cond{{Param: "value-quantity", Type: store.Quantity, Num: 37 + 273.15, NumLow: 36.5 + 273.15, NumHigh: 37.5 + 273.15, Canonical: true, Code: "K"}}}}},
		{"quantity unknown ucum unit", "Observation", "value-quantity=le5.40|http://unitsofmeasure.org|%5BIU%5D",
			[]store.Clause{{Any: []store.Cond{{Param: "value-quantity", Type: store.Quantity, Prefix: store.Le, Num: 5.4, NumLow: 5.395, NumHigh: 5.405, System: "http://unitsofmeasure.org", SystemSet: true, Code: "[IU]"}}}}},
		{"quantity other system", "Observation", "value-quantity=5|http://snomed.info/sct|258684004",
			[]store.Clause{{Any: []store.Cond{{Param: "value-quantity", Type: store.Quantity, Num: 5, NumLow: 4.5, NumHigh: 5.5, System: "http://snomed.info/sct", SystemSet: true, Code: "258684004"}}}}},
		{"quantity unit only", "Observation", "value-quantity=5||mg",
			[]store.Clause{{Any: []store.Cond{{Param: "value-quantity", Type: store.Quantity, Num: 5, NumLow: 4.5, NumHigh: 5.5, Code: "mg"}}}}},
		{"quantity ap", "Observation", "value-quantity=ap100",
			[]store.Clause{{Any: []store.Cond{{Param: "value-quantity", Type: store.Quantity, Prefix: store.Ap, Num: 100, NumLow: 90, NumHigh: 110}}}}},
		{"empty value ignored", "Patient", "name=", nil},
		{"chain typed", "CarePlan", "subject:Patient.identifier=s|v",
			[]store.Clause{{Any: []store.Cond{{Param: "subject", Type: store.Reference, RefType: "Patient", Chain: &store.Chain{Type: "Patient",
				Where: []store.Clause{{Any: []store.Cond{{Param: "identifier", Type: store.Token, System: "s", SystemSet: true, Code: "v"}}}}}}}}}},
		{"chain two levels", "CarePlan", "patient.general-practitioner:Practitioner.name=smith",
			[]store.Clause{{Any: []store.Cond{{Param: "patient", Type: store.Reference, RefType: "Patient", Chain: &store.Chain{Type: "Patient",
				Where: []store.Clause{{Any: []store.Cond{{Param: "general-practitioner", Type: store.Reference, RefType: "Practitioner", Chain: &store.Chain{Type: "Practitioner",
					Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "smith"}}}}}}}}}}}}}}},
		{"chain untyped, one served target has it", "CarePlan", "subject.family=smith",
			[]store.Clause{{Any: []store.Cond{{Param: "subject", Type: store.Reference, RefType: "Patient", Chain: &store.Chain{Type: "Patient",
				Where: []store.Clause{{Any: []store.Cond{{Param: "family", Type: store.String, Value: "smith"}}}}}}}}}},
		{"chain untyped, several targets (ORed, in target order)", "Provenance", "agent.name=smith",
			[]store.Clause{{Any: []store.Cond{
				{Param: "agent", Type: store.Reference, RefType: "Practitioner", Chain: &store.Chain{Type: "Practitioner", Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "smith"}}}}}},
				{Param: "agent", Type: store.Reference, RefType: "Organization", Chain: &store.Chain{Type: "Organization", Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "smith"}}}}}},
				{Param: "agent", Type: store.Reference, RefType: "Patient", Chain: &store.Chain{Type: "Patient", Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "smith"}}}}}},
				{Param: "agent", Type: store.Reference, RefType: "RelatedPerson", Chain: &store.Chain{Type: "RelatedPerson", Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "smith"}}}}}},
			}}}},
		{"_has", "Patient", "_has:CarePlan:subject:status=active",
			[]store.Clause{{Any: []store.Cond{{Param: "_has", Type: store.Special, Has: &store.Has{Type: "CarePlan", Param: "subject",
				Where: []store.Clause{{Any: []store.Cond{{Param: "status", Type: store.Token, Code: "active"}}}}}}}}}},
		{"_tag", "CarePlan", "_tag=http://ucp/tags|vip",
			[]store.Clause{{Any: []store.Cond{{Param: "_tag", Type: store.Token, System: "http://ucp/tags", SystemSet: true, Code: "vip"}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := r.Parse(context.Background(), tc.typ, mustValues(t, tc.query), true)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.Query.Where, tc.want) {
				t.Errorf("Where mismatch\n got %+v\nwant %+v", req.Query.Where, tc.want)
			}
			if !reflect.DeepEqual(req.Query.Types, []string{tc.typ}) {
				t.Errorf("Types = %v", req.Query.Types)
			}
		})
	}
}

func TestParsePrefixes(t *testing.T) {
	r := MustRegistry(t)
	for p, want := range map[string]store.Prefix{"": store.Eq, "eq": store.Eq, "ne": store.Ne, "gt": store.Gt, "lt": store.Lt,
		"ge": store.Ge, "le": store.Le, "sa": store.Sa, "eb": store.Eb, "ap": store.Ap} {
		for _, q := range []string{"birthdate=" + p + "2020-01-02", "value-quantity=" + p + "7"} {
			typ := "Patient"
			if strings.HasPrefix(q, "value") {
				typ = "Observation"
			}
			req, err := r.Parse(context.Background(), typ, mustValues(t, q), true)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if got := req.Query.Where[0].Any[0].Prefix; got != want {
				t.Errorf("%s: prefix %v, want %v", q, got, want)
			}
		}
	}
}

func TestParseControls(t *testing.T) {
	r := MustRegistry(t)
	req, err := r.Parse(context.Background(), "CarePlan", mustValues(t, "status=active&_count=50&_total=none&_sort=-date,_id&_summary=true&_elements=id,status&"+
		"_include=CarePlan:subject&_include=CarePlan:care-team:CareTeam&_include:iterate=CareTeam:participant&_revinclude=Provenance:target&_format=json&_pretty=true"), true)
	if err != nil {
		t.Fatal(err)
	}
	q := req.Query
	if q.Count != 50 || q.Total != store.TotalNone {
		t.Errorf("Count %d Total %v", q.Count, q.Total)
	}
	if want := []store.SortKey{{Param: "date", Type: store.Date, Desc: true}, {Param: "_id", Type: store.Token}}; !reflect.DeepEqual(q.Sort, want) {
		t.Errorf("Sort = %+v", q.Sort)
	}
	if req.Summary != "true" || !reflect.DeepEqual(req.Elements, []string{"id", "status"}) {
		t.Errorf("Summary %q Elements %v", req.Summary, req.Elements)
	}
	wantInc := []Include{{SourceType: "CarePlan", Param: "subject"}, {SourceType: "CarePlan", Param: "care-team", TargetType: "CareTeam"}, {SourceType: "CareTeam", Param: "participant", Iterate: true}}
	if !reflect.DeepEqual(req.Includes, wantInc) {
		t.Errorf("Includes = %+v", req.Includes)
	}
	if want := []Include{{SourceType: "Provenance", Param: "target"}}; !reflect.DeepEqual(req.RevIncludes, want) {
		t.Errorf("RevIncludes = %+v", req.RevIncludes)
	}
	if len(req.Ignored) != 0 || req.Used.Get("status") != "active" || req.Used.Has("_format") || req.Used.Get("_count") != "50" {
		t.Errorf("Ignored %v Used %v", req.Ignored, req.Used)
	}

	req, err = r.Parse(context.Background(), "CarePlan", mustValues(t, "_summary=count"), false)
	if err != nil || req.Query.Count != 0 {
		t.Errorf("_summary=count: %v, Count %d", err, req.Query.Count)
	}
	req, err = r.Parse(context.Background(), "CarePlan", nil, false)
	if err != nil || req.Query.Count != DefaultCount {
		t.Errorf("default count: %v", err)
	}
	req, err = r.Parse(context.Background(), "", mustValues(t, "_type=Patient,CarePlan&_lastUpdated=2024"), true)
	if err != nil || !reflect.DeepEqual(req.Query.Types, []string{"Patient", "CarePlan"}) || len(req.Query.Where) != 1 {
		t.Errorf("system search: %v %+v", err, req)
	}
}

// TestParseLenientIncludeKeepsTheRest: under lenient handling an
// _include value the server does not know is ignored, and only that value:
// the ones beside it and after it still bring their resources.
func TestParseLenientIncludeKeepsTheRest(t *testing.T) {
	r := MustRegistry(t)
	req, err := r.Parse(context.Background(), "CarePlan", mustValues(t, "_include=CarePlan:nonsense&_include=CarePlan:subject&_include=Spaceship:x&_include=CarePlan:condition"), false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, inc := range req.Includes {
		got = append(got, inc.SourceType+":"+inc.Param)
	}
	if diff := cmp.Diff([]string{"CarePlan:subject", "CarePlan:condition"}, got); diff != "" {
		t.Errorf("includes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"_include"}, req.Ignored); diff != "" {
		t.Errorf("ignored (-want +got):\n%s", diff)
	}
	if _, err := r.Parse(context.Background(), "CarePlan", mustValues(t, "_include=CarePlan:nonsense&_include=CarePlan:subject"), true); err == nil {
		t.Error("strict parse accepted an unknown _include")
	}
}

func TestParseLenient(t *testing.T) {
	r := MustRegistry(t)
	req, err := r.Parse(context.Background(), "CarePlan", mustValues(t, "status=active&foo=bar&category:in=http://vs&_contained=true&_sort=nope"), false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"_contained", "_sort", "category:in", "foo"}; !reflect.DeepEqual(req.Ignored, want) {
		t.Errorf("Ignored = %v", req.Ignored)
	}
	if len(req.Query.Where) != 1 || req.Used.Has("foo") {
		t.Errorf("Where %+v Used %v", req.Query.Where, req.Used)
	}
}

func TestParseErrors(t *testing.T) {
	r := MustRegistry(t)
	for _, tc := range []struct {
		typ, query, mention string
		lenientOK           bool
	}{
		{"CarePlan", "foo=bar", "foo", true},
		{"CarePlan", "status:exact=active", "status:exact", true},
		{"CarePlan", "status:bogus=active", "status:bogus", true},
		{"CarePlan", "_count=abc", "_count", false},
		{"CarePlan", "_count=1001", "_count", false},
		{"CarePlan", "_count=-1", "_count", false},
		{"CarePlan", "_total=some", "_total", false},
		{"CarePlan", "_summary=maybe", "_summary", false},
		{"CarePlan", "date=2024-13", "date", false},
		{"CarePlan", "date=gt", "date", false},
		{"Observation", "value-quantity=abc", "value-quantity", false},
		{"Observation", "value-quantity=1|2", "value-quantity", false},
		{"CarePlan", "status=a|b|c", "status", false},
		{"Patient", "identifier:of-type=a|b", "identifier:of-type", false},
		{"CarePlan", "category:missing=maybe", "category", false},
		{"CarePlan", "subject=Organization/o1", "subject", false},
		{"CarePlan", "subject:Patient=Group/g", "subject", false},
		{"CarePlan", "status.name=x", "status", false},
		{"CarePlan", "_include=CarePlan", "_include", false},
		{"CarePlan", "_include=Patient:organization", "_include", false},
		{"CarePlan", "_has:CarePlan=x", "_has", false},
		{"Patient", "_has:CarePlan:subject=x", "_has", false},
		{"Nope", "status=x", "Nope", false},
		{"CarePlan", "patient.link.link.link.link.name=x", "chains", false},
	} {
		_, err := r.Parse(context.Background(), tc.typ, mustValues(t, tc.query), true)
		if err == nil {
			t.Errorf("%s?%s: no error", tc.typ, tc.query)
			continue
		}
		se := outcome.AsError(err)
		if se == nil || se.Kind != outcome.Invalid || !strings.Contains(se.Message, tc.mention) {
			t.Errorf("%s?%s: error %v, want Invalid mentioning %q", tc.typ, tc.query, err, tc.mention)
		}
		_, err = r.Parse(context.Background(), tc.typ, mustValues(t, tc.query), false)
		if (err == nil) != tc.lenientOK {
			t.Errorf("%s?%s lenient: error %v, want ok=%v", tc.typ, tc.query, err, tc.lenientOK)
		}
	}
}

func TestParseCondition(t *testing.T) {
	r := MustRegistry(t)
	q, err := r.ParseCondition(context.Background(), "Patient", "identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009&active=true")
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Where) != 2 || q.Count != 2 || !reflect.DeepEqual(q.Types, []string{"Patient"}) {
		t.Errorf("query %+v", q)
	}
	if q, err := r.ParseCondition(context.Background(), "Patient", "Patient?identifier=a|b"); err != nil || len(q.Where) != 1 {
		t.Errorf("ParseCondition with a type prefix: %v %+v", err, q)
	}
	for _, bad := range []string{"", "identifier=", "foo=bar", "identifier=a&_count=1", "%zz"} {
		if _, err := r.ParseCondition(context.Background(), "Patient", bad); outcome.KindOf(err) != outcome.Invalid {
			t.Errorf("ParseCondition(%q) = %v, want Invalid", bad, err)
		}
	}
}

func TestRegister(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	sp := map[string]any{"resourceType": "SearchParameter", "url": "https://ucp.example.org/fhir/SearchParameter/cpr", "code": "cpr-status",
		"type": "token", "base": []any{"CarePlan", "Observation"}, "expression": "CarePlan.category | Observation.code"}
	if err := r.Register(sp); err != nil {
		t.Fatal(err)
	}
	p, ok := r.Lookup("Observation", "cpr-status")
	if !ok || p.Expression != "Observation.code" || !p.Custom() {
		t.Fatalf("Lookup = %+v, %v", p, ok)
	}
	if _, err := r.Parse(context.Background(), "CarePlan", mustValues(t, "cpr-status=x"), true); err != nil {
		t.Error(err)
	}
	// Re-registering the same url replaces it.
	sp["base"] = []any{"CarePlan"}
	if err := r.Register(sp); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup("Observation", "cpr-status"); ok {
		t.Error("Observation still has the parameter after re-registration without it")
	}
	for name, bad := range map[string]map[string]any{
		"clash with base": {"resourceType": "SearchParameter", "url": "u2", "code": "status", "type": "token", "base": []any{"CarePlan"}, "expression": "CarePlan.status"},
		"no code":         {"resourceType": "SearchParameter", "url": "u3", "type": "token", "base": []any{"CarePlan"}, "expression": "CarePlan.status"},
		"bad type":        {"resourceType": "SearchParameter", "url": "u4", "code": "x", "type": "nope", "base": []any{"CarePlan"}, "expression": "CarePlan.status"},
		"composite":       {"resourceType": "SearchParameter", "url": "u5", "code": "x", "type": "composite", "base": []any{"CarePlan"}, "expression": "CarePlan"},
		"no base":         {"resourceType": "SearchParameter", "url": "u6", "code": "x", "type": "token", "expression": "CarePlan.status"},
		"no expression":   {"resourceType": "SearchParameter", "url": "u7", "code": "x", "type": "token", "base": []any{"CarePlan"}},
		"wrong base expr": {"resourceType": "SearchParameter", "url": "u8", "code": "x", "type": "token", "base": []any{"CarePlan"}, "expression": "Observation.code"},
		"not an SP":       {"resourceType": "Patient"},
		"clash with _tag": {"resourceType": "SearchParameter", "url": "u9", "code": "_tag", "type": "token", "base": []any{"CarePlan"}, "expression": "CarePlan.status"},
	} {
		if err := r.Register(bad); outcome.AsError(err) == nil {
			t.Errorf("%s: Register = %v, want a *outcome.Error", name, err)
		}
	}
	if p, ok := r.Lookup("CarePlan", "patient"); !ok || p.Expression != "CarePlan.subject.where(resolve() is Patient)" || p.ResourceType() != "CarePlan" {
		t.Errorf("Lookup(CarePlan, patient) = %+v", p)
	}
	if p, ok := r.Lookup("Binary", "_id"); !ok || p.Type != store.Token {
		t.Errorf("Lookup(Binary, _id) = %+v", p)
	}
	if !r.Unregister("https://ucp.example.org/fhir/SearchParameter/cpr") {
		t.Error("Unregister found nothing")
	}
	if len(r.Params("CarePlan")) < 20 {
		t.Errorf("Params(CarePlan) = %d params", len(r.Params("CarePlan")))
	}
}

func TestExpressionFor(t *testing.T) {
	for _, tc := range []struct{ expr, base, want string }{
		{"AllergyIntolerance.code | Condition.code", "Condition", "Condition.code"},
		{"(Observation.value as Quantity) | (Observation.value as SampledData)", "Observation", "(Observation.value as Quantity) | (Observation.value as SampledData)"},
		{"Patient.name.where(use = 'a|b') | Practitioner.name", "Patient", "Patient.name.where(use = 'a|b')"},
		{"meta.tag", "Patient", "meta.tag"},
		{"CarePlan.status", "Goal", ""},
	} {
		if got := ExpressionFor(tc.expr, tc.base); got != tc.want {
			t.Errorf("ExpressionFor(%q, %s) = %q, want %q", tc.expr, tc.base, got, tc.want)
		}
	}
}

// TestParseSuggests: a strict refusal names the unknown parameter or
// modifier and, when one is near, the name the client probably meant.
func TestParseSuggests(t *testing.T) {
	r := MustRegistry(t)
	for _, tc := range []struct {
		name, typ, query, want string
	}{
		{"misspelt modifier", "CarePlan", "subject:identifer=https://fhir.nhs.uk/Id/nhs-number|9434765919&status=active",
			`subject:identifer: unknown modifier :identifer; did you mean "identifier"?`},
		{"misspelt parameter", "CarePlan", "subjet=Patient/1", `unknown parameter "subjet" for CarePlan; did you mean "subject"?`},
		{"misspelt common parameter", "Patient", "_lastUpdate=2024", `unknown parameter "_lastUpdate" for Patient; did you mean "_lastUpdated"?`},
		{"misspelt control parameter", "Patient", "_cont=5", `unknown parameter "_cont" for Patient; did you mean "_count"?`},
		{"system search", "", "_idd=x", `unknown parameter "_idd" for a system search; did you mean "_id"?`},
		{"misspelt _sort key", "CarePlan", "_sort=-dat", `_sort: unknown parameter "dat"; did you mean "date"?`},
		{"misspelt :iterate", "CarePlan", "_include:iterat=CarePlan:subject", `_include:iterat: unknown modifier "iterat"; did you mean "iterate"?`},
		{"nothing near", "CarePlan", "zzzzzz=1", `unknown parameter "zzzzzz" for CarePlan`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Parse(context.Background(), tc.typ, mustValues(t, tc.query), true)
			se := outcome.AsError(err)
			if se == nil || se.Kind != outcome.Invalid {
				t.Fatalf("error %v, want Invalid", err)
			}
			if diff := cmp.Diff(tc.want, se.Message); diff != "" {
				t.Errorf("message mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"identifer", "identifier", 1},
		{"kitten", "sitting", 3}, {"subject", "subject", 0}, {"subjet", "subject", 1},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
