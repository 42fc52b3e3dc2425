package rest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"ucp/fhir/outcome"
	"ucp/fhir/rest"
)

// fakeClock is a settable Config.Now, for _since.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond) // every write gets its own instant
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// pages follows next links from path and returns every entry, by mode.
func (ts *testServer) pages(t *testing.T, start string) (match, include []string, links []string) {
	t.Helper()
	u := start
	for n := 0; u != ""; n++ {
		if n > 50 {
			t.Fatal("too many pages")
		}
		b := ts.do(t, "GET", u).want(t, http.StatusOK).JSON(t)
		if b["type"] != "searchset" {
			t.Fatalf("bundle type %v", b["type"])
		}
		entries, _ := b["entry"].([]any)
		for i := range entries {
			e := entries[i]
			k := str(path(e, "resource.resourceType")) + "/" + str(path(e, "resource.id"))
			switch str(path(e, "search.mode")) {
			case "match":
				match = append(match, k)
			case "include":
				include = append(include, k)
			}
		}
		u = ""
		ls, _ := b["link"].([]any)
		for _, l := range ls {
			if str(path(l, "relation")) == "next" {
				u = str(path(l, "url"))
				links = append(links, u)
			}
		}
	}
	return match, include, links
}

// count tallies keys, to find duplicates.
func count(keys []string) map[string]int {
	m := map[string]int{}
	for _, k := range keys {
		m[k]++
	}
	return m
}

func withPrefix(keys []string, prefix string) int {
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

func TestCompartmentSearch(t *testing.T) {
	ts := mustServer(t)
	p1 := ts.create(t, patientWith("9000000009"))
	p2 := ts.create(t, patientWith("9000000017"))
	for i := 0; i < 5; i++ {
		ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p1+`"}}`)
	}
	for i := 0; i < 2; i++ {
		ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p2+`"}}`)
	}
	ts.create(t, `{"resourceType":"CarePlan","status":"draft","intent":"plan","subject":{"reference":"Patient/`+p1+`"}}`)
	for i := 0; i < 3; i++ {
		ts.create(t, `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/`+p1+`"}}`)
	}
	ts.create(t, `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/`+p2+`"}}`)

	match, _, links := ts.pages(t, "/Patient/"+p1+"/CarePlan?status=active&_count=2")
	if len(match) != 5 || len(count(match)) != 5 {
		t.Fatalf("careplans %v, want 5 distinct", match)
	}
	if len(links) != 2 {
		t.Fatalf("next links %v, want 2", links)
	}
	for _, l := range links {
		if !strings.Contains(l, "/fhir/Patient/"+p1+"/CarePlan?") || !strings.Contains(l, "status=active") {
			t.Errorf("next link %q loses the compartment or the parameters", l)
		}
	}
	if n := ts.total(t, "/Patient/"+p1+"/CarePlan"); n != 6 {
		t.Errorf("all careplans of p1: %d, want 6", n)
	}
	if n := ts.total(t, "/Patient/"+p2+"/Observation?code=http://loinc.org|8867-4"); n != 1 {
		t.Errorf("observations of p2: %d, want 1", n)
	}
	match, _, _ = ts.pages(t, "/Patient/"+p1+"/Observation?_count=1")
	if len(match) != 3 || len(count(match)) != 3 {
		t.Errorf("observations of p1 %v", match)
	}
	// POST _search in the compartment.
	r := ts.do(t, "POST", "/Patient/"+p1+"/Observation/_search", "code=8867-4", "Content-Type: application/x-www-form-urlencoded").want(t, http.StatusOK)
	if n := len(r.JSON(t)["entry"].([]any)); n != 3 {
		t.Errorf("POST _search: %d entries", n)
	}
	// _include in a compartment search.
	b := ts.do(t, "GET", "/Patient/"+p1+"/Observation?_include=Observation:subject").want(t, http.StatusOK).JSON(t)
	if n := len(b["entry"].([]any)); n != 4 {
		t.Errorf("with _include: %d entries, want 3 + the patient", n)
	}
	// Every type: *.
	if n := ts.total(t, "/Patient/"+p1+"/*"); n != 1+6+3 {
		t.Errorf("Patient/p1/*: %d, want 10", n)
	}
	if n := ts.total(t, "/Patient/"+p1+"/*?_type=Observation"); n != 3 {
		t.Errorf("Patient/p1/*?_type=Observation: %d, want 3", n)
	}

	ts.do(t, "GET", "/Patient/nobody/CarePlan").want(t, http.StatusNotFound)
	ts.do(t, "DELETE", "/Patient/"+p2).want(t, http.StatusNoContent)
	ts.do(t, "GET", "/Patient/"+p2+"/CarePlan").want(t, http.StatusGone)
	ts.do(t, "GET", "/Observation/x/CarePlan").want(t, http.StatusNotFound)
	ts.do(t, "GET", "/Patient/"+p1+"/NoSuchType").want(t, http.StatusNotFound)
}

// compartmentAuth records every Access and refuses one type.
type compartmentAuth struct {
	mu     sync.Mutex
	seen   []rest.Access
	refuse string
}

func (a *compartmentAuth) Authorize(_ context.Context, x rest.Access) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen = append(a.seen, x)
	if x.Type == a.refuse {
		return outcome.Errorf(outcome.Forbidden, "not allowed")
	}
	return nil
}

func TestCompartmentSearchAuthorization(t *testing.T) {
	az := &compartmentAuth{refuse: "Consent"}
	ts := mustServer(t, func(c *rest.Config) { c.Authorizer = az })
	p := ts.create(t, patientWith("9000000009"))
	az.seen = nil
	ts.do(t, "GET", "/Patient/"+p+"/CarePlan?status=active").want(t, http.StatusOK)
	if len(az.seen) != 1 || az.seen[0].Interaction != "search-type" || az.seen[0].Type != "CarePlan" {
		t.Fatalf("access %+v", az.seen)
	}
	q, _ := url.ParseQuery(az.seen[0].Query)
	if q.Get("patient") != "Patient/"+p || q.Get("status") != "active" {
		t.Errorf("access query %q", az.seen[0].Query)
	}
	ts.do(t, "GET", "/Patient/"+p+"/Consent").want(t, http.StatusForbidden)
	// An unknown patient is only revealed after authorization.
	ts.do(t, "GET", "/Patient/nobody/Consent").want(t, http.StatusForbidden)

	// $everything is authorized as the operation, then each type as a
	// search pinned to the patient: a type the caller may not search
	// (AuditEvents for most roles, or a narrow token's) is left out.
	az.mu.Lock()
	az.refuse = ""
	az.mu.Unlock()
	ts.create(t, `{"resourceType":"Consent","status":"active","scope":{"text":"share"},"category":[{"text":"share"}],"patient":{"reference":"Patient/`+p+`"}}`)
	ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p+`"}}`)
	az.mu.Lock()
	az.refuse, az.seen = "Consent", nil
	az.mu.Unlock()
	b := ts.do(t, "GET", "/Patient/"+p+"/$everything").want(t, http.StatusOK).JSON(t)
	got := map[string]int{}
	for _, e := range b["entry"].([]any) {
		got[str(path(e, "resource.resourceType"))]++
	}
	if got["Consent"] != 0 || got["CarePlan"] != 1 || got["Patient"] != 1 {
		t.Errorf("$everything with Consent refused: %v, want a Patient and a CarePlan", got)
	}
	if n, _ := b["total"].(json.Number).Int64(); n != 2 {
		t.Errorf("$everything total %d, want 2", n)
	}
	az.mu.Lock()
	seen := az.seen
	az.mu.Unlock()
	if len(seen) == 0 || seen[0].Interaction != "operation" || seen[0].Operation != "everything" || seen[0].ID != p {
		t.Fatalf("$everything access %+v", seen)
	}
	asked := map[string]string{}
	for _, a := range seen[1:] {
		if a.Interaction == "search-type" {
			asked[a.Type] = a.Query
		}
	}
	if asked["Consent"] != "patient="+url.QueryEscape("Patient/"+p) || asked["Patient"] != "_id="+p {
		t.Errorf("$everything asked Consent %q and Patient %q", asked["Consent"], asked["Patient"])
	}
	// Only refused types: nothing, and not every type.
	b = ts.do(t, "GET", "/Patient/"+p+"/$everything?_type=Consent").want(t, http.StatusOK).JSON(t)
	if es, _ := b["entry"].([]any); len(es) != 0 {
		t.Errorf("$everything?_type=Consent with Consent refused: %d entries", len(es))
	}

	// Patient/{id}/* is likewise every type the caller may search there;
	// a type the client names must be allowed.
	b = ts.do(t, "GET", "/Patient/"+p+"/*").want(t, http.StatusOK).JSON(t)
	got = map[string]int{}
	for _, e := range b["entry"].([]any) {
		got[str(path(e, "resource.resourceType"))]++
	}
	if got["Consent"] != 0 || got["CarePlan"] != 1 {
		t.Errorf("Patient/{id}/* with Consent refused: %v, want a CarePlan and no Consent", got)
	}
	ts.do(t, "GET", "/Patient/"+p+"/*?_type=CarePlan,Consent").want(t, http.StatusForbidden)
	ts.do(t, "GET", "/Patient/"+p+"/*?_type=CarePlan").want(t, http.StatusOK)
}

func TestEverything(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ts := mustServer(t, func(c *rest.Config) { c.Now = clock.now })
	prac := ts.create(t, `{"resourceType":"Practitioner","name":[{"family":"Jones"}]}`)
	org := ts.create(t, `{"resourceType":"Organization","name":"Hospice"}`)
	p1 := ts.create(t, strings.Replace(patientWith("9000000009"), `"gender"`, `"managingOrganization":{"reference":"Organization/`+org+`"},"gender"`, 1))
	p2 := ts.create(t, patientWith("9000000017"))
	for i := 0; i < 4; i++ {
		ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p1+`"},"author":{"reference":"Practitioner/`+prac+`"}}`)
	}
	ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p2+`"}}`)
	clock.set(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	for i := 0; i < 3; i++ {
		ts.create(t, `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+p1+`"}}`)
	}

	match, include, links := ts.pages(t, "/Patient/"+p1+"/$everything?_count=3")
	if len(match) != 8 || len(count(match)) != 8 {
		t.Fatalf("matches %v, want 8 distinct (patient, 4 care plans, 3 observations)", match)
	}
	if withPrefix(match, "Patient/") != 1 || withPrefix(match, "CarePlan/") != 4 || withPrefix(match, "Observation/") != 3 {
		t.Errorf("matches %v", match)
	}
	if count(include)["Practitioner/"+prac] == 0 || count(include)["Organization/"+org] == 0 {
		t.Errorf("includes %v lack the practitioner or organisation", include)
	}
	if len(links) != 2 {
		t.Errorf("next links %v", links)
	}
	for _, l := range links {
		if !strings.Contains(l, "/Patient/"+p1+"/$everything?") || !strings.Contains(l, "_count=3") {
			t.Errorf("next link %q", l)
		}
	}

	match, _, _ = ts.pages(t, "/Patient/"+p1+"/$everything?_type=Observation,CarePlan&_count=2")
	if len(match) != 7 || withPrefix(match, "Patient/") != 0 || len(count(match)) != 7 {
		t.Errorf("_type: %v", match)
	}
	match, _, _ = ts.pages(t, "/Patient/"+p1+"/$everything?_since=2026-01-15T00:00:00Z&_count=2")
	if len(match) != 3 || withPrefix(match, "Observation/") != 3 {
		t.Errorf("_since: %v", match)
	}
	// POST with a Parameters body.
	r := ts.do(t, "POST", "/Patient/"+p1+"/$everything", `{"resourceType":"Parameters","parameter":[{"name":"_type","valueString":"Observation"}]}`).want(t, http.StatusOK)
	if n := len(r.JSON(t)["entry"].([]any)); n != 3 {
		t.Errorf("POST $everything: %d entries", n)
	}
	ts.do(t, "GET", "/Patient/nobody/$everything").want(t, http.StatusNotFound)
	ts.do(t, "GET", "/Patient/"+p1+"/$everything?start=2026-01-01").want(t, http.StatusBadRequest)
	ts.do(t, "GET", "/Patient/"+p1+"/$everything?_since=yesterday").want(t, http.StatusBadRequest)
}
