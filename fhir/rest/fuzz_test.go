package rest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzCreate posts arbitrary bodies, queries and headers to an in-process
// server: whatever arrives, the answer is never a 5xx (nor a panic).
func FuzzCreate(f *testing.F) {
	for _, seed := range []struct{ path, query, ctype, cond, body string }{
		{"Patient", "", "application/fhir+json", "", patientJSON},
		{"Patient", "_pretty=true", "application/json", "identifier=a|b", `{"resourceType":"Patient","_gender":{"id":1}}`},
		{"Observation", "_format=xml", "", "", `{"resourceType":"Observation","valueQuantity":{"value":1e400}}`},
		{"", "", "application/fhir+json", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:x","resource":{"resourceType":"Patient","link":[{"other":{"reference":"urn:uuid:x"}}]},"request":{"method":"POST","url":"Patient"}}]}`},
		{"", "", "application/fhir+json", "", `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient?_count=-1"}},{"request":{"method":"PUT","url":"Patient?identifier=x"},"resource":{"resourceType":"Patient"}}]}`},
		{"Patient", "identifier=x&birthdate=ge2020-13-45&_count=0&_sort=-foo", "", "", ""},
		{"Patient/x/_history", "_since=2020&_count=1", "", "", ""},
		{"Patient/p1", "", "application/fhir+json", "", `{"resourceType":"Parameters","parameter":[{"name":"operation","part":[{"name":"type","valueCode":"move"},{"name":"path","valueString":"Patient.name.given"},{"name":"source","valueInteger":3},{"name":"destination","valueInteger":1}]}]}`},
		{"Patient/p1", "", "application/json-patch+json", "", `[{"op":"move","from":"/name/0","path":"/name/-"}]`},
		{"Patient", "", "text/xml", "", "<Patient/>"},
		{"Patient", "", "application/fhir+json", "", "{\"resourceType\":\"Patient\",\"a\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}"},
		// Paths the router and FHIR's path rules must agree on.
		{"/Patient//", "", "", "", ""},
		{"$", "", "", "", ""},
		{"Patient/p1/$", "", "", "", ""},
		{"Patient//_history/", "", "", "", ""},
		{"_history/x/$everything", "", "", "", ""},
		{"metadata/Patient/p1/_history/1/x", "", "", "", ""},
	} {
		f.Add(seed.path, seed.query, seed.ctype, seed.cond, seed.body)
	}
	ts := mustServer(f, func(c *restConfig) { c.MaxBodyBytes = 1 << 16 })
	h := ts.srv
	// A resource for PATCH and PUT inputs to work on.
	ts.do(f, "PUT", "/Patient/p1", `{"resourceType":"Patient","id":"p1","name":[{"given":["a","b","c","d"]}]}`)
	f.Fuzz(func(t *testing.T, path, query, ctype, cond, body string) {
		for _, method := range []string{"POST", "PUT", "GET", "PATCH", "DELETE"} {
			target := "/fhir/" + path
			if query != "" {
				target += "?" + query
			}
			req, err := http.NewRequest(method, "http://x", strings.NewReader(body))
			if err != nil {
				return
			}
			req.URL.Path = "/fhir/" + path
			req.URL.RawQuery = query
			if ctype != "" {
				req.Header["Content-Type"] = []string{ctype}
			}
			if cond != "" {
				req.Header["If-None-Exist"] = []string{cond}
				req.Header["If-Match"] = []string{cond}
			}
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			go func() {
				defer close(done)
				h.ServeHTTP(rec, req)
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				// A hang is as bad as a 500: name the input.
				t.Fatalf("%s %s hangs (body %q)", method, target, body)
			}
			if rec.Code >= 500 {
				b, _ := io.ReadAll(rec.Body)
				t.Fatalf("%s %s: %d %s", method, target, rec.Code, b)
			}
		}
	})
}
