package rest_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"ucp/fhir/outcome"
	"ucp/fhir/rest"
	"ucp/fhir/service"
	"ucp/store"
)

type denyDeletes struct{}

func (denyDeletes) Authorize(_ context.Context, a rest.Access) error {
	if a.Interaction == "delete" {
		return outcome.Errorf(outcome.Forbidden, "deletes are not allowed")
	}
	return nil
}

// noDraftPlans is a domain rule: CarePlans must not be drafts.
type noDraftPlans struct{}

func (noDraftPlans) BeforeWrite(_ context.Context, op *rest.WriteOp, _ service.View) error {
	if op.Type == "CarePlan" && op.Resource != nil && op.Resource["status"] == "draft" {
		e := outcome.Errorf(outcome.Unprocessable, "draft plans are not accepted")
		e.Expr = []string{"CarePlan.status"}
		return e
	}
	return nil
}

type hideSecret struct{}

func (hideSecret) AllowRead(_ context.Context, v *store.Version, _ service.Purpose, _ *service.Call) error {
	if v.Type == "Patient" && v.ID == "secret" {
		return outcome.Errorf(outcome.Forbidden, "no access")
	}
	return nil
}

type auditLog struct {
	mu   sync.Mutex
	recs []rest.AuditRecord
}

func (a *auditLog) Record(_ context.Context, r rest.AuditRecord) {
	a.mu.Lock()
	a.recs = append(a.recs, r)
	a.mu.Unlock()
}

func TestHooks(t *testing.T) {
	audit := &auditLog{}
	ts := mustServer(t, func(c *rest.Config) {
		c.Authorizer = denyDeletes{}
		c.WriteInterceptor = noDraftPlans{}
		c.ReadInterceptor = hideSecret{}
		c.Audit = audit
	})
	id := ts.create(t, patientJSON)
	ts.do(t, "DELETE", "/Patient/"+id).want(t, http.StatusForbidden)
	r := ts.do(t, "POST", "/CarePlan", `{"resourceType":"CarePlan","status":"draft","intent":"plan","subject":{"reference":"Patient/x"}}`).want(t, http.StatusUnprocessableEntity)
	if path(r.JSON(t), "issue.0.expression.0") != "CarePlan.status" {
		t.Errorf("outcome: %s", r.Body)
	}
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"resource":` + patientJSON + `,"request":{"method":"POST","url":"Patient"}},
	 {"resource":{"resourceType":"CarePlan","status":"draft","intent":"plan","subject":{"reference":"Patient/x"}},"request":{"method":"POST","url":"CarePlan"}}]}`
	ts.do(t, "POST", "/", tx).want(t, http.StatusUnprocessableEntity)
	if n := ts.total(t, "/Patient"); n != 1 {
		t.Errorf("%d patients after a refused transaction, want 1", n)
	}
	secret := `{"resourceType":"Patient","id":"secret","gender":"male"}`
	ts.do(t, "PUT", "/Patient/secret", secret).want(t, http.StatusCreated)
	ts.do(t, "GET", "/Patient/secret").want(t, http.StatusForbidden)
	ts.do(t, "GET", "/Patient/secret/_history/1").want(t, http.StatusForbidden)
	ts.do(t, "GET", "/Patient/"+id).want(t, http.StatusOK)
	ts.do(t, "GET", "/Patient/"+id+"/_history/1").want(t, http.StatusOK)
	// The compartment of a hidden patient answers as a read of it does,
	// not with an empty page that says the patient exists and has nothing.
	ts.do(t, "GET", "/Patient/secret/CarePlan").want(t, http.StatusForbidden)
	m := ts.do(t, "GET", "/Patient?gender=male").want(t, http.StatusOK).JSON(t)
	if m["entry"] != nil {
		t.Errorf("hidden resource in search: %v", m["entry"])
	}
	audit.mu.Lock()
	defer audit.mu.Unlock()
	// Every interaction, each once, as it was answered.
	want := []string{
		"create Patient/ 201",
		"delete Patient/" + id + " 403",
		"create CarePlan/ 422",
		"transaction / 422",
		"search-type Patient/ 200", // ts.total
		"update Patient/secret 201",
		"read Patient/secret 403",
		"vread Patient/secret 403",
		"read Patient/" + id + " 200",
		"vread Patient/" + id + " 200",
		"search-type CarePlan/ 403",
		"search-type Patient/ 200",
	}
	var got []string
	for _, rec := range audit.recs {
		got = append(got, fmt.Sprintf("%s %s/%s %d", rec.Interaction, rec.Type, rec.ID, rec.Status))
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit records:\n got %q\nwant %q", got, want)
	}
}

// denyPatches refuses every patch.
type denyPatches struct{}

func (denyPatches) Authorize(_ context.Context, a rest.Access) error {
	if a.Interaction == "patch" {
		return outcome.Errorf(outcome.Forbidden, "patches are not allowed")
	}
	return nil
}

// TestConditionalPatchAuthorizedFirst: a caller who may not patch is
// refused whether or not the condition matches, so the answer does not
// tell them if a patient with that NHS number is on the register.
func TestConditionalPatchAuthorizedFirst(t *testing.T) {
	ts := mustServer(t, func(c *rest.Config) { c.Authorizer = denyPatches{} })
	ts.create(t, patientWith("9000000509"))
	patch := `[{"op":"replace","path":"/gender","value":"other"}]`
	for _, nhs := range []string{"9000000509", "9000000517"} {
		ts.do(t, "PATCH", "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|"+nhs, patch,
			"Content-Type: application/json-patch+json").want(t, http.StatusForbidden)
	}
}
