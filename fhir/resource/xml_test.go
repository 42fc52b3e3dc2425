package resource_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ucp/fhir/resource"
)

func TestParseXML(t *testing.T) {
	for _, tc := range []struct {
		name, xml, want string // want: the JSON form, canonical
	}{
		{"primitives, repeats and primitive extensions",
			`<?xml version="1.0"?><!-- c --><Patient xmlns="http://hl7.org/fhir"><id value="p1"/><active value="true"/>` +
				`<name><family value="Smith"/><given value="Ann"/><given><extension url="u"><valueString value="x"/></extension></given></name>` +
				`<birthDate id="b" value="1970"/><multipleBirthInteger value="2"/></Patient>`,
			`{"resourceType":"Patient","id":"p1","active":true,"birthDate":"1970","_birthDate":{"id":"b"},"multipleBirthInteger":2,` +
				`"name":[{"family":"Smith","given":["Ann",null],"_given":[null,{"extension":[{"url":"u","valueString":"x"}]}]}]}`},
		{"decimals as written, choice types, contained, narrative",
			`<Observation xmlns="http://hl7.org/fhir"><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>a &amp; b</p></div></text>` +
				`<contained><Patient><id value="x"/></Patient></contained><status value="final"/><code><text value="t"/></code>` +
				`<valueQuantity><value value="1.50"/></valueQuantity></Observation>`,
			`{"resourceType":"Observation","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>a &amp; b</p></div>"},` +
				`"contained":[{"resourceType":"Patient","id":"x"}],"status":"final","code":{"text":"t"},"valueQuantity":{"value":1.50}}`},
		{"element ids and extension urls are attributes",
			`<StructureDefinition xmlns="http://hl7.org/fhir"><url value="u"/><differential><element id="Patient.identifier:nhs">` +
				`<path value="Patient.identifier"/><min value="1"/><max value="1"/></element></differential></StructureDefinition>`,
			`{"resourceType":"StructureDefinition","url":"u","differential":{"element":[{"id":"Patient.identifier:nhs","path":"Patient.identifier","min":1,"max":"1"}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resource.ParseXML([]byte(tc.xml))
			if err != nil {
				t.Fatal(err)
			}
			want, err := resource.Parse([]byte(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := string(resource.Marshal(got)), string(resource.Marshal(want)); g != w {
				t.Errorf("mismatch:\n got %s\nwant %s", g, w)
			}
		})
	}
	for _, bad := range []string{
		``,
		`<Patient><id value="x"/></Patient>`, // not in the FHIR namespace
		`<Patient xmlns="http://hl7.org/fhir"><nickname value="x"/></Patient>`,   // no such element
		`<Nonsense xmlns="http://hl7.org/fhir"/>`,                                // no such type
		`<Patient xmlns="http://hl7.org/fhir"><contained></contained></Patient>`, // empty contained
		`<Patient xmlns="http://hl7.org/fhir"><id value="x"/>`,                   // truncated
	} {
		if _, err := resource.ParseXML([]byte(bad)); err == nil {
			t.Errorf("ParseXML(%q) succeeded", bad)
		}
	}
}

// TestParseXMLUKCore reads every file of the UK Core package (UKCORE_DIR,
// ../shared/ukcore) as published in XML.
func TestParseXMLUKCore(t *testing.T) {
	dir := os.Getenv("UKCORE_DIR")
	if dir == "" {
		t.Skip("UKCORE_DIR not set")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.xml"))
	if len(files) == 0 {
		t.Fatalf("no XML files under %s", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := resource.ParseXML(b)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if want := strings.SplitN(filepath.Base(f), "-", 2)[0]; filepath.Base(filepath.Dir(f)) == "structuredefinitions" && resource.Type(res) != "StructureDefinition" {
			t.Errorf("%s: resourceType %s (%s)", filepath.Base(f), resource.Type(res), want)
		}
	}
}

// FuzzParseXML: whatever the bytes, ParseXML answers a resource or an
// error, never a panic, and a resource it answers is one the JSON parser
// reads back the same.
func FuzzParseXML(f *testing.F) {
	for _, s := range []string{
		`<Patient xmlns="http://hl7.org/fhir"><id value="p1"/><active value="true"/><name><family value="Smith"/></name></Patient>`,
		`<Observation xmlns="http://hl7.org/fhir"><valueQuantity><value value="1.50"/></valueQuantity></Observation>`,
		`<Bundle xmlns="http://hl7.org/fhir"><entry><resource><Patient><id value="x"/></Patient></resource></entry></Bundle>`,
		`<Patient xmlns="http://hl7.org/fhir"><text><div xmlns="http://www.w3.org/1999/xhtml">hi</div></text></Patient>`,
		`<x/>`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := resource.ParseXML(data)
		if err != nil {
			return
		}
		back, err := resource.Parse(resource.Marshal(res))
		if err != nil {
			t.Fatalf("ParseXML gave %v, which does not parse as JSON: %v", res, err)
		}
		if a, b := string(resource.Marshal(res)), string(resource.Marshal(back)); a != b {
			t.Fatalf("not the same through JSON:\n%s\n%s", a, b)
		}
	})
}
