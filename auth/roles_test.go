package auth

import (
	"testing"
)

func TestRoleMap(t *testing.T) {
	m, err := LoadRoleMap("testdata/roles.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, test := range []struct {
		code string
		want Role
	}{
		{"S8000:G8000:R8000", RoleClinical},
		{"S0010:G0020:R8003", RoleClinical}, // by the job-role part
		{"R8001", RoleView},
		{"S1:G1:R8008", RoleAdmin},
		{"S1:G1:R9999", RoleNone},
		{"R8003:R8001", RoleNone}, // parts disagree: fail closed
		{"", RoleNone},
	} {
		if got := m.Role(test.code); got != test.want {
			t.Errorf("Role(%q) = %q, want %q", test.code, got, test.want)
		}
	}
	var nilMap *RoleMap
	if nilMap.Role("R8000") != RoleNone {
		t.Error("nil map must map nothing")
	}
	if code, ok := DevRoleMap().CodeFor(RoleView); !ok || DevRoleMap().Role(code) != RoleView {
		t.Errorf("CodeFor(view) = %q", code)
	}
}

func TestParseRoleMapRejects(t *testing.T) {
	for _, in := range []string{
		`{"codes": {"R8000": "superuser"}}`,
		`{"codes": {"R8000": "patient"}}`,
		`{"codes": {"R8000": "system"}}`,
		`{"codes": {" ": "view"}}`,
		`{"codes": [}`,
	} {
		if _, err := ParseRoleMap([]byte(in)); err == nil {
			t.Errorf("ParseRoleMap(%s): want error", in)
		}
	}
	// Built in code, bypassing ParseRoleMap: patient/system still never
	// come from a code.
	m := &RoleMap{Codes: map[string]Role{"X": RoleSystem}}
	if m.Role("X") != RoleNone {
		t.Error("a role code must not give the system role")
	}
}
