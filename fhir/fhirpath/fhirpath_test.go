package fhirpath

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func mustLoad(tb testing.TB, name string) map[string]any {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return mustParse(tb, string(b))
}

func mustParse(tb testing.TB, s string) map[string]any {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// show renders a collection as "type:value" strings.
func show(c Collection) string {
	parts := make([]string, len(c))
	for i, it := range c {
		parts[i] = it.TypeName() + ":" + renderItem(it)
	}
	return strings.Join(parts, " | ")
}

func TestSyntaxErrors(t *testing.T) {
	for _, tt := range []struct {
		expr string
		pos  int
		msg  string
	}{
		{"", 0, "empty expression"},
		{"Patient.name.", 13, "expected a name"},
		{"Patient.name.given(", 19, "unexpected end of expression"},
		{"1 + ", 4, "unexpected end"},
		{"'abc", 0, "unterminated"},
		{"2 + 2 /* x", 6, "unterminated comment"},
		{"Patient.foo()", 8, "unknown function foo()"},
		{"Patient.where()", 8, "takes 1 arguments"},
		{"name.is(Strin9)", 5, "unknown type"},
		{"@2012-13", 0, "invalid date"},
		{"a ^ b", 2, "unexpected character"},
		{"$foo", 0, "unknown special variable"},
		{"(1", 2, `expected ")"`},
		{"1 2", 2, "unexpected"},
	} {
		_, err := Compile(tt.expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%q) = %v, want a SyntaxError", tt.expr, err)
			continue
		}
		if se.Pos != tt.pos || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Compile(%q) = %d %q, want %d containing %q", tt.expr, se.Pos, se.Msg, tt.pos, tt.msg)
		}
	}
}

func TestDeepNesting(t *testing.T) {
	deep := strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000)
	if _, err := Compile(deep); err == nil {
		t.Error("5000 nested parentheses compiled")
	}
	deep = strings.Repeat("-", 5000) + "1"
	if _, err := Compile(deep); err == nil {
		t.Error("5000 unary minus compiled")
	}
	chain := "Patient" + strings.Repeat(".name", 150)
	if _, err := Compile(chain); err != nil {
		t.Errorf("long path: %v", err)
	}
}

func TestEvaluate(t *testing.T) {
	cp := mustLoad(t, "careplan.json")
	pt := mustLoad(t, "patient.json")
	obs := mustParse(t, `{"resourceType":"Observation","id":"o1","status":"final",
		"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
		"valueQuantity":{"value":1.50,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"},
		"effectivePeriod":{"start":"2024-01-01T10:00:00Z","end":"2024-01-01T11:00:00Z"},
		"component":[{"code":{"text":"a"},"valueString":"x"},{"code":{"text":"b"},"valueInteger":3}]}`)
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	env := &Env{Now: func() time.Time { return now }, Vars: map[string]Collection{"who": {strItem("Margaret")}}}
	for _, tt := range []struct {
		res  map[string]any
		expr string
		want string
	}{
		// paths and FHIR types, including choice elements
		{obs, "Observation.value", "Quantity:1.50 'kg'"},
		{obs, "Observation.effective", `Period:{"end":"2024-01-01T11:00:00Z","start":"2024-01-01T10:00:00Z"}`},
		{obs, "Observation.effective.start", "dateTime:@2024-01-01T10:00:00Z"},
		{obs, "Observation.value.value", "decimal:1.50"},
		{obs, "Observation.value * 2", "System.Quantity:3.00 'kg'"},
		{obs, "Observation.component.value", "string:x | integer:3"},
		{obs, "Observation.value is Quantity", "System.Boolean:true"},
		{obs, "Observation.value.ofType(Quantity).code", "code:kg"},
		{obs, "Observation.code.coding.system", "uri:http://loinc.org"},
		{obs, "Observation.status", "code:final"},
		{pt, "Patient.birthDate", "date:@1938-07-19"},
		{pt, "Patient.name.given | Patient.name.family", "string:Margaret | string:Rose | string:Evans | string:Hughes"},
		{pt, "Patient.name.given.count()", "System.Integer:3"},
		{pt, "Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value", "dateTime:@1938-07-19T06:15:00+01:00"},
		{pt, "Patient.name[1].given.extension.value", "string:as baptised"},
		{pt, "Patient.name[1].given.hasValue()", "System.Boolean:true"},
		{pt, "Patient.identifier.where(system = 'https://fhir.nhs.uk/Id/nhs-number').value", "string:9449305552"},
		{pt, "Patient.telecom.where(use = 'mobile').rank", "positiveInt:1"},
		{pt, "Patient.id", "id:9449305552"},
		{pt, "Patient.meta.lastUpdated", "instant:@2024-01-02T10:00:00Z"},
		{pt, "Patient.gender = 'female'", "System.Boolean:true"},
		{pt, "Patient.birthDate < @1940", "System.Boolean:true"},
		{pt, "Patient.birthDate + 1 year", "System.Date:@1939-07-19"},
		{pt, "today() - 1 day", "System.Date:@2024-05-05"},
		{pt, "Patient.name.where(given contains %who).use", "code:official | code:maiden"},
		{pt, "Patient.name.select(given.first() + ' ' + family)", "System.String:Margaret Evans | System.String:Margaret Hughes"},
		{pt, "Patient.descendants().ofType(Coding).code", "code:01"},
		{pt, "Patient.children().ofType(HumanName).count()", "System.Integer:2"},
		{pt, "Patient.name.is(Element)", ""}, // more than one item: error (checked below)
		// references
		{cp, "CarePlan.subject.where(resolve() is Patient)", `Reference:{"display":"Margaret EVANS","identifier":{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9449305552"},"reference":"Patient/9449305552"}`},
		{cp, "CarePlan.subject.resolve().id", "id:9449305552"},
		{cp, "CarePlan.goal.resolve().description.text", "string:Preferred place of death: home"},
		{cp, "CarePlan.goal.resolve() is Goal", "System.Boolean:true"},
		{cp, "CarePlan.author.resolve() is Patient", "System.Boolean:false"},
		{cp, "CarePlan.instantiatesCanonical", "canonical:https://ucp.example.org/fhir/PlanDefinition/urgent-care-plan|2"},
		{cp, "CarePlan.activity.detail.code.coding.code", "code:304253006"},
		{cp, "CarePlan.activity.detail.scheduled", `Period:{"start":"2024-03-11"}`},
		{cp, "CarePlan.activity.detail.dailyAmount.value", "decimal:2.50"},
		{cp, "CarePlan.activity.first() is BackboneElement", "System.Boolean:true"},
		{cp, "CarePlan.activity.detail.first().type().name", "string:CarePlan.activity.detail"},
		{cp, "CarePlan.period.start <= CarePlan.period.end", "System.Boolean:true"},
		{cp, "CarePlan.text.div.htmlChecks()", "System.Boolean:true"},
		{cp, "%resource.contained.id", "id:ppd"},
		{cp, "CarePlan.category.coding.where(system = %sct).code", "code:736373009"},
		// decimals keep their precision
		{cp, "1.50 + 1.0", "System.Decimal:2.50"},
		{cp, "(1.50).toString()", "System.String:1.50"},
		{cp, "0.1 + 0.2 = 0.3", "System.Boolean:true"},
		{cp, "10 / 4", "System.Decimal:2.5"},
		{cp, "2.0 'cm' * 2.0 'm' = 0.040 'm2'", "System.Boolean:true"},
		{cp, "1 year = 12 months", "System.Boolean:true"},
		{cp, "1 year = 1 'a'", ""},
		{cp, "1 'a' ~ 1 year", "System.Boolean:true"},
		// three-valued logic
		{cp, "{} and false", "System.Boolean:false"},
		{cp, "{} or true", "System.Boolean:true"},
		{cp, "{} implies false", ""},
		{cp, "false implies {}", "System.Boolean:true"},
	} {
		e, err := Compile(tt.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.expr, err)
			continue
		}
		got, err := e.Evaluate(tt.res, env)
		if tt.expr == "Patient.name.is(Element)" {
			if err == nil {
				t.Errorf("%q: want an error", tt.expr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.expr, err)
			continue
		}
		if s := show(got); s != tt.want {
			t.Errorf("%q\n got %s\nwant %s", tt.expr, s, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	bundle := mustParse(t, `{"resourceType":"Bundle","type":"collection","entry":[
		{"fullUrl":"http://x.org/fhir/Patient/1","resource":{"resourceType":"Patient","id":"1","gender":"male"}},
		{"fullUrl":"urn:uuid:5f3c","resource":{"resourceType":"CarePlan","id":"c","subject":{"reference":"Patient/1"},"author":{"reference":"urn:uuid:5f3c"}}}]}`)
	e := MustCompile("Bundle.entry.resource.ofType(CarePlan).subject.resolve().gender")
	got, err := e.Evaluate(bundle, nil)
	if err != nil || show(got) != "code:male" {
		t.Errorf("bundle resolve = %s, %v", show(got), err)
	}
	got, err = MustCompile("Bundle.entry[1].resource.author.resolve().id").Evaluate(bundle, nil)
	if err != nil || show(got) != "id:c" {
		t.Errorf("urn:uuid resolve = %s, %v", show(got), err)
	}

	cp := mustLoad(t, "careplan.json")
	calls := 0
	env := &Env{Resolver: func(ref string) (map[string]any, error) {
		calls++
		if ref == "Practitioner/gp-4411" {
			return map[string]any{"resourceType": "Practitioner", "id": "gp-4411", "active": true}, nil
		}
		return nil, nil
	}}
	got, err = MustCompile("CarePlan.author.resolve().active").Evaluate(cp, env)
	if err != nil || show(got) != "boolean:true" || calls != 1 {
		t.Errorf("resolver = %s, %v, %d calls", show(got), err, calls)
	}
	got, _ = MustCompile("CarePlan.careTeam.resolve()").Evaluate(cp, env)
	if len(got) != 0 {
		t.Errorf("not found by resolver: %s", show(got))
	}
	// errors from the resolver surface
	env.Resolver = func(string) (map[string]any, error) { return nil, errors.New("store down") }
	if _, err := MustCompile("CarePlan.author.resolve()").Evaluate(cp, env); err == nil {
		t.Error("resolver error swallowed")
	}
	// no resolver: a typed stub
	got, _ = MustCompile("CarePlan.addresses.resolve()").Evaluate(cp, nil)
	if show(got) != `Condition:{"id":"copd-1","resourceType":"Condition"}` {
		t.Errorf("stub = %s", show(got))
	}
}

func TestStrict(t *testing.T) {
	pt := mustLoad(t, "patient.json")
	for _, expr := range []string{"Patient.name.given1", "Patient.birthDat", "Observation.status", "Patient.deceasedBoolean"} {
		if _, err := MustCompile(expr).Evaluate(pt, &Env{Strict: true}); err == nil {
			t.Errorf("%q: strict mode accepted", expr)
		}
		if _, err := MustCompile(expr).Evaluate(pt, nil); err != nil {
			t.Errorf("%q: lenient mode: %v", expr, err)
		}
	}
	// elements present on some items of a mixed collection are fine
	if _, err := MustCompile("Patient.descendants().system").Evaluate(pt, &Env{Strict: true}); err != nil {
		t.Error(err)
	}
}

func TestEvaluateOn(t *testing.T) {
	pt := mustLoad(t, "patient.json")
	name := pt["name"].([]any)[0]
	got, err := MustCompile("given.count() = 2 and family.exists()").EvaluateOn(NewItem(name, "HumanName"), nil)
	if err != nil || show(got) != "System.Boolean:true" {
		t.Errorf("EvaluateOn = %s, %v", show(got), err)
	}
	if _, err := MustCompile("%undefined").EvaluateOn(NewItem(name, "HumanName"), nil); err == nil {
		t.Error("undefined variable accepted")
	}
}

func TestMemberOfConformsTo(t *testing.T) {
	pt := mustLoad(t, "patient.json")
	got, _ := MustCompile("Patient.gender.memberOf('http://hl7.org/fhir/ValueSet/administrative-gender')").Evaluate(pt, nil)
	if len(got) != 0 {
		t.Errorf("memberOf without callback = %s", show(got))
	}
	env := &Env{
		MemberOf: func(code Item, vs string) (bool, error) {
			return code.Data() == "female" && strings.HasSuffix(vs, "administrative-gender"), nil
		},
		ConformsTo: func(r Item, url string) (bool, error) { return r.TypeName() == "Patient", nil },
	}
	got, _ = MustCompile("Patient.gender.memberOf(%vs-administrative-gender)").Evaluate(pt, env)
	if show(got) != "System.Boolean:true" {
		t.Errorf("memberOf = %s", show(got))
	}
	got, _ = MustCompile("conformsTo('https://ucp.example.org/fhir/StructureDefinition/UCPPatient')").Evaluate(pt, env)
	if show(got) != "System.Boolean:true" {
		t.Errorf("conformsTo = %s", show(got))
	}
}

func TestDecimal(t *testing.T) {
	for _, tt := range []struct{ a, op, b, want string }{
		{"1.50", "+", "1", "2.50"},
		{"1.50", "*", "2", "3.00"},
		{"1", "/", "3", "0.33333333"},
		{"2", "/", "3", "0.66666667"},
		{"-1.5", "-", "0.25", "-1.75"},
		{"1e3", "+", "0", "1000"},
		{"0.001", "*", "0.001", "0.000001"},
	} {
		a, _ := ParseDecimal(tt.a)
		b, _ := ParseDecimal(tt.b)
		var got Decimal
		switch tt.op {
		case "+":
			got = a.Add(b)
		case "-":
			got = a.Sub(b)
		case "*":
			got = a.Mul(b)
		case "/":
			got, _ = a.Div(b)
		}
		if got.String() != tt.want {
			t.Errorf("%s %s %s = %s, want %s", tt.a, tt.op, tt.b, got, tt.want)
		}
	}
	for _, bad := range []string{"", "1.", ".5", "1.2.3", "abc", "--1", "1e99999"} {
		if _, err := ParseDecimal(bad); err == nil {
			t.Errorf("ParseDecimal(%q) accepted", bad)
		}
	}
}
