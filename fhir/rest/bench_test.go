package rest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The benchmarks drive the handler in-process (ServeHTTP), so they measure
// the REST layer plus the real SQLite store, not the loopback network.

func serve(b *testing.B, ts *testServer, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	return rec
}

func BenchmarkCreate(b *testing.B) {
	ts := mustServer(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if rec := serve(b, ts, "POST", "/fhir/Patient", patientWith(fmt.Sprintf("9%09d", i))); rec.Code != http.StatusCreated {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	ts := mustServer(b)
	rec := serve(b, ts, "POST", "/fhir/Patient", patientJSON)
	id := str(mustDecode(b, rec.Body.Bytes())["id"])
	b.ReportAllocs()
	for b.Loop() {
		if rec := serve(b, ts, "GET", "/fhir/Patient/"+id, ""); rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkSearchToken is the urgent-care lookup by NHS number over a
// few thousand patients.
func BenchmarkSearchToken(b *testing.B) {
	ts := mustServer(b)
	const n = 2000
	for i := range n {
		serve(b, ts, "POST", "/fhir/Patient", patientWith(fmt.Sprintf("9%09d", i)))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		q := fmt.Sprintf("/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9%09d", i%n)
		rec := serve(b, ts, "GET", q, "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"total":1`) {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
