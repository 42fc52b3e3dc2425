package sqlite_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucp/store"
	"ucp/store/sqlite"
	"ucp/store/storetest"
)

func mustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "ucp.db"))
	})
}

func TestReopenDurableAndMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ucp.db")
	s := mustOpen(t, path)
	ctx := context.Background()
	lu := time.Date(2024, 6, 1, 12, 0, 0, 123456000, time.UTC)
	body := []byte(`{"resourceType":"Patient","id":"p1","meta":{"versionId":"1"},"name":[{"text":"Zoë"}]}`)
	if _, err := s.Write(ctx, []store.Change{{Type: "Patient", ID: "p1", VersionID: 1, LastUpdated: lu, Method: "POST", JSON: body,
		Entries: []store.Entry{{Param: "name", Type: store.String, Norm: "zoe", Exact: "Zoë"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // reopening runs the migrations again: they must be no-ops
		s = mustOpen(t, path)
		v, err := s.Read(ctx, "Patient", "p1")
		if err != nil || string(v.JSON) != string(body) || !v.LastUpdated.Equal(lu) {
			t.Fatalf("after reopen: %+v, %v", v, err)
		}
		res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10,
			Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "zo"}}}}})
		if err != nil || len(res.Versions) != 1 {
			t.Fatalf("search after reopen: %+v, %v", res, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMemoryUnsupported(t *testing.T) {
	if _, err := sqlite.Open(":memory:"); store.KindOf(err) != store.Unsupported {
		t.Errorf("Open(:memory:) = %v, want Unsupported", err)
	}
}

func TestQueryPlans(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "ucp.db"))
	defer s.Close()
	nhs := "https://fhir.nhs.uk/Id/nhs-number"
	ident := store.Cond{Param: "subject", Type: store.Reference, Identifier: true, System: nhs, SystemSet: true, Code: "9000000009"}
	active := store.Cond{Param: "status", Type: store.Token, Code: "active"}
	chain := store.Cond{Param: "subject", Type: store.Reference, Chain: &store.Chain{Type: "Patient",
		Where: []store.Clause{{Any: []store.Cond{{Param: "identifier", Type: store.Token, System: nhs, SystemSet: true, Code: "9000000009"}}}}}}
	has := store.Cond{Param: "_has", Type: store.Special, Has: &store.Has{Type: "CarePlan", Param: "subject",
		Where: []store.Clause{{Any: []store.Cond{active}}}}}
	where := func(c store.Cond) []store.Clause { return []store.Clause{{Any: []store.Cond{c}}} }
	tests := []struct {
		name string
		q    store.Query
	}{
		{"hot: subject:identifier & status", store.Query{Types: []string{"CarePlan"}, Count: 20, Where: []store.Clause{{Any: []store.Cond{active}}, {Any: []store.Cond{ident}}}}},
		{"consent check: reference of one type in rid order", store.Query{Types: []string{"Consent"}, Count: 20, Where: []store.Clause{{Any: []store.Cond{active}},
			{Any: []store.Cond{{Param: "patient", Type: store.Reference, RefType: "Patient", RefID: "p1"}}}}}},
		{"reference of two types", store.Query{Types: []string{"Goal", "Condition"}, Count: 20, Where: where(store.Cond{Param: "patient", Type: store.Reference, RefType: "Patient", RefID: "p1"})}},
		{"reference by absolute url", store.Query{Types: []string{"CarePlan"}, Count: 20, Where: where(store.Cond{Param: "subject", Type: store.Reference, URL: "https://example.org/fhir/Patient/p1"})}},
		{"identifier of a reference by system alone", store.Query{Types: []string{"CarePlan"}, Count: 20, Where: where(store.Cond{Param: "subject", Type: store.Reference, Identifier: true, System: nhs, SystemSet: true})}},
		{"reference :missing=false", store.Query{Types: []string{"CarePlan"}, Count: 20, Where: where(store.Cond{Param: "subject", Type: store.Reference, Missing: new(bool)})}},
		{"token by system alone", store.Query{Types: []string{"Patient"}, Count: 20, Where: where(store.Cond{Param: "identifier", Type: store.Token, System: nhs, SystemSet: true})}},
		{"chain subject:Patient.identifier & status", store.Query{Types: []string{"CarePlan"}, Count: 20, Where: []store.Clause{{Any: []store.Cond{active}}, {Any: []store.Cond{chain}}}}},
		{"token", store.Query{Types: []string{"Patient"}, Count: 20, Where: []store.Clause{{Any: []store.Cond{{Param: "identifier", Type: store.Token, System: nhs, SystemSet: true, Code: "9000000009"}}}}}},
		{"_has", store.Query{Types: []string{"Patient"}, Count: 20, Where: []store.Clause{{Any: []store.Cond{has}}}}},
		{"date range", store.Query{Types: []string{"Observation"}, Count: 20, Where: []store.Clause{{Any: []store.Cond{{Param: "date", Type: store.Date, Prefix: store.Gt,
			Low: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), High: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}}}}}},
		{"compartment", store.Query{Patient: "p1", Count: 20}},
		{"common code in rid order", store.Query{Types: []string{"CarePlan"}, Count: 20, Where: []store.Clause{{Any: []store.Cond{{Param: "status", Type: store.Token, Code: "draft"}}}}}},
		{"compartment and status in rid order", store.Query{Types: []string{"CarePlan"}, Patient: "p1", Count: 20, Where: []store.Clause{{Any: []store.Cond{active}}}}},
		{"canonical quantity", store.Query{Types: []string{"Observation"}, Count: 20, Where: []store.Clause{{Any: []store.Cond{{Param: "value-quantity", Type: store.Quantity,
			Canonical: true, Code: "g", NumLow: 0.005, NumHigh: 0.006}}}}}},
		{"composite", store.Query{Types: []string{"Observation"}, Count: 20, Where: []store.Clause{{Any: []store.Cond{{Param: "c", Type: store.Composite, Components: []store.Cond{
			{Param: "c$0", Type: store.Token, Code: "x"}, {Param: "c$1", Type: store.Quantity, Prefix: store.Gt, NumLow: 1, NumHigh: 2}}}}}}}},
	}
	// The index a plan must use where several could serve.
	uses := map[string]string{
		"hot: subject:identifier & status":                  "idx_reference_ident",
		"consent check: reference of one type in rid order": "idx_reference_id (param=? AND ref_id=? AND ref_type=? AND src_type=?)",
		"reference of two types":                            "src_type",
		"reference by absolute url":                         "idx_reference_url",
		"identifier of a reference by system alone":         "idx_reference_ident",
		"token by system alone":                             "idx_token_param_code",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := s.ExplainSearch(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("plan:\n%s", plan)
			if u := uses[tt.name]; u != "" && !strings.Contains(plan, u) {
				t.Errorf("the plan does not use %s:\n%s", u, plan)
			}
			if strings.Contains(tt.name, "rid order") {
				// The page's rows come from the driving index in rid order,
				// so the walk stops at LIMIT: no sort inside the page.
				inner, _, _ := strings.Cut(plan, "|-- SCAN p")
				if strings.Contains(inner, "TEMP B-TREE") {
					t.Errorf("the page sorts every match:\n%s", plan)
				}
			}
			for _, line := range strings.Split(plan, "\n") {
				// "SCAN <table>" is a full scan of a stored table (a covering
				// index scan says INDEX); SCAN of a subquery is fine.
				f := strings.Fields(strings.TrimLeft(line, "|-` "))
				if len(f) >= 2 && f[0] == "SCAN" && realTable(f[1]) && !strings.Contains(line, "INDEX") {
					t.Errorf("full scan: %s", line)
				}
				// A correlated probe must seek one resource's rows by
				// primary key, not walk a value's rows in a param index.
				if strings.Contains(line, "EXISTS USING") && !strings.Contains(line, "PRIMARY KEY (rid=?)") {
					t.Errorf("probe not by rid: %s", line)
				}
			}
		})
	}
}

// realTable reports whether an alias of the generated SQL names a stored
// table rather than a subquery (d…, h…, p).
func realTable(alias string) bool {
	return strings.HasPrefix(alias, "r") || strings.HasPrefix(alias, "x") || strings.HasPrefix(alias, "t") ||
		strings.HasPrefix(alias, "s") || alias == "v" || alias == "c" || alias == "resource" || alias == "version" ||
		strings.HasPrefix(alias, "idx_") || alias == "compartment"
}
