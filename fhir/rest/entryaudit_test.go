package rest_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"ucp/fhir/rest"
)

// TestBatchReadEntriesAudited: each read entry of a batch is audited as an
// interaction of its own, with the Access, path and status its own request
// would have, before the batch itself.
func TestBatchReadEntriesAudited(t *testing.T) {
	audit := &auditLog{}
	ts := mustServer(t, func(c *rest.Config) {
		c.ReadInterceptor = hideSecret{}
		c.Audit = audit
	})
	id := ts.create(t, patientJSON)
	ts.do(t, "PUT", "/Patient/secret", `{"resourceType":"Patient","id":"secret","gender":"male"}`).want(t, http.StatusCreated)
	b := `{"resourceType":"Bundle","type":"batch","entry":[
	 {"request":{"method":"GET","url":"Patient/secret"}},
	 {"request":{"method":"GET","url":"Patient/` + id + `"}},
	 {"request":{"method":"GET","url":"Patient/` + id + `/_history/1"}},
	 {"request":{"method":"GET","url":"Patient/secret/CarePlan"}},
	 {"request":{"method":"GET","url":"Patient?gender=male"}},
	 {"request":{"method":"GET","url":"Patient/` + id + `/_history"}},
	 {"request":{"method":"GET","url":"Patient/_history/x"}},
	 {"request":{"method":"GET","url":"Unknown/1"}}
	]}`
	ts.do(t, "POST", "/", b).want(t, http.StatusOK)
	audit.mu.Lock()
	defer audit.mu.Unlock()
	want := []string{
		"create Patient/ POST /fhir/Patient 201",
		"update Patient/secret PUT /fhir/Patient/secret 201",
		"read Patient/secret GET /fhir/Patient/secret 403",
		"read Patient/" + id + " GET /fhir/Patient/" + id + " 200",
		"vread Patient/" + id + " GET /fhir/Patient/" + id + "/_history/1 200",
		"search-type CarePlan/ GET /fhir/Patient/secret/CarePlan 403",
		"search-type Patient/ GET /fhir/Patient 200",
		"history-instance Patient/" + id + " GET /fhir/Patient/" + id + "/_history 200",
		"batch / POST /fhir/ 200",
	}
	var got []string
	for _, rec := range audit.recs {
		got = append(got, fmt.Sprintf("%s %s/%s %s %s %d", rec.Interaction, rec.Type, rec.ID, rec.Method, rec.Path, rec.Status))
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit records:\n got %q\nwant %q", got, want)
	}
}
