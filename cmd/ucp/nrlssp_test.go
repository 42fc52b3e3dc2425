package main

import (
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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"ucp/auth"
	"ucp/internal/resttest"
	"ucp/nrl"
	"ucp/nrl/nrltest"
)

// pemFile writes one PEM block to dir/name and returns its path.
func pemFile(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// spineCA is a test CA standing in for the one that issues the Spine
// Secure Proxy's certificates: it issues the SSP listener's server
// certificate (for 127.0.0.1) and the proxy's client certificate.
func spineCA(t *testing.T, dir string) (caFile, certFile, keyFile string, client tls.Certificate, roots *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Spine CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	srvDER, srvKey := issue(2, x509.ExtKeyUsageServerAuth)
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	cliDER, cliKey := issue(3, x509.ExtKeyUsageClientAuth)
	roots = x509.NewCertPool()
	roots.AddCert(ca)
	return pemFile(t, dir, "spine-ca.pem", "CERTIFICATE", caDER), pemFile(t, dir, "ssp.pem", "CERTIFICATE", srvDER),
		pemFile(t, dir, "ssp-key.pem", "PRIVATE KEY", keyDER), tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}, roots
}

// With --nrl-asid and the --ssp-* flags, pointers name ssp:// URLs, and the
// SSP listener serves their documents to the proxy's client certificate
// only.
func TestServeNRLSSP(t *testing.T) {
	sb := nrltest.Start(t)
	dir := t.TempDir()
	caFile, certFile, keyFile, client, roots := spineCA(t, dir)
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
		NRL: nrlConfig{URL: sb.URL, ODS: nrlODS, ASID: "200000000999", PracticeSetting: nrl.DefaultPracticeSetting, Horizon: nrl.DefaultHorizon,
			Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond,
			SSPAddr: "127.0.0.1:0", SSPCA: caFile, SSPCert: certFile, SSPCertKey: keyFile}}
	srv := serveTest(t, cfg)
	waitFor(t, "the demo plan's pointer", func() bool { return len(sb.Pointers(joansNHS)) == 1 })
	u := sb.Pointers(joansNHS)[0].Content[0].Attachment.URL
	path, ok := strings.CutPrefix(u, "ssp://"+strings.TrimPrefix(srv.base, "http://"))
	if !ok {
		t.Fatalf("pointer URL %s: want ssp:// and the base URL", u)
	}
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	jwt := enc(map[string]any{"alg": "none"}) + "." + enc(map[string]any{
		"requesting_system":       "https://fhir.nhs.uk/Id/accredited-system|200000000117",
		"requesting_organization": "https://fhir.nhs.uk/Id/ods-organization-code|RRU",
		"requesting_user":         "https://fhir.nhs.uk/Id/sds-role-profile-id|555254242106"}) + "."
	get := func(certs []tls.Certificate) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodGet, "https://"+srv.nrl.sspAddr.String()+"/fhir"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Ssp-TraceID", uuid.NewString())
		req.Header.Set("Ssp-From", "200000000117")
		req.Header.Set("Ssp-To", "200000000999")
		req.Header.Set("Ssp-InteractionID", nrl.InteractionContentRead)
		req.Header.Set("Authorization", "Bearer "+jwt)
		cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
		return cl.Do(req)
	}
	fetch := func() (int, string) {
		t.Helper()
		resp, err := get([]tls.Certificate{client})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// The consumer's organisation needs an information-sharing agreement,
	// as every other organisation does.
	if code, body := fetch(); code != http.StatusForbidden || strings.Contains(body, "%PDF") {
		t.Errorf("organisation without an agreement: %d %.200s, want 403", code, body)
	}
	agreement := `{"resourceType":"Contract","id":"isa-rru","status":"executed","applies":{"start":"2020-01-01"},` +
		`"authority":[{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"RRU"}}]}`
	resttest.Do(t, http.MethodPut, srv.base+"/Contract/isa-rru", agreement, resttest.Bearer(token(t, srv, auth.RoleAdmin))).Want(t, http.StatusCreated)
	if code, body := fetch(); code != http.StatusOK || !strings.HasPrefix(body, "%PDF-") {
		t.Fatalf("GET through the SSP listener: %d %.200s, want a PDF", code, body)
	}
	if resp, err := get(nil); err == nil {
		resp.Body.Close()
		t.Errorf("without a client certificate: %d, want the handshake refused", resp.StatusCode)
	}
}

// SSP retrieval is configured whole or not at all.
func TestNRLSSPFlagsTogether(t *testing.T) {
	c := nrlConfig{URL: "http://127.0.0.1:1", ODS: nrlODS, PracticeSetting: nrl.DefaultPracticeSetting, ASID: "200000000999"}
	if err := c.check("https://ucp.example/fhir"); err == nil || !strings.Contains(err.Error(), "--ssp-ca") {
		t.Errorf("--nrl-asid without the SSP listener: %v, want refused", err)
	}
}
