package search

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"ucp/fhir/outcome"
	"ucp/store"
)

// fakeTerm is a Terminology over a few fixed value sets and a small
// hierarchy (snomed: 1 > 2 > 3).
type fakeTerm struct{}

const sct = "http://snomed.info/sct"

func (fakeTerm) Expand(_ context.Context, url string) ([]Coding, error) {
	switch url {
	case "http://ucp/vs/small":
		return []Coding{{sct, "a"}, {sct, "b"}}, nil
	case "http://ucp/vs/huge":
		cs := make([]Coding, MaxExpansion+1)
		for i := range cs {
			cs[i] = Coding{sct, fmt.Sprint(i)}
		}
		return cs, nil
	}
	return nil, outcome.Errorf(outcome.NotFound, "unknown value set %s", url)
}

func (fakeTerm) Descendants(_ context.Context, system, code string) ([]string, error) {
	if system == sct && code == "1" {
		return []string{"2", "3"}, nil
	}
	return nil, nil
}

func (fakeTerm) Ancestors(_ context.Context, system, code string) ([]string, error) {
	if system == sct && code == "3" {
		return []string{"2", "1"}, nil
	}
	return nil, nil
}

func freshRegistry(t *testing.T) *Registry {
	t.Helper()
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	return r
}

func TestParseComplete(t *testing.T) {
	r := freshRegistry(t)
	r.SetTerminology(fakeTerm{})
	day := func(s string) (time.Time, time.Time) { lo, hi, _ := dateRange(s); return lo, hi }
	mar1, mar2 := day("2024-03")
	tok := func(param, system, code string) store.Cond {
		return store.Cond{Param: param, Type: store.Token, System: system, SystemSet: system != "", Code: code}
	}
	not := func(c store.Cond) store.Cond { c.Not = true; return c }
	for _, tc := range []struct {
		name, typ, query string
		want             []store.Clause
	}{
		{"composite code$quantity (canonical unit)", "Observation", "code-value-quantity=http://loinc.org|29463-7$gt5.4|http://unitsofmeasure.org|mg",
			[]store.Clause{{Any: []store.Cond{{Param: "code-value-quantity", Type: store.Composite, Components: []store.Cond{
				tok("code-value-quantity$0", "http://loinc.org", "29463-7"),
				{Param: "code-value-quantity$1", Type: store.Quantity, Prefix: store.Gt, Num: 5.4 * 1e-3, NumLow: 5.35 * 1e-3, NumHigh: 5.45 * 1e-3, Canonical: true, Code: "g"},
			}}}}}},
		{"composite component code$concept, two values ORed", "Observation", "component-code-value-concept=a$b,c$d",
			[]store.Clause{{Any: []store.Cond{
				{Param: "component-code-value-concept", Type: store.Composite, Components: []store.Cond{tok("component-code-value-concept$0", "", "a"), tok("component-code-value-concept$1", "", "b")}},
				{Param: "component-code-value-concept", Type: store.Composite, Components: []store.Cond{tok("component-code-value-concept$0", "", "c"), tok("component-code-value-concept$1", "", "d")}},
			}}}},
		{"composite escaped $", "Observation", `code-value-string=x$a\$b`,
			[]store.Clause{{Any: []store.Cond{{Param: "code-value-string", Type: store.Composite, Components: []store.Cond{
				tok("code-value-string$0", "", "x"), {Param: "code-value-string$1", Type: store.String, Value: "a$b"},
			}}}}}},
		{"composite :missing", "Observation", "combo-code-value-quantity:missing=true",
			[]store.Clause{{Any: []store.Cond{{Param: "combo-code-value-quantity", Type: store.Composite, Missing: ptrBool(true),
				Components: []store.Cond{{Param: "combo-code-value-quantity$0", Type: store.Token}}}}}}},
		{":in", "Condition", "code:in=http://ucp/vs/small",
			[]store.Clause{{Any: []store.Cond{tok("code", sct, "a"), tok("code", sct, "b")}}}},
		{":not-in (each code its own :not clause)", "Condition", "code:not-in=http://ucp/vs/small",
			[]store.Clause{{Any: []store.Cond{not(tok("code", sct, "a"))}}, {Any: []store.Cond{not(tok("code", sct, "b"))}}}},
		{":below", "Condition", "code:below=http://snomed.info/sct|1",
			[]store.Clause{{Any: []store.Cond{tok("code", sct, "1"), tok("code", sct, "2"), tok("code", sct, "3")}}}},
		{":above", "Condition", "code:above=http://snomed.info/sct|3",
			[]store.Clause{{Any: []store.Cond{tok("code", sct, "3"), tok("code", sct, "2"), tok("code", sct, "1")}}}},
		{":missing within a chain", "CarePlan", "subject:Patient.birthdate:missing=true",
			[]store.Clause{{Any: []store.Cond{{Param: "subject", Type: store.Reference, RefType: "Patient", Chain: &store.Chain{Type: "Patient",
				Where: []store.Clause{{Any: []store.Cond{{Param: "birthdate", Type: store.Date, Missing: ptrBool(true)}}}}}}}}}},
		{":missing=false", "Patient", "birthdate:missing=false",
			[]store.Clause{{Any: []store.Cond{{Param: "birthdate", Type: store.Date, Missing: ptrBool(false)}}}}},
		{"date month is a month-long range", "Patient", "birthdate=2024-03",
			[]store.Clause{{Any: []store.Cond{{Param: "birthdate", Type: store.Date, Low: mar1, High: mar2}}}}},
		{"gt a month: after the whole month", "Patient", "birthdate=gt2024-03",
			[]store.Clause{{Any: []store.Cond{{Param: "birthdate", Type: store.Date, Prefix: store.Gt, Low: mar1, High: mar2}}}}},
		{"ne", "Patient", "birthdate=ne2024-03",
			[]store.Clause{{Any: []store.Cond{{Param: "birthdate", Type: store.Date, Prefix: store.Ne, Low: mar1, High: mar2}}}}},
		{"_has nested", "Patient", "_has:CarePlan:subject:_has:Provenance:target:agent=Practitioner/p1",
			[]store.Clause{{Any: []store.Cond{{Param: "_has", Type: store.Special, Has: &store.Has{Type: "CarePlan", Param: "subject",
				Where: []store.Clause{{Any: []store.Cond{{Param: "_has", Type: store.Special, Has: &store.Has{Type: "Provenance", Param: "target",
					Where: []store.Clause{{Any: []store.Cond{{Param: "agent", Type: store.Reference, RefType: "Practitioner", RefID: "p1"}}}}}}}}}}}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := r.Parse(context.Background(), tc.typ, mustValues(t, tc.query), true)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(req.Query.Where, tc.want) {
				t.Errorf("Where mismatch\n got %+v\nwant %+v", req.Query.Where, tc.want)
			}
		})
	}
}

func TestParseCompleteErrors(t *testing.T) {
	plain := freshRegistry(t)
	term := freshRegistry(t)
	term.SetTerminology(fakeTerm{})
	for _, tc := range []struct {
		name  string
		r     *Registry
		typ   string
		query string
		want  string // in the message
	}{
		{"too many codes", term, "Condition", "code:in=http://ucp/vs/huge", "more than the 1000"},
		{"unknown value set", term, "Condition", "code:in=http://ucp/vs/none", "unknown value set"},
		{":below needs system|code", term, "Condition", "code:below=1", "system|code"},
		{":not-in takes one value set", term, "Condition", "code:not-in=http://ucp/vs/small,http://ucp/vs/small", "one value set"},
		{":in without terminology", plain, "Condition", "code:in=http://ucp/vs/small", "terminology"},
		{":below without terminology", plain, "Condition", "code:below=http://snomed.info/sct|1", "terminology"},
		{"composite wrong part count", plain, "Observation", "code-value-quantity=a", "2 $-separated parts"},
		{"composite bad quantity", plain, "Observation", "code-value-quantity=a$abc", "not a number"},
		{"_sort by composite", plain, "Observation", "_sort=code-value-quantity", "cannot be sorted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.r.Parse(context.Background(), tc.typ, mustValues(t, tc.query), true)
			if err == nil || outcome.KindOf(err) != outcome.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want Invalid containing %q", err, tc.want)
			}
		})
	}
	// Lenient handling drops an unsupported modifier and says so.
	req, err := plain.Parse(context.Background(), "Condition", mustValues(t, "code:in=http://ucp/vs/small"), false)
	if err != nil || len(req.Ignored) != 1 || len(req.Query.Where) != 0 {
		t.Fatalf("lenient: %+v, %v", req, err)
	}
}

func TestParseSortEveryType(t *testing.T) {
	r := MustRegistry(t)
	req, err := r.Parse(context.Background(), "Observation", mustValues(t, "_sort=code,-date,value-quantity,subject,-_lastUpdated,_id"), true)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.SortKey{{Param: "code", Type: store.Token}, {Param: "date", Type: store.Date, Desc: true},
		{Param: "value-quantity", Type: store.Quantity}, {Param: "subject", Type: store.Reference},
		{Param: "_lastUpdated", Type: store.Date, Desc: true}, {Param: "_id", Type: store.Token}}
	if !reflect.DeepEqual(req.Query.Sort, want) {
		t.Errorf("Sort\n got %+v\nwant %+v", req.Query.Sort, want)
	}
	for _, q := range []string{"_sort=name", "_sort=-birthdate", "_sort=general-practitioner", "_sort=telecom"} {
		if _, err := r.Parse(context.Background(), "Patient", mustValues(t, q), true); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	if _, err := r.Parse(context.Background(), "ValueSet", mustValues(t, "_sort=url"), true); err != nil {
		t.Errorf("uri sort: %v", err)
	}
}

func TestExtractComposite(t *testing.T) {
	r := MustRegistry(t)
	obs := MustResource(t, `{"resourceType":"Observation","id":"bp","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
		"component":[
		 {"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":120,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}},
		 {"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":80,"system":"http://unitsofmeasure.org","code":"mm[Hg]"}}]}`)
	entries, _, err := r.Extract(obs)
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]map[int][]string{}
	for _, e := range entries {
		if !strings.HasPrefix(e.Param, "component-code-value-quantity$") {
			if e.Group != 0 && !strings.Contains(e.Param, "$") {
				t.Errorf("ordinary entry with a group: %+v", e)
			}
			continue
		}
		if groups[e.Param] == nil {
			groups[e.Param] = map[int][]string{}
		}
		v := e.Code
		if e.Type == store.Quantity {
			v = fmt.Sprintf("%g %s", e.Num, e.Code)
			if e.CanonCode != "Pa" {
				t.Errorf("mm[Hg] not canonical: %+v", e)
			}
		}
		groups[e.Param][e.Group] = append(groups[e.Param][e.Group], v)
	}
	want := map[string]map[int][]string{
		"component-code-value-quantity$0": {1: {"8480-6"}, 2: {"8462-4"}},
		"component-code-value-quantity$1": {1: {"120 mm[Hg]"}, 2: {"80 mm[Hg]"}},
	}
	if !reflect.DeepEqual(groups, want) {
		t.Errorf("groups\n got %v\nwant %v", groups, want)
	}
	// combo: the Observation itself is a group too (code and no value:
	// incomplete, so not indexed), and each component.
	n := 0
	for _, e := range entries {
		if e.Param == "combo-code-value-quantity$0" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("combo groups: %d code entries, want 2 (the components; the Observation has no value)", n)
	}
}

func TestExtractParseCanonicalAgree(t *testing.T) {
	r := MustRegistry(t)
	obs := MustResource(t, `{"resourceType":"Observation","id":"o","status":"final","code":{"text":"x"},
		"valueQuantity":{"value":5400,"system":"http://unitsofmeasure.org","code":"ug"}}`)
	entries, _, err := r.Extract(obs)
	if err != nil {
		t.Fatal(err)
	}
	var e *store.Entry
	for i := range entries {
		if entries[i].Param == "value-quantity" && entries[i].CanonCode != "" {
			e = &entries[i]
		}
	}
	if e == nil {
		t.Fatal("no canonical entry")
	}
	req, err := r.Parse(context.Background(), "Observation", mustValues(t, "value-quantity=5.4|http://unitsofmeasure.org|mg"), true)
	if err != nil {
		t.Fatal(err)
	}
	c := req.Query.Where[0].Any[0]
	// Eq: the searched range contains the stored one, in the same unit.
	if !c.Canonical || c.Code != e.CanonCode || !(e.CanonLow >= c.NumLow && e.CanonHigh <= c.NumHigh) {
		t.Errorf("5.4 mg does not cover 5400 ug: cond %+v entry %+v", c, *e)
	}
}
