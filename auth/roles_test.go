package auth

import (
	"testing"

	"github.com/google/go-cmp/cmp"
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
		{"LOCAL-COMMISSIONING", RoleReport},
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
	// Each mistake is refused with the line and column where it is.
	for _, test := range []struct {
		name, in, want string
	}{
		{"unknown role", `{"codes": {"R8000": "superuser"}}`,
			`roles.json:1:21: code "R8000": unknown role "superuser" (want clinical, view, patient, admin, report or system)`},
		{"patient from a code", "{\"codes\": {\n  \"R8000\": \"patient\"}}",
			`roles.json:2:12: code "R8000": role "patient" cannot be given by a role code (want clinical, view, admin or report)`},
		{"system from a code", `{"codes": {"R8000": "system"}}`,
			`roles.json:1:21: code "R8000": role "system" cannot be given by a role code (want clinical, view, admin or report)`},
		{"blank code", `{"codes": {" ": "view"}}`, `roles.json:1:12: empty role code`},
		{"malformed", `{"codes": [}`, `roles.json:1:12: malformed JSON: invalid character '}' looking for beginning of value`},
		{"unknown field", "{\n  \"codes\": {\"R8000\": \"view\"},\n  \"code\": {}\n}",
			`roles.json:3:3: unknown field "code" (the only field is "codes")`},
		{"misspelt top level", `{"roles": {"R8000": "view"}}`, `roles.json:1:2: unknown field "roles" (the only field is "codes")`},
		{"empty map", `{"codes": {}}`, `roles.json:1:1: no role codes: "codes" must map at least one national role code to clinical, view, admin or report`},
		{"empty object", `{}`, `roles.json:1:1: no role codes: "codes" must map at least one national role code to clinical, view, admin or report`},
		{"role not a string", "{\"codes\": {\n\t\"R8000\": 5}}", `roles.json:2:11: want string, found a JSON number`},
		{"codes a list", `{"codes": ["R8000"]}`, `roles.json:1:11: want an object mapping role codes to roles ("R8000": "clinical"), found "["`},
		{"not an object", `["R8000"]`, `roles.json:1:1: want an object {"codes": {...}}, found "["`},
		{"duplicate code", `{"codes": {"R8000": "view", "R8000": "clinical"}}`, `roles.json:1:29: role code "R8000" given twice`},
		{"trailing data", `{"codes": {"R8000": "view"}} {}`, `roles.json:1:30: malformed JSON: invalid character '{' after top-level value`},
		{"truncated", `{"codes": {"R8000": "view"`, `roles.json:1:27: the file ends before its JSON value does`},
		{"empty file", ``, `roles.json:1:1: the file ends before its JSON value does`},
	} {
		t.Run(test.name, func(t *testing.T) {
			_, err := ParseRoleMap("roles.json", []byte(test.in))
			got := "<nil>"
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(test.want, got); diff != "" {
				t.Errorf("ParseRoleMap(%s) error mismatch (-want +got):\n%s", test.in, diff)
			}
		})
	}
	// Built in code, bypassing ParseRoleMap: patient/system still never
	// come from a code.
	m := &RoleMap{Codes: map[string]Role{"X": RoleSystem}}
	if m.Role("X") != RoleNone {
		t.Error("a role code must not give the system role")
	}
}
