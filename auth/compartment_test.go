package auth_test

import (
	"context"
	"path/filepath"
	"testing"

	"ucp/auth"
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
		if err != nil && store.KindOf(err) != store.Forbidden {
			t.Errorf("%s %s/%s: refusal %v is not Forbidden", test.a.Interaction, test.a.Type, test.a.ID, err)
		}
	}
}
