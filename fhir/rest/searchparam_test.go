package rest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"ucp/fhir/rest"
)

const ethnicSP = `{"resourceType":"SearchParameter","url":"https://ucp.example.org/SearchParameter/patient-ethnic-category","name":"ethnic","status":"active","code":"ethnic-category","base":["Patient"],"type":"token","description":"NHS ethnic category","expression":"Patient.extension.where(url='https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory').value"}`

func ethnicPatient(nhs, code string) string {
	return strings.Replace(patientWith(nhs), `"gender"`, `"extension":[{"url":"https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory","valueCodeableConcept":{"coding":[{"system":"https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory","code":"`+code+`"}]}}],"gender"`, 1)
}

func TestCustomSearchParameter(t *testing.T) {
	ts := mustServer(t)
	before := ts.create(t, ethnicPatient("9000000009", "A"))
	ts.do(t, "GET", "/Patient?ethnic-category=A", "", "Prefer: handling=strict").want(t, http.StatusBadRequest)

	spID := ts.create(t, ethnicSP)
	after := ts.create(t, ethnicPatient("9000000017", "A"))
	ts.create(t, ethnicPatient("9000000025", "B"))
	b := ts.do(t, "GET", "/Patient?ethnic-category=A", "", "Prefer: handling=strict").want(t, http.StatusOK).JSON(t)
	entries, _ := b["entry"].([]any)
	if len(entries) != 1 || str(path(entries[0], "resource.id")) != after {
		t.Fatalf("ethnic-category=A: %v; want only %s (%s was written before the parameter)", entries, after, before)
	}
	if n := ts.total(t, "/Patient?ethnic-category=https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory|B"); n != 1 {
		t.Errorf("system|code: %d", n)
	}
	meta := string(ts.do(t, "GET", "/metadata").want(t, http.StatusOK).Body)
	if !strings.Contains(meta, `"ethnic-category"`) || !strings.Contains(meta, "reindexed") {
		t.Errorf("metadata lacks the custom parameter")
	}

	// Retiring it unregisters it, and the statement follows.
	ts.do(t, "PUT", "/SearchParameter/"+spID, strings.Replace(strings.Replace(ethnicSP, `"status":"active"`, `"status":"retired"`, 1), `{"resourceType"`, `{"id":"`+spID+`","resourceType"`, 1)).want(t, http.StatusOK)
	ts.do(t, "GET", "/Patient?ethnic-category=A", "", "Prefer: handling=strict").want(t, http.StatusBadRequest)
	if strings.Contains(string(ts.do(t, "GET", "/metadata").Body), `"ethnic-category"`) {
		t.Errorf("metadata still lists the retired parameter")
	}
	// Reactivate, then delete.
	ts.do(t, "PUT", "/SearchParameter/"+spID, strings.Replace(ethnicSP, `{"resourceType"`, `{"id":"`+spID+`","resourceType"`, 1)).want(t, http.StatusOK)
	ts.do(t, "GET", "/Patient?ethnic-category=A", "", "Prefer: handling=strict").want(t, http.StatusOK)
	ts.do(t, "DELETE", "/SearchParameter/"+spID).want(t, http.StatusNoContent)
	ts.do(t, "GET", "/Patient?ethnic-category=A", "", "Prefer: handling=strict").want(t, http.StatusBadRequest)
}

func TestBadSearchParameterRefused(t *testing.T) {
	ts := mustServer(t)
	for name, body := range map[string]string{
		"expression": strings.Replace(ethnicSP, `.value"`, `.value.where("`, 1),
		"clash":      strings.Replace(ethnicSP, `"code":"ethnic-category"`, `"code":"name"`, 1),
		"no url":     strings.Replace(ethnicSP, `"url":"https://ucp.example.org/SearchParameter/patient-ethnic-category",`, ``, 1),
	} {
		r := ts.do(t, "POST", "/SearchParameter", body)
		if r.Status < 400 || r.Status >= 500 {
			t.Errorf("%s: status %d %s", name, r.Status, r.Body)
			continue
		}
		r.want(t, r.Status)
		if !strings.Contains(string(r.Body), "SearchParameter refused") {
			t.Errorf("%s: outcome does not say why: %s", name, r.Body)
		}
	}
	if n := ts.total(t, "/SearchParameter"); n != 0 {
		t.Errorf("%d refused SearchParameters were stored", n)
	}
	// A draft is stored but not registered, so it needs no valid expression.
	ts.create(t, strings.Replace(strings.Replace(ethnicSP, `"status":"active"`, `"status":"draft"`, 1), `.value"`, `.value.where("`, 1))
}

func TestLoadSearchParameters(t *testing.T) {
	var st rest.Store
	ts := mustServer(t, func(c *rest.Config) { st = c.Store })
	ts.create(t, ethnicSP)
	// A second server over the same store and a fresh registry, as after a
	// restart, only knows the parameter once it has loaded it.
	ts2 := mustServer(t, func(c *rest.Config) { c.Store = st })
	ts2.do(t, "GET", "/Patient?ethnic-category=A", "", "Prefer: handling=strict").want(t, http.StatusBadRequest)
	if err := ts2.srv.LoadSearchParameters(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts2.do(t, "GET", "/Patient?ethnic-category=A", "", "Prefer: handling=strict").want(t, http.StatusOK)
	if !strings.Contains(string(ts2.do(t, "GET", "/metadata").Body), `"ethnic-category"`) {
		t.Errorf("metadata lacks the loaded parameter")
	}
}

func TestSearchParameterInTransaction(t *testing.T) {
	ts := mustServer(t)
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[` +
		`{"resource":` + ethnicSP + `,"request":{"method":"POST","url":"SearchParameter"}},` +
		`{"resource":` + ethnicPatient("9000000009", "A") + `,"request":{"method":"POST","url":"Patient"}}]}`
	ts.do(t, "POST", "/", tx).want(t, http.StatusOK)
	// Registered once the transaction is stored; the Patient of the same
	// transaction was extracted before, so it is not indexed for it.
	ts.do(t, "GET", "/Patient?ethnic-category=A", "", "Prefer: handling=strict").want(t, http.StatusOK)
	ts.create(t, ethnicPatient("9000000017", "A"))
	if n := ts.total(t, "/Patient?ethnic-category=A"); n != 1 {
		t.Errorf("ethnic-category=A: %d, want 1", n)
	}
	// A failing transaction leaves nothing registered.
	bad := strings.Replace(strings.Replace(ethnicSP, "patient-ethnic-category", "other", 1), `"code":"ethnic-category"`, `"code":"other-code"`, 1)
	tx = `{"resourceType":"Bundle","type":"transaction","entry":[` +
		`{"resource":` + bad + `,"request":{"method":"POST","url":"SearchParameter"}},` +
		`{"resource":{"resourceType":"Patient"},"request":{"method":"PUT","url":"Patient/x","ifMatch":"W/\"7\""}}]}`
	if r := ts.do(t, "POST", "/", tx); r.Status < 400 {
		t.Fatalf("failing transaction answered %d", r.Status)
	}
	ts.do(t, "GET", "/Patient?other-code=A", "", "Prefer: handling=strict").want(t, http.StatusBadRequest)
}
