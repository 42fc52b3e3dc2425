package auth

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseScope(t *testing.T) {
	for _, test := range []struct {
		in          string
		level, typ  string
		perm        Perm
		v1, query   bool
		wantErr     bool
		nonResource bool
	}{
		{in: "patient/CarePlan.rs", level: "patient", typ: "CarePlan", perm: PermRead | PermSearch},
		{in: "user/*.cruds", level: "user", typ: "*", perm: PermAll},
		{in: "system/*.read", level: "system", typ: "*", perm: PermRead | PermSearch, v1: true},
		{in: "user/CarePlan.write", level: "user", typ: "CarePlan", perm: PermCreate | PermUpdate | PermDelete, v1: true},
		{in: "user/Observation.*", level: "user", typ: "Observation", perm: PermAll, v1: true},
		{in: "system/DocumentReference.cud", level: "system", typ: "DocumentReference", perm: PermCreate | PermUpdate | PermDelete},
		{in: "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs", level: "patient", typ: "Observation", perm: PermRead | PermSearch, query: true},
		{in: "user/Patient.c", level: "user", typ: "Patient", perm: PermCreate},
		{in: "launch/patient", nonResource: true},
		{in: "launch", nonResource: true},
		{in: "openid", nonResource: true},
		{in: "fhirUser", nonResource: true},
		{in: "offline_access", nonResource: true},
		{in: "nationalrbacaccess", nonResource: true},
		{in: "patient/CarePlan.sr", wantErr: true},  // out of order
		{in: "patient/CarePlan.rrs", wantErr: true}, // repeated
		{in: "patient/CarePlan.rsx", wantErr: true}, // unknown letter
		{in: "patient/CarePlan.", wantErr: true},    // no permissions
		{in: "patient/CarePlan", wantErr: true},     // no dot
		{in: "patient/carePlan.rs", wantErr: true},  // bad type
		{in: "patient/Care-Plan.rs", wantErr: true}, // bad type
		{in: "patient/.rs", wantErr: true},          // no type
		{in: "user/CarePlan.read?status=active", wantErr: true},
		{in: "user/Observation.rs?", wantErr: true},
		{in: "user/Observation.rs?%zz", wantErr: true},
		{in: "", wantErr: true},
		{in: "patient/CarePlan.rs extra", wantErr: true},
	} {
		t.Run(test.in, func(t *testing.T) {
			s, err := ParseScope(test.in)
			if test.wantErr {
				if !errors.Is(err, ErrScope) {
					t.Fatalf("ParseScope(%q) = %+v, %v; want ErrScope", test.in, s, err)
				}
				if s.IsResource() {
					t.Fatalf("a bad scope must grant nothing, got %+v", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if test.nonResource {
				if s.IsResource() || s.Raw != test.in {
					t.Fatalf("got %+v, want non-resource scope", s)
				}
				return
			}
			if s.Level != test.level || s.Type != test.typ || s.Perm != test.perm || s.V1 != test.v1 || (s.Query != nil) != test.query {
				t.Fatalf("got %+v (perm %s)", s, s.Perm)
			}
		})
	}
}

func TestScopesAllows(t *testing.T) {
	for _, test := range []struct {
		scopes      string
		interaction string
		typ         string
		want        bool
	}{
		{"patient/CarePlan.rs", "read", "CarePlan", true},
		{"patient/CarePlan.rs", "vread", "CarePlan", true},
		{"patient/CarePlan.rs", "history-instance", "CarePlan", true},
		{"patient/CarePlan.rs", "search-type", "CarePlan", true},
		{"patient/CarePlan.rs", "update", "CarePlan", false},
		{"patient/CarePlan.rs", "read", "Observation", false},
		{"patient/CarePlan.r", "search-type", "CarePlan", false},
		{"patient/CarePlan.r patient/CarePlan.s", "search-type", "CarePlan", true},
		{"user/*.cruds", "create", "CarePlan", true},
		{"user/*.cruds", "patch", "Goal", true},
		{"user/*.cruds", "delete", "Goal", true},
		{"user/*.cruds", "history-system", "", true},
		{"user/*.cruds", "search-system", "", true},
		{"user/CarePlan.cruds", "search-system", "", false},
		{"user/CarePlan.cruds", "history-system", "", false},
		{"user/*.rs", "create", "CarePlan", false},
		{"user/*.c", "update", "CarePlan", false},
		{"user/*.u", "update", "CarePlan", true},
		{"user/*.u", "patch", "CarePlan", true},
		{"user/*.d", "delete", "CarePlan", true},
		{"system/*.read", "read", "CarePlan", true},
		{"system/*.read", "search-type", "CarePlan", true},
		{"system/*.read", "create", "CarePlan", false},
		{"system/*.write", "create", "CarePlan", true},
		{"system/*.write", "read", "CarePlan", false},
		{"user/*.*", "delete", "Patient", true},
		{"openid fhirUser launch/patient", "read", "Patient", false},
		{"", "read", "Patient", false},
		{"user/*.cruds", "operation", "CarePlan", false},
		{"user/*.cruds", "read", "", false},
		// A granular scope grants nothing without the request's query.
		{"patient/Observation.rs?category=vital-signs", "search-type", "Observation", false},
		{"patient/Observation.rs?category=vital-signs", "read", "Observation", false},
	} {
		ss, err := ParseScopes(test.scopes)
		if err != nil {
			t.Fatal(err)
		}
		if got := ss.Allows(test.interaction, test.typ); got != test.want {
			t.Errorf("%q.Allows(%s, %s) = %v, want %v", test.scopes, test.interaction, test.typ, got, test.want)
		}
	}
}

func TestScopesAllowsQuery(t *testing.T) {
	ss, _ := ParseScopes("patient/Observation.rs?category=vital-signs user/CarePlan.rs user/Goal.cruds")
	for _, test := range []struct {
		level, interaction, typ, query string
		want                           bool
	}{
		{"patient", "search-type", "Observation", "category=vital-signs&patient=1", true},
		{"patient", "search-type", "Observation", "category=vital-signs,laboratory", false},
		{"patient", "search-type", "Observation", "category=laboratory", false},
		{"patient", "search-type", "Observation", "code=123", false},
		{"", "search-type", "Observation", "category=vital-signs", true},
		{"user", "search-type", "Observation", "category=vital-signs", false},
		{"user", "read", "CarePlan", "", true},
		{"patient", "read", "CarePlan", "", false},
		// Conditional writes need search as well.
		{"user", "update", "Goal", "identifier=x", true},
		{"user", "create", "Goal", "identifier=x", true},
		{"user", "delete", "Goal", "identifier=x", true},
		{"user", "update", "CarePlan", "identifier=x", false},
	} {
		if got := ss.AllowsQuery(test.level, test.interaction, test.typ, test.query); got != test.want {
			t.Errorf("AllowsQuery(%q, %s, %s, %q) = %v, want %v", test.level, test.interaction, test.typ, test.query, got, test.want)
		}
	}
}

// TestConditionalWritesNeedSearch: a conditional create, update, patch or
// delete tells whether resources match its query, so it needs search as
// well as the write; a search needs nothing more for having a query.
func TestConditionalWritesNeedSearch(t *testing.T) {
	type perms struct {
		Plain, Conditional string
	}
	got := map[string]perms{}
	for _, interaction := range []string{"create", "update", "patch", "delete", "search-type"} {
		plain, _, _ := InteractionPerm(interaction, false)
		cond, _, _ := InteractionPerm(interaction, true)
		got[interaction] = perms{plain.String(), cond.String()}
	}
	want := map[string]perms{
		"create":      {"c", "cs"},
		"update":      {"u", "cus"},
		"patch":       {"u", "cus"},
		"delete":      {"d", "ds"},
		"search-type": {"s", "s"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("InteractionPerm mismatch (-want +got):\n%s", diff)
	}
	// Without s, the same scopes allow the plain writes and refuse the
	// conditional ones.
	ss, _ := ParseScopes("user/Goal.cud")
	for _, interaction := range []string{"create", "update", "patch", "delete"} {
		if !ss.AllowsQuery(LevelUser, interaction, "Goal", "") {
			t.Errorf("user/Goal.cud refuses a plain %s", interaction)
		}
		if ss.AllowsQuery(LevelUser, interaction, "Goal", "identifier=x") {
			t.Errorf("user/Goal.cud allows a conditional %s, which needs search", interaction)
		}
	}
}

func TestParseScopesKeepsGood(t *testing.T) {
	ss, err := ParseScopes("openid  patient/CarePlan.rs patient/Goal.xx user/*.read")
	if err == nil {
		t.Fatal("want an error for patient/Goal.xx")
	}
	if got, want := ss.String(), "openid patient/CarePlan.rs user/*.read"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if !ss.Has("openid") || ss.Has("patient/Goal.xx") {
		t.Fatal("Has is wrong")
	}
}

func TestPermString(t *testing.T) {
	if got := (PermAll).String(); got != "cruds" {
		t.Fatal(got)
	}
	if got := (PermRead | PermSearch).String(); got != "rs" {
		t.Fatal(got)
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"patient/CarePlan.rs", "user/*.cruds", "system/*.read", "patient/Observation.rs?category=a|b", "launch/patient", "openid", "user/X.*", "patient/A.write?x=1", "user/%", "system/*.?"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseScope(in)
		if err != nil {
			if s.IsResource() {
				t.Fatalf("error but resource scope: %+v", s)
			}
			return
		}
		if s.IsResource() {
			if s.Perm == 0 || s.Perm&^PermAll != 0 {
				t.Fatalf("bad perm %v for %q", s.Perm, in)
			}
			if s.Type != "*" && !validType(s.Type) {
				t.Fatalf("bad type %q", s.Type)
			}
			// Round trip: the v2 form of a parsed scope parses to the same.
			if !s.V1 && s.Query == nil {
				again, err := ParseScope(s.Level + "/" + s.Type + "." + s.Perm.String())
				if err != nil || again.Perm != s.Perm {
					t.Fatalf("round trip of %q: %+v, %v", in, again, err)
				}
			}
		}
		ss, _ := ParseScopes(in)
		_ = ss.Allows("read", "CarePlan")
		_ = ss.AllowsQuery("patient", "search-type", "Observation", in)
	})
}
