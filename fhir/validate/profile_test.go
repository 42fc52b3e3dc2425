package validate_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"ucp/fhir/resource"
	"ucp/fhir/validate"
)

const (
	ucpCarePlan  = "https://ucp.example.org/fhir/StructureDefinition/UCPCarePlan"
	ucpPublished = "https://ucp.example.org/fhir/StructureDefinition/UCPPublishedCarePlan"
	ucpPatient   = "https://ucp.example.org/fhir/StructureDefinition/UCPPatient"
)

// testValidator is a validator knowing the testdata profiles and
// terminology.
func testValidator(t testing.TB) *validate.Validator {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sds, terms []map[string]any
	for _, f := range files {
		res := mustParseFile(t, f)
		switch res["resourceType"] {
		case "StructureDefinition":
			sds = append(sds, res)
		case "ValueSet", "CodeSystem":
			terms = append(terms, res)
		}
	}
	return validate.New(validate.Options{
		Profiles:    validate.NewProfileMap(sds...),
		Terminology: validate.NewMemoryTerminology(terms...),
	})
}

func clone(t testing.TB, res map[string]any) map[string]any {
	t.Helper()
	out, err := resource.Parse(resource.Marshal(res))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// set assigns a JSON value (given as text) at a dotted path of plain keys and
// array indexes ("identifier.0.value"); a nil value deletes the key.
func set(t testing.TB, res map[string]any, path string, jsonValue string) {
	t.Helper()
	keys := strings.Split(path, ".")
	var cur any = res
	for _, k := range keys[:len(keys)-1] {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[k]
		case []any:
			i := 0
			for _, ch := range k {
				i = i*10 + int(ch-'0')
			}
			cur = c[i]
		}
	}
	last := keys[len(keys)-1]
	if a, ok := cur.([]any); ok {
		i := 0
		for _, ch := range last {
			i = i*10 + int(ch-'0')
		}
		v, err := resource.ParseValue([]byte(jsonValue))
		if err != nil {
			t.Fatalf("set %s: %v", path, err)
		}
		if i == len(a) {
			a = append(a, v)
		} else {
			a[i] = v
		}
		// write the (possibly grown) array back to its parent
		set(t, res, strings.Join(keys[:len(keys)-1], "."), string(resource.Marshal(a)))
		return
	}
	m, ok := cur.(map[string]any)
	if !ok {
		t.Fatalf("set %s: parent is not an object", path)
	}
	if jsonValue == "" {
		delete(m, last)
		return
	}
	v, err := resource.ParseValue([]byte(jsonValue))
	if err != nil {
		t.Fatalf("set %s: %v", path, err)
	}
	m[last] = v
}

func TestProfilesValidExamples(t *testing.T) {
	v := testValidator(t)
	ctx := context.Background()
	for _, tc := range []struct {
		file     string
		profiles []string
	}{
		{"Patient-valid.json", nil},
		{"CarePlan-valid.json", nil},
		{"CarePlan-valid.json", []string{ucpPublished}},
	} {
		res := mustParseFile(t, filepath.Join("testdata", tc.file))
		issues := v.Validate(ctx, res, tc.profiles...)
		if len(issues) > 0 {
			t.Errorf("%s %v:\n%s", tc.file, tc.profiles, dump(issues))
		}
	}
}

func TestProfiles(t *testing.T) {
	v := testValidator(t)
	patient := mustParseFile(t, filepath.Join("testdata", "Patient-valid.json"))
	careplan := mustParseFile(t, filepath.Join("testdata", "CarePlan-valid.json"))
	tests := []struct {
		name     string
		base     map[string]any
		edit     func(t testing.TB, r map[string]any)
		profiles []string
		code     string
		expr     string
		severity string
	}{
		// slicing by value (identifier.system), closed rules, slice cardinality
		{"nhs number slice missing", patient, func(t testing.TB, r map[string]any) {
			set(t, r, "identifier", `[{"system":"https://ucp.example.org/Id/patient","value":"L-1"}]`)
		}, nil, "required", "Patient.identifier", ""},
		{"closed identifier slicing", patient, func(t testing.TB, r map[string]any) {
			set(t, r, "identifier.1.system", `"https://example.org/other"`)
		}, nil, "structure", "Patient.identifier[1]", ""},
		{"two nhs numbers", patient, func(t testing.TB, r map[string]any) {
			set(t, r, "identifier.1", `{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000017"}`)
		}, nil, "structure", "Patient.identifier", ""},
		{"slice constraint", patient, func(t testing.TB, r map[string]any) {
			set(t, r, "identifier.0.value", `"900000000"`)
		}, nil, "invariant", "Patient.identifier[0].value", ""},
		{"slice element cardinality", patient, func(t testing.TB, r map[string]any) {
			set(t, r, "identifier.0", `{"system":"https://fhir.nhs.uk/Id/nhs-number"}`)
		}, nil, "required", "Patient.identifier[0].value", ""},
		// cardinality narrowing
		{"max 0", patient, func(t testing.TB, r map[string]any) {
			set(t, r, "maritalStatus", `{"text":"married"}`)
		}, nil, "structure", "Patient.maritalStatus", ""},
		{"min 1 nested", patient, func(t testing.TB, r map[string]any) {
			set(t, r, "name.0.family", "")
		}, nil, "required", "Patient.name[0].family", ""},
		{"min 1 primitive", patient, func(t testing.TB, r map[string]any) {
			set(t, r, "birthDate", "")
			set(t, r, "_birthDate", "")
		}, nil, "required", "Patient.birthDate", ""},
		// type and target profile
		{"reference target type", patient, func(t testing.TB, r map[string]any) {
			set(t, r, "generalPractitioner.0.reference", `"Patient/x"`)
		}, nil, "structure", "Patient.generalPractitioner[0]", ""},
		{"choice type restricted", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "activity.0.detail.scheduledPeriod", "")
			set(t, r, "activity.0.detail.scheduledString", `"daily"`)
		}, nil, "structure", "CarePlan.activity[0].detail.scheduledString", ""},
		{"subject must be a patient", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "subject", `{"reference":"Group/g1"}`)
		}, nil, "structure", "CarePlan.subject", ""},
		// bindings
		{"required binding", patient, func(t testing.TB, r map[string]any) {
			set(t, r, "communication.0.language", `{"coding":[{"system":"urn:ietf:bcp:47","code":"fr"}]}`)
		}, nil, "code-invalid", "Patient.communication[0].language", ""},
		{"required binding excluded code", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "activity.0.detail.code", `{"coding":[{"system":"https://ucp.example.org/fhir/CodeSystem/activity","code":"preferred-place"}]}`)
		}, nil, "code-invalid", "CarePlan.activity[0].detail.code", ""},
		{"required binding text only", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "activity.0.detail.code", `{"text":"call someone"}`)
		}, nil, "code-invalid", "CarePlan.activity[0].detail.code", ""},
		{"extensible binding", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "activity.0.detail.kind", `"Observation"`)
		}, nil, "code-invalid", "CarePlan.activity[0].detail.kind", "warning"},
		// fixed and pattern
		{"fixed code", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "intent", `"order"`)
		}, nil, "value", "CarePlan.intent", ""},
		{"pattern slice missing", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "category", `[{"coding":[{"system":"https://ucp.example.org/CodeSystem/plan-category","code":"x"}]}]`)
		}, nil, "required", "CarePlan.category", ""},
		{"closed pattern slicing", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "category.1", `{"text":"other"}`)
		}, nil, "structure", "CarePlan.category[1]", ""},
		{"identifier slice fixed system missing", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "identifier.0.system", `"https://elsewhere.example.org"`)
		}, nil, "required", "CarePlan.identifier", ""},
		// extension slicing by url
		{"extension slice max", careplan, func(t testing.TB, r map[string]any) {
			ext := r["extension"].([]any)
			r["extension"] = append(ext, ext[0])
		}, nil, "structure", "CarePlan.extension", ""},
		// the extension's own definition (type.profile of the slice)
		{"extension definition value type", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "extension.0", `{"url":"https://ucp.example.org/fhir/StructureDefinition/cpr-decision","valueString":"DNACPR"}`)
		}, nil, "structure", "CarePlan.extension[0].valueString", ""},
		{"extension definition binding", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "extension.0.valueCodeableConcept.coding.0.code", `"1"`)
		}, nil, "code-invalid", "CarePlan.extension[0].valueCodeableConcept", ""},
		{"max narrowed", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "note", `[{"text":"a"},{"text":"b"},{"text":"c"}]`)
		}, nil, "structure", "CarePlan.note", ""},
		// profile constraints
		{"profile invariant", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "period", `{"end":"2025-01-01"}`)
		}, nil, "invariant", "CarePlan", ""},
		{"profile warning invariant", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "title", "")
		}, nil, "invariant", "CarePlan", "warning"},
		{"min 1 complex", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "period", "")
		}, nil, "required", "CarePlan.period", ""},
		// derived profile: its own rules and its base's
		{"derived min on slice", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "extension", "")
		}, []string{ucpPublished}, "required", "CarePlan.extension", ""},
		{"derived fixed", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "status", `"draft"`)
		}, []string{ucpPublished}, "value", "CarePlan.status", ""},
		{"derived min", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "description", "")
		}, []string{ucpPublished}, "required", "CarePlan.description", ""},
		{"derived invariant", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "author", "")
		}, []string{ucpPublished}, "invariant", "CarePlan", ""},
		{"derived keeps base rules", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "meta", "")
			set(t, r, "intent", `"order"`)
		}, []string{ucpPublished}, "value", "CarePlan.intent", ""},
		// profile resolution
		{"unknown explicit profile", careplan, nil, []string{"https://example.org/nope"}, "not-found", "CarePlan", ""},
		{"unknown meta.profile", careplan, func(t testing.TB, r map[string]any) {
			set(t, r, "meta", `{"profile":["https://example.org/nope"]}`)
		}, nil, "not-found", "CarePlan", "warning"},
		{"profile for another type", careplan, nil, []string{ucpPatient}, "structure", "CarePlan", ""},
		{"core profile of another type", careplan, nil, []string{"http://hl7.org/fhir/StructureDefinition/Patient"}, "structure", "CarePlan", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := clone(t, tt.base)
			if tt.edit != nil {
				tt.edit(t, res)
			}
			issues := v.Validate(context.Background(), res, tt.profiles...)
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
	t.Logf("%d profile cases", len(tests))
}

func TestMemoryTerminology(t *testing.T) {
	var terms []map[string]any
	for _, f := range []string{"CodeSystem-ucp-activity.json", "ValueSet-ucp-activity.json", "ValueSet-ucp-activity-kind.json"} {
		terms = append(terms, mustParseFile(t, filepath.Join("testdata", f)))
	}
	term := validate.NewMemoryTerminology(terms...)
	const cs = "https://ucp.example.org/fhir/CodeSystem/activity"
	for _, tc := range []struct {
		vs, system, code string
		ok, known        bool
	}{
		{"https://ucp.example.org/fhir/ValueSet/activity", cs, "call-family", true, true},
		{"https://ucp.example.org/fhir/ValueSet/activity|1.0", cs, "call-next-of-kin", true, true}, // nested concept
		{"https://ucp.example.org/fhir/ValueSet/activity", cs, "preferred-place", false, true},     // excluded
		{"https://ucp.example.org/fhir/ValueSet/activity", "http://snomed.info/sct", "304253006", true, true},
		{"https://ucp.example.org/fhir/ValueSet/activity", "http://snomed.info/sct", "1", false, true},
		{"https://ucp.example.org/fhir/ValueSet/activity", "", "do-not-resuscitate", true, true},
		{"https://ucp.example.org/fhir/ValueSet/activity-kind", "", "ServiceRequest", true, true}, // includes a core value set
		{"http://hl7.org/fhir/ValueSet/administrative-gender", "http://hl7.org/fhir/administrative-gender", "female", true, true},
		{"https://example.org/unknown", "", "x", false, false},
	} {
		ok, known := term.ValidateCode(tc.vs, tc.system, tc.code)
		if ok != tc.ok || known != tc.known {
			t.Errorf("ValidateCode(%s, %s, %s) = %v, %v; want %v, %v", tc.vs, tc.system, tc.code, ok, known, tc.ok, tc.known)
		}
	}
}

// TestProfileOnlySnapshot checks a profile given only as a snapshot (no
// differential): the snapshot's unchanged base elements do not repeat base
// errors, and narrowed ones are checked.
func TestProfileOnlySnapshot(t *testing.T) {
	sd := mustParse(t, `{"resourceType":"StructureDefinition","url":"https://ucp.example.org/snap","name":"Snap",
		"type":"Flag","kind":"resource","abstract":false,"status":"draft","derivation":"constraint",
		"baseDefinition":"http://hl7.org/fhir/StructureDefinition/Flag",
		"snapshot":{"element":[
		  {"id":"Flag","path":"Flag","min":0,"max":"*"},
		  {"id":"Flag.status","path":"Flag.status","min":1,"max":"1","type":[{"code":"code"}],
		   "binding":{"strength":"required","valueSet":"http://hl7.org/fhir/ValueSet/flag-status|4.0.1"}},
		  {"id":"Flag.period","path":"Flag.period","min":1,"max":"1","type":[{"code":"Period"}]},
		  {"id":"Flag.code","path":"Flag.code","min":1,"max":"1","type":[{"code":"CodeableConcept"}]}]}}`)
	v := validate.New(validate.Options{Profiles: validate.NewProfileMap(sd)})
	flag := mustParse(t, `{"resourceType":"Flag",`+narrative+`,"status":"active","code":{"text":"DNACPR"},"subject":{"reference":"Patient/1"}}`)
	issues := v.Validate(context.Background(), flag, "https://ucp.example.org/snap")
	if !hasIssue(issues, "required", "Flag.period") || len(issues) != 1 {
		t.Errorf("want exactly one required issue at Flag.period, got:\n%s", dump(issues))
	}
}

// TestConcurrentValidate shares one Validator (and its profile cache)
// between goroutines; run with -race.
func TestConcurrentValidate(t *testing.T) {
	v := testValidator(t)
	careplan := mustParseFile(t, filepath.Join("testdata", "CarePlan-valid.json"))
	patient := mustParseFile(t, filepath.Join("testdata", "Patient-valid.json"))
	done := make(chan []validate.Issue)
	for i := 0; i < 8; i++ {
		go func() {
			res := careplan
			if i%2 == 1 {
				res = patient
			}
			done <- v.Validate(context.Background(), res, ucpPublished)
		}()
	}
	for i := 0; i < 8; i++ {
		issues := <-done
		_ = issues // the Patient fails the CarePlan profile; only races matter here
	}
}

// TestExtensionSlicesNeedNoSlicing: a differential that slices extension
// without a slicing element (as UK Core's do: the R4 base slices every
// extension element by url) still has its slices told apart by url.
func TestExtensionSlicesNeedNoSlicing(t *testing.T) {
	const ext = "https://x.example/StructureDefinition/ext"
	sd, err := resource.Parse([]byte(`{"resourceType":"StructureDefinition","url":"https://x.example/StructureDefinition/P","type":"Patient",
		"kind":"resource","derivation":"constraint","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Patient",
		"differential":{"element":[{"id":"Patient.extension:one","path":"Patient.extension","sliceName":"one","max":"1",
		"type":[{"code":"Extension","profile":["` + ext + `"]}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	v := validate.New(validate.Options{Profiles: validate.NewProfileMap(sd)})
	e := `{"url":"` + ext + `","valueString":"x"}`
	other := `{"url":"https://x.example/other","valueString":"y"}`
	for _, tc := range []struct {
		exts  string
		wantN int
	}{
		{e, 0},
		{e + "," + other + "," + other, 0},
		{e + "," + e, 1},
	} {
		res, err := resource.Parse([]byte(`{"resourceType":"Patient","extension":[` + tc.exts + `]}`))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, is := range v.Validate(context.Background(), res, "https://x.example/StructureDefinition/P") {
			if is.Severity == validate.SeverityError {
				got = append(got, is.String())
			}
		}
		if len(got) != tc.wantN {
			t.Errorf("extensions %s: %d errors %q, want %d", tc.exts, len(got), got, tc.wantN)
		}
	}
}
