package rest_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"ucp/fhir/outcome"
	"ucp/fhir/rest"
)

// recordAccess records every Access and refuses $reindex on one type.
type recordAccess struct {
	mu     sync.Mutex
	seen   []rest.Access
	refuse string
}

func (r *recordAccess) Authorize(_ context.Context, a rest.Access) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, a)
	if a.Operation == "reindex" && a.Type != "" && a.Type == r.refuse {
		return outcome.Errorf(outcome.Forbidden, "no reindex of %s", a.Type)
	}
	return nil
}

func TestReindex(t *testing.T) {
	auth := &recordAccess{}
	ts := mustServer(t, func(c *rest.Config) { c.Authorizer = auth })
	a := ts.create(t, ethnicPatient("9000000009", "A"))
	ts.create(t, ethnicPatient("9000000017", "B"))
	ts.create(t, strings.Replace(ethnicSP, `"status":"active"`, `"status":"active","id":"x"`, 1))
	if n := ts.total(t, "/Patient?ethnic-category=A"); n != 0 {
		t.Fatalf("before $reindex: %d matches, want 0", n)
	}
	meta := string(ts.do(t, "GET", "/metadata").want(t, http.StatusOK).Body)
	if !strings.Contains(meta, "$reindex") || !strings.Contains(meta, `"reindex"`) {
		t.Errorf("metadata does not mention $reindex")
	}

	ts.do(t, "GET", "/Patient/$reindex").want(t, http.StatusMethodNotAllowed)
	ts.do(t, "POST", "/Patient/$reindex?foo=bar").want(t, http.StatusBadRequest)

	b := ts.do(t, "POST", "/Patient/$reindex").want(t, http.StatusOK).JSON(t)
	if b["resourceType"] != "OperationOutcome" || !strings.Contains(str(path(b, "issue.0.diagnostics")), "reindexed 2 resources (Patient)") {
		t.Errorf("type $reindex answered %v", b)
	}
	if n := ts.total(t, "/Patient?ethnic-category=A"); n != 1 {
		t.Errorf("after $reindex: %d matches, want 1", n)
	}
	// Reindexing wrote no version.
	if v := str(path(ts.do(t, "GET", "/Patient/"+a).want(t, http.StatusOK).JSON(t), "meta.versionId")); v != "1" {
		t.Errorf("version after $reindex: %s", v)
	}
	if n := ts.total(t, "/Patient/"+a+"/_history"); n != 1 {
		t.Errorf("history after $reindex: %d versions", n)
	}

	// System level: every type, and the Authorizer asked per type.
	auth.mu.Lock()
	auth.seen = nil
	auth.mu.Unlock()
	b = ts.do(t, "POST", "/$reindex").want(t, http.StatusOK).JSON(t)
	if !strings.Contains(str(path(b, "issue.0.diagnostics")), "reindexed 3 resources (every type)") {
		t.Errorf("system $reindex answered %v", b)
	}
	auth.mu.Lock()
	var types []string
	for _, x := range auth.seen {
		if x.Interaction == "operation" && x.Operation == "reindex" {
			types = append(types, x.Type)
		}
	}
	auth.mu.Unlock()
	if !slices.Contains(types, "") || !slices.Contains(types, "Patient") || !slices.Contains(types, "CarePlan") {
		t.Errorf("system $reindex asked the Authorizer for %v", types)
	}
	auth.mu.Lock()
	auth.refuse = "CarePlan"
	auth.mu.Unlock()
	ts.do(t, "POST", "/$reindex").want(t, http.StatusForbidden)
}

// TestReindexBody: $reindex takes no parameters, and a Parameters resource
// with none is none.
func TestReindexBody(t *testing.T) {
	ts := mustServer(t)
	ts.create(t, ethnicPatient("9000000009", "A"))
	for _, test := range []struct {
		name, body string
		want       int
	}{
		{"no body", "", http.StatusOK},
		{"empty Parameters", `{"resourceType":"Parameters"}`, http.StatusOK},
		{"Parameters with an id", `{"resourceType":"Parameters","id":"x"}`, http.StatusOK},
		{"a parameter", `{"resourceType":"Parameters","parameter":[{"name":"type","valueString":"Patient"}]}`, http.StatusBadRequest},
		{"parameter not a list", `{"resourceType":"Parameters","parameter":{"name":"type"}}`, http.StatusBadRequest},
		{"not Parameters", `{"resourceType":"Patient"}`, http.StatusBadRequest},
	} {
		t.Run(test.name, func(t *testing.T) {
			r := ts.do(t, "POST", "/Patient/$reindex", test.body, "Content-Type: application/fhir+json")
			r.want(t, test.want)
			if test.want == http.StatusBadRequest && !strings.Contains(string(r.Body), "takes no parameters") {
				t.Errorf("400 without saying why: %s", r.Body)
			}
		})
	}
}

func TestTextSearch(t *testing.T) {
	ts := mustServer(t)
	heart := ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/p"},
		"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Heart <b>failure</b> plan</p></div>"},
		"title":"Dr Émile's plan","description":"Rescue medication at home"}`)
	copd := ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/p"},
		"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">COPD rescue pack</div>"}}`)
	ids := func(q string) []string {
		var out []string
		b := ts.do(t, "GET", q, "", "Prefer: handling=strict").want(t, http.StatusOK).JSON(t)
		es, _ := b["entry"].([]any)
		for _, e := range es {
			if str(path(e, "search.mode")) == "match" {
				out = append(out, str(path(e, "resource.id")))
			}
		}
		slices.Sort(out)
		return out
	}
	both := []string{heart, copd}
	slices.Sort(both)
	for q, want := range map[string][]string{
		"/CarePlan?_text=heart%20fail": {heart},
		"/CarePlan?_text=HEART,copd":   both,
		"/CarePlan?_text=rescue":       {copd}, // the narrative only
		"/CarePlan?_content=rescue":    both,
		"/CarePlan?_content=emile":     {heart},
		"/CarePlan?_text=stroke":       nil,
		"/?_content=medication":        {heart},
	} {
		if got := ids(q); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
	ts.do(t, "GET", "/CarePlan?_text=%3B", "", "Prefer: handling=strict").want(t, http.StatusBadRequest)
}

func TestIncludeWildcards(t *testing.T) {
	ts := mustServer(t)
	p := ts.create(t, patientJSON)
	prac := ts.create(t, `{"resourceType":"Practitioner","name":[{"family":"Jones"}]}`)
	cp := ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p+`"},"activity":[{"detail":{"status":"scheduled","performer":[{"reference":"Practitioner/`+prac+`"}]}}]}`)
	obs := ts.create(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+p+`"},"performer":[{"reference":"Practitioner/`+prac+`"}]}`)
	included := func(q string) []string {
		var out []string
		b := ts.do(t, "GET", q, "", "Prefer: handling=strict").want(t, http.StatusOK).JSON(t)
		es, _ := b["entry"].([]any)
		for _, e := range es {
			if str(path(e, "search.mode")) == "include" {
				out = append(out, str(path(e, "resource.resourceType"))+"/"+str(path(e, "resource.id")))
			}
		}
		slices.Sort(out)
		return out
	}
	for q, want := range map[string][]string{
		"/CarePlan?_include=*":                  {"Patient/" + p, "Practitioner/" + prac},
		"/CarePlan?_include=CarePlan:*":         {"Patient/" + p, "Practitioner/" + prac},
		"/CarePlan?_include=CarePlan:*:Patient": {"Patient/" + p},
		"/Patient?_revinclude=*":                {"CarePlan/" + cp, "Observation/" + obs},
		"/Patient?_revinclude=CarePlan:*":       {"CarePlan/" + cp},
		"/Practitioner?_revinclude=*":           {"CarePlan/" + cp, "Observation/" + obs},
	} {
		if got := included(q); !slices.Equal(got, want) {
			t.Errorf("%s: includes %v, want %v", q, got, want)
		}
	}
}
