package auth_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/store"
	"ucp/store/sqlite"
)

func mustPutContract(tb testing.TB, st store.Store, id, status, start, end, ods string, prev int64) {
	tb.Helper()
	c := map[string]any{"resourceType": "Contract", "id": id, "status": status,
		"signer": []any{map[string]any{"type": map[string]any{"text": "org"}, "party": map[string]any{"identifier": map[string]any{"system": auth.ODSSystem, "value": ods}}, "signature": []any{}}}}
	if start != "" || end != "" {
		c["applies"] = map[string]any{"start": start, "end": end}
	}
	mustWrite(tb, st, "Contract", id, c, prev)
}

// mustWrite stores res as version prev+1 of typ/id (a deletion when res is
// nil), in the compartments of patients as the REST layer records them.
func mustWrite(tb testing.TB, st store.Store, typ, id string, res map[string]any, prev int64, patients ...string) {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	ch := store.Change{Type: typ, ID: id, VersionID: prev + 1, PrevVersion: prev, LastUpdated: now, Method: "PUT", Patients: patients}
	if res == nil {
		ch.Deleted, ch.Method = true, "DELETE"
	} else {
		resource.SetMeta(res, id, prev+1, now)
		ch.JSON = resource.Marshal(res)
	}
	if _, err := st.Write(context.Background(), []store.Change{ch}); err != nil {
		tb.Fatal(err)
	}
}

func TestAgreementPolicy(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mustPutContract(t, st, "isa-rx1", "executed", "2026-01-01", "2099-12-31", "RX1", 0)
	mustPutContract(t, st, "isa-old", "executed", "2020-01-01", "2021-12-31", "OLD", 0)
	mustPutContract(t, st, "isa-draft", "offered", "", "", "DRAFT", 0)
	src := &auth.StoreAgreements{Store: st}
	pol := &auth.AgreementPolicy{Next: auth.DefaultPolicy(), Agreements: src}
	read := auth.Access{Interaction: "read", Type: "CarePlan", ID: "cp1"}
	scopes, err := auth.ParseScopes("user/*.read user/*.write")
	if err != nil {
		t.Fatal(err)
	}
	staff := func(role auth.Role, org string) context.Context {
		return auth.NewContext(context.Background(), &auth.Principal{Role: role, Org: org, Scopes: scopes})
	}
	for _, test := range []struct {
		name string
		ctx  context.Context
		a    auth.Access
		want bool
	}{
		{"agreement", staff(auth.RoleView, "RX1"), read, true},
		{"expired", staff(auth.RoleView, "OLD"), read, false},
		{"not executed", staff(auth.RoleView, "DRAFT"), read, false},
		{"none", staff(auth.RoleClinical, "ZZZ"), read, false},
		{"no org", staff(auth.RoleView, ""), read, false},
		{"admin exempt", staff(auth.RoleAdmin, "ZZZ"), auth.Access{Interaction: "create", Type: "Contract"}, true},
		{"capabilities", staff(auth.RoleView, "ZZZ"), auth.Access{Interaction: "capabilities"}, true},
	} {
		t.Run(test.name, func(t *testing.T) {
			err := pol.Authorize(test.ctx, test.a)
			if (err == nil) != test.want {
				t.Fatalf("Authorize = %v, want allowed=%v", err, test.want)
			}
			if err != nil && store.KindOf(err) != store.Forbidden {
				t.Errorf("kind = %v, want forbidden", store.KindOf(err))
			}
		})
	}
	err = pol.Authorize(staff(auth.RoleView, "ZZZ"), read)
	if want := "organisation ZZZ has no active information-sharing agreement with this service"; err == nil || err.Error() != want {
		t.Errorf("message = %v, want %q", err, want)
	}
	// A new agreement is seen after Invalidate, without waiting for the TTL.
	mustPutContract(t, st, "isa-zzz", "executed", "2026-01-01", "", "ZZZ", 0)
	if pol.Authorize(staff(auth.RoleView, "ZZZ"), read) == nil {
		t.Fatal("cached table should still refuse")
	}
	src.Invalidate()
	if err := pol.Authorize(staff(auth.RoleView, "ZZZ"), read); err != nil {
		t.Fatalf("after Invalidate: %v", err)
	}
}

func BenchmarkAgreementCached(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "ucp.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	mustPutContract(b, st, "isa-rx1", "executed", "2026-01-01", "", "RX1", 0)
	src := &auth.StoreAgreements{Store: st}
	ctx := context.Background()
	now := time.Now()
	for b.Loop() {
		if ok, err := src.HasAgreement(ctx, "RX1", now); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
