package rest_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

const txBundle = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":{"resourceType":"Patient","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000300"}],"name":[{"family":"Tx"}]},
  "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=https://fhir.nhs.uk/Id/nhs-number|9000000300"}},
 {"fullUrl":"urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059","resource":{"resourceType":"CarePlan","status":"active","intent":"plan","subject":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},"contained":[{"resourceType":"Goal","id":"g","lifecycleStatus":"active","description":{"text":"comfort"},"subject":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}}],"goal":[{"reference":"#g"}]},
  "request":{"method":"POST","url":"CarePlan"}},
 {"resource":{"resourceType":"Observation","id":"obs-tx","status":"final","code":{"text":"weight"},"valueQuantity":{"value":61.50},"subject":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}},
  "request":{"method":"PUT","url":"Observation/obs-tx"}},
 {"request":{"method":"GET","url":"Patient?identifier=9000000300"}}
]}`

func TestTransaction(t *testing.T) {
	ts := mustServer(t)
	// fhir-kit-client posts transactions to the base with a trailing slash.
	r := ts.do(t, "POST", "/", txBundle).want(t, http.StatusOK)
	m := r.JSON(t)
	if m["type"] != "transaction-response" {
		t.Fatalf("response: %s", r.Body)
	}
	for i, want := range []string{"201 Created", "201 Created", "201 Created", "200 OK"} {
		if got := path(m, "entry."+string(rune('0'+i))+".response.status"); got != want {
			t.Errorf("entry %d status %v, want %s", i, got, want)
		}
	}
	pid := str(path(m, "entry.0.resource.id"))
	if path(m, "entry.1.resource.subject.reference") != "Patient/"+pid {
		t.Errorf("urn:uuid reference not rewritten: %v", path(m, "entry.1.resource.subject"))
	}
	if path(m, "entry.1.resource.contained.0.subject.reference") != "Patient/"+pid {
		t.Errorf("reference in contained not rewritten")
	}
	if path(m, "entry.1.resource.goal.0.reference") != "#g" {
		t.Errorf("contained reference changed")
	}
	if !strings.Contains(string(r.Body), `"value":61.50`) {
		t.Errorf("decimal not kept: %s", r.Body)
	}
	if str(path(m, "entry.0.response.location")) == "" || path(m, "entry.0.response.etag") != `W/"1"` {
		t.Errorf("entry 0 response: %v", path(m, "entry.0.response"))
	}
	if path(m, "entry.3.resource.total") != jsonNum(1) {
		t.Errorf("GET entry: %v", path(m, "entry.3"))
	}

	// Again via /fhir (fhir.js, no slash): the conditional create matches,
	// the PUT updates; a conditional reference resolves.
	again := strings.Replace(txBundle, `"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},"contained"`, `"reference":"Patient?identifier=9000000300"},"contained"`, 1)
	r = ts.do(t, "POST", ts.base, again, "Content-Type: application/json", "Accept: application/json").want(t, http.StatusOK)
	m = r.JSON(t)
	if got := path(m, "entry.0.response.status"); got != "200 OK" {
		t.Errorf("conditional create in transaction: %v", got)
	}
	if path(m, "entry.2.response.status") != "200 OK" || path(m, "entry.2.resource.meta.versionId") != "2" {
		t.Errorf("PUT entry: %v", path(m, "entry.2.response"))
	}
	if path(m, "entry.1.resource.subject.reference") != "Patient/"+pid {
		t.Errorf("conditional reference: %v", path(m, "entry.1.resource.subject"))
	}
	if n := ts.total(t, "/Patient?identifier=9000000300"); n != 1 {
		t.Errorf("%d patients", n)
	}
	if n := ts.total(t, "/CarePlan"); n != 2 {
		t.Errorf("%d care plans", n)
	}
}

// TestTransactionAllOrNothing: one bad entry fails the whole transaction,
// the outcome names the entry, and nothing is stored.
func TestTransactionAllOrNothing(t *testing.T) {
	ts := mustServer(t)
	for _, tc := range []struct {
		name, bad string
		status    int
	}{
		{"wrong type", `{"resource":{"resourceType":"Observation"},"request":{"method":"POST","url":"Patient"}}`, 400},
		{"no request", `{"resource":{"resourceType":"Patient"}}`, 400},
		{"unknown urn", `{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:00000000-0000-0000-0000-000000000000"}},"request":{"method":"POST","url":"Observation"}}`, 400},
		{"stale if-match", `{"resource":{"resourceType":"Patient","id":"p1"},"request":{"method":"PUT","url":"Patient/p1","ifMatch":"W/\"7\""}}`, 412},
		{"unresolvable conditional reference", `{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=nobody"}},"request":{"method":"POST","url":"Observation"}}`, 412},
		{"id mismatch", `{"resource":{"resourceType":"Patient","id":"a"},"request":{"method":"PUT","url":"Patient/b"}}`, 400},
		{"unknown type", `{"resource":{"resourceType":"Spaceship"},"request":{"method":"POST","url":"Spaceship"}}`, 404},
		{"bad method", `{"resource":{"resourceType":"Patient"},"request":{"method":"FETCH","url":"Patient"}}`, 400},
		{"same resource twice", `{"resource":{"resourceType":"Observation","id":"obs-tx","status":"final","code":{"text":"y"}},"request":{"method":"PUT","url":"Observation/obs-tx"}}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := strings.Replace(txBundle, `{"request":{"method":"GET"`, tc.bad+`,{"request":{"method":"GET"`, 1)
			r := ts.do(t, "POST", "/", b).want(t, tc.status)
			if !strings.Contains(string(r.Body), "Bundle.entry[3]") {
				t.Errorf("outcome does not name the entry: %s", r.Body)
			}
			for _, q := range []string{"/Patient", "/CarePlan", "/Observation"} {
				if n := ts.total(t, q); n != 0 {
					t.Errorf("%s: %d stored after a failed transaction", q, n)
				}
			}
		})
	}
}

func TestBatch(t *testing.T) {
	ts := mustServer(t)
	id := ts.create(t, patientJSON)
	patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"replace","path":"/gender","value":"other"}]`))
	b := `{"resourceType":"Bundle","type":"batch","entry":[
	 {"resource":` + patientWith("9000000400") + `,"request":{"method":"POST","url":"Patient"}},
	 {"resource":{"resourceType":"Observation"},"request":{"method":"POST","url":"Patient"}},
	 {"request":{"method":"GET","url":"Patient/` + id + `"}},
	 {"request":{"method":"GET","url":"Patient/missing"}},
	 {"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + patch + `"},"request":{"method":"PATCH","url":"Patient/` + id + `"}},
	 {"request":{"method":"DELETE","url":"Patient/` + id + `"}},
	 {"request":{"method":"GET","url":"Patient?identifier=9000000400"}}
	]}`
	r := ts.do(t, "POST", ts.base, b).want(t, http.StatusOK)
	m := r.JSON(t)
	if m["type"] != "batch-response" {
		t.Fatalf("%s", r.Body)
	}
	for i, want := range []string{"201", "400", "200", "404", "200", "204", "200"} {
		got := str(path(m, "entry."+string(rune('0'+i))+".response.status"))
		if !strings.HasPrefix(got, want) {
			t.Errorf("entry %d: status %q, want %s", i, got, want)
		}
	}
	if path(m, "entry.1.response.outcome.resourceType") != "OperationOutcome" {
		t.Errorf("failed entry has no outcome: %v", path(m, "entry.1"))
	}
	if path(m, "entry.4.resource.gender") != "other" {
		t.Errorf("patch entry: %v", path(m, "entry.4"))
	}
	if path(m, "entry.6.resource.total") != jsonNum(1) {
		t.Errorf("search entry: %v", path(m, "entry.6"))
	}
	// A document Bundle posted to /Bundle is simply stored.
	doc := `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"x"}}]}`
	ts.do(t, "POST", "/Bundle", doc).want(t, http.StatusCreated)
}

// TestBundleEntryMarkIsTheServers: a batch may not hold another batch, and
// what marks a request as a batch's entry is the server's own, so a client
// cannot pass a request of its own off as one (to be refused a batch, or
// left out of the metrics and logged as an entry).
func TestBundleEntryMarkIsTheServers(t *testing.T) {
	ts := mustServer(t)
	inner := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient"}}]}`
	outer := `{"resourceType":"Bundle","type":"batch","entry":[{"resource":` + inner + `,"request":{"method":"POST","url":"/"}}]}`
	m := ts.do(t, "POST", ts.base, outer).want(t, http.StatusOK).JSON(t)
	if got := str(path(m, "entry.0.response.status")); !strings.HasPrefix(got, "400") {
		t.Errorf("nested batch: entry status %q, want 400: %v", got, m)
	}
	// A client's own header is nothing to the server.
	m = ts.do(t, "POST", ts.base, inner, "X-Ucp-Bundle-Entry: 0").want(t, http.StatusOK).JSON(t)
	if got := str(path(m, "entry.0.response.status")); !strings.HasPrefix(got, "200") {
		t.Errorf("client batch with the old marker header: entry status %q, want 200: %v", got, m)
	}
}
