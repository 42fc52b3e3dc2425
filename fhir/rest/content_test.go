package rest_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestContentNegotiation(t *testing.T) {
	ts := mustServer(t)
	id := ts.create(t, patientJSON)
	for _, tc := range []struct {
		name, query string
		headers     []string
		status      int
		ctype       string
	}{
		{"no accept", "", nil, 200, "application/fhir+json"},
		{"any", "", []string{"Accept: */*"}, 200, "application/fhir+json"},
		{"fhir json", "", []string{"Accept: application/fhir+json"}, 200, "application/fhir+json"},
		{"fhir json charset", "", []string{"Accept: application/fhir+json; charset=utf-8"}, 200, "application/fhir+json"},
		{"json (fhir.js, fhirclient)", "", []string{"Accept: application/json"}, 200, "application/json"},
		{"legacy json+fhir", "", []string{"Accept: application/json+fhir"}, 200, "application/fhir+json"},
		{"browser", "", []string{"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, 200, "application/fhir+json"},
		{"xml", "", []string{"Accept: application/fhir+xml"}, 406, ""},
		{"pdf", "", []string{"Accept: application/pdf"}, 406, ""},
		{"plain text", "", []string{"Accept: text/plain"}, 406, ""},
		{"json refused by q=0", "", []string{"Accept: application/fhir+json;q=0, text/csv"}, 406, ""},
		{"pdf or anything", "", []string{"Accept: application/pdf, */*;q=0.1"}, 200, "application/fhir+json"},
		{"application wildcard", "", []string{"Accept: application/*"}, 200, "application/fhir+json"},
		{"_format json over pdf", "?_format=json", []string{"Accept: application/pdf"}, 200, "application/fhir+json"},
		{"xml or json", "", []string{"Accept: application/fhir+xml, application/json;q=0.5"}, 200, "application/json"},
		{"_format json", "?_format=json", []string{"Accept: application/fhir+xml"}, 200, "application/fhir+json"},
		{"_format application/json", "?_format=application/json", nil, 200, "application/json"},
		{"_format fhir+json", "?_format=" + "application%2Ffhir%2Bjson", nil, 200, "application/fhir+json"},
		{"_format xml", "?_format=xml", nil, 406, ""},
		{"_format nonsense", "?_format=yaml", nil, 406, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(t, "GET", "/Patient/"+id+tc.query, append([]string{""}, tc.headers...)...).want(t, tc.status)
			if tc.ctype != "" && !strings.HasPrefix(r.Header.Get("Content-Type"), tc.ctype+";") {
				t.Errorf("Content-Type %q, want %s", r.Header.Get("Content-Type"), tc.ctype)
			}
		})
	}
	r := ts.do(t, "GET", "/Patient/"+id+"?_pretty=true").want(t, 200)
	if !strings.Contains(string(r.Body), "\n  \"") {
		t.Errorf("_pretty=true not indented: %s", r.Body)
	}
}

// TestClients replays what real client libraries send.
func TestClients(t *testing.T) {
	ts := mustServer(t)
	t.Run("fhir.js and fhirclient: application/json both ways", func(t *testing.T) {
		r := ts.do(t, "POST", "/Patient", patientJSON, "Content-Type: application/json", "Accept: application/json").want(t, 201)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		}
		id := str(r.JSON(t)["id"])
		ts.do(t, "GET", "/Patient/"+id, "", "Accept: application/json").want(t, 200)
		ts.do(t, "GET", "/Patient?_id="+id, "", "Accept: application/json").want(t, 200)
	})
	t.Run("charset parameter", func(t *testing.T) {
		ts.do(t, "POST", "/Patient", patientJSON, "Content-Type: application/fhir+json; charset=UTF-8").want(t, 201)
		ts.do(t, "POST", "/Patient", patientJSON, "Content-Type: application/json;charset=utf-8").want(t, 201)
	})
	t.Run("Medplum: If-None-Exist and JSON Patch", func(t *testing.T) {
		r := ts.do(t, "POST", "/Patient", patientWith("9000000500"), "Content-Type: application/fhir+json", "If-None-Exist: identifier=https://fhir.nhs.uk/Id/nhs-number|9000000500").want(t, 201)
		id := str(r.JSON(t)["id"])
		ts.do(t, "POST", "/Patient", patientWith("9000000500"), "Content-Type: application/fhir+json", "If-None-Exist: identifier=https://fhir.nhs.uk/Id/nhs-number|9000000500").want(t, 200)
		ts.do(t, "PATCH", "/Patient/"+id, `[{"op":"add","path":"/active","value":true}]`, "Content-Type: application/json-patch+json", `If-Match: W/"1"`).want(t, 200)
	})
	t.Run("fhir-kit-client: transaction to /fhir/", func(t *testing.T) {
		b := `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}`
		ts.do(t, "POST", ts.base+"/", b, "Content-Type: application/fhir+json", "Accept: application/fhir+json").want(t, 200)
		ts.do(t, "POST", ts.base, b, "Content-Type: application/json").want(t, 200)
	})
	t.Run("metadata", func(t *testing.T) {
		ts.do(t, "GET", "/metadata", "", "Accept: application/json").want(t, 200)
		ts.do(t, "GET", "/metadata/", "", "Accept: application/fhir+json").want(t, 200)
	})
}

func TestMetadata(t *testing.T) {
	ts := mustServer(t)
	m := ts.do(t, "GET", "/metadata").want(t, http.StatusOK).JSON(t)
	if m["resourceType"] != "CapabilityStatement" || m["fhirVersion"] != "4.0.1" {
		t.Fatalf("%v", m)
	}
	var patient map[string]any
	for _, r := range path(m, "rest.0.resource").([]any) {
		if path(r, "type") == "Patient" {
			patient = r.(map[string]any)
		}
	}
	if patient == nil {
		t.Fatal("no Patient in the CapabilityStatement")
	}
	if patient["conditionalCreate"] != true || patient["updateCreate"] != true {
		t.Errorf("Patient: %v", patient)
	}
	params := map[string]string{}
	for _, sp := range patient["searchParam"].([]any) {
		if str(path(sp, "definition")) != "" {
			params[str(path(sp, "name"))] = str(path(sp, "type"))
		}
	}
	for name, typ := range map[string]string{"identifier": "token", "_text": "string", "_content": "string", "_lastUpdated": "date"} {
		if params[name] != typ {
			t.Errorf("Patient search parameter %s: type %q, want %q (all: %v)", name, params[name], typ, params)
		}
	}
	if !strings.Contains(strings.ToLower(strings.Join(interactions(patient), ",")), "patch") {
		t.Errorf("interactions %v", interactions(patient))
	}
}

func interactions(r map[string]any) []string {
	var out []string
	for _, i := range r["interaction"].([]any) {
		out = append(out, str(path(i, "code")))
	}
	return out
}
