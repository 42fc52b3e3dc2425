package rest_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"ucp/fhir/outcome"
	"ucp/fhir/rest"
	"ucp/fhir/service"
	"ucp/internal/resttest"
	"ucp/store"
)

// extractingStore hides the store's store.Includer, so the server falls
// back to re-extracting references from each resource.
type extractingStore struct{ rest.Store }

// _include from the store's reference rows finds exactly what extraction
// from the resources finds, in the same order.
func TestIncludeFromIndexMatchesExtraction(t *testing.T) {
	var cfg *rest.Config
	ts := mustServer(t, func(c *rest.Config) { cfg = c })
	if _, ok := cfg.Store.(store.Includer); !ok {
		t.Fatal("the test server's store is not a store.Includer")
	}
	fallbackCfg := *cfg
	fallbackCfg.Store = extractingStore{cfg.Store}
	fallback, err := rest.New(fallbackCfg)
	if err != nil {
		t.Fatal(err)
	}
	fs := resttest.Serve(t, fallback)
	other := &testServer{Server: fs, srv: fallback, base: fs.Base}

	p := ts.create(t, patientWith("9000000700"))
	p2 := ts.create(t, patientWith("9000000701"))
	prac := ts.create(t, `{"resourceType":"Practitioner","name":[{"family":"Jones"}]}`)
	g1 := ts.create(t, `{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"comfort"},"subject":{"reference":"Patient/`+p+`"}}`)
	g2 := ts.create(t, `{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"home"},"subject":{"reference":"Patient/`+p+`"}}`)
	gone := ts.create(t, `{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"x"},"subject":{"reference":"Patient/`+p+`"}}`)
	ts.do(t, "DELETE", "/Goal/"+gone).want(t, http.StatusNoContent)
	cp := ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p+`"},
		"author":{"reference":"Practitioner/`+prac+`"},
		"goal":[{"reference":"Goal/`+g2+`"},{"reference":"Goal/`+g1+`"},{"reference":"Goal/`+gone+`"},{"reference":"Goal/never"},{"reference":"Goal/`+g1+`"}]}`)
	ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p2+`"},"basedOn":[{"reference":"CarePlan/`+cp+`"}]}`)
	ts.create(t, `{"resourceType":"Provenance","target":[{"reference":"CarePlan/`+cp+`"}],"recorded":"2024-01-01T00:00:00Z","agent":[{"who":{"reference":"Practitioner/`+prac+`"}}]}`)

	entries := func(ts *testServer, q string) []string {
		b := ts.do(t, "GET", q, "", "Prefer: handling=strict").want(t, http.StatusOK).JSON(t)
		var out []string
		es, _ := b["entry"].([]any)
		for _, e := range es {
			out = append(out, str(path(e, "search.mode"))+" "+str(path(e, "resource.resourceType"))+"/"+str(path(e, "resource.id")))
		}
		return out
	}
	for _, tc := range []struct {
		query    string
		included int // include entries expected
	}{
		{"/CarePlan?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000700&status=active&_include=CarePlan:subject&_include=CarePlan:goal&_revinclude=Provenance:target", 4},
		{"/CarePlan?_include=CarePlan:goal", 2},
		{"/CarePlan?_include=CarePlan:*", 4}, // R4 has no CarePlan author parameter
		{"/CarePlan?_include=*", 4},
		{"/CarePlan?_include=CarePlan:*:Patient", 2},
		{"/CarePlan?_include=CarePlan:based-on", 0}, // the target is already a match
		{"/CarePlan?subject=Patient/" + p2 + "&_include=CarePlan:based-on&_include:iterate=CarePlan:goal", 3},
		{"/Provenance?_include=Provenance:target&_include:iterate=CarePlan:subject&_include=Provenance:agent", 3},
		{"/Goal?_id=" + g1 + "&_include=Goal:subject", 1},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got, want := entries(ts, tc.query), entries(other, tc.query)
			if !slices.Equal(got, want) {
				t.Fatalf("from the index:\n%v\nby extraction:\n%v", got, want)
			}
			n := 0
			for _, e := range got {
				if strings.HasPrefix(e, "include ") {
					n++
				}
			}
			if n != tc.included {
				t.Errorf("%d included, want %d: %v", n, tc.included, got)
			}
		})
	}
}

// hidePlan hides one CarePlan, as the care-plan rules hide a plan whose
// patient withdrew consent.
type hidePlan struct{ id *string }

func (h hidePlan) AllowRead(_ context.Context, v *store.Version, _ service.Purpose, _ *service.Call) error {
	if v.Type == "CarePlan" && v.ID == *h.id {
		return outcome.Errorf(outcome.NotFound, "not shared")
	}
	return nil
}

// A match the read rules hide is not followed: its goals, patient and
// provenance do not come in through _include and _revinclude.
func TestIncludeSkipsHiddenMatches(t *testing.T) {
	hidden := ""
	ts := mustServer(t, func(c *rest.Config) { c.ReadInterceptor = hidePlan{&hidden} })
	p := ts.create(t, patientWith("9000000702"))
	g := ts.create(t, `{"resourceType":"Goal","lifecycleStatus":"active","description":{"text":"comfort"},"subject":{"reference":"Patient/`+p+`"}}`)
	hidden = ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p+`"},"goal":[{"reference":"Goal/`+g+`"}]}`)
	ts.create(t, `{"resourceType":"Provenance","target":[{"reference":"CarePlan/`+hidden+`"}],"recorded":"2024-01-01T00:00:00Z","agent":[{"who":{"display":"Dr A"}}]}`)
	b := ts.do(t, "GET", "/CarePlan?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000702&_include=CarePlan:subject&_include=CarePlan:goal&_revinclude=Provenance:target").
		want(t, http.StatusOK).JSON(t)
	if es, _ := b["entry"].([]any); len(es) != 0 {
		t.Errorf("a hidden plan's neighbours were returned: %v", es)
	}
}
