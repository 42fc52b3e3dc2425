package nrl_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ucp/auth"
	"ucp/fhir/resource"
	"ucp/nrl"
	"ucp/profiles"
)

// testCA is a certificate authority made in the test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a leaf certificate for a server (on 127.0.0.1) or a client.
func (ca *testCA) issue(t *testing.T, name string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

const (
	ourASID      = "200000000999"
	consumerASID = "200000000117"
)

// sspJWT is the unsigned JWT a consumer sends through the SSP.
func sspJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

func goodClaims() map[string]any {
	return map[string]any{
		"iss": "https://consumer.example.nhs.uk", "sub": "555254242106", "aud": "https://ucp.example.nhs.uk/fhir",
		"exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix(), "reason_for_request": "directcare",
		"requesting_system":       "https://fhir.nhs.uk/Id/accredited-system|" + consumerASID,
		"requesting_organization": "https://fhir.nhs.uk/Id/ods-organization-code|RRU",
		"requesting_user":         "https://fhir.nhs.uk/Id/sds-role-profile-id|555254242106",
	}
}

// sspWorld is a world whose documents are also served to the SSP on real
// TLS on loopback, requiring a client certificate of a test CA.
type sspWorld struct {
	*world
	srv    *httptest.Server
	client *http.Client // with the SSP's client certificate
	path   string       // the pointer's URL below the host
}

func newSSPWorld(t *testing.T) *sspWorld { return newSSPWorldStability(t, nrl.StabilityStatic) }

func newSSPWorldStability(t *testing.T, stability string) *sspWorld {
	return newSSPWorldPointers(t, stability, false)
}

func newSSPWorldPointers(t *testing.T, stability string, structured bool) *sspWorld {
	w := newWorldPointers(t, stability, structured)
	ca := newCA(t, "Test Spine CA")
	cfg, err := nrl.SSPTLSConfig(ca.pem, ca.issue(t, "ucp", x509.ExtKeyUsageServerAuth))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(&nrl.SSP{Docs: nrl.Documents{Reader: w.svc, Ops: w.svc}, Audit: w.svc, ASID: ourASID, Prefix: "/fhir", Base: base})
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{ca.issue(t, "spine-proxy", x509.ExtKeyUsageClientAuth)}}}}
	s := &sspWorld{world: w, srv: srv, client: cl}
	w.put(w.seed("pat", "9000000009"))
	w.run()
	s.path = strings.TrimPrefix(w.sandbox.Pointers("9000000009")[0].Content[0].Attachment.URL, strings.TrimSuffix(base, "/fhir"))
	return s
}

func sspRequest(t *testing.T, method, url string, edit func(h http.Header)) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Ssp-TraceID", uuid.NewString())
	req.Header.Set("Ssp-From", consumerASID)
	req.Header.Set("Ssp-To", ourASID)
	req.Header.Set("Ssp-InteractionID", nrl.InteractionContentRead)
	req.Header.Set("Authorization", "Bearer "+sspJWT(goodClaims()))
	if edit != nil {
		edit(req.Header)
	}
	return req
}

func (s *sspWorld) get(t *testing.T, cl *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// sspAudits returns the AuditEvents of retrievals through the SSP.
func (s *sspWorld) sspAudits(t *testing.T) []map[string]any {
	t.Helper()
	vs, err := s.svc.Find(auth.NewContext(context.Background(), nrl.Principal), "AuditEvent", "type=110106", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, v := range vs {
		ev, err := resource.Parse(v.JSON)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(v.JSON), nrl.InteractionContentRead) {
			out = append(out, ev)
		}
	}
	return out
}

// A retrieval through the SSP serves the PDF and records who asked (the
// JWT's requesting_*), the trace id and the version served.
func TestSSPRetrieval(t *testing.T) {
	s := newSSPWorld(t)
	url := s.srv.URL + s.path
	req := sspRequest(t, http.MethodGet, url, nil)
	trace := req.Header.Get("Ssp-TraceID")
	code, body := s.get(t, s.client, req)
	if code != http.StatusOK || !strings.HasPrefix(body, "%PDF-") {
		t.Fatalf("GET through the SSP: %d %.200s, want 200 and a PDF", code, body)
	}
	evs := s.sspAudits(t)
	if len(evs) != 1 {
		t.Fatalf("%d AuditEvents of SSP retrievals, want 1", len(evs))
	}
	raw := string(resource.Marshal(evs[0]))
	for _, want := range []string{trace, consumerASID, `"RRU"`, "555254242106", "CarePlan/plan-pat/_history/1", "Patient/pat"} {
		if !strings.Contains(raw, want) {
			t.Errorf("the AuditEvent lacks %q:\n%s", want, raw)
		}
	}
}

// A dynamic pointer's URL is served through the SSP too.
func TestSSPDynamic(t *testing.T) {
	s := newSSPWorldStability(t, nrl.StabilityDynamic)
	if !strings.Contains(s.path, "/_nrl/plan/") {
		t.Fatalf("dynamic pointer path %s", s.path)
	}
	code, body := s.get(t, s.client, sspRequest(t, http.MethodGet, s.srv.URL+s.path, nil))
	if code != http.StatusOK || !strings.HasPrefix(body, "%PDF-") {
		t.Fatalf("GET through the SSP: %d %.200q, want a PDF", code, body)
	}
	if raw := string(resource.Marshal(s.sspAudits(t)[0])); !strings.Contains(raw, "CarePlan/plan-pat/_history/1") {
		t.Errorf("the AuditEvent lacks the version served:\n%s", raw)
	}
}

// Each malformed SSP request answers its 4xx, names nothing of the
// patient, and audits no disclosure.
func TestSSPRefusals(t *testing.T) {
	s := newSSPWorld(t)
	url := s.srv.URL + s.path
	claims := func(edit func(c map[string]any)) func(h http.Header) {
		return func(h http.Header) {
			c := goodClaims()
			edit(c)
			h.Set("Authorization", "Bearer "+sspJWT(c))
		}
	}
	tests := []struct {
		name   string
		method string
		url    string
		edit   func(h http.Header)
		want   int
	}{
		{"POST", http.MethodPost, url, nil, http.StatusMethodNotAllowed},
		{"custom parameter", http.MethodGet, url + "?format=pdf", nil, http.StatusBadRequest},
		{"another path", http.MethodGet, s.srv.URL + "/fhir/Patient/pat", nil, http.StatusNotFound},
		{"no trace id", http.MethodGet, url, func(h http.Header) { h.Del("Ssp-TraceID") }, http.StatusBadRequest},
		{"trace id not a UUID", http.MethodGet, url, func(h http.Header) { h.Set("Ssp-TraceID", "abc") }, http.StatusBadRequest},
		{"no Ssp-From", http.MethodGet, url, func(h http.Header) { h.Del("Ssp-From") }, http.StatusBadRequest},
		{"Ssp-To another ASID", http.MethodGet, url, func(h http.Header) { h.Set("Ssp-To", "200000000111") }, http.StatusForbidden},
		{"no Ssp-To", http.MethodGet, url, func(h http.Header) { h.Del("Ssp-To") }, http.StatusForbidden},
		{"another interaction", http.MethodGet, url, func(h http.Header) {
			h.Set("Ssp-InteractionID", "urn:nhs:names:services:gpconnect:documents:fhir:rest:read:binary-1")
		}, http.StatusForbidden},
		{"no JWT", http.MethodGet, url, func(h http.Header) { h.Del("Authorization") }, http.StatusUnauthorized},
		{"JWT not JSON", http.MethodGet, url, func(h http.Header) { h.Set("Authorization", "Bearer a.b.c") }, http.StatusUnauthorized},
		{"expired JWT", http.MethodGet, url, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), http.StatusUnauthorized},
		{"no requesting_system", http.MethodGet, url, claims(func(c map[string]any) { delete(c, "requesting_system") }), http.StatusForbidden},
		{"requesting_system not Ssp-From", http.MethodGet, url, claims(func(c map[string]any) {
			c["requesting_system"] = "https://fhir.nhs.uk/Id/accredited-system|200000000555"
		}), http.StatusForbidden},
		{"no requesting_organization", http.MethodGet, url, claims(func(c map[string]any) { delete(c, "requesting_organization") }), http.StatusForbidden},
		{"neither user nor patient", http.MethodGet, url, claims(func(c map[string]any) { delete(c, "requesting_user") }), http.StatusForbidden},
		{"another patient", http.MethodGet, url, claims(func(c map[string]any) {
			delete(c, "requesting_user")
			c["requesting_patient"] = profiles.SystemNHSNumber + "|9000000017"
		}), http.StatusNotFound},
		{"unknown document", http.MethodGet, s.srv.URL + "/fhir/" + nrl.DocumentPath("nope"), nil, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := s.get(t, s.client, sspRequest(t, tc.method, tc.url, tc.edit))
			if code != tc.want {
				t.Errorf("%s: %d %.200q, want %d", tc.name, code, body, tc.want)
			}
			for _, secret := range []string{"9000000009", "900 000 0009", "Smith", "SMITH", "%PDF"} {
				if strings.Contains(body, secret) {
					t.Errorf("%s: the answer discloses %q: %.200q", tc.name, secret, body)
				}
			}
		})
	}
	if evs := s.sspAudits(t); len(evs) != 0 {
		t.Errorf("%d disclosures audited after refused requests, want 0", len(evs))
	}

	// The patient themself, through the SSP, gets their own plan.
	code, _ := s.get(t, s.client, sspRequest(t, http.MethodGet, url, claims(func(c map[string]any) {
		delete(c, "requesting_user")
		c["requesting_patient"] = profiles.SystemNHSNumber + "|9000000009"
	})))
	if code != http.StatusOK {
		t.Errorf("the patient's own plan through the SSP: %d, want 200", code)
	}
}

// Without the SSP's client certificate, or with one of another CA, the TLS
// handshake fails: nothing is served at all.
func TestSSPNeedsClientCertificate(t *testing.T) {
	s := newSSPWorld(t)
	url := s.srv.URL + s.path
	base := s.client.Transport.(*http.Transport).TLSClientConfig
	other := newCA(t, "Another CA")
	for name, certs := range map[string][]tls.Certificate{
		"no certificate":           nil,
		"another CA's certificate": {other.issue(t, "intruder", x509.ExtKeyUsageClientAuth)},
	} {
		cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: base.RootCAs, Certificates: certs}}}
		resp, err := cl.Do(sspRequest(t, http.MethodGet, url, nil))
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: %d, want the TLS handshake refused", name, resp.StatusCode)
		}
	}
}

// A withdrawn, revoked or completed plan is not found through the SSP.
func TestSSPNotShared(t *testing.T) {
	tests := []struct {
		name   string
		change func(w *world, plan map[string]any)
	}{
		{"consent withdrawn", func(w *world, _ map[string]any) {
			w.put(consent("pat", "c-pat-2", profiles.CodeConsentWithdrawn, "deny", "2026-12-01T09:00:00Z"))
		}},
		{"revoked", func(w *world, plan map[string]any) {
			w.put(with(plan, "status", "revoked", "period", map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-12-05T10:00:00Z"}))
		}},
		{"completed", func(w *world, plan map[string]any) {
			w.put(with(plan, "status", "completed", "period", map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-12-05T10:00:00Z"}))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSSPWorld(t)
			url := s.srv.URL + s.path
			if code, _ := s.get(t, s.client, sspRequest(t, http.MethodGet, url, nil)); code != http.StatusOK {
				t.Fatalf("before: %d, want 200", code)
			}
			tc.change(s.world, s.seed("pat", "9000000009"))
			code, body := s.get(t, s.client, sspRequest(t, http.MethodGet, url, nil))
			if code != http.StatusNotFound || strings.Contains(body, "%PDF") {
				t.Errorf("after: %d %.200s, want 404", code, body)
			}
		})
	}
}
