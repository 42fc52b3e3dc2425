package auth

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Perm is a set of SMART v2 permissions: c(reate) r(ead) u(pdate) d(elete)
// s(earch).
type Perm uint8

// The permissions, in the order SMART v2 requires them to be written.
const (
	PermCreate Perm = 1 << iota
	PermRead
	PermUpdate
	PermDelete
	PermSearch

	PermAll = PermCreate | PermRead | PermUpdate | PermDelete | PermSearch
)

const permLetters = "cruds"

// String writes p in v2 syntax ("rs", "cruds").
func (p Perm) String() string {
	var b strings.Builder
	for i := range len(permLetters) {
		if p&(1<<i) != 0 {
			b.WriteByte(permLetters[i])
		}
	}
	return b.String()
}

// Scope levels (the part before the slash).
const (
	LevelPatient = "patient"
	LevelUser    = "user"
	LevelSystem  = "system"
)

// Scope is one parsed OAuth scope. Resource scopes (patient/CarePlan.rs) have
// Level, Type and Perm set; other scopes (openid, fhirUser, launch/patient,
// offline_access, and scopes we do not know such as CIS2's
// nationalrbacaccess) have only Raw and grant no access to resources.
//
// See https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
type Scope struct {
	Raw   string // as written in the token
	Level string // patient, user or system; "" for a non-resource scope
	Type  string // resource type or "*"
	Perm  Perm
	V1    bool       // written in v1 syntax (.read, .write, .*)
	Query url.Values // granular restriction (?category=…), nil when none
}

// IsResource reports whether s grants access to resources.
func (s Scope) IsResource() bool { return s.Level != "" }

// String returns the scope in its original text.
func (s Scope) String() string { return s.Raw }

// ErrScope is matched by every scope syntax error.
var ErrScope = errors.New("invalid scope")

// ParseScope parses one scope. It never panics, whatever the input (there is
// a fuzz test). A string that looks like a resource scope (has a level prefix
// and a dot) but is malformed is an error, because silently reading
// "patient/CarePlan.rsx" as something else could grant more than was meant.
func ParseScope(raw string) (Scope, error) {
	s := Scope{Raw: raw}
	if raw == "" || strings.ContainsAny(raw, " \t\r\n") {
		return s, fmt.Errorf("%w %q: empty or contains white space", ErrScope, raw)
	}
	level, rest, ok := strings.Cut(raw, "/")
	if !ok || (level != LevelPatient && level != LevelUser && level != LevelSystem) {
		// launch, launch/patient, openid, fhirUser, offline_access, … are
		// kept as they are: they carry context requests, not permissions.
		return s, nil
	}
	body, query, hasQuery := strings.Cut(rest, "?")
	typ, perms, ok := strings.Cut(body, ".")
	if !ok {
		return s, fmt.Errorf("%w %q: want <level>/<type>.<permissions>", ErrScope, raw)
	}
	if typ != "*" && !validType(typ) {
		return s, fmt.Errorf("%w %q: bad resource type", ErrScope, raw)
	}
	switch perms {
	case "read":
		s.Perm, s.V1 = PermRead|PermSearch, true
	case "write":
		s.Perm, s.V1 = PermCreate|PermUpdate|PermDelete, true
	case "*":
		s.Perm, s.V1 = PermAll, true
	default:
		p, err := parsePerm(perms)
		if err != nil {
			return s, fmt.Errorf("%w %q: %v", ErrScope, raw, err)
		}
		s.Perm = p
	}
	if hasQuery {
		if s.V1 {
			return s, fmt.Errorf("%w %q: a granular query needs v2 permissions", ErrScope, raw)
		}
		q, err := url.ParseQuery(query)
		if err != nil || len(q) == 0 {
			return s, fmt.Errorf("%w %q: bad query", ErrScope, raw)
		}
		s.Query = q
	}
	s.Level, s.Type = level, typ
	return s, nil
}

// parsePerm reads v2 letters, which must appear at most once each and in the
// order c r u d s.
func parsePerm(letters string) (Perm, error) {
	if letters == "" {
		return 0, errors.New("no permissions")
	}
	var p Perm
	next := 0
	for i := range len(letters) {
		j := strings.IndexByte(permLetters[next:], letters[i])
		if j < 0 {
			return 0, fmt.Errorf("permission %q unknown, repeated or out of order (want a subset of cruds in order)", letters[i])
		}
		next += j
		p |= 1 << next
		next++
	}
	return p, nil
}

// validType accepts FHIR resource type names: an upper-case ASCII letter
// then letters and digits.
func validType(t string) bool {
	if t == "" || t[0] < 'A' || t[0] > 'Z' {
		return false
	}
	for i := 1; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Scopes is a parsed scope list.
type Scopes []Scope

// ParseScopes parses a space-separated scope string. It returns every scope
// that parsed, and the errors of those that did not: a verifier keeps the
// good ones (an unparsable scope grants nothing), a token endpoint refuses
// the request.
func ParseScopes(s string) (Scopes, error) {
	var out Scopes
	var errs []error
	for _, f := range strings.Fields(s) {
		sc, err := ParseScope(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, sc)
	}
	return out, errors.Join(errs...)
}

// String joins the scopes with spaces, as in a token.
func (ss Scopes) String() string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.Raw
	}
	return strings.Join(parts, " ")
}

// Has reports whether the list holds the scope written exactly as raw
// ("openid", "launch/patient").
func (ss Scopes) Has(raw string) bool {
	return slices.ContainsFunc(ss, func(s Scope) bool { return s.Raw == raw })
}

// InteractionPerm returns the permissions an interaction needs, and whether
// it is a type-less (system-wide) interaction that only a "*" scope can
// cover. Unknown interactions need a permission no scope has, so they are
// refused.
//
// A conditional interaction (one with a query) also needs search, because it
// reveals whether matching resources exist; a conditional update may create.
func InteractionPerm(interaction string, conditional bool) (need Perm, wildcard bool, ok bool) {
	switch interaction {
	case "read", "vread", "history-instance", "history-type":
		need = PermRead
	case "history-system":
		need, wildcard = PermRead, true
	case "search-type":
		need = PermSearch
	case "search-system":
		need, wildcard = PermSearch, true
	case "create":
		need = PermCreate
	case "update", "patch":
		need = PermUpdate
		if conditional {
			need |= PermCreate
		}
	case "delete":
		need = PermDelete
	default:
		return 0, false, false
	}
	if conditional && interaction != "search-type" && interaction != "search-system" {
		need |= PermSearch
	}
	return need, wildcard, true
}

// Allows reports whether the scopes, at any level, grant the interaction on
// the resource type without restriction. Granular scopes (those with a
// query) are ignored here, because without the resource or the request's
// query we cannot tell whether it is inside them; see [Scopes.AllowsQuery].
func (ss Scopes) Allows(interaction, resourceType string) bool {
	return ss.allows("", interaction, resourceType, "", false)
}

// AllowsQuery is Allows at one level ("" for any) with the request's query:
// a granular scope counts for a search whose query pins every parameter of
// the scope to one of the scope's values, since every match then lies inside
// the scope. For create, update, patch and delete a query makes the
// interaction conditional, which also needs search. Permissions add up across scopes (patient/CarePlan.r plus
// patient/CarePlan.s allow read and search), but each permission must come
// from a scope that covers the type.
func (ss Scopes) AllowsQuery(level, interaction, resourceType, query string) bool {
	return ss.allows(level, interaction, resourceType, query, true)
}

func (ss Scopes) allows(level, interaction, resourceType, query string, useQuery bool) bool {
	need, wildcard, ok := InteractionPerm(interaction, query != "")
	if !ok {
		return false
	}
	if !wildcard && resourceType == "" {
		return false
	}
	var req url.Values
	if useQuery && query != "" && (interaction == "search-type") {
		req, _ = url.ParseQuery(query)
	}
	var got Perm
	for _, s := range ss {
		if !s.IsResource() || (level != "" && s.Level != level) {
			continue
		}
		if s.Type != "*" && (wildcard || s.Type != resourceType) {
			continue
		}
		if s.Query != nil && !queryInside(req, s.Query) {
			continue
		}
		got |= s.Perm
	}
	return got&need == need
}

// queryInside reports whether every parameter of scope is pinned in req to
// values the scope allows. A request giving a parameter several times (AND)
// is inside if any one of them is; a comma list (OR) must be inside
// entirely.
func queryInside(req, scope url.Values) bool {
	if req == nil {
		return false
	}
	for name, allowed := range scope {
		inside := false
		for _, v := range req[name] {
			ors := strings.Split(v, ",")
			all := true
			for _, o := range ors {
				if !slices.Contains(allowed, o) {
					all = false
					break
				}
			}
			if all {
				inside = true
				break
			}
		}
		if !inside {
			return false
		}
	}
	return true
}
