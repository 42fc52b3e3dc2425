package resource_test

import (
	"testing"

	"ucp/fhir/resource"
)

func TestTreeAccessors(t *testing.T) {
	res, err := resource.Parse([]byte(`{"resourceType":"Observation","status":"final","n":1,
		"code":{"coding":[{"system":"http://snomed.info/sct","code":"1"},{"system":"s","code":"2"}]},"list":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"string", resource.Str(res, "status"), "final"},
		{"missing string", resource.Str(res, "nope"), ""},
		{"not a string", resource.Str(res, "n"), ""},
		{"nil map", resource.Str(nil, "status"), ""},
		{"object", resource.Obj(res, "code") != nil, true},
		{"not an object", resource.Obj(res, "status") == nil, true},
		{"list", len(resource.List(res["list"])), 1},
		{"not a list", resource.List(res["status"]) == nil, true},
		{"coding of system", resource.HasCoding(res["code"], "s", "3", "2"), true},
		{"code of another system", resource.HasCoding(res["code"], "s", "1"), false},
		{"not a concept", resource.HasCoding(res["status"], "s", "2"), false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}
