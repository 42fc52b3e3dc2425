package main

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
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

// documentOf checks body is a FHIR document and returns its Composition's
// id and the versionId of the CarePlan it carries.
func documentOf(t *testing.T, body []byte) (composition, version string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil || resttest.Path(doc, "type") != "document" {
		t.Fatalf("not a FHIR document (%v): %.300s", err, body)
	}
	composition, _ = resttest.Path(doc, "entry.0.resource.id").(string)
	entries, _ := doc["entry"].([]any)
	for i := range entries {
		e, _ := entries[i].(map[string]any)
		if resttest.Path(e, "resource.resourceType") == "CarePlan" {
			version, _ = resttest.Path(e, "resource.meta.versionId").(string)
		}
	}
	return composition, version
}

// With --nrl-structured the pointer names the PDF and the FHIR document of
// the same approval; both are served to Bearer tokens, and neither once
// consent is withdrawn.
func TestServeNRLStructured(t *testing.T) {
	sb := nrltest.StartWith(t, nrltest.Options{Structured: true})
	cfg := onTestStore(t, serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(t.TempDir(), "ucp.db"), Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
		NRL: nrlConfig{URL: sb.URL, ODS: nrlODS, PracticeSetting: nrl.DefaultPracticeSetting, Structured: true,
			Horizon: nrl.DefaultHorizon, Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond}})
	srv := serveTest(t, cfg)
	waitFor(t, "the demo plan's pointer", func() bool { return len(sb.Pointers(joansNHS)) == 1 })
	ptr := sb.Pointers(joansNHS)[0]
	pdf, doc := ptr.ContentOf(nrl.ContentPDF), ptr.ContentOf(nrl.ContentFHIR)
	if pdf == nil || doc == nil || len(ptr.Content) != 2 {
		t.Fatalf("pointer content %+v: want the PDF and the FHIR document", ptr.Content)
	}
	comp := strings.TrimPrefix(pdf.Attachment.URL, srv.base+"/_nrl/pdf/")
	if want := srv.base + "/" + nrl.StructuredPath(comp); doc.Attachment.URL != want {
		t.Errorf("FHIR document URL %s, want %s (the same approval as the PDF)", doc.Attachment.URL, want)
	}
	viewer := resttest.Bearer(token(t, srv, auth.RoleView))
	r := resttest.Do(t, http.MethodGet, pdf.Attachment.URL, "", viewer).Want(t, http.StatusOK)
	if !strings.HasPrefix(string(r.Body), "%PDF-") {
		t.Errorf("GET %s: not a PDF", pdf.Attachment.URL)
	}
	r = resttest.Do(t, http.MethodGet, doc.Attachment.URL, "", viewer).Want(t, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != nrl.ContentFHIR {
		t.Errorf("GET %s: Content-Type %s, want %s", doc.Attachment.URL, ct, nrl.ContentFHIR)
	}
	if got, version := documentOf(t, r.Body); got != comp || version != "1" {
		t.Errorf("the FHIR document is of Composition/%s (plan version %s), want Composition/%s of version 1", got, version, comp)
	}
	resttest.Do(t, http.MethodGet, doc.Attachment.URL, "").Want(t, http.StatusUnauthorized)

	// Consent withdrawn: the pointer goes, and both URLs answer 404.
	clinical := token(t, srv, auth.RoleClinical)
	consent := `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
		`"category":[{"coding":[{"system":"http://snomed.info/sct","code":"882941000000102"}]}],"patient":{"reference":"Patient/` + joanID(t, srv, clinical) + `"},` +
		`"dateTime":"2026-12-01T09:00:00Z","policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},"provision":{"type":"deny"}}`
	resttest.Do(t, http.MethodPost, srv.base+"/Consent", consent, resttest.Bearer(clinical)).Want(t, http.StatusCreated)
	waitFor(t, "the pointer's removal", func() bool { return len(sb.Pointers(joansNHS)) == 0 })
	for _, u := range []string{pdf.Attachment.URL, doc.Attachment.URL} {
		r := resttest.Do(t, http.MethodGet, u, "", viewer).Want(t, http.StatusNotFound)
		if resttest.Path(r.JSON(t), "resourceType") != "OperationOutcome" {
			t.Errorf("GET %s of a withdrawn plan: %s, want an OperationOutcome", u, r.Body)
		}
	}
	if v := sb.Violations(); len(v) > 0 {
		t.Errorf("NRL rule violations:\n%s", strings.Join(v, "\n"))
	}
}

// Through the Spine Secure Proxy, the pointer's FHIR document is served as
// its PDF is.
func TestServeNRLStructuredSSP(t *testing.T) {
	sb := nrltest.StartWith(t, nrltest.Options{Structured: true})
	dir := t.TempDir()
	caFile, certFile, keyFile, client, roots := spineCA(t, dir)
	cfg := serveConfig{Addr: "127.0.0.1:0", Store: "sqlite:" + filepath.Join(dir, "ucp.db"), Demo: true, MaxBody: 1 << 20, Dev: true, MinIDAssurance: 3,
		NRL: nrlConfig{URL: sb.URL, ODS: nrlODS, ASID: "200000000999", PracticeSetting: nrl.DefaultPracticeSetting, Structured: true,
			Horizon: nrl.DefaultHorizon, Poll: 20 * time.Millisecond, Backoff: 20 * time.Millisecond,
			SSPAddr: "127.0.0.1:0", SSPCA: caFile, SSPCert: certFile, SSPCertKey: keyFile}}
	srv := serveTest(t, cfg)
	waitFor(t, "the demo plan's pointer", func() bool { return len(sb.Pointers(joansNHS)) == 1 })
	ptr := sb.Pointers(joansNHS)[0]
	doc := ptr.ContentOf(nrl.ContentFHIR)
	if doc == nil {
		t.Fatalf("pointer content %+v: no FHIR document", ptr.Content)
	}
	path, ok := strings.CutPrefix(doc.Attachment.URL, "ssp://"+strings.TrimPrefix(srv.base, "http://"))
	if !ok {
		t.Fatalf("pointer URL %s: want ssp:// and the base URL", doc.Attachment.URL)
	}
	agreement := `{"resourceType":"Contract","id":"isa-rru","status":"executed","applies":{"start":"2020-01-01"},` +
		`"authority":[{"identifier":{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"RRU"}}]}`
	resttest.Do(t, http.MethodPut, srv.base+"/Contract/isa-rru", agreement, resttest.Bearer(token(t, srv, auth.RoleAdmin))).Want(t, http.StatusCreated)
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	jwt := enc(map[string]any{"alg": "none"}) + "." + enc(map[string]any{
		"requesting_system":       "https://fhir.nhs.uk/Id/accredited-system|200000000117",
		"requesting_organization": "https://fhir.nhs.uk/Id/ods-organization-code|RRU",
		"requesting_user":         "https://fhir.nhs.uk/Id/sds-role-profile-id|555254242106"}) + "."
	req, err := http.NewRequest(http.MethodGet, "https://"+srv.nrl.sspAddr.String()+"/fhir"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Ssp-TraceID", uuid.NewString())
	req.Header.Set("Ssp-From", "200000000117")
	req.Header.Set("Ssp-To", "200000000999")
	req.Header.Set("Ssp-InteractionID", nrl.InteractionContentRead)
	req.Header.Set("Authorization", "Bearer "+jwt)
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{client}}}}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != nrl.ContentFHIR {
		t.Fatalf("GET the FHIR document through the SSP: %d %s %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if _, version := documentOf(t, b); version != "1" {
		t.Errorf("the FHIR document through the SSP is of plan version %q, want 1", version)
	}
}
