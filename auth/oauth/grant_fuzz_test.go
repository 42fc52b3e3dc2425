package oauth_test

import (
	"testing"

	"ucp/auth"
	"ucp/auth/oauth"
)

// FuzzGrant: whatever an app asks for, Grant never panics and never grants a
// system scope, a permission the role lacks, a patient/ scope without a
// patient or a user/ scope to a patient.
func FuzzGrant(f *testing.F) {
	for _, s := range []string{"launch/patient openid fhirUser user/*.cruds patient/*.rs system/*.rs", "user/*.* user/CarePlan.write",
		"patient/Observation.rs?category=vital-signs", "user/*.rsx launch", "patient/*.*", ""} {
		f.Add(s, uint8(0), true, false)
	}
	roles := []auth.Role{auth.RoleClinical, auth.RoleView, auth.RolePatient, auth.RoleAdmin, auth.RoleSystem, auth.RoleNone}
	max := map[auth.Role]auth.Perm{
		auth.RoleClinical: auth.PermCreate | auth.PermRead | auth.PermUpdate | auth.PermSearch,
		auth.RoleView:     auth.PermRead | auth.PermSearch,
		auth.RolePatient:  auth.PermCreate | auth.PermRead | auth.PermSearch,
		auth.RoleAdmin:    auth.PermAll,
	}
	f.Fuzz(func(t *testing.T, requested string, r uint8, patient, ehr bool) {
		role := roles[int(r)%len(roles)]
		for _, g := range oauth.Grant(role, requested, patient, ehr) {
			// A narrowed scope is written anew: it must parse.
			s, err := auth.ParseScope(g)
			if err != nil {
				t.Fatalf("granted %q: %v", g, err)
			}
			if !s.IsResource() {
				if max[role] == 0 {
					t.Fatalf("role %q granted %q", role, g)
				}
				continue
			}
			switch {
			case s.Level == auth.LevelSystem:
				t.Fatalf("granted system scope %q", g)
			case s.Perm&^max[role] != 0:
				t.Fatalf("role %q granted %q, beyond %s", role, g, max[role])
			case s.Level == auth.LevelPatient && !patient:
				t.Fatalf("granted %q without a patient", g)
			case s.Level == auth.LevelUser && role == auth.RolePatient:
				t.Fatalf("a patient granted %q", g)
			}
		}
	})
}
