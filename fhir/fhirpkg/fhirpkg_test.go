package fhirpkg_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"ucp/fhir/fhirpkg"
)

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

const sdJSON = `{"resourceType":"StructureDefinition","url":"https://x.example/SD/A","type":"Patient","kind":"resource","baseDefinition":"http://hl7.org/fhir/StructureDefinition/Patient","derivation":"constraint","differential":{"element":[{"id":"Patient.name","path":"Patient.name","min":1}]}}`

const vsXML = `<ValueSet xmlns="http://hl7.org/fhir"><url value="https://x.example/VS/v"/><status value="active"/>` +
	`<compose><include><system value="s"/><concept><code value="a"/></concept></include></compose></ValueSet>`

// TestLoad reads a package in either published form, JSON and XML files
// mixed, and leaves out examples and other resource types.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "package.json", `{"name":"x.core","version":"1.0.0"}`)
	write(t, dir, "package/StructureDefinition-A.json", sdJSON)
	write(t, dir, "valuesets/ValueSet-v.xml", vsXML)
	write(t, dir, "package/Patient-1.json", `{"resourceType":"Patient","id":"1"}`)
	write(t, dir, "package/example/StructureDefinition-B.json", `{"resourceType":"StructureDefinition","url":"https://x.example/SD/B"}`)
	write(t, dir, "package/notes.txt", "not FHIR")
	p, err := fhirpkg.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "x.core" || p.Version != "1.0.0" {
		t.Errorf("name %q version %q", p.Name, p.Version)
	}
	sd, err := p.Profile(context.Background(), "https://x.example/SD/A|1.0.0")
	if err != nil || sd == nil || sd["type"] != "Patient" {
		t.Errorf("Profile(A) = %v, %v", sd, err)
	}
	if sd, _ := p.Profile(context.Background(), "https://x.example/SD/B"); sd != nil {
		t.Error("an example was loaded")
	}
	if sd, _ := p.Profile(context.Background(), "https://x.example/VS/v"); sd != nil {
		t.Error("Profile answered a ValueSet")
	}
	if got := len(p.Terminology()); got != 1 || !p.Has("https://x.example/VS/v") {
		t.Errorf("terminology: %d resources", got)
	}
}

func TestLoadRefuses(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"missing dir":          nil,
		"no definitions":       {"a/Patient.json": `{"resourceType":"Patient"}`},
		"a broken definition":  {"StructureDefinition-A.json": sdJSON, "b.xml": `<ValueSet xmlns="http://hl7.org/fhir"><nonsense/></ValueSet>`},
		"one url twice":        {"a.json": sdJSON, "b.json": sdJSON},
		"a definition, no url": {"a.json": `{"resourceType":"StructureDefinition","type":"Patient"}`},
	} {
		dir := filepath.Join(t.TempDir(), "pkg")
		for f, body := range files {
			write(t, dir, f, body)
		}
		if _, err := fhirpkg.Load(dir); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
}

// TestLoadUKCore loads UK Core as published (UKCORE_DIR, ../shared/ukcore).
func TestLoadUKCore(t *testing.T) {
	dir := os.Getenv("UKCORE_DIR")
	if dir == "" {
		t.Skip("UKCORE_DIR not set")
	}
	p, err := fhirpkg.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient", "https://fhir.hl7.org.uk/StructureDefinition/UKCore-CarePlan",
		"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"} {
		if sd, _ := p.Profile(context.Background(), u); sd == nil {
			t.Errorf("%s not loaded", u)
		}
	}
	if len(p.Terminology()) == 0 {
		t.Error("no ValueSets or CodeSystems")
	}
}
