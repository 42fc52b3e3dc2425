package auth

import (
	"fmt"
	"os"
	"strings"
)

// Role is ucp's coarse role, which the policy table is written in.
type Role string

// The roles. RoleNone (the zero value) is allowed nothing, so an unmapped
// national role code fails closed.
const (
	RoleNone     Role = ""
	RoleClinical Role = "clinical" // create, edit and approve plans; read
	RoleView     Role = "view"     // urgent care: read and search plans
	RolePatient  Role = "patient"  // the patient: own plan, QuestionnaireResponse
	RoleAdmin    Role = "admin"    // organisations, agreements, clients, audit
	RoleReport   Role = "report"   // commissioners: measures evaluated to counts, no patient's data
	RoleSystem   Role = "system"   // a registered system: per its scopes
)

// ParseRole accepts the role names above.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleClinical, RoleView, RolePatient, RoleAdmin, RoleReport, RoleSystem:
		return r, nil
	}
	return RoleNone, fmt.Errorf("unknown role %q (want clinical, view, patient, admin, report or system)", s)
}

// RoleMap maps national RBAC role codes to roles. It is configuration, read
// from JSON, because the national code lists change without a release of
// ucp and each deployment decides which job roles may see plans:
//
//	{"codes": {"S8000:G8000:R8000": "clinical", "R8003": "clinical", "R8001": "view", "R8008": "admin"}}
//
// A CIS2 role_code such as "S8000:G8000:R8000" is looked up whole first, then
// part by part ("S8000", "G8000", "R8000"). If parts map to different roles
// the code is ambiguous and maps to RoleNone: a configuration mistake must
// not grant access.
type RoleMap struct {
	Codes map[string]Role `json:"codes"`
}

// ParseRoleMap reads a RoleMap from JSON and checks every role name; name is
// the file's name, for errors. A mistake is refused with its line and column
// rather than ignored: a code mapped to a misspelt role, an unknown member
// (a typo for "codes") or an empty map would each leave staff without the
// access the deployment meant to give, or give one it did not mean.
func ParseRoleMap(name string, data []byte) (*RoleMap, error) {
	d := NewConfigDecoder(name, data)
	m := &RoleMap{Codes: map[string]Role{}}
	if err := d.Delim('{', `an object {"codes": {...}}`); err != nil {
		return nil, err
	}
	seen := false
	for d.More() {
		key, off, err := d.Key()
		if err != nil {
			return nil, err
		}
		if key != "codes" {
			return nil, d.Errorf(off, "unknown field %q (the only field is \"codes\")", key)
		}
		if seen {
			return nil, d.Errorf(off, `"codes" given twice`)
		}
		seen = true
		if err := d.Delim('{', `an object mapping role codes to roles ("R8000": "clinical")`); err != nil {
			return nil, err
		}
		for d.More() {
			code, off, err := d.Key()
			if err != nil {
				return nil, err
			}
			if strings.TrimSpace(code) == "" {
				return nil, d.Errorf(off, "empty role code")
			}
			if _, dup := m.Codes[code]; dup {
				return nil, d.Errorf(off, "role code %q given twice", code)
			}
			var name string
			voff, err := d.Decode(&name)
			if err != nil {
				return nil, err
			}
			r, err := ParseRole(name)
			if err != nil {
				return nil, d.Errorf(voff, "code %q: %v", code, err)
			}
			if r == RolePatient || r == RoleSystem {
				// These come from the shape of the token (a Patient fhirUser, a
				// client-credentials grant), never from a staff role code.
				return nil, d.Errorf(voff, "code %q: role %q cannot be given by a role code (want clinical, view, admin or report)", code, r)
			}
			m.Codes[code] = r
		}
		if err := d.Delim('}', "the end of \"codes\""); err != nil {
			return nil, err
		}
	}
	if err := d.Delim('}', "the end of the object"); err != nil {
		return nil, err
	}
	if len(m.Codes) == 0 {
		return nil, d.Errorf(0, `no role codes: "codes" must map at least one national role code to clinical, view, admin or report`)
	}
	return m, nil
}

// LoadRoleMap reads a RoleMap from a JSON file.
func LoadRoleMap(path string) (*RoleMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseRoleMap(path, data)
}

// Role returns the role for a national role code, or RoleNone. Only staff
// roles (clinical, view, admin, report) come from codes.
func (m *RoleMap) Role(code string) Role {
	if m == nil || code == "" {
		return RoleNone
	}
	if r, ok := m.Codes[code]; ok {
		return staffOnly(r)
	}
	found := RoleNone
	for part := range strings.SplitSeq(code, ":") {
		r, ok := m.Codes[part]
		if !ok {
			continue
		}
		r = staffOnly(r)
		if found != RoleNone && found != r {
			return RoleNone
		}
		found = r
	}
	return found
}

// CodeFor returns a code that maps to r, preferring the shortest, for the
// development issuer to put in the tokens it mints.
func (m *RoleMap) CodeFor(r Role) (string, bool) {
	best := ""
	if m != nil {
		for code, cr := range m.Codes {
			if cr == r && (best == "" || len(code) < len(best) || len(code) == len(best) && code < best) {
				best = code
			}
		}
	}
	return best, best != ""
}

// DevRoleMap maps the role codes the development issuer mints
// ("UCPDEV-clinical", …) to their roles. Never configure it for a production
// issuer.
func DevRoleMap() *RoleMap {
	m := &RoleMap{Codes: map[string]Role{}}
	for _, r := range []Role{RoleClinical, RoleView, RoleAdmin, RoleReport} {
		m.Codes[DevRoleCode(r)] = r
	}
	return m
}

// DevRoleCode is the role code the development issuer uses for r.
func DevRoleCode(r Role) string { return "UCPDEV-" + string(r) }

// staffOnly guards a RoleMap built in code rather than by ParseRoleMap.
func staffOnly(r Role) Role {
	switch r {
	case RoleClinical, RoleView, RoleAdmin, RoleReport:
		return r
	}
	return RoleNone
}
