package nrl_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/nrl"
	"ucp/nrl/nrltest"
	"ucp/profiles"
)

// items lists a pointer's content items as "contentType format stability url".
func items(p nrl.Pointer) []string {
	var out []string
	for _, c := range p.Content {
		stab := ""
		for _, e := range c.Extension {
			if e.URL == nrl.ExtensionStability {
				stab = e.ValueCodeableConcept.Coding[0].Code
			}
		}
		out = append(out, strings.Join([]string{c.Attachment.ContentType, c.Format.Code, c.Format.Display, stab, c.Attachment.URL}, " "))
	}
	return out
}

// fetch GETs a pointer's content item through Documents, as the caller in
// ctx, and returns the body and what went wrong.
func fetch(t *testing.T, ctx context.Context, docs nrl.Documents, u string) (string, []byte, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, u, nil).WithContext(ctx)
	path := strings.TrimPrefix(u, base+"/")
	var err error
	switch kind, id, _ := strings.Cut(strings.TrimPrefix(path, "_nrl/"), "/"); kind {
	case "pdf":
		err = docs.ServePDF(rec, req, id)
	case "plan":
		err = docs.ServeCurrentPDF(rec, req, id)
	case "fhir":
		err = docs.ServeDocument(rec, req, id, base)
	case "plan-fhir":
		err = docs.ServeCurrentDocument(rec, req, id, base)
	default:
		t.Fatalf("pointer URL %s is none of the document paths", u)
	}
	return rec.Header().Get("Content-Type"), rec.Body.Bytes(), err
}

// servedVersion is the plan version a FHIR document was approved as: its
// Composition's versioned reference to the plan, and the CarePlan entry's
// versionId, which must agree.
func servedVersion(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Type  string `json:"type"`
		Entry []struct {
			FullURL  string         `json:"fullUrl"`
			Resource map[string]any `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Type != "document" || len(b.Entry) == 0 {
		t.Fatalf("not a FHIR document (%v): %.300s", err, body)
	}
	comp := b.Entry[0].Resource
	if resource.Str(comp, "resourceType") != "Composition" {
		t.Fatalf("the document's first entry is a %s", resource.Str(comp, "resourceType"))
	}
	version := ""
	for _, e := range b.Entry {
		if resource.Str(e.Resource, "resourceType") == "CarePlan" {
			version = resource.Str(resource.Obj(e.Resource, "meta"), "versionId")
		}
	}
	if version == "" {
		t.Fatalf("the document carries no CarePlan: %.500s", body)
	}
	return version
}

// A pointer carries the PDF and the FHIR document of the same approval,
// both static; both URLs serve that version until it is superseded (then
// Gone, naming the current one), and neither once the plan is withdrawn.
func TestPointerHasFHIRDocument(t *testing.T) {
	w := newWorldPointers(t, nrl.StabilityStatic, true)
	plan := w.seed("pat", "9000000009")
	w.put(plan)
	w.run()
	p := w.sandbox.Pointers("9000000009")[0]
	comp := compositionOf(t, p)
	want := []string{
		"application/pdf urn:nhs-ic:unstructured Unstructured Document static " + base + "/_nrl/pdf/" + comp,
		"application/fhir+json urn:nhs-ic:structured Structured Document static " + base + "/_nrl/fhir/" + comp,
	}
	if diff := cmp.Diff(want, items(p)); diff != "" {
		t.Fatalf("content items (-want +got):\n%s", diff)
	}
	ctx := auth.NewContext(context.Background(), clinician)
	docs := nrl.Documents{Reader: w.svc, Ops: w.svc}
	pdfURL, fhirURL := p.Content[0].Attachment.URL, p.Content[1].Attachment.URL
	ct, pdf, err := fetch(t, ctx, docs, pdfURL)
	if err != nil || ct != nrl.ContentPDF {
		t.Fatalf("GET the PDF: %s %v", ct, err)
	}
	if txt := pdfText(t, pdf); !strings.Contains(txt, "Version 1 of CarePlan/plan-pat") {
		t.Errorf("the PDF is not of version 1:\n%s", txt)
	}
	ct, doc, err := fetch(t, ctx, docs, fhirURL)
	if err != nil || ct != nrl.ContentFHIR {
		t.Fatalf("GET the FHIR document: %s %v", ct, err)
	}
	if v := servedVersion(t, doc); v != "1" {
		t.Errorf("the FHIR document is of version %s, want 1 (as the PDF)", v)
	}

	// A new version: both of the old approval are gone, naming version 2.
	w.put(with(plan, "description", "Reviewed"))
	for _, u := range []string{pdfURL, fhirURL} {
		if _, _, err := fetch(t, ctx, docs, u); outcome.KindOf(err) != outcome.Gone || !strings.Contains(err.Error(), "version 2") {
			t.Errorf("GET %s of a superseded approval: %v, want Gone naming version 2", u, err)
		}
	}
	w.run()
	p = w.sandbox.Pointers("9000000009")[0]
	if _, doc, err := fetch(t, ctx, docs, p.Content[1].Attachment.URL); err != nil || servedVersion(t, doc) != "2" {
		t.Errorf("the new pointer's FHIR document: %v, want version 2", err)
	}

	// Withdrawn consent: neither is found.
	w.put(consent("pat", "c-pat-2", profiles.CodeConsentWithdrawn, "deny", "2026-12-01T09:00:00Z"))
	viewer := auth.NewContext(context.Background(), &auth.Principal{Role: auth.RoleView, Subject: "crew"})
	for _, c := range p.Content {
		if _, _, err := fetch(t, viewer, docs, c.Attachment.URL); outcome.KindOf(err) != outcome.NotFound {
			t.Errorf("GET %s of a withdrawn plan: %v, want NotFound", c.Attachment.URL, err)
		}
	}
}

// A dynamic pointer's FHIR document is the plan's current approved version.
func TestDynamicPointerFHIRDocument(t *testing.T) {
	w := newWorldPointers(t, nrl.StabilityDynamic, true)
	plan := w.seed("pat", "9000000009")
	w.put(plan)
	w.run()
	p := w.sandbox.Pointers("9000000009")[0]
	want := []string{
		"application/pdf urn:nhs-ic:unstructured Unstructured Document dynamic " + base + "/" + nrl.CurrentPath("plan-pat"),
		"application/fhir+json urn:nhs-ic:structured Structured Document dynamic " + base + "/" + nrl.CurrentStructuredPath("plan-pat"),
	}
	if diff := cmp.Diff(want, items(p)); diff != "" {
		t.Fatalf("content items (-want +got):\n%s", diff)
	}
	ctx := auth.NewContext(context.Background(), clinician)
	docs := nrl.Documents{Reader: w.svc, Ops: w.svc}
	w.put(with(plan, "description", "Reviewed"))
	w.run()
	if n := len(w.sandbox.Pointers("9000000009")); n != 1 {
		t.Errorf("%d pointers after a new version, want the one dynamic pointer", n)
	}
	_, doc, err := fetch(t, ctx, docs, p.Content[1].Attachment.URL)
	if err != nil {
		t.Fatal(err)
	}
	if v := servedVersion(t, doc); v != "2" {
		t.Errorf("the dynamic FHIR document is of version %s, want the current 2", v)
	}
	w.put(with(plan, "status", "revoked", "period", map[string]any{"start": "2026-11-01T10:00:00Z", "end": "2026-12-05T10:00:00Z"}))
	for _, c := range p.Content {
		if _, _, err := fetch(t, ctx, docs, c.Attachment.URL); outcome.KindOf(err) != outcome.NotFound {
			t.Errorf("GET %s of a revoked plan: %v, want NotFound", c.Attachment.URL, err)
		}
	}
}

// Without Structured (--nrl-structured) the pointer has the PDF alone, as
// the published specification allows; with it, through the SSP, both
// items are ssp:// URLs.
func TestPointerContentItems(t *testing.T) {
	for _, tc := range []struct {
		cfg  nrl.PointerConfig
		want []string
	}{
		{nrl.PointerConfig{ODS: ods, PracticeSetting: nrl.DefaultPracticeSetting, BaseURL: base},
			[]string{"application/pdf urn:nhs-ic:unstructured Unstructured Document static " + base + "/_nrl/pdf/c1"}},
		{nrl.PointerConfig{ODS: ods, PracticeSetting: nrl.DefaultPracticeSetting, BaseURL: base, ASID: "200000000999", Structured: true},
			[]string{"application/pdf urn:nhs-ic:unstructured Unstructured Document static ssp://ucp.example.nhs.uk/fhir/_nrl/pdf/c1",
				"application/fhir+json urn:nhs-ic:structured Structured Document static ssp://ucp.example.nhs.uk/fhir/_nrl/fhir/c1"}},
	} {
		p := nrl.Build(tc.cfg, nrl.PlanVersion{PlanID: "p", Version: 1, NHSNumber: "9000000009", Type: profiles.CodeEndOfLifeCarePlan, Composition: "c1", Approved: "2026-12-05T09:00:00Z"})
		if diff := cmp.Diff(tc.want, items(*p)); diff != "" {
			t.Errorf("content items (-want +got):\n%s", diff)
		}
	}
}

// The FHIR document is served through the SSP too, audited as the PDF is.
func TestSSPFHIRDocument(t *testing.T) {
	s := newSSPWorldPointers(t, nrl.StabilityStatic, true)
	fhirPath := strings.Replace(s.path, "/_nrl/pdf/", "/_nrl/fhir/", 1)
	req := sspRequest(t, http.MethodGet, s.srv.URL+fhirPath, nil)
	trace := req.Header.Get("Ssp-TraceID")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != nrl.ContentFHIR {
		t.Fatalf("GET the FHIR document through the SSP: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	code, body := s.get(t, s.client, sspRequest(t, http.MethodGet, s.srv.URL+fhirPath, nil))
	if code != http.StatusOK || servedVersion(t, []byte(body)) != "1" {
		t.Fatalf("GET through the SSP: %d", code)
	}
	evs := s.sspAudits(t)
	if len(evs) != 2 {
		t.Fatalf("%d AuditEvents of SSP retrievals, want 2", len(evs))
	}
	raw := string(resource.Marshal(evs[0])) + string(resource.Marshal(evs[1]))
	for _, want := range []string{trace, consumerASID, "CarePlan/plan-pat/_history/1", "served as application/fhir+json"} {
		if !strings.Contains(raw, want) {
			t.Errorf("the AuditEvents lack %q:\n%s", want, raw)
		}
	}
	// Withdrawn: not found, and nothing disclosed.
	s.put(consent("pat", "c-pat-2", profiles.CodeConsentWithdrawn, "deny", "2026-12-01T09:00:00Z"))
	if code, _ := s.get(t, s.client, sspRequest(t, http.MethodGet, s.srv.URL+fhirPath, nil)); code != http.StatusNotFound {
		t.Errorf("GET the FHIR document of a withdrawn plan through the SSP: %d, want 404", code)
	}
	if n := len(s.sspAudits(t)); n != 2 {
		t.Errorf("%d AuditEvents after a refused retrieval, want still 2", n)
	}
}

// The sandbox holds NRL to its published specification: a structured
// content item is refused unless the onboarding agreed it.
func TestSandboxRefusesStructuredByDefault(t *testing.T) {
	sb := nrltest.Start(t)
	cfg := nrl.PointerConfig{ODS: ods, PracticeSetting: nrl.DefaultPracticeSetting, BaseURL: base, Structured: true}
	p := nrl.Build(cfg, nrl.PlanVersion{PlanID: "p", Version: 1, NHSNumber: "9000000009", Type: profiles.CodeEndOfLifeCarePlan, Composition: "c1", Approved: "2026-12-05T09:00:00Z"})
	cl := &nrl.Client{Base: sb.URL, ODS: ods}
	if _, err := cl.Create(context.Background(), "test", p); err == nil {
		t.Fatal("the sandbox accepted a structured content item the published specification does not allow")
	}
	if v := sb.Violations(); len(v) != 1 || !strings.Contains(v[0], "urn:nhs-ic:structured") {
		t.Errorf("violations %q, want one naming urn:nhs-ic:structured", v)
	}
	if n := len(sb.Pointers("9000000009")); n != 0 {
		t.Errorf("the sandbox kept %d pointers, want 0", n)
	}
}
