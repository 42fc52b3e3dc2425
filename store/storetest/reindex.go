package storetest

import (
	"testing"

	"ucp/store"
)

// The cases of $reindex (store.Reindexer) and of full-text search (_text,
// _content; store.TextParam).

func text(param, words string) store.Entry {
	return store.Entry{Param: param, Type: store.Special, Norm: words}
}

func textCond(param, value string) store.Cond {
	return store.Cond{Param: param, Type: store.Special, Value: value}
}

func testText(t *testing.T, s store.Store) {
	put(t, s, "CarePlan", "heart", text(store.TextParam, "heart failure plan"), text(store.ContentParam, "heart failure plan active dr émile"),
		tok("status", "", "active"))
	put(t, s, "CarePlan", "lung", text(store.TextParam, "copd rescue pack"), text(store.ContentParam, "copd rescue pack draft"),
		tok("status", "", "draft"))
	put(t, s, "CarePlan", "none", tok("status", "", "active"))
	put(t, s, "Patient", "p", text(store.ContentParam, "heart of the matter"))
	cp := func(conds ...store.Cond) store.Query {
		return store.Query{Types: []string{"CarePlan"}, Where: and(conds...)}
	}
	runCases(t, s, []searchCase{
		{"word", cp(textCond("_text", "heart")), []string{"CarePlan/heart"}},
		{"word prefix", cp(textCond("_text", "fail")), []string{"CarePlan/heart"}},
		{"case and accents", cp(textCond("_content", "EMILE")), []string{"CarePlan/heart"}},
		{"accented query", cp(textCond("_content", "Émile")), []string{"CarePlan/heart"}},
		{"all words", cp(textCond("_text", "heart pack")), nil},
		{"all words any order", cp(textCond("_text", "plan heart")), []string{"CarePlan/heart"}},
		{"not a word prefix", cp(textCond("_text", "eart")), nil},
		{"narrative only", cp(textCond("_text", "active")), nil},
		{"content", cp(textCond("_content", "active")), []string{"CarePlan/heart"}},
		{"or", store.Query{Types: []string{"CarePlan"}, Where: []store.Clause{or(textCond("_text", "heart"), textCond("_text", "copd"))}},
			[]string{"CarePlan/heart", "CarePlan/lung"}},
		{"and another param", cp(textCond("_content", "pack"), store.Cond{Param: "status", Type: store.Token, Code: "draft"}), []string{"CarePlan/lung"}},
		{"probe, not driver", cp(store.Cond{Param: "status", Type: store.Token, Code: "active"}, textCond("_content", "heart")), []string{"CarePlan/heart"}},
		{"not", cp(store.Cond{Param: "_text", Type: store.Special, Value: "heart", Not: true}), []string{"CarePlan/lung", "CarePlan/none"}},
		{"syntax is not syntax", cp(textCond("_text", `heart" OR "copd`)), nil},
		{"system search", store.Query{Where: and(textCond("_content", "heart"))}, []string{"CarePlan/heart", "Patient/p"}},
	})
	// The old text goes with an update and a delete.
	mustWrite(t, s, change("CarePlan", "heart", 2, text(store.TextParam, "stroke plan")))
	mustWrite(t, s, deletion("CarePlan", "lung", 2))
	runCases(t, s, []searchCase{
		{"updated old", cp(textCond("_text", "heart")), nil},
		{"updated new", cp(textCond("_text", "stroke")), []string{"CarePlan/heart"}},
		{"deleted", cp(textCond("_text", "copd")), nil},
	})
	if _, err := s.Search(ctx, cp(textCond("_text", " ,; "))); err != nil {
		wantKind(t, err, store.Invalid)
	} else {
		t.Error("a value without words: want Invalid")
	}
}

// reindexer returns s as a Reindexer, skipping the test when it is not one.
func reindexer(t *testing.T, s store.Store) store.Reindexer {
	r, ok := s.(store.Reindexer)
	if !ok {
		t.Skip("store does not implement store.Reindexer")
	}
	return r
}

func testReindex(t *testing.T, s store.Store) {
	r := reindexer(t, s)
	put(t, s, "Patient", "a", tok("gender", "", "female"))
	put(t, s, "Patient", "b", tok("gender", "", "male"))
	mustWrite(t, s, change("Patient", "b", 2, tok("gender", "", "male")))
	put(t, s, "Patient", "gone")
	mustWrite(t, s, deletion("Patient", "gone", 2))
	before, err := s.Read(ctx, "Patient", "a")
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.Reindex(ctx, []store.IndexUpdate{
		{Type: "Patient", ID: "a", VersionID: 1, Entries: []store.Entry{tok("gender", "", "female"), tok("custom", "", "x")}, Patients: []string{"a"}},
		{Type: "Patient", ID: "b", VersionID: 1, Entries: []store.Entry{tok("custom", "", "x")}}, // stale: b is at 2
		{Type: "Patient", ID: "gone", VersionID: 2, Entries: []store.Entry{tok("custom", "", "x")}},
		{Type: "Patient", ID: "never", VersionID: 1, Entries: []store.Entry{tok("custom", "", "x")}},
	})
	if err != nil {
		t.Fatalf("Reindex: %v", err)
	}
	if n != 1 {
		t.Errorf("Reindex applied %d, want 1", n)
	}
	q := func(param, code string) store.Query {
		return store.Query{Types: []string{"Patient"}, Where: and(store.Cond{Param: param, Type: store.Token, Code: code})}
	}
	runCases(t, s, []searchCase{
		{"new entry", q("custom", "x"), []string{"Patient/a"}},
		{"kept entry", q("gender", "female"), []string{"Patient/a"}},
		{"stale skipped keeps its index", q("gender", "male"), []string{"Patient/b"}},
		{"compartment", store.Query{Patient: "a"}, []string{"Patient/a"}},
	})
	// No version was written: the current version and history are as before.
	after, err := s.Read(ctx, "Patient", "a")
	if err != nil {
		t.Fatal(err)
	}
	if after.VersionID != before.VersionID || !after.LastUpdated.Equal(before.LastUpdated) || string(after.JSON) != string(before.JSON) {
		t.Errorf("Reindex changed the version: %+v -> %+v", before, after)
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "a", Count: 10})
	if err != nil {
		t.Fatal(err)
	}
	if h.Total != 1 {
		t.Errorf("history has %d versions after Reindex, want 1", h.Total)
	}
	// Entries are replaced, not added to.
	if _, err := r.Reindex(ctx, []store.IndexUpdate{{Type: "Patient", ID: "a", VersionID: 1, Entries: []store.Entry{tok("custom", "", "y")}}}); err != nil {
		t.Fatal(err)
	}
	runCases(t, s, []searchCase{
		{"replaced old", q("custom", "x"), nil},
		{"replaced dropped", q("gender", "female"), nil},
		{"replaced new", q("custom", "y"), []string{"Patient/a"}},
		{"compartment replaced", store.Query{Patient: "a"}, nil},
	})
	if n, err := r.Reindex(ctx, nil); err != nil || n != 0 {
		t.Errorf("Reindex(nil) = %d, %v", n, err)
	}
}

func testReindexText(t *testing.T, s store.Store) {
	r := reindexer(t, s)
	put(t, s, "CarePlan", "c", text(store.TextParam, "old words"))
	if _, err := r.Reindex(ctx, []store.IndexUpdate{{Type: "CarePlan", ID: "c", VersionID: 1, Entries: []store.Entry{text(store.TextParam, "new words")}}}); err != nil {
		t.Fatal(err)
	}
	cp := func(v string) store.Query {
		return store.Query{Types: []string{"CarePlan"}, Where: and(textCond("_text", v))}
	}
	runCases(t, s, []searchCase{
		{"old", cp("old"), nil},
		{"new", cp("new"), []string{"CarePlan/c"}},
	})
}

func testReindexInvalid(t *testing.T, s store.Store) {
	r := reindexer(t, s)
	put(t, s, "Patient", "a")
	for _, tt := range []struct {
		name string
		u    []store.IndexUpdate
	}{
		{"no type", []store.IndexUpdate{{ID: "a", VersionID: 1}}},
		{"no id", []store.IndexUpdate{{Type: "Patient", VersionID: 1}}},
		{"no version", []store.IndexUpdate{{Type: "Patient", ID: "a"}}},
		{"twice", []store.IndexUpdate{{Type: "Patient", ID: "a", VersionID: 1}, {Type: "Patient", ID: "a", VersionID: 1}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Reindex(ctx, tt.u)
			wantKind(t, err, store.Invalid)
		})
	}
}
