package rest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"ucp/fhir/rest"
)

// A chain or _has into a type the caller may not search is refused (403,
// naming the type), in searches and in the conditions of conditional
// writes alike: its answer would disclose what that type holds.
func TestChainAndHasReachAuthorized(t *testing.T) {
	az := &compartmentAuth{}
	ts := mustServer(t, func(c *rest.Config) { c.Authorizer = az })
	prac := ts.create(t, `{"resourceType":"Practitioner","name":[{"family":"Jones"}]}`)
	p := ts.create(t, strings.Replace(patientWith("9000000009"), `"gender"`, `"generalPractitioner":[{"reference":"Practitioner/`+prac+`"}],"gender"`, 1))
	ts.create(t, `{"resourceType":"Observation","status":"final","code":{"text":"cpr"},"subject":{"reference":"Patient/`+p+`"}}`)
	ts.create(t, `{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"Patient/`+p+`"}}`)

	for _, tc := range []struct {
		name, refuse, query string
		want                int
	}{
		{"_has, allowed", "", "/Patient?_has:Observation:subject:status=final", 200},
		{"_has into a refused type", "Observation", "/Patient?_has:Observation:subject:status=final", 403},
		{"chain, allowed", "", "/CarePlan?subject:Patient.identifier=9000000009", 200},
		{"chain into a refused type", "Patient", "/CarePlan?subject:Patient.identifier=9000000009", 403},
		{"chain of two, the second refused", "Practitioner", "/CarePlan?subject:Patient.general-practitioner:Practitioner.name=Jones", 403},
		{"_has inside a chain, refused", "Observation", "/CarePlan?subject:Patient._has:Observation:subject:status=final", 403},
		{"a refused type not reached", "Observation", "/CarePlan?subject:Patient.identifier=9000000009", 200},
		{"the identifier modifier is no chain", "Patient", "/CarePlan?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", 200},
		{"compartment search with _has", "Observation", "/Patient/" + p + "/CarePlan?subject:Patient._has:Observation:subject:status=final", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			az.mu.Lock()
			az.refuse = tc.refuse
			az.mu.Unlock()
			r := ts.do(t, "GET", tc.query).want(t, tc.want)
			if tc.want == 403 && !strings.Contains(string(r.Body), tc.refuse) {
				t.Errorf("the refusal does not name %s: %s", tc.refuse, r.Body)
			}
			if tc.want == 200 {
				if n, _ := r.JSON(t)["total"].(interface{ String() string }); n == nil || n.String() != "1" {
					t.Errorf("total %v, want 1", r.JSON(t)["total"])
				}
			}
		})
	}

	// A conditional create whose condition reaches a refused type is
	// refused, and creates nothing.
	az.mu.Lock()
	az.refuse = "Observation"
	az.mu.Unlock()
	cond := "_has:Observation:subject:status=final"
	ts.do(t, "POST", "/Patient", patientWith("9000000017"), "If-None-Exist: "+cond).want(t, http.StatusForbidden)
	ts.do(t, "PUT", "/Patient?"+url.PathEscape(cond), patientWith("9000000017")).want(t, http.StatusForbidden)
	az.mu.Lock()
	az.refuse = ""
	az.mu.Unlock()
	if n := ts.total(t, "/Patient"); n != 1 {
		t.Errorf("%d patients after refused conditional writes, want 1", n)
	}
}
