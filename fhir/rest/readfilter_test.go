package rest_test

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"ucp/fhir/outcome"
	"ucp/fhir/rest"
	"ucp/fhir/service"
	"ucp/store"
)

// hideIDs hides the resources with the given ids (of any type), as the
// care-plan rules hide a plan that is not shared.
type hideIDs struct{ ids *[]string }

func (h hideIDs) AllowRead(_ context.Context, v *store.Version, _ service.Purpose, _ *service.Call) error {
	if slices.Contains(*h.ids, v.ID) {
		return outcome.Errorf(outcome.NotFound, "%s/%s is not shared", v.Type, v.ID)
	}
	return nil
}

// Every version of a resource the read rules hide is hidden: vread answers
// as read does.
func TestReadFilterVread(t *testing.T) {
	var hidden []string
	ts := mustServer(t, func(c *rest.Config) { c.ReadInterceptor = hideIDs{&hidden} })
	id := ts.create(t, patientWith("9000000711"))
	ts.do(t, "PUT", "/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","gender":"female"}`).want(t, http.StatusOK)
	ts.do(t, "GET", "/Patient/"+id+"/_history/1").want(t, http.StatusOK)
	hidden = []string{id}
	for _, p := range []string{"/Patient/" + id, "/Patient/" + id + "/_history/1", "/Patient/" + id + "/_history/2"} {
		ts.do(t, "GET", p).want(t, http.StatusNotFound)
	}
}

// What _include and _revinclude bring in passes the read rules as any read
// does: a visible match does not carry a hidden neighbour with it.
func TestReadFilterIncludes(t *testing.T) {
	var hidden []string
	ts := mustServer(t, func(c *rest.Config) { c.ReadInterceptor = hideIDs{&hidden} })
	p := ts.create(t, patientWith("9000000712"))
	seen := ts.create(t, `{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"comfort"},"subject":{"reference":"Patient/`+p+`"}}`)
	secret := ts.create(t, `{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"secret"},"subject":{"reference":"Patient/`+p+`"}}`)
	plan := ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p+`"},"goal":[{"reference":"Goal/`+seen+`"},{"reference":"Goal/`+secret+`"}]}`)
	prov := func(who string) string {
		return ts.create(t, `{"resourceType":"Provenance","target":[{"reference":"CarePlan/`+plan+`"}],"recorded":"2024-01-01T00:00:00Z","agent":[{"who":{"display":"`+who+`"}}]}`)
	}
	shownProv, hiddenProv := prov("Dr A"), prov("Dr B")
	hidden = []string{secret, hiddenProv, p}

	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"include", "/CarePlan?_id=" + plan + "&_include=CarePlan:goal&_include=CarePlan:subject",
			[]string{"CarePlan/" + plan, "Goal/" + seen}},
		{"revinclude", "/CarePlan?_id=" + plan + "&_revinclude=Provenance:target",
			[]string{"CarePlan/" + plan, "Provenance/" + shownProv}},
		{"include iterate", "/Provenance?_id=" + shownProv + "," + hiddenProv + "&_include=Provenance:target&_include:iterate=CarePlan:goal",
			[]string{"CarePlan/" + plan, "Goal/" + seen, "Provenance/" + shownProv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := ts.do(t, "GET", tc.query).want(t, http.StatusOK).JSON(t)
			var got []string
			es, _ := b["entry"].([]any)
			for i := range es {
				got = append(got, str(path(b, "entry."+strconv.Itoa(i)+".resource.resourceType"))+"/"+str(path(b, "entry."+strconv.Itoa(i)+".resource.id")))
			}
			sort.Strings(got)
			sort.Strings(tc.want)
			if !slices.Equal(got, tc.want) {
				t.Errorf("entries %v, want %v", got, tc.want)
			}
		})
	}
}

// A chain or _has does not match through a resource the read rules hide:
// that would tell that it exists, and what it says.
func TestReadFilterReach(t *testing.T) {
	var hidden []string
	ts := mustServer(t, func(c *rest.Config) { c.ReadInterceptor = hideIDs{&hidden} })
	p := ts.create(t, patientWith("9000000713"))
	plan := ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p+`"}}`)
	obs := ts.create(t, `{"resourceType":"Observation","status":"final","code":{"text":"seen"},"subject":{"reference":"Patient/`+p+`"},"basedOn":[{"reference":"CarePlan/`+plan+`"}]}`)
	queries := []string{
		"/Patient?_has:CarePlan:subject:_id=" + plan,
		"/Patient?_has:CarePlan:subject:status=active",
		"/Observation?based-on:CarePlan.status=active",
		"/Patient?_has:Observation:subject:based-on:CarePlan.status=active",
	}
	for _, q := range queries {
		if n := ts.total(t, q); n != 1 {
			t.Fatalf("GET %s: total %d before hiding, want 1", q, n)
		}
	}
	hidden = []string{plan}
	for _, q := range queries {
		if n := ts.total(t, q); n != 0 {
			t.Errorf("GET %s: total %d with the plan hidden, want 0", q, n)
		}
	}
	// Only what goes through the hidden plan is left out.
	if n := ts.total(t, "/Observation?_id="+obs); n != 1 {
		t.Errorf("the Observation itself: total %d, want 1", n)
	}
}

// A chain or _has through more resources that may be hidden than the
// server checks one by one is refused with a clear 400, not answered
// from hidden ones.
func TestReadFilterReachTooBroad(t *testing.T) {
	var hidden []string
	ts := mustServer(t, func(c *rest.Config) { c.ReadInterceptor = hideIDs{&hidden} })
	p := ts.create(t, patientWith("9000000714"))
	obs := `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + p + `"}}`
	one := ts.create(t, obs)
	entries := slices.Repeat([]string{`{"resource":` + obs + `,"request":{"method":"POST","url":"Observation"}}`}, 1000)
	ts.do(t, "POST", "/", `{"resourceType":"Bundle","type":"batch","entry":[`+strings.Join(entries, ",")+`]}`).want(t, http.StatusOK)
	r := ts.do(t, "GET", "/Patient?_has:Observation:subject:status=final").want(t, http.StatusBadRequest)
	if !strings.Contains(string(r.Body), "narrow it") {
		t.Errorf("refusal does not say what to do: %s", r.Body)
	}
	if n := ts.total(t, "/Patient?_has:Observation:subject:_id="+one); n != 1 {
		t.Errorf("a narrow _has: total %d, want 1", n)
	}
}
