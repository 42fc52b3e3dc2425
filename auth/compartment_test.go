package auth_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/store"
	"ucp/store/sqlite"
)

// put writes typ/id as version prev+1 (a deletion when deleted), in the
// compartments of patients.
func put(tb testing.TB, st store.Store, typ, id string, prev int64, deleted bool, patients ...string) {
	tb.Helper()
	var res map[string]any
	if !deleted {
		res = map[string]any{"resourceType": typ}
	}
	mustWrite(tb, st, typ, id, res, prev, patients...)
}

func TestStoreCompartment(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put(t, st, "CarePlan", "mine", 0, false, "p1")
	put(t, st, "CarePlan", "theirs", 0, false, "p2")
	put(t, st, "CareTeam", "shared", 0, false, "p1", "p2")
	put(t, st, "CarePlan", "moved", 0, false, "p1")
	put(t, st, "CarePlan", "moved", 1, false, "p2")
	put(t, st, "CarePlan", "gone", 0, false, "p1")
	put(t, st, "CarePlan", "gone", 1, true)
	put(t, st, "Practitioner", "dr", 0, false)

	in := auth.StoreCompartment(st)
	for _, test := range []struct {
		patient, typ, id string
		want             bool
	}{
		{"p1", "CarePlan", "mine", true},
		{"p1", "CarePlan", "theirs", false},
		{"p2", "CarePlan", "theirs", true},
		{"p1", "CareTeam", "shared", true},
		{"p2", "CareTeam", "shared", true},
		{"p1", "Goal", "mine", false},            // the id names another type's resource
		{"p1", "CarePlan", "nobody", false},      // no such resource
		{"p1", "CarePlan", "moved", false},       // the current version is p2's
		{"p2", "CarePlan", "moved", true},        //
		{"p1", "CarePlan", "gone", false},        // deleted: in nobody's compartment
		{"p1", "Practitioner", "dr", false},      // outside every compartment
		{"", "CarePlan", "mine", false},          // no patient
		{"p1", "CarePlan", "", false},            // no id
		{"p1", "", "mine", false},                // no type
		{"p1", "CarePlan", "mine,theirs", false}, // one id, never a list
	} {
		got, err := in(context.Background(), test.patient, test.typ, test.id)
		if err != nil {
			t.Fatalf("%s/%s for %q: %v", test.typ, test.id, test.patient, err)
		}
		if got != test.want {
			t.Errorf("%s/%s in %q's compartment = %v, want %v", test.typ, test.id, test.patient, got, test.want)
		}
	}

	// The policy with it: a patient reads their own plan by id, and not
	// another's.
	pol := auth.DefaultPolicy()
	pol.Compartment = in
	scopes, err := auth.ParseScopes("patient/*.rs")
	if err != nil {
		t.Fatal(err)
	}
	ctx := auth.NewContext(context.Background(), &auth.Principal{Role: auth.RolePatient, Patient: "p1", Scopes: scopes})
	for _, test := range []struct {
		a    auth.Access
		want bool
	}{
		{auth.Access{Interaction: "read", Type: "CarePlan", ID: "mine"}, true},
		{auth.Access{Interaction: "vread", Type: "CarePlan", ID: "mine"}, true},
		{auth.Access{Interaction: "history-instance", Type: "CarePlan", ID: "mine"}, true},
		{auth.Access{Interaction: "read", Type: "CarePlan", ID: "theirs"}, false},
		{auth.Access{Interaction: "history-instance", Type: "CarePlan", ID: "theirs"}, false},
		{auth.Access{Interaction: "read", Type: "Practitioner", ID: "dr"}, false},
	} {
		err := pol.Authorize(ctx, test.a)
		if (err == nil) != test.want {
			t.Errorf("%s %s/%s: %v, want allowed=%v", test.a.Interaction, test.a.Type, test.a.ID, err, test.want)
		}
		if err != nil && outcome.KindOf(err) != outcome.Forbidden {
			t.Errorf("%s %s/%s: refusal %v is not Forbidden", test.a.Interaction, test.a.Type, test.a.ID, err)
		}
	}
}

// TestAuthorizeContent: a caller bound to a patient writes only content in
// that patient's compartment, and in nobody else's.
func TestAuthorizeContent(t *testing.T) {
	pol := auth.DefaultPolicy()
	// The compartment as the registry would find it: the subject, and the
	// author when it is a Patient.
	pol.Patients = func(res map[string]any) ([]string, error) {
		var out []string
		for _, k := range []string{"subject", "author"} {
			if r, ok := res[k].(string); ok {
				out = append(out, strings.TrimPrefix(r, "Patient/"))
			}
		}
		return out, nil
	}
	withPatient := func(p *auth.Principal, patient string) *auth.Principal { p.Patient = patient; return p }
	callers := map[string]*auth.Principal{
		"patient":          withPatient(&auth.Principal{Role: auth.RolePatient, Scopes: mustScopes(t, "patient/*.rs patient/QuestionnaireResponse.c")}, "p1"),
		"app on a patient": withPatient(&auth.Principal{Role: auth.RoleClinical, Scopes: mustScopes(t, "launch/patient patient/*.cruds")}, "p1"),
		"clinician on a patient with user scopes": withPatient(&auth.Principal{Role: auth.RoleClinical, Scopes: mustScopes(t, "user/*.cruds patient/*.cruds")}, "p1"),
		"clinician": {Role: auth.RoleClinical, Scopes: mustScopes(t, "user/*.cruds")},
		"system":    {Role: auth.RoleSystem, Scopes: mustScopes(t, "system/*.cruds")},
	}
	contents := map[string]map[string]any{
		"own":               {"subject": "Patient/p1"},
		"another's":         {"subject": "Patient/p2"},
		"own and another's": {"subject": "Patient/p1", "author": "Patient/p2"},
		"nobody's":          {},
	}
	got := map[string][]string{} // caller → the contents they may write
	for who, p := range callers {
		ctx := auth.NewContext(context.Background(), p)
		for _, what := range slices.Sorted(maps.Keys(contents)) {
			err := pol.AuthorizeContent(ctx, "create", "QuestionnaireResponse", contents[what])
			if err == nil {
				got[who] = append(got[who], what)
			} else if outcome.KindOf(err) != outcome.Forbidden {
				t.Errorf("%s, %s: %v is not outcome.Forbidden", who, what, err)
			}
		}
	}
	every := slices.Sorted(maps.Keys(contents))
	want := map[string][]string{
		"patient":          {"own"},
		"app on a patient": {"own"},
		"clinician on a patient with user scopes": every,
		"clinician": every,
		"system":    every,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("writable contents mismatch (-want +got):\n%s", diff)
	}
	// Without a way to find the compartment, a bound caller writes nothing.
	pol.Patients = nil
	if err := pol.AuthorizeContent(auth.NewContext(context.Background(), callers["patient"]), "create", "QuestionnaireResponse", contents["own"]); outcome.KindOf(err) != outcome.Forbidden {
		t.Errorf("no Patients func: %v, want forbidden", err)
	}
}

func mustScopes(t *testing.T, s string) auth.Scopes {
	t.Helper()
	ss, err := auth.ParseScopes(s)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}
