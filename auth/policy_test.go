package auth

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/outcome"
)

func principal(role Role, scopes string) *Principal {
	ss, err := ParseScopes(scopes)
	if err != nil {
		panic(err)
	}
	return &Principal{Subject: "u1", Role: role, Scopes: ss, Org: "F84012"}
}

// TestPolicyTable is the role × interaction × resource type table, with
// scopes wide enough that only the role decides.
func TestPolicyTable(t *testing.T) {
	pol := DefaultPolicy()
	pol.Operator = "F84012" // the admins are the operator's (see TestPolicyServiceLevel)
	wide := map[Role]*Principal{
		RoleClinical: principal(RoleClinical, "user/*.cruds"),
		RoleView:     principal(RoleView, "user/*.cruds"),
		RoleAdmin:    principal(RoleAdmin, "user/*.cruds"),
		RoleSystem:   principal(RoleSystem, "system/*.cruds"),
		RoleNone:     principal(RoleNone, "user/*.cruds"),
	}
	pat := principal(RolePatient, "patient/*.cruds")
	pat.Patient = "p1"
	wide[RolePatient] = pat

	const Y, N = true, false
	roles := []Role{RoleClinical, RoleView, RolePatient, RoleAdmin, RoleSystem, RoleNone}
	for _, test := range []struct {
		a    Access
		want []bool // in the order of roles
	}{
		{Access{Interaction: "capabilities"}, []bool{Y, Y, Y, Y, Y, Y}},
		{Access{Interaction: "read", Type: "CarePlan", ID: "1"}, []bool{Y, Y, N, N, Y, N}}, // patient: no Compartment func
		{Access{Interaction: "vread", Type: "CarePlan", ID: "1"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "search-type", Type: "CarePlan", Query: "patient=p1"}, []bool{Y, Y, Y, N, Y, N}},
		{Access{Interaction: "search-type", Type: "CarePlan", Query: "patient=p2"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "search-type", Type: "CarePlan", Query: "status=active"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "search-type", Type: "CarePlan", Query: "patient=p1,p2"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "search-type", Type: "CarePlan", Query: "patient=p1&_revinclude=Provenance:target"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "search-type", Type: "Observation", Query: "subject=Patient/p1"}, []bool{Y, Y, Y, N, Y, N}},
		{Access{Interaction: "read", Type: "Patient", ID: "p1"}, []bool{Y, Y, Y, N, Y, N}},
		{Access{Interaction: "search-type", Type: "MedicationRequest", Query: "patient=p1"}, []bool{Y, Y, Y, N, Y, N}},
		{Access{Interaction: "search-type", Type: "MedicationRequest", Query: "patient=p2"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "search-type", Type: "Flag", Query: "patient=p1"}, []bool{Y, Y, Y, N, Y, N}},
		{Access{Interaction: "search-type", Type: "Flag", Query: "patient=p2"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "create", Type: "Flag"}, []bool{Y, N, N, N, Y, N}},
		{Access{Interaction: "read", Type: "Patient", ID: "p2"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "search-type", Type: "Patient", Query: "_id=p1"}, []bool{Y, Y, Y, N, Y, N}},
		{Access{Interaction: "search-type", Type: "Patient", Query: "_id=p2"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "search-type", Type: "Patient", Query: "_id=p1,p2"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "search-type", Type: "Patient", Query: "name=smith"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "history-instance", Type: "CarePlan", ID: "1"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "history-type", Type: "CarePlan"}, []bool{Y, Y, N, N, Y, N}},
		{Access{Interaction: "history-system"}, []bool{N, N, N, N, N, N}}, // reaches the audit: see TestPolicyServiceLevel
		{Access{Interaction: "search-system", Query: "_lastUpdated=gt2025"}, []bool{N, N, N, N, Y, N}},
		{Access{Interaction: "create", Type: "CarePlan"}, []bool{Y, N, N, N, Y, N}},
		{Access{Interaction: "update", Type: "CarePlan", ID: "1"}, []bool{Y, N, N, N, Y, N}},
		{Access{Interaction: "patch", Type: "CarePlan", ID: "1"}, []bool{Y, N, N, N, Y, N}},
		{Access{Interaction: "delete", Type: "CarePlan", ID: "1"}, []bool{N, N, N, N, Y, N}},
		{Access{Interaction: "create", Type: "QuestionnaireResponse"}, []bool{Y, N, Y, N, Y, N}},
		{Access{Interaction: "create", Type: "QuestionnaireResponse", Query: "identifier=x"}, []bool{Y, N, N, N, Y, N}},
		{Access{Interaction: "read", Type: "Questionnaire", ID: "q"}, []bool{Y, Y, Y, N, Y, N}},
		{Access{Interaction: "create", Type: "Organization"}, []bool{N, N, N, Y, Y, N}},
		{Access{Interaction: "read", Type: "Organization", ID: "o"}, []bool{Y, Y, N, Y, Y, N}},
		{Access{Interaction: "delete", Type: "Contract", ID: "c"}, []bool{N, N, N, Y, N, N}}, // agreements: the operator's admins only
		{Access{Interaction: "update", Type: "Device", ID: "client1"}, []bool{N, N, N, Y, Y, N}},
		{Access{Interaction: "read", Type: "AuditEvent", ID: "a"}, []bool{N, N, N, Y, N, N}},
		{Access{Interaction: "search-type", Type: "AuditEvent", Query: "patient=p1"}, []bool{N, N, N, Y, N, N}},
		{Access{Interaction: "create", Type: "AuditEvent"}, []bool{N, N, N, N, N, N}},
		{Access{Interaction: "delete", Type: "AuditEvent", ID: "a"}, []bool{N, N, N, N, N, N}},
		{Access{Interaction: "batch"}, []bool{Y, Y, Y, Y, Y, N}},
		{Access{Interaction: "transaction"}, []bool{Y, Y, Y, Y, Y, N}},
		{Access{Interaction: "operation", Type: "CarePlan"}, []bool{N, N, N, N, N, N}},
	} {
		for i, role := range roles {
			name := string(role)
			if name == "" {
				name = "none"
			}
			t.Run(test.a.Interaction+"/"+test.a.Type+"?"+test.a.Query+"/"+name, func(t *testing.T) {
				err := pol.Authorize(NewContext(context.Background(), wide[role]), test.a)
				if got := err == nil; got != test.want[i] {
					t.Fatalf("Authorize = %v, want allowed=%v", err, test.want[i])
				}
				if err != nil && outcome.KindOf(err) != outcome.Forbidden {
					t.Fatalf("refusal %v is not outcome.Forbidden", err)
				}
			})
		}
	}
}

// TestPolicyServiceLevel: agreements, the audit and $reindex belong to the
// organisation that runs the service, and the audit is read by systems only
// through a scope that names it.
func TestPolicyServiceLevel(t *testing.T) {
	const operator = "X26"
	admin := func(org string) *Principal { p := principal(RoleAdmin, "user/*.cruds"); p.Org = org; return p }
	system := func(scopes string) *Principal { p := principal(RoleSystem, scopes); p.Org = ""; return p }
	pat := principal(RolePatient, "patient/*.cruds")
	pat.Patient = "p1"
	who := map[string]*Principal{
		"operator admin":     admin(operator),
		"other admin":        admin("Y11111"),
		"operator clinician": func() *Principal { p := principal(RoleClinical, "user/*.cruds"); p.Org = operator; return p }(),
		"patient":            pat,
		"system *.rs":        system("system/*.rs"),
		"system *.cruds":     system("system/*.cruds"),
		"system *.rs+audit":  system("system/*.rs system/AuditEvent.rs"),
		"system audit v1":    system("system/AuditEvent.read"),
		"system CarePlan.u":  system("system/CarePlan.u"),
	}
	reindex := func(typ string) Access { return Access{Interaction: "operation", Operation: "reindex", Type: typ} }
	for _, test := range []struct {
		a       Access
		allowed []string // the callers allowed; everyone else is refused
	}{
		{Access{Interaction: "create", Type: "Contract"}, []string{"operator admin"}},
		{Access{Interaction: "update", Type: "Contract", ID: "c"}, []string{"operator admin"}},
		{Access{Interaction: "patch", Type: "Contract", ID: "c"}, []string{"operator admin"}},
		{Access{Interaction: "delete", Type: "Contract", ID: "c"}, []string{"operator admin"}},
		{Access{Interaction: "read", Type: "Contract", ID: "c"}, []string{"operator admin", "operator clinician", "other admin", "system *.rs", "system *.cruds", "system *.rs+audit"}},
		{Access{Interaction: "create", Type: "Organization"}, []string{"operator admin", "other admin", "system *.cruds"}},
		{Access{Interaction: "read", Type: "AuditEvent", ID: "a"}, []string{"operator admin", "system *.rs+audit", "system audit v1"}},
		{Access{Interaction: "search-type", Type: "AuditEvent", Query: "patient=p1"}, []string{"operator admin", "system *.rs+audit", "system audit v1"}},
		{Access{Interaction: "history-type", Type: "AuditEvent"}, []string{"operator admin", "system *.rs+audit", "system audit v1"}},
		{Access{Interaction: "history-system"}, []string{"system *.rs+audit"}},
		{Access{Interaction: "search-system"}, []string{"system *.rs", "system *.cruds", "system *.rs+audit"}},
		{Access{Interaction: "search-type", Type: "CarePlan"}, []string{"operator clinician", "system *.rs", "system *.cruds", "system *.rs+audit"}},
		{reindex(""), []string{"operator admin", "system *.cruds", "system CarePlan.u"}},
		{reindex("CarePlan"), []string{"operator admin", "system *.cruds", "system CarePlan.u"}},
		{reindex("Patient"), []string{"operator admin", "system *.cruds"}},
	} {
		name := test.a.Interaction + " " + test.a.Operation + " " + test.a.Type
		t.Run(name, func(t *testing.T) {
			pol := DefaultPolicy()
			pol.Operator = operator
			var got []string
			for _, w := range slices.Sorted(maps.Keys(who)) {
				err := pol.Authorize(NewContext(context.Background(), who[w]), test.a)
				if err == nil {
					got = append(got, w)
				} else if outcome.KindOf(err) != outcome.Forbidden {
					t.Errorf("%s: refusal %v is not outcome.Forbidden", w, err)
				}
			}
			want := slices.Sorted(slices.Values(test.allowed))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("allowed callers mismatch (-want +got):\n%s", diff)
			}
		})
	}
	// With no operator configured, no admin records an agreement or reads
	// the audit.
	pol := DefaultPolicy()
	for _, a := range []Access{{Interaction: "create", Type: "Contract"}, {Interaction: "read", Type: "AuditEvent", ID: "a"}, reindex("")} {
		if err := pol.Authorize(NewContext(context.Background(), admin("")), a); outcome.KindOf(err) != outcome.Forbidden {
			t.Errorf("no operator: admin %s %s = %v, want forbidden", a.Interaction, a.Type, err)
		}
	}
}

// TestPolicyScopes: the role allows, the scopes do not.
func TestPolicyScopes(t *testing.T) {
	pol := DefaultPolicy()
	for _, test := range []struct {
		name string
		p    *Principal
		a    Access
		want bool
	}{
		{"clinical read-only scopes cannot write", principal(RoleClinical, "user/*.rs"), Access{Interaction: "create", Type: "CarePlan"}, false},
		{"clinical CarePlan scope only", principal(RoleClinical, "user/CarePlan.cruds"), Access{Interaction: "read", Type: "Goal", ID: "g"}, false},
		{"clinical with no scopes", principal(RoleClinical, "openid fhirUser"), Access{Interaction: "read", Type: "CarePlan", ID: "1"}, false},
		{"system scopes do not serve a user", principal(RoleClinical, "system/*.cruds"), Access{Interaction: "read", Type: "CarePlan", ID: "1"}, false},
		{"user scopes do not serve a system", principal(RoleSystem, "user/*.cruds"), Access{Interaction: "read", Type: "CarePlan", ID: "1"}, false},
		{"system v1 read", principal(RoleSystem, "system/CarePlan.read"), Access{Interaction: "search-type", Type: "CarePlan"}, true},
		{"system v1 read cannot write", principal(RoleSystem, "system/CarePlan.read"), Access{Interaction: "update", Type: "CarePlan", ID: "1"}, false},
		{"patient with user scope", func() *Principal { p := principal(RolePatient, "user/*.cruds"); p.Patient = "p1"; return p }(), Access{Interaction: "read", Type: "Patient", ID: "p1"}, false},
		{"patient without patient id", principal(RolePatient, "patient/*.rs"), Access{Interaction: "read", Type: "Patient", ID: ""}, false},
		{"clinician app launched on a patient", func() *Principal {
			p := principal(RoleClinical, "launch/patient patient/*.rs")
			p.Patient = "p1"
			return p
		}(), Access{Interaction: "search-type", Type: "CarePlan", Query: "patient=p1"}, true},
		{"clinician app launched on a patient, other patient", func() *Principal {
			p := principal(RoleClinical, "launch/patient patient/*.rs")
			p.Patient = "p1"
			return p
		}(), Access{Interaction: "search-type", Type: "CarePlan", Query: "patient=p2"}, false},
		{"granular scope, pinned query", func() *Principal {
			p := principal(RolePatient, "patient/Observation.rs?category=vital-signs")
			p.Patient = "p1"
			return p
		}(), Access{Interaction: "search-type", Type: "Observation", Query: "patient=p1&category=vital-signs"}, true},
		{"granular scope, other category", func() *Principal {
			p := principal(RolePatient, "patient/Observation.rs?category=vital-signs")
			p.Patient = "p1"
			return p
		}(), Access{Interaction: "search-type", Type: "Observation", Query: "patient=p1&category=laboratory"}, false},
	} {
		t.Run(test.name, func(t *testing.T) {
			err := pol.Authorize(NewContext(context.Background(), test.p), test.a)
			if (err == nil) != test.want {
				t.Fatalf("Authorize = %v, want allowed=%v", err, test.want)
			}
		})
	}
}

func TestPolicyCompartment(t *testing.T) {
	pol := DefaultPolicy()
	owner := map[string]string{"CarePlan/mine": "p1", "CarePlan/theirs": "p2"}
	pol.Compartment = func(_ context.Context, patient, typ, id string) (bool, error) {
		if id == "broken" {
			return false, errors.New("store down")
		}
		return owner[typ+"/"+id] == patient, nil
	}
	p := principal(RolePatient, "patient/*.rs")
	p.Patient = "p1"
	ctx := NewContext(context.Background(), p)
	if err := pol.Authorize(ctx, Access{Interaction: "read", Type: "CarePlan", ID: "mine"}); err != nil {
		t.Errorf("own plan: %v", err)
	}
	if err := pol.Authorize(ctx, Access{Interaction: "read", Type: "CarePlan", ID: "theirs"}); outcome.KindOf(err) != outcome.Forbidden {
		t.Errorf("other's plan: %v", err)
	}
	if err := pol.Authorize(ctx, Access{Interaction: "read", Type: "CarePlan", ID: "broken"}); err == nil || outcome.KindOf(err) == outcome.Forbidden {
		t.Errorf("store failure must be an internal error, got %v", err)
	}
	// An app acting through patient/ scopes writes only what is in the
	// compartment already (where the content lands is AuthorizeContent's).
	app := principal(RoleClinical, "launch/patient patient/*.cruds")
	app.Patient = "p1"
	ctx = NewContext(context.Background(), app)
	for _, test := range []struct {
		a    Access
		want bool
	}{
		{Access{Interaction: "update", Type: "CarePlan", ID: "mine"}, true},
		{Access{Interaction: "patch", Type: "CarePlan", ID: "mine"}, true},
		{Access{Interaction: "update", Type: "CarePlan", ID: "theirs"}, false},
		{Access{Interaction: "patch", Type: "CarePlan", ID: "theirs"}, false},
		{Access{Interaction: "delete", Type: "CarePlan", ID: "theirs"}, false},
		{Access{Interaction: "update", Type: "CarePlan", ID: "new"}, false},
		{Access{Interaction: "update", Type: "CarePlan", Query: "identifier=x"}, false},
		{Access{Interaction: "update", Type: "Patient", ID: "p1"}, true},
		{Access{Interaction: "update", Type: "Patient", ID: "p2"}, false},
	} {
		if err := pol.Authorize(ctx, test.a); (err == nil) != test.want {
			t.Errorf("app on p1: %s %s/%s?%s = %v, want allowed=%v", test.a.Interaction, test.a.Type, test.a.ID, test.a.Query, err, test.want)
		}
	}
}

func TestPolicyAnonymous(t *testing.T) {
	pol := DefaultPolicy()
	if err := pol.Authorize(context.Background(), Access{Interaction: "capabilities"}); err != nil {
		t.Fatal(err)
	}
	err := pol.Authorize(context.Background(), Access{Interaction: "read", Type: "CarePlan", ID: "1"})
	if !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("got %v, want ErrUnauthenticated", err)
	}
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.HasPrefix(ae.Challenge(), `Bearer realm="ucp"`) || strings.Contains(ae.Challenge(), "error=") {
		t.Fatalf("challenge %q", ae.Challenge())
	}
}

func TestChallenge(t *testing.T) {
	e := &AuthError{Realm: "ucp", Code: CodeInvalidToken, Description: `bad "token"` + "\r\nX: y"}
	if got, want := e.Challenge(), `Bearer realm="ucp", error="invalid_token", error_description="bad 'token'''X: y"`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
