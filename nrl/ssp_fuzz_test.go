package nrl

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"

	"ucp/fhir/outcome"
)

// FuzzSSPRequest checks any SSP request (path, query, headers, JWT)
// without panicking, and refuses what it refuses with a client error,
// never an internal one.
func FuzzSSPRequest(f *testing.F) {
	jwt := "eyJhbGciOiJub25lIn0." + "eyJyZXF1ZXN0aW5nX3N5c3RlbSI6Imh0dHBzOi8vZmhpci5uaHMudWsvSWQvYWNjcmVkaXRlZC1zeXN0ZW18MjAwMDAwMDAwMTE3In0."
	f.Add("/fhir/_nrl/pdf/c1", "", "0f8fad5b-d9cb-469f-a165-70867728950e", "200000000117", "200000000999", InteractionContentRead, "Bearer "+jwt)
	f.Add("/fhir/_nrl/plan/p1", "a=b", "x", "1", "", "", "Bearer a.b.c")
	f.Add("/fhir/../_nrl/pdf/c1", "", "", "", "", "", "Bearer ...")
	s := &SSP{ASID: "200000000999", Prefix: "/fhir"}
	f.Fuzz(func(t *testing.T, path, query, trace, from, to, interaction, authz string) {
		r := httptest.NewRequest(http.MethodGet, "https://ucp.example/", nil)
		r.URL.Path, r.URL.RawQuery = path, query
		r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{}}}
		for k, v := range map[string]string{"Ssp-TraceID": trace, "Ssp-From": from, "Ssp-To": to, "Ssp-InteractionID": interaction, "Authorization": authz} {
			r.Header[k] = []string{v}
		}
		kind, id, c, err := s.check(r)
		if err != nil {
			if st := outcome.Status(err); st < 400 || st >= 500 {
				t.Fatalf("refused with %d: %v", st, err)
			}
			return
		}
		if (kind != "pdf" && kind != "plan") || id == "" || c == nil || c.TraceID != trace || c.From != from {
			t.Fatalf("accepted as %q %q %+v", kind, id, c)
		}
	})
}
