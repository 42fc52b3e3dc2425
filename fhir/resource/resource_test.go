package resource_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"ucp/fhir/resource"
)

func TestParseKeepsWhatClientsSend(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // canonical output
	}{
		{"decimals as written", `{"resourceType":"Observation","valueQuantity":{"value":1.50},"x":[100.000,-0.0,1e-7,2E+3]}`,
			`{"resourceType":"Observation","valueQuantity":{"value":1.50},"x":[100.000,-0.0,1e-7,2E+3]}`},
		{"primitive extensions", `{"resourceType":"Patient","birthDate":"1970","_birthDate":{"extension":[{"url":"u","valueString":"x"}]},"name":[{"given":["A",null],"_given":[null,{"extension":[]}]}]}`,
			`{"resourceType":"Patient","_birthDate":{"extension":[{"url":"u","valueString":"x"}]},"birthDate":"1970","name":[{"_given":[null,{"extension":[]}],"given":["A",null]}]}`},
		{"leading members first", `{"b":1,"meta":{"versionId":"1"},"id":"x","resourceType":"Patient","a":true}`,
			`{"resourceType":"Patient","id":"x","meta":{"versionId":"1"},"a":true,"b":1}`},
		{"no html escaping, unicode kept", `{"resourceType":"Patient","text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Zoë &amp; 😀</div>"}}`,
			`{"resourceType":"Patient","text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Zoë &amp; 😀</div>"}}`},
		{"escapes normalised", `{"resourceType":"Patient","s":"a\u00e9\/\ud83d\ude00\t\u0001"}`,
			`{"resourceType":"Patient","s":"aé/😀\t\u0001"}`},
		{"empty containers and null", `{"resourceType":"Basic","a":{},"b":[],"c":null}`,
			`{"resourceType":"Basic","a":{},"b":[],"c":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := resource.Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(resource.Marshal(res)); got != tt.want {
				t.Errorf("Marshal:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, in, msg string }{
		{"empty", ``, "empty body"},
		{"array", `[1]`, "must be a JSON object"},
		{"duplicate member", `{"a":1,"a":2}`, `duplicate member "a"`},
		{"nested duplicate", `{"a":{"b":1,"b":1}}`, `duplicate member "b"`},
		{"trailing data", `{"a":1} {}`, "after the JSON object"},
		{"trailing comma", `{"a":1,}`, "expected a member name"},
		{"leading zero", `{"a":01}`, "leading zero"},
		{"bad fraction", `{"a":1.}`, "no digits"},
		{"bad literal", `{"a":tru}`, "invalid literal"},
		{"bad escape", `{"a":"\x"}`, "invalid escape"},
		{"control char", "{\"a\":\"\x01\"}", "control character"},
		{"lone surrogate", `{"a":"\ud800"}`, "surrogate"},
		{"bad utf8", "{\"a\":\"\xff\"}", "UTF-8"},
		{"unterminated", `{"a":"abc`, "unterminated"},
		{"deep", strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300), "nesting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resource.Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%q) succeeded", tt.in)
			}
			var se *resource.SyntaxError
			if !errorsAs(err, &se) || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%q) = %v, want a SyntaxError containing %q", tt.in, err, tt.msg)
			}
		})
	}
}

func errorsAs(err error, target **resource.SyntaxError) bool {
	se, ok := err.(*resource.SyntaxError)
	if ok {
		*target = se
	}
	return ok
}

// decodeStd decodes with encoding/json (numbers kept) as an independent
// reference for what a JSON document means.
func decodeStd(t testing.TB, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return v
}

// TestRoundTripOfficialExamples parses, serialises and re-parses every
// official example and checks that nothing changed meaning.
func TestRoundTripOfficialExamples(t *testing.T) {
	dir := os.Getenv("FHIR_EXAMPLES")
	if dir == "" {
		t.Skip("FHIR_EXAMPLES is not set: set it to a folder of FHIR R4 JSON examples (../shared/fhir-r4-examples)")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", dir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res, err := resource.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			out := resource.Marshal(res)
			if !reflect.DeepEqual(decodeStd(t, data), decodeStd(t, out)) {
				t.Errorf("round trip changed the resource")
			}
			again, _ := resource.Parse(out)
			if !bytes.Equal(resource.Marshal(again), out) {
				t.Errorf("canonical form is not stable")
			}
		})
	}
}

func TestSetMetaKeepsClientMeta(t *testing.T) {
	res, _ := resource.Parse([]byte(`{"resourceType":"Patient","id":"old","meta":{"versionId":"9","profile":["p"],"tag":[{"code":"t"}]}}`))
	resource.SetMeta(res, "p1", 3, time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC))
	got := string(resource.Marshal(res))
	want := `{"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"2026-01-02T03:04:05.123456Z","profile":["p"],"tag":[{"code":"t"}],"versionId":"3"}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestParseReference(t *testing.T) {
	tests := []struct {
		in   string
		want resource.Reference
	}{
		{"Patient/1", resource.Reference{Type: "Patient", ID: "1"}},
		{"Patient/1/_history/2", resource.Reference{Type: "Patient", ID: "1", Version: "2"}},
		{"https://x.org/fhir/Patient/a-1", resource.Reference{Type: "Patient", ID: "a-1", URL: "https://x.org/fhir"}},
		{"https://x.org/fhir/Patient/a/_history/3", resource.Reference{Type: "Patient", ID: "a", Version: "3", URL: "https://x.org/fhir"}},
		{"urn:uuid:0b6e1c8e-2f0a-4c5e-9a4e-1d2b3c4d5e6f", resource.Reference{URL: "urn:uuid:0b6e1c8e-2f0a-4c5e-9a4e-1d2b3c4d5e6f"}},
		{"#p1", resource.Reference{URL: "#p1"}},
		{"http://snomed.info/sct", resource.Reference{URL: "http://snomed.info/sct"}},
		{"Patient?identifier=a|b", resource.Reference{URL: "Patient?identifier=a|b"}},
		{"patient/1", resource.Reference{URL: "patient/1"}},
		{"", resource.Reference{}},
	}
	for _, tt := range tests {
		if got := resource.ParseReference(tt.in); got != tt.want {
			t.Errorf("ParseReference(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "A-b.9": true, strings.Repeat("x", 64): true,
		"": false, strings.Repeat("x", 65): false, "a/b": false, "a_b": false, "a b": false, "é": false,
	} {
		if got := resource.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestWalkReferences(t *testing.T) {
	res, _ := resource.Parse([]byte(`{"resourceType":"CarePlan","subject":{"reference":"urn:uuid:1"},
		"contained":[{"resourceType":"Goal","subject":{"reference":"urn:uuid:1"}}],
		"extension":[{"url":"x","valueReference":{"reference":"Patient/2"}}]}`))
	n := 0
	resource.WalkReferences(res, func(ref map[string]any) {
		n++
		if ref["reference"] == "urn:uuid:1" {
			ref["reference"] = "Patient/1"
		}
	})
	if n != 3 {
		t.Errorf("visited %d references, want 3", n)
	}
	if got := string(resource.Marshal(res)); strings.Contains(got, "urn:uuid") {
		t.Errorf("not rewritten: %s", got)
	}
}

// FuzzParse checks that Parse never panics, accepts only valid JSON, and
// that what it accepts round-trips through Marshal to the same meaning.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2.50,{"b":null}]}`, `{"s":"\u00e9\ud83d\ude00"}`, `{"a":1,"a":2}`, `{"n":-0.0e+5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := resource.Parse(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Parse accepted invalid JSON %q", data)
		}
		out := resource.Marshal(res)
		if !reflect.DeepEqual(decodeStd(t, data), decodeStd(t, out)) {
			t.Fatalf("round trip changed %q into %q", data, out)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data := []byte(`{"resourceType":"Patient","id":"p1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00Z"},"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],"name":[{"use":"official","family":"Smith","given":["Joan","Mary"],"prefix":["Mrs"]}],"gender":"female","birthDate":"1940-02-03","address":[{"line":["1 High Street"],"city":"London","postalCode":"SE1 1AA"}],"telecom":[{"system":"phone","value":"020 7946 0000","use":"home"}],"generalPractitioner":[{"reference":"Organization/F84012"}]}`)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := resource.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	data := []byte(`{"resourceType":"Patient","id":"p1","meta":{"versionId":"1","lastUpdated":"2026-01-01T00:00:00Z"},"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9434765919"}],"name":[{"use":"official","family":"Smith","given":["Joan","Mary"],"prefix":["Mrs"]}],"gender":"female","birthDate":"1940-02-03","address":[{"line":["1 High Street"],"city":"London","postalCode":"SE1 1AA"}],"telecom":[{"system":"phone","value":"020 7946 0000","use":"home"}],"generalPractitioner":[{"reference":"Organization/F84012"}]}`)
	res, _ := resource.Parse(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		resource.Marshal(res)
	}
}
