package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ucp/fhir/outcome"
	"ucp/fhir/rest"
	"ucp/internal/resttest"
)

func jsonNum(n int) json.Number { return resttest.Num(n) }

func TestSearch(t *testing.T) {
	ts := mustServer(t)
	for i := range 5 {
		ts.create(t, patientWith(fmt.Sprintf("90000001%02d", i)))
	}
	ts.create(t, strings.Replace(patientWith("9000000200"), "Smith", "Jones", 1))

	r := ts.do(t, "GET", "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000101").want(t, http.StatusOK)
	m := r.JSON(t)
	if m["type"] != "searchset" || m["total"] != jsonNum(1) {
		t.Fatalf("searchset: %s", r.Body)
	}
	if path(m, "entry.0.search.mode") != "match" || !strings.HasPrefix(str(path(m, "entry.0.fullUrl")), ts.base+"/Patient/") {
		t.Errorf("entry: %v", path(m, "entry.0"))
	}
	if path(m, "link.0.relation") != "self" {
		t.Errorf("no self link: %v", m["link"])
	}

	// Paging: follow next links, then check previous.
	seen := map[string]bool{}
	next := ts.base + "/Patient?family=smith&_count=2"
	var last map[string]any
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		last = ts.do(t, "GET", next).want(t, http.StatusOK).JSON(t)
		if last["total"] != jsonNum(5) {
			t.Fatalf("total %v", last["total"])
		}
		next = link(last, "next")
		entries, _ := last["entry"].([]any)
		for _, e := range entries {
			id := str(path(e, "resource.id"))
			if seen[id] {
				t.Errorf("%s seen twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != 5 {
		t.Errorf("paged through %d resources, want 5", len(seen))
	}
	if prev := link(last, "previous"); prev != "" {
		p := ts.do(t, "GET", prev).want(t, http.StatusOK).JSON(t)
		if n := len(p["entry"].([]any)); n != 2 {
			t.Errorf("previous page has %d entries", n)
		}
	}

	// POST _search with a form body, merged with the URL query.
	res := ts.do(t, "POST", "/Patient/_search?gender=female", url.Values{"family": {"jones"}}.Encode(), "Content-Type: application/x-www-form-urlencoded")
	if res.Status != 200 {
		t.Errorf("POST _search: %d", res.Status)
	}
	if n := ts.total(t, "/Patient?family=jones&gender=female"); n != 1 {
		t.Errorf("family=jones: %d", n)
	}

	c := ts.do(t, "GET", "/Patient?_summary=count").want(t, http.StatusOK).JSON(t)
	if c["total"] != jsonNum(6) || c["entry"] != nil {
		t.Errorf("_summary=count: %v", c)
	}
	if n := ts.do(t, "GET", "/Patient?_total=none").want(t, http.StatusOK).JSON(t)["total"]; n != nil {
		t.Errorf("_total=none gave total %v", n)
	}

	// Strict by default: 400 naming the parameter; lenient on request:
	// ignored and reported.
	l := ts.do(t, "GET", "/Patient?family=smith&nonsense=1", "", "Prefer: handling=lenient").want(t, http.StatusOK).JSON(t)
	if l["total"] != jsonNum(5) {
		t.Errorf("lenient total %v", l["total"])
	}
	entries := l["entry"].([]any)
	lastEntry := entries[len(entries)-1]
	if path(lastEntry, "search.mode") != "outcome" || !strings.Contains(fmt.Sprint(lastEntry), "nonsense") {
		t.Errorf("no outcome entry naming the ignored parameter: %v", lastEntry)
	}
	for _, prefer := range []string{"Accept: application/fhir+json", "Prefer: handling=strict"} {
		r = ts.do(t, "GET", "/Patient?family=smith&nonsense=1", "", prefer).want(t, http.StatusBadRequest)
		if !strings.Contains(string(r.Body), "nonsense") {
			t.Errorf("%q: error does not name the parameter: %s", prefer, r.Body)
		}
	}

	sys := ts.do(t, "GET", "/?_type=Patient&family=jones").want(t, http.StatusOK).JSON(t)
	if sys["total"] != jsonNum(1) {
		t.Errorf("system search: %v", sys["total"])
	}
}

func link(b map[string]any, rel string) string {
	ls, _ := b["link"].([]any)
	for _, l := range ls {
		if path(l, "relation") == rel {
			return str(path(l, "url"))
		}
	}
	return ""
}

func TestBadInput(t *testing.T) {
	ts := mustServer(t, func(c *restConfig) { c.MaxBodyBytes = 4096 })
	big := `{"resourceType":"Patient","name":[{"text":"` + strings.Repeat("x", 5000) + `"}]}`
	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		mention                  string // a word the OperationOutcome must contain
	}{
		{"malformed json", "POST", "/Patient", `{"resourceType":"Patient",`, nil, 400, "JSON"},
		{"not an object", "POST", "/Patient", `[1,2]`, nil, 400, ""},
		{"trailing data", "POST", "/Patient", `{"resourceType":"Patient"} x`, nil, 400, ""},
		{"duplicate keys", "POST", "/Patient", `{"resourceType":"Patient","gender":"male","gender":"female"}`, nil, 400, ""},
		{"empty body", "POST", "/Patient", ``, nil, 400, "empty"},
		{"no resourceType", "POST", "/Patient", `{"gender":"male"}`, nil, 400, "resourceType"},
		{"wrong resourceType", "POST", "/Patient", `{"resourceType":"Observation"}`, nil, 400, "resourceType"},
		{"unknown type", "POST", "/Spaceship", `{"resourceType":"Spaceship"}`, nil, 404, "Spaceship"},
		{"unknown type read", "GET", "/Spaceship/1", ``, nil, 404, ""},
		{"bad id", "GET", "/Patient/" + strings.Repeat("a", 65), ``, nil, 400, "id"},
		{"bad id chars", "GET", "/Patient/a_b", ``, nil, 400, "id"},
		{"too large", "POST", "/Patient", big, nil, 413, ""},
		{"bad _count", "GET", "/Patient?_count=abc", ``, nil, 400, "_count"},
		{"bad date", "GET", "/Patient?birthdate=notadate", ``, nil, 400, "birthdate"},
		{"xml body", "POST", "/Patient", `<Patient/>`, []string{"Content-Type: application/fhir+xml"}, 415, ""},
		{"text body", "POST", "/Patient", `{}`, []string{"Content-Type: text/plain"}, 415, ""},
		{"xml accept", "GET", "/metadata", ``, []string{"Accept: application/fhir+xml"}, 406, ""},
		{"xml _format", "GET", "/metadata?_format=xml", ``, nil, 406, ""},
		{"method not allowed", "DELETE", "/metadata", ``, nil, 405, ""},
		{"bundle not batch", "POST", "/", `{"resourceType":"Bundle","type":"collection"}`, nil, 400, "batch"},
		{"bad If-None-Exist", "POST", "/Patient", patientJSON, []string{"If-None-Exist: birthdate=notadate"}, 400, ""},
		{"bad invalid utf8", "POST", "/Patient", "{\"resourceType\":\"Patient\",\"gender\":\"\xff\"}", nil, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, tc.method, tc.path, append([]string{tc.body}, tc.headers...)...).want(t, tc.status)
			if tc.mention != "" && !strings.Contains(string(r.Body), tc.mention) {
				t.Errorf("outcome does not mention %q: %s", tc.mention, r.Body)
			}
		})
	}
	r := ts.do(t, "POST", "/Patient", `{"resourceType":"Observation"}`).JSON(t)
	if path(r, "issue.0.expression.0") != "resourceType" {
		t.Errorf("no issue.expression: %v", r)
	}
	if n := ts.total(t, "/Patient"); n != 0 {
		t.Errorf("bad input stored %d patients", n)
	}
	if n := ts.total(t, "/Observation"); n != 0 {
		t.Errorf("bad input stored %d observations", n)
	}
}

// TestSearchInclude is the urgent-care hot path: a patient's active plan by
// NHS number, with the patient and the plan's provenance in one round trip.
func TestSearchInclude(t *testing.T) {
	ts := mustServer(t)
	pid := ts.create(t, patientWith("9000000600"))
	other := ts.create(t, patientWith("9000000601"))
	cp := ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+pid+`"}}`)
	ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+other+`"}}`)
	ts.create(t, `{"resourceType":"Provenance","target":[{"reference":"CarePlan/`+cp+`"}],"recorded":"2024-01-01T00:00:00Z","agent":[{"who":{"display":"Dr A"}}]}`)
	m := ts.do(t, "GET", "/CarePlan?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000600&status=active&_include=CarePlan:subject&_revinclude=Provenance:target").want(t, http.StatusOK).JSON(t)
	if m["total"] != jsonNum(1) {
		t.Fatalf("total %v", m["total"])
	}
	modes := map[string]string{}
	for _, e := range m["entry"].([]any) {
		modes[str(path(e, "resource.resourceType"))] = str(path(e, "search.mode"))
	}
	want := map[string]string{"CarePlan": "match", "Patient": "include", "Provenance": "include"}
	for k, v := range want {
		if modes[k] != v {
			t.Errorf("%s: mode %q, want %q (entries %v)", k, modes[k], v, modes)
		}
	}
	if len(m["entry"].([]any)) != 3 {
		t.Errorf("%d entries, want 3", len(m["entry"].([]any)))
	}
}

func TestSystemSearch(t *testing.T) {
	ts := mustServer(t)
	ts.create(t, patientJSON)
	ts.create(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`)
	if n := ts.total(t, "/?_type=Patient,Observation"); n != 2 {
		t.Errorf("_type=Patient,Observation: %d", n)
	}
	if n := ts.total(t, "/"); n != 2 {
		t.Errorf("system search: %d", n)
	}
	ts.do(t, "GET", "/?_type=Spaceship").want(t, http.StatusNotFound)
}

// TestMisspeltParameter: a misspelt parameter or modifier must not widen a
// search to every patient's plans. It is refused with a 400 naming it and
// the name meant; only a client that asks for lenient handling gets it
// ignored, and is told so in the bundle.
func TestMisspeltParameter(t *testing.T) {
	ts := mustServer(t)
	var pid string
	for _, nhs := range []string{"9000000301", "9000000302"} {
		pid = ts.create(t, patientWith(nhs))
		ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+pid+`"}}`)
	}
	const byNHS = "subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000301&status=active"
	if n := ts.total(t, "/CarePlan?"+byNHS); n != 1 {
		t.Fatalf("correctly spelt search found %d plans, want 1", n)
	}
	for _, tc := range []struct {
		name, query, prefer string
		status              int
		mention             []string
	}{
		{"misspelt modifier", "/CarePlan?subject:identifer=https://fhir.nhs.uk/Id/nhs-number|9000000301&status=active", "",
			400, []string{"subject:identifer", `did you mean \"identifier\"`}},
		{"misspelt parameter", "/CarePlan?subjet=Patient/x&status=active", "", 400, []string{"subjet", `did you mean \"subject\"`}},
		{"unsupported modifier", "/CarePlan?status:exact=active", "", 400, []string{"status:exact"}},
		{"unknown _include modifier", "/CarePlan?status=active&_include:iterat=CarePlan:subject", "", 400, []string{"_include:iterat", "iterate"}},
		{"strict asked", "/CarePlan?subject:identifer=x&status=active", "Prefer: handling=strict", 400, []string{"subject:identifer"}},
		{"system search", "/?_type=CarePlan&subjet=Patient/x", "", 400, []string{"subjet"}},
		{"compartment search", "/Patient/" + pid + "/CarePlan?stauts=active", "", 400, []string{"stauts", `did you mean \"status\"`}},
		{"POST _search", "/CarePlan/_search?subject:identifer=x", "", 400, []string{"subject:identifer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, args := "GET", []string{""}
			if strings.Contains(tc.query, "/_search") {
				method, args = "POST", []string{"status=active", "Content-Type: application/x-www-form-urlencoded"}
			}
			if tc.prefer != "" {
				args = append(args, tc.prefer)
			}
			r := ts.do(t, method, tc.query, args...).want(t, tc.status)
			for _, m := range tc.mention {
				if !strings.Contains(string(r.Body), m) {
					t.Errorf("answer does not mention %s: %s", m, r.Body)
				}
			}
		})
	}

	// Conditional writes never ignore a condition they do not understand,
	// whatever Prefer says: that would update or delete the wrong plan.
	const cond = "CarePlan?subject:identifer=https://fhir.nhs.uk/Id/nhs-number|9000000301"
	plan := `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/` + pid + `"}}`
	ts.do(t, "POST", "/CarePlan", plan, "If-None-Exist: "+cond[len("CarePlan?"):], "Prefer: handling=lenient").want(t, http.StatusBadRequest)
	ts.do(t, "PUT", "/"+cond, plan, "Prefer: handling=lenient").want(t, http.StatusBadRequest)
	ts.do(t, "DELETE", "/"+cond, "", "Prefer: handling=lenient").want(t, http.StatusBadRequest)
	if n := ts.total(t, "/CarePlan?status=active"); n != 2 {
		t.Errorf("%d active plans after refused conditional writes, want 2", n)
	}

	// Lenient on request: today's behaviour, with the warning.
	b := ts.do(t, "GET", "/CarePlan?subject:identifer=https://fhir.nhs.uk/Id/nhs-number|9000000301&status=active", "",
		"Prefer: handling=lenient").want(t, http.StatusOK).JSON(t)
	if b["total"] != jsonNum(2) {
		t.Errorf("lenient total %v, want 2 (the parameter ignored)", b["total"])
	}
	entries, _ := b["entry"].([]any)
	if len(entries) == 0 || path(entries[len(entries)-1], "search.mode") != "outcome" ||
		!strings.Contains(fmt.Sprint(entries[len(entries)-1]), "subject:identifer") {
		t.Errorf("lenient answer has no outcome naming the ignored parameter: %v", entries)
	}
}

// refuseSearch refuses a search of the types it holds (all when nil).
type refuseSearch map[string]bool

func (r refuseSearch) Authorize(_ context.Context, a rest.Access) error {
	if a.Interaction == "search-type" && (r == nil || r[a.Type]) {
		return outcome.Errorf(outcome.Forbidden, "no search of %s", a.Type)
	}
	return nil
}

// TestSystemSearchReachesWhatTheCallerMaySearch: a search of every type is
// a search of each type it reaches, like a chain: a type the caller may not
// search is refused when named in _type and left out otherwise.
func TestSystemSearchReachesWhatTheCallerMaySearch(t *testing.T) {
	ts := mustServer(t, func(c *rest.Config) { c.Authorizer = refuseSearch{"AuditEvent": true} })
	ts.create(t, patientJSON)
	ts.create(t, `{"resourceType":"AuditEvent","type":{"code":"rest"},"recorded":"2026-01-01T00:00:00Z","agent":[{"requestor":true}],"source":{"observer":{"display":"x"}}}`)
	types := func(q string) []string {
		var out []string
		es, _ := ts.do(t, "GET", q).want(t, http.StatusOK).JSON(t)["entry"].([]any)
		for _, e := range es {
			out = append(out, str(path(e.(map[string]any), "resource.resourceType")))
		}
		return out
	}
	if got := types("/"); len(got) != 1 || got[0] != "Patient" {
		t.Errorf("GET /fhir found %v, want only the Patient", got)
	}
	if got := types("/?_type=Patient"); len(got) != 1 || got[0] != "Patient" {
		t.Errorf("GET /fhir?_type=Patient found %v, want the Patient", got)
	}
	ts.do(t, "GET", "/?_type=AuditEvent").want(t, http.StatusForbidden)
	ts.do(t, "GET", "/?_type=Patient,AuditEvent").want(t, http.StatusForbidden)

	none := mustServer(t, func(c *rest.Config) { c.Authorizer = refuseSearch(nil) })
	none.do(t, "GET", "/").want(t, http.StatusForbidden)
}
