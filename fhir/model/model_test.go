package model

import (
	"reflect"
	"testing"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		typ, elem string
		types     []string
		max       string
	}{
		{"Observation", "value", []string{"Quantity", "CodeableConcept", "string", "boolean", "integer", "Range", "Ratio", "SampledData", "time", "dateTime", "Period"}, "1"},
		{"Observation", "effective", []string{"dateTime", "Period", "Timing", "instant"}, "1"},
		{"Patient", "birthDate", []string{"date"}, "1"},
		{"Patient", "gender", []string{"code"}, "1"},
		{"Patient", "id", []string{"id"}, "1"},
		{"Patient", "name", []string{"HumanName"}, "*"},
		{"Patient", "contained", []string{"Resource"}, "*"},
		{"Patient", "deceased", []string{"boolean", "dateTime"}, "1"},
		{"HumanName", "given", []string{"string"}, "*"},
		{"CarePlan", "activity", []string{"CarePlan.activity"}, "*"},
		{"CarePlan", "instantiatesCanonical", []string{"canonical"}, "*"},
		{"CarePlan.activity", "detail", []string{"CarePlan.activity.detail"}, "1"},
		{"Questionnaire.item", "item", []string{"Questionnaire.item"}, "*"},
		{"Bundle.entry", "resource", []string{"Resource"}, "1"},
		{"Bundle.entry", "fullUrl", []string{"uri"}, "1"},
		{"Coding", "system", []string{"uri"}, "1"},
		{"Quantity", "value", []string{"decimal"}, "1"},
		{"Age", "value", []string{"decimal"}, "1"},
		{"Extension", "url", []string{"uri"}, "1"},
		{"Reference", "reference", []string{"string"}, "1"},
		{"Narrative", "div", []string{"xhtml"}, "1"},
		{"Attachment", "size", []string{"unsignedInt"}, "1"},
		{"Timing.repeat", "bounds", []string{"Duration", "Range", "Period"}, "1"},
	}
	for _, tt := range tests {
		e, ok := Lookup(tt.typ, tt.elem)
		if !ok {
			t.Errorf("Lookup(%q, %q) not found", tt.typ, tt.elem)
			continue
		}
		if !reflect.DeepEqual(e.Types, tt.types) || e.Max != tt.max {
			t.Errorf("Lookup(%q, %q) = %v max %s, want %v max %s", tt.typ, tt.elem, e.Types, e.Max, tt.types, tt.max)
		}
	}
	if _, ok := Lookup("Patient", "given1"); ok {
		t.Error("Patient.given1 found")
	}
}

func TestHierarchy(t *testing.T) {
	for _, tt := range []struct {
		name, base string
		want       bool
	}{
		{"Age", "Quantity", true}, {"Patient", "DomainResource", true}, {"Patient", "Resource", true},
		{"Bundle", "DomainResource", false}, {"CarePlan.activity", "BackboneElement", true},
		{"CarePlan.activity", "Element", true}, {"code", "string", true}, {"canonical", "uri", true},
		{"Quantity", "Element", true}, {"string", "code", false}, {"Timing", "BackboneElement", true},
	} {
		if got := IsA(tt.name, tt.base); got != tt.want {
			t.Errorf("IsA(%q, %q) = %v", tt.name, tt.base, got)
		}
	}
	if !IsResource("Patient") || IsResource("Quantity") || !IsPrimitive("dateTime") || IsPrimitive("Period") {
		t.Error("IsResource/IsPrimitive")
	}
	rt := ResourceTypes()
	if len(rt) < 140 {
		t.Errorf("only %d resource types", len(rt))
	}
	e, typ := Type("Observation").ElementByJSONName("valueQuantity")
	if e == nil || e.Name != "value" || typ != "Quantity" {
		t.Errorf("ElementByJSONName(valueQuantity) = %v, %q", e, typ)
	}
}

// Elements whose names look like a choice (prefix + type name) but are two
// elements in R4 must stay two elements.
func TestLookalikeChoices(t *testing.T) {
	for _, c := range []struct{ typ, elem, want string }{
		{"Task", "reasonCode", "CodeableConcept"},
		{"Task", "reasonReference", "Reference"},
		{"ClinicalImpression.finding", "itemCodeableConcept", "CodeableConcept"},
		{"ClinicalImpression.finding", "itemReference", "Reference"},
		{"Task", "instantiatesCanonical", "canonical"},
		{"Task", "instantiatesUri", "uri"},
	} {
		e, ok := Lookup(c.typ, c.elem)
		if !ok || len(e.Types) != 1 || e.Types[0] != c.want {
			t.Errorf("Lookup(%s, %s) = %v, %v; want one type %s", c.typ, c.elem, e.Types, ok, c.want)
		}
	}
	if _, ok := Lookup("Task", "reason"); ok {
		t.Error("Task has no reason[x] choice element in R4")
	}
}
