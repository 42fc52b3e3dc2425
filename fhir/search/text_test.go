package search

import (
	"context"
	"reflect"
	"testing"

	"ucp/fhir/outcome"
	"ucp/store"
)

func TestParseText(t *testing.T) {
	r := MustRegistry(t)
	txt := func(p, v string) store.Cond { return store.Cond{Param: p, Type: store.Special, Value: v} }
	for _, tc := range []struct {
		typ, query string
		want       []store.Clause
	}{
		{"CarePlan", "_text=Heart%20Failure", []store.Clause{{Any: []store.Cond{txt("_text", "heart failure")}}}},
		{"CarePlan", "_content=%C3%89mile,copd", []store.Clause{{Any: []store.Cond{txt("_content", "emile"), txt("_content", "copd")}}}},
		{"CarePlan", "_text=a&_text=b", []store.Clause{{Any: []store.Cond{txt("_text", "a")}}, {Any: []store.Cond{txt("_text", "b")}}}},
		{"CarePlan", `_text=x\,y`, []store.Clause{{Any: []store.Cond{txt("_text", "x,y")}}}},
		{"", "_content=heart", []store.Clause{{Any: []store.Cond{txt("_content", "heart")}}}},
	} {
		req, err := r.Parse(context.Background(), tc.typ, mustValues(t, tc.query), true)
		if err != nil {
			t.Errorf("%s: %v", tc.query, err)
			continue
		}
		if !reflect.DeepEqual(req.Query.Where, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.query, req.Query.Where, tc.want)
		}
	}
	if _, err := r.Parse(context.Background(), "CarePlan", mustValues(t, "_text=%20%3B-"), false); outcome.KindOf(err) != outcome.Invalid {
		t.Errorf("no word: %v, want Invalid", err)
	}
	if _, err := r.Parse(context.Background(), "CarePlan", mustValues(t, "_text:exact=a"), true); outcome.KindOf(err) != outcome.Invalid {
		t.Errorf("modifier under strict: %v, want Invalid", err)
	}
}

func TestExtractText(t *testing.T) {
	r := MustRegistry(t)
	res := MustResource(t, `{"resourceType":"CarePlan","id":"c1","status":"active",
		"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Heart&nbsp;failure <b>plan</b></p><td>Zoë</td></div>"},
		"title":"Émile's plan","note":[{"text":"Call GP"}],
		"contained":[{"resourceType":"Binary","id":"b","contentType":"text/plain","data":"aGVsbG8="}]}`)
	entries, _, err := r.Extract(res)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		if e.Type == store.Special {
			if _, dup := got[e.Param]; dup {
				t.Errorf("two %s entries", e.Param)
			}
			got[e.Param] = e.Norm
		}
	}
	if want := "heart failure plan zoe"; got["_text"] != want {
		t.Errorf("_text = %q, want %q", got["_text"], want)
	}
	c := got["_content"]
	for _, w := range []string{"heart failure plan zoe", "emile's plan", "call gp", "active", "text/plain"} {
		if !containsWord(c, w) {
			t.Errorf("_content %q lacks %q", c, w)
		}
	}
	for _, w := range []string{"aghlbg8=", "careplan", "<div", "xhtml"} {
		if containsWord(c, w) {
			t.Errorf("_content %q has %q", c, w)
		}
	}
	// No narrative, no _text entry.
	entries, _, _ = r.Extract(MustResource(t, `{"resourceType":"Patient","id":"p"}`))
	for _, e := range entries {
		if e.Param == "_text" {
			t.Errorf("_text entry without narrative: %+v", e)
		}
	}
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

func TestParseIncludeWildcards(t *testing.T) {
	r := MustRegistry(t)
	req, err := r.Parse(context.Background(), "CarePlan", mustValues(t, "_include=*&_include=CarePlan:*&_revinclude=*&_revinclude=Goal:*"), true)
	if err != nil {
		t.Fatal(err)
	}
	wantInc := []Include{{SourceType: "CarePlan", Param: "*"}, {SourceType: "CarePlan", Param: "*"}}
	wantRev := []Include{{SourceType: "", Param: "*"}, {SourceType: "Goal", Param: "*"}}
	if !reflect.DeepEqual(req.Includes, wantInc) || !reflect.DeepEqual(req.RevIncludes, wantRev) {
		t.Errorf("includes %+v revincludes %+v", req.Includes, req.RevIncludes)
	}
}
