package launch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/internal/resttest"
	"ucp/profiles"
)

// benchPatients is the register's size: $BENCH_PATIENTS, else 10,000.
func benchPatients() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_PATIENTS")); err == nil && n > 0 {
		return n
	}
	return 10000
}

// BenchmarkLinkToSignedInPage is the server's time from a signed
// in-context link to the signed-in landing page (the link's verification,
// the single-use jti, the NHS number look-up in a register of
// $BENCH_PATIENTS patients, the session, then the landing page read with
// it), in process; signing the link is the GP system's time and is left out.
func BenchmarkLinkToSignedInPage(b *testing.B) {
	h := newHarness(b)
	ctx := auth.NewContext(context.Background(), &auth.Principal{Role: auth.RoleClinical, Subject: "bench-loader"})
	n := benchPatients() - 1
	const batch = 500
	for start := 0; start < n; start += batch {
		var entries []string
		for i := start; i < min(start+batch, n); i++ {
			nine := fmt.Sprintf("9%08d", 10000000+i)
			d := profiles.NHSCheckDigit(nine)
			if d < 0 || d > 9 {
				continue
			}
			entries = append(entries, `{"resource":`+resttest.Patient(nine+strconv.Itoa(d))+`,"request":{"method":"POST","url":"Patient"}}`)
		}
		bundle, err := resource.Parse([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.svc.Bundle(ctx, bundle); err != nil {
			b.Fatal(err)
		}
	}
	links := make([]string, b.N)
	for i := range links {
		links[i] = url.Values{"token": {h.sign(b, joanClaims())}}.Encode()
	}
	b.ResetTimer()
	for i := range b.N {
		req := httptest.NewRequest("POST", "/launch/link", strings.NewReader(links[i]))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.handler.ServeHTTP(w, req)
		if w.Code != http.StatusSeeOther {
			b.Fatalf("link: %d %s", w.Code, w.Body)
		}
		page := httptest.NewRequest("GET", w.Header().Get("Location"), nil)
		for _, c := range w.Result().Cookies() {
			page.AddCookie(c)
		}
		w = httptest.NewRecorder()
		h.handler.ServeHTTP(w, page)
		if w.Code != http.StatusOK {
			b.Fatalf("landing: %d %s", w.Code, w.Body)
		}
	}
}
