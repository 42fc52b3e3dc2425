package auth_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"ucp/auth"
	"ucp/fhir/outcome"
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
	next := auth.DefaultPolicy()
	next.Operator = "OPR"
	pol := &auth.AgreementPolicy{Next: next, Agreements: src, Operator: "OPR"}
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
		{"admin without agreement", staff(auth.RoleAdmin, "ZZZ"), auth.Access{Interaction: "read", Type: "Organization", ID: "o"}, false},
		{"admin with agreement", staff(auth.RoleAdmin, "RX1"), auth.Access{Interaction: "read", Type: "Organization", ID: "o"}, true},
		{"admin with agreement records none", staff(auth.RoleAdmin, "RX1"), auth.Access{Interaction: "create", Type: "Contract"}, false},
		{"operator admin records agreements", staff(auth.RoleAdmin, "OPR"), auth.Access{Interaction: "create", Type: "Contract"}, true},
		{"operator needs no agreement", staff(auth.RoleClinical, "OPR"), read, true},
		{"capabilities", staff(auth.RoleView, "ZZZ"), auth.Access{Interaction: "capabilities"}, true},
	} {
		t.Run(test.name, func(t *testing.T) {
			err := pol.Authorize(test.ctx, test.a)
			if (err == nil) != test.want {
				t.Fatalf("Authorize = %v, want allowed=%v", err, test.want)
			}
			if err != nil && outcome.KindOf(err) != outcome.Forbidden {
				t.Errorf("kind = %v, want forbidden", outcome.KindOf(err))
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

// TestAgreementPeriods: applies is a FHIR Period, both ends inclusive at
// their precision, and only ODS identifiers name organisations.
func TestAgreementPeriods(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := &auth.StoreAgreements{Store: st}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	type check struct {
		at   string
		want bool
	}
	for i, test := range []struct {
		start, end string
		checks     []check
	}{
		{"2026-01-01", "2027-12-31", []check{
			{"2025-12-31T23:59:59.999999999Z", false}, {"2026-01-01T00:00:00Z", true},
			{"2027-12-31T23:59:59.999999999Z", true}, {"2028-01-01T00:00:00Z", false}}},
		{"", "2027-06-30T12:00:00Z", []check{
			{"2027-06-30T12:00:00Z", true}, {"2027-06-30T12:00:00.5Z", true}, {"2027-06-30T12:00:01Z", false}}},
		{"", "2027-06-30T12:00:00.5Z", []check{
			{"2027-06-30T12:00:00.599Z", true}, {"2027-06-30T12:00:00.6Z", false}}},
		{"", "2027-06-30T13:00:00+01:00", []check{
			{"2027-06-30T12:00:00Z", true}, {"2027-06-30T12:00:01Z", false}}},
		{"2027-06-30T12:00:00Z", "", []check{
			{"2027-06-30T11:59:59.999999999Z", false}, {"2027-06-30T12:00:00Z", true}, {"2099-01-01T00:00:00Z", true}}},
		{"", "2027-06", []check{
			{"2027-06-30T23:59:59Z", true}, {"2027-07-01T00:00:00Z", false}}},
		{"", "31/12/2027", []check{{"2026-01-01T00:00:00Z", false}}}, // unreadable: fail closed
	} {
		ods := fmt.Sprintf("P%d", i)
		mustPutContract(t, st, "isa-"+ods, "executed", test.start, test.end, ods, 0)
		src.Invalidate()
		for _, c := range test.checks {
			got, err := src.HasAgreement(context.Background(), ods, at(c.at))
			if err != nil || got != c.want {
				t.Errorf("applies %q–%q at %s: %v, %v; want %v", test.start, test.end, c.at, got, err, c.want)
			}
		}
	}

	// Only the ODS system names an organisation: the same code under
	// another system is somebody else's identifier.
	mustWrite(t, st, "Contract", "isa-other-system", map[string]any{"resourceType": "Contract", "status": "executed",
		"authority": []any{map[string]any{"identifier": map[string]any{"system": "https://example.org/not-ods", "value": "NOTODS"}}}}, 0)
	src.Invalidate()
	if ok, err := src.HasAgreement(context.Background(), "NOTODS", time.Now()); ok || err != nil {
		t.Errorf("an agreement naming NOTODS under another identifier system counts: %v, %v", ok, err)
	}
}

// TestAgreementCache: a recorded or ended agreement takes effect at once
// after Invalidate, even when a check reloaded the table between the
// Invalidate and the write's commit (the interceptor runs first), and
// without it within the TTL.
func TestAgreementCache(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	src := &auth.StoreAgreements{Store: st, TTL: time.Hour, Now: func() time.Time { return now }}
	has := func() bool {
		t.Helper()
		ok, err := src.HasAgreement(context.Background(), "NEW", now)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if has() {
		t.Fatal("an agreement before any was recorded")
	}
	// Recorded, and nothing asks until well after Invalidate.
	src.Invalidate()
	mustPutContract(t, st, "isa-new", "executed", "2026-01-01", "", "NEW", 0)
	now = now.Add(time.Minute)
	if !has() {
		t.Fatal("a new agreement is missed after Invalidate")
	}
	// Ended, with a check that reloads the old state before the write
	// commits.
	src.Invalidate()
	now = now.Add(100 * time.Millisecond)
	if !has() {
		t.Fatal("the agreement ended before its write committed")
	}
	mustPutContract(t, st, "isa-new", "terminated", "2026-01-01", "", "NEW", 1)
	now = now.Add(100 * time.Millisecond)
	if has() {
		t.Fatal("an ended agreement is still in force after its write committed")
	}
	// Without Invalidate (and past the reloads that follow one) a change
	// waits for the TTL, no longer.
	now = now.Add(time.Minute)
	mustPutContract(t, st, "isa-new", "executed", "2026-01-01", "", "NEW", 2)
	if has() {
		t.Fatal("the table was reloaded within the TTL without Invalidate")
	}
	now = now.Add(time.Hour)
	if !has() {
		t.Fatal("a change is still missed after the TTL")
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
