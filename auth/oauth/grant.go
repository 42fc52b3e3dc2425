package oauth

import (
	"slices"
	"strings"

	"ucp/auth"
)

// Context scopes: they ask for launch context or identity, not for access to
// resources.
const (
	ScopeLaunch        = "launch"
	ScopeLaunchPatient = "launch/patient"
	ScopeOpenID        = "openid"
	ScopeFHIRUser      = "fhirUser"
	ScopeOffline       = "offline_access"
	ScopeOnline        = "online_access"
)

// rolePerms is the most each role may do, in SMART permissions: what
// auth.Policy lets the role do at all. A token never says more, whatever
// the app asked for, so the scopes an app is shown are the ones it can use.
var rolePerms = map[auth.Role]auth.Perm{
	auth.RoleClinical: auth.PermCreate | auth.PermRead | auth.PermUpdate | auth.PermSearch, // no delete: plans are revoked, never erased
	auth.RoleView:     auth.PermRead | auth.PermSearch,
	auth.RolePatient:  auth.PermCreate | auth.PermRead | auth.PermSearch,
	auth.RoleAdmin:    auth.PermAll,
}

// Grant returns the scopes a user of role is granted when an app asks for
// requested (space-separated): each resource scope narrowed to what the role
// may do (dropped when nothing is left), patient/ scopes only with a patient
// in context, user/ scopes only for staff, system/ scopes never; launch
// context and identity scopes as asked, except launch/patient without a
// patient and launch without an EHR launch. Unknown or malformed scopes are
// dropped: they grant nothing.
func Grant(role auth.Role, requested string, patient, ehrLaunch bool) []string {
	max := rolePerms[role]
	var out []string
	for _, raw := range strings.Fields(requested) {
		if slices.Contains(out, raw) {
			continue
		}
		switch raw {
		case ScopeOpenID, ScopeFHIRUser, ScopeOffline, ScopeOnline:
			if max != 0 {
				out = append(out, raw)
			}
			continue
		case ScopeLaunch:
			if ehrLaunch && max != 0 {
				out = append(out, raw)
			}
			continue
		case ScopeLaunchPatient:
			if patient && max != 0 {
				out = append(out, raw)
			}
			continue
		}
		s, err := auth.ParseScope(raw)
		if err != nil || !s.IsResource() {
			continue
		}
		switch {
		case s.Level == auth.LevelSystem:
			continue
		case s.Level == auth.LevelPatient && !patient:
			continue
		case s.Level == auth.LevelUser && role == auth.RolePatient:
			continue
		}
		perm := s.Perm & max
		if perm == 0 {
			continue
		}
		g := scopeText(s, perm)
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// scopeText writes s with perm, in the syntax the app used when it can
// (v1 .read and .write), else in v2 letters.
func scopeText(s auth.Scope, perm auth.Perm) string {
	if perm == s.Perm {
		return s.Raw
	}
	p := perm.String()
	if s.V1 {
		switch perm {
		case auth.PermRead | auth.PermSearch:
			p = "read"
		case auth.PermCreate | auth.PermUpdate | auth.PermDelete:
			p = "write"
		}
	}
	t := s.Level + "/" + s.Type + "." + p
	if s.Query != nil {
		t += "?" + s.Query.Encode()
	}
	return t
}
