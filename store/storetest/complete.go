package storetest

import (
	"fmt"
	"slices"
	"testing"

	"ucp/store"
)

// The cases of the "complete FHIR search" work: canonical quantities,
// composites, unsorted paging over a common value, :missing in chains and on
// every type, nested _has, and sorting by every parameter type.

func canonQty(param string, v, lo, hi float64, system, code, canon string, f float64) store.Entry {
	e := qty(param, v, lo, hi, system, code)
	e.CanonCode, e.CanonNum, e.CanonLow, e.CanonHigh = canon, v*f, lo*f, hi*f
	return e
}

func testCanonicalQuantity(t *testing.T, s store.Store) {
	const ucum = "http://unitsofmeasure.org"
	put(t, s, "Observation", "ug5400", canonQty("value-quantity", 5400, 5399.5, 5400.5, ucum, "ug", "g", 1e-6))
	put(t, s, "Observation", "mg5.4", canonQty("value-quantity", 5.4, 5.35, 5.45, ucum, "mg", "g", 1e-3))
	put(t, s, "Observation", "mg7", canonQty("value-quantity", 7, 6.5, 7.5, ucum, "mg", "g", 1e-3))
	put(t, s, "Observation", "s60", canonQty("value-quantity", 60, 59.5, 60.5, ucum, "s", "s", 1))
	put(t, s, "Observation", "iu", qty("value-quantity", 5.4, 5.35, 5.45, ucum, "[IU]")) // no canonical form
	c := func(p store.Prefix, lo, hi float64, code string) store.Query {
		return store.Query{Types: []string{"Observation"}, Where: and(store.Cond{Param: "value-quantity", Type: store.Quantity,
			Prefix: p, NumLow: lo, NumHigh: hi, Canonical: true, Code: code})}
	}
	runCases(t, s, []searchCase{
		// 5.4 mg = [5.35, 5.45) mg = [0.00535, 0.00545) g covers 5400 ug.
		{"5.4 mg finds 5400 ug and 5.4 mg", c(store.Eq, 5.35e-3, 5.45e-3, "g"), []string{"Observation/ug5400", "Observation/mg5.4"}},
		{"gt 5.4 mg", c(store.Gt, 5.35e-3, 5.45e-3, "g"), []string{"Observation/mg7"}},
		{"1 min in seconds", c(store.Eq, 59.5*1, 60.5, "s"), []string{"Observation/s60"}},
		{"other canonical unit", c(store.Eq, 5.35e-3, 5.45e-3, "L"), nil},
		{"unit as written still works", store.Query{Types: []string{"Observation"}, Where: and(store.Cond{Param: "value-quantity", Type: store.Quantity,
			NumLow: 5.35, NumHigh: 5.45, System: ucum, Code: "[IU]"})}, []string{"Observation/iu"}},
	})
}

// comp builds the entries of one composite value (group g) of param.
func comp(param string, g int, parts ...store.Entry) []store.Entry {
	for i := range parts {
		parts[i].Param = store.CompositeParam(param, i)
		parts[i].Group = g
	}
	return parts
}

func testComposite(t *testing.T, s store.Store) {
	const p = "component-code-value-quantity"
	// bp1: systolic 120, diastolic 80; bp2 the other way round, so a
	// code$value pair only matches within one component.
	var e1, e2 []store.Entry
	e1 = append(e1, comp(p, 1, tok("", "http://loinc.org", "sys"), qty("", 120, 119.5, 120.5, "", "mm[Hg]"))...)
	e1 = append(e1, comp(p, 2, tok("", "http://loinc.org", "dia"), qty("", 80, 79.5, 80.5, "", "mm[Hg]"))...)
	e1 = append(e1, tok("code", "http://loinc.org", "bp"))
	e2 = append(e2, comp(p, 1, tok("", "http://loinc.org", "sys"), qty("", 80, 79.5, 80.5, "", "mm[Hg]"))...)
	e2 = append(e2, comp(p, 2, tok("", "http://loinc.org", "dia"), qty("", 120, 119.5, 120.5, "", "mm[Hg]"))...)
	e2 = append(e2, tok("code", "http://loinc.org", "bp"))
	put(t, s, "Observation", "bp1", e1...)
	put(t, s, "Observation", "bp2", e2...)
	put(t, s, "Observation", "none", tok("code", "http://loinc.org", "bp"))
	pair := func(code string, pr store.Prefix, lo, hi float64) store.Cond {
		return store.Cond{Param: p, Type: store.Composite, Components: []store.Cond{
			{Param: store.CompositeParam(p, 0), Type: store.Token, Code: code},
			{Param: store.CompositeParam(p, 1), Type: store.Quantity, Prefix: pr, NumLow: lo, NumHigh: hi},
		}}
	}
	q := func(w ...store.Clause) store.Query { return store.Query{Types: []string{"Observation"}, Where: w} }
	missing := func(m bool) store.Cond {
		return store.Cond{Param: p, Type: store.Composite, Missing: ptr(m), Components: []store.Cond{{Param: store.CompositeParam(p, 0), Type: store.Token}}}
	}
	notPair := pair("sys", store.Eq, 119.5, 120.5)
	notPair.Not = true
	runCases(t, s, []searchCase{
		{"sys$120", q(or(pair("sys", store.Eq, 119.5, 120.5))), []string{"Observation/bp1"}},
		{"sys$80", q(or(pair("sys", store.Eq, 79.5, 80.5))), []string{"Observation/bp2"}},
		{"dia$gt100", q(or(pair("dia", store.Gt, 99.5, 100.5))), []string{"Observation/bp2"}},
		{"sys$120,sys$80 (OR)", q(or(pair("sys", store.Eq, 119.5, 120.5), pair("sys", store.Eq, 79.5, 80.5))), []string{"Observation/bp1", "Observation/bp2"}},
		{"and with another clause", q(or(pair("dia", store.Eq, 79.5, 80.5)), or(store.Cond{Param: "code", Type: store.Token, Code: "bp"})), []string{"Observation/bp1"}},
		{"probe (not driving)", q(or(store.Cond{Param: "code", Type: store.Token, Code: "bp", System: "http://loinc.org", SystemSet: true}), or(pair("dia", store.Eq, 119.5, 120.5))), []string{"Observation/bp2"}},
		{"no cross-component match", q(or(pair("sys", store.Eq, 99.5, 100.5))), nil},
		{":not", q(or(notPair)), []string{"Observation/bp2", "Observation/none"}},
		{":missing=true", q(or(missing(true))), []string{"Observation/none"}},
		{":missing=false", q(or(missing(false))), []string{"Observation/bp1", "Observation/bp2"}},
	})
}

// testUnsortedCommonValue pages a common value in the default order: every
// match exactly once, in write order, forwards and back, whichever index
// drives (code alone, system|code, a reference, the compartment), with
// deleted resources, other types and duplicate matching rows mixed in.
func testUnsortedCommonValue(t *testing.T, s store.Store) {
	var want []string
	for i := range 23 {
		id := fmt.Sprintf("cp%02d", i)
		entries := []store.Entry{tok("status", "http://hl7.org/fhir/request-status", "draft"), ref("subject", "Patient", "p1")}
		if i%5 == 0 && i%4 != 3 {
			// The same code twice (two systems): one result, not two.
			entries = append(entries, tok("status", "urn:other", "draft"))
		}
		if i%4 == 3 {
			entries[0] = tok("status", "http://hl7.org/fhir/request-status", "active")
		}
		c := change("CarePlan", id, 1, entries...)
		c.Patients = []string{"p1"}
		mustWrite(t, s, c)
		put(t, s, "Goal", "g"+id, tok("status", "", "draft")) // another type, same param and code
		if i%7 == 6 {
			mustWrite(t, s, deletion("CarePlan", id, 2))
			continue
		}
		if i%4 != 3 {
			want = append(want, "CarePlan/"+id)
		}
	}
	for _, tc := range []struct {
		name string
		cond store.Cond
	}{
		{"code", store.Cond{Param: "status", Type: store.Token, Code: "draft"}},
		{"system|code", store.Cond{Param: "status", Type: store.Token, System: "http://hl7.org/fhir/request-status", SystemSet: true, Code: "draft"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, count := range []int{1, 4, 100} {
				q := store.Query{Types: []string{"CarePlan"}, Count: count, Where: and(tc.cond)}
				if got := walk(t, s, q, nil); !slices.Equal(got, want) {
					t.Errorf("count %d: got %v, want %v", count, got, want)
				}
				q.Total = store.TotalAccurate
				res, err := s.Search(ctx, q)
				if err != nil || res.Total != len(want) {
					t.Errorf("count %d: total %+v, %v; want %d", count, res, err, len(want))
				}
				q.Total = store.TotalEstimate
				if res, err = s.Search(ctx, q); err != nil || res.Total < 0 {
					t.Errorf("count %d: estimate %+v, %v", count, res, err)
				}
			}
		})
	}
	// Driven by the reference and by the compartment, probed for status.
	draft := store.Cond{Param: "status", Type: store.Token, Code: "draft"}
	for _, q := range []store.Query{
		{Types: []string{"CarePlan"}, Count: 3, Where: and(store.Cond{Param: "subject", Type: store.Reference, RefType: "Patient", RefID: "p1"}, draft)},
		{Types: []string{"CarePlan"}, Count: 3, Patient: "p1", Where: and(draft)},
	} {
		if got := walk(t, s, q, nil); !slices.Equal(got, want) {
			t.Errorf("%+v: got %v, want %v", q.Where, got, want)
		}
	}
}

// testMissingEverywhere checks :missing on every parameter type, within a
// chain and a _has, and nested _has.
func testMissingEverywhere(t *testing.T, s store.Store) {
	put(t, s, "Patient", "full", str("name", "ann", "Ann"), date("birthdate", day(1950, 1, 1), day(1950, 1, 2)),
		tok("gender", "", "female"), ref("general-practitioner", "Practitioner", "dr"), num("n", 1, 0.5, 1.5),
		qty("q", 1, 0.5, 1.5, "", "kg"), uri("u", "http://x"))
	put(t, s, "Patient", "bare")
	put(t, s, "CarePlan", "cpFull", ref("subject", "Patient", "full"), tok("status", "", "active"))
	put(t, s, "CarePlan", "cpBare", ref("subject", "Patient", "bare"), tok("status", "", "active"))
	put(t, s, "CarePlan", "cpNone", tok("status", "", "draft"))
	put(t, s, "Provenance", "prov", ref("target", "CarePlan", "cpFull"), ref("agent", "Practitioner", "dr"))
	var cases []searchCase
	for _, p := range []struct {
		param string
		typ   store.ParamType
	}{{"name", store.String}, {"birthdate", store.Date}, {"gender", store.Token}, {"general-practitioner", store.Reference},
		{"n", store.Number}, {"q", store.Quantity}, {"u", store.URI}} {
		for _, m := range []bool{true, false} {
			want := []string{"Patient/full"}
			if m {
				want = []string{"Patient/bare"}
			}
			cases = append(cases, searchCase{fmt.Sprintf("%s %s missing=%t", p.typ, p.param, m),
				store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: p.param, Type: p.typ, Missing: ptr(m)})}, want})
		}
	}
	chain := func(m bool) store.Cond {
		return store.Cond{Param: "subject", Type: store.Reference, RefType: "Patient", Chain: &store.Chain{Type: "Patient",
			Where: and(store.Cond{Param: "birthdate", Type: store.Date, Missing: ptr(m)})}}
	}
	has := func(where ...store.Cond) store.Cond {
		return store.Cond{Param: "_has", Type: store.Special, Has: &store.Has{Type: "CarePlan", Param: "subject", Where: and(where...)}}
	}
	cases = append(cases,
		// cpNone has no subject, so no chained Patient at all: neither.
		searchCase{"chain missing=true", store.Query{Types: []string{"CarePlan"}, Where: and(chain(true))}, []string{"CarePlan/cpBare"}},
		searchCase{"chain missing=false", store.Query{Types: []string{"CarePlan"}, Where: and(chain(false))}, []string{"CarePlan/cpFull"}},
		searchCase{"subject missing=true", store.Query{Types: []string{"CarePlan"}, Where: and(store.Cond{Param: "subject", Type: store.Reference, Missing: ptr(true)})}, []string{"CarePlan/cpNone"}},
		searchCase{"_has with missing inside", store.Query{Types: []string{"Patient"}, Where: and(has(store.Cond{Param: "status", Type: store.Token, Missing: ptr(false)}))}, []string{"Patient/full", "Patient/bare"}},
		searchCase{"_has nested", store.Query{Types: []string{"Patient"}, Where: and(has(store.Cond{Param: "_has", Type: store.Special, Has: &store.Has{
			Type: "Provenance", Param: "target", Where: and(store.Cond{Param: "agent", Type: store.Reference, RefType: "Practitioner", RefID: "dr"})}}))}, []string{"Patient/full"}},
		searchCase{"not _has", store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: "_has", Type: store.Special, Not: true, Has: &store.Has{
			Type: "Provenance", Param: "target", Where: and(store.Cond{Param: "agent", Type: store.Reference, RefType: "Practitioner", RefID: "dr"})}})}, []string{"Patient/full", "Patient/bare"}},
	)
	runCases(t, s, cases)
}

func testSortEveryType(t *testing.T, s store.Store) {
	put(t, s, "Observation", "a", qty("q", 5, 4.5, 5.5, "", "kg"), ref("subject", "Patient", "p2"), uri("u", "http://b"), tok("code", "s", "x"))
	put(t, s, "Observation", "b", qty("q", 1, 0.5, 1.5, "", "kg"), ref("subject", "Patient", "p1"), uri("u", "http://c"), tok("code", "s", "x"))
	put(t, s, "Observation", "c", qty("q", 9, 8.5, 9.5, "", "kg"), ref("subject", "Patient", "p3"), uri("u", "http://a"), tok("code", "s", "w"))
	put(t, s, "Observation", "d") // nothing: last either way
	k := func(param string, typ store.ParamType, desc bool) store.SortKey {
		return store.SortKey{Param: param, Type: typ, Desc: desc}
	}
	for _, tc := range []struct {
		name string
		keys []store.SortKey
		want []string
	}{
		{"quantity", []store.SortKey{k("q", store.Quantity, false)}, []string{"b", "a", "c", "d"}},
		{"quantity desc", []store.SortKey{k("q", store.Quantity, true)}, []string{"c", "a", "b", "d"}},
		{"reference", []store.SortKey{k("subject", store.Reference, false)}, []string{"b", "a", "c", "d"}},
		{"uri desc", []store.SortKey{k("u", store.URI, true)}, []string{"b", "a", "c", "d"}},
		{"token then quantity desc", []store.SortKey{k("code", store.Token, false), k("q", store.Quantity, true)}, []string{"c", "a", "b", "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, id := range tc.want {
				want = append(want, "Observation/"+id)
			}
			q := store.Query{Types: []string{"Observation"}, Sort: tc.keys, Count: 1}
			if got := walk(t, s, q, nil); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
