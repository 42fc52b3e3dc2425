package conformance

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	b, err := Build(Options{
		SoftwareName: "ucp", SoftwareVersion: "test", BaseURL: "https://x/fhir",
		Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Resources: []Resource{
			{Type: "Patient", Interactions: []string{"read", "create"}, ConditionalCreate: true, ConditionalDelete: "single",
				SearchParams: []SearchParam{{Name: "name", Type: "string"}, {Name: "identifier", Type: "token", Definition: "http://hl7.org/fhir/SearchParameter/Patient-identifier", Documentation: "A <patient> identifier"}}},
			{Type: "CarePlan", Interactions: []string{"read"}},
		},
		SystemInteractions: []string{"transaction"},
		Documentation:      "At most 100 values per parameter.",
	})
	if err != nil {
		t.Fatal(err)
	}
	var cs map[string]any
	if err := json.Unmarshal(b, &cs); err != nil {
		t.Fatal(err)
	}
	if cs["resourceType"] != "CapabilityStatement" || cs["fhirVersion"] != "4.0.1" || cs["kind"] != "instance" || cs["date"] != "2026-01-02T03:04:05Z" {
		t.Errorf("header: %s", b)
	}
	rest := cs["rest"].([]any)[0].(map[string]any)
	if rest["documentation"] != "At most 100 values per parameter." {
		t.Errorf("rest.documentation: %v", rest["documentation"])
	}
	res := rest["resource"].([]any)
	if res[0].(map[string]any)["type"] != "CarePlan" || res[1].(map[string]any)["type"] != "Patient" {
		t.Errorf("resources not sorted by type: %s", b)
	}
	sp := res[1].(map[string]any)["searchParam"].([]any)
	if sp[0].(map[string]any)["name"] != "identifier" {
		t.Errorf("search params not sorted: %v", sp)
	}
	if res[0].(map[string]any)["conditionalDelete"] != "not-supported" {
		t.Errorf("default conditionalDelete: %v", res[0])
	}
	if !strings.Contains(string(b), "A <patient> identifier") {
		t.Errorf("HTML-escaped documentation: %s", b)
	}
	if _, err := Build(Options{}); err == nil {
		t.Error("Build with no resources succeeded")
	}
}
