// Package nrltest is a local National Record Locator producer API for tests
// and for watching pointers appear in development. It checks every request
// and every response it makes against the published OpenAPI specification
// (read with kin-openapi from the file SpecEnv names) and against NRL's own
// producer rules that the schema cannot express, keeps the pointers it
// accepts, and can be told to fail.
//
// A request the specification or a rule refuses gets NRL's kind of answer
// (400 with an OperationOutcome) and is remembered in Violations, so a test
// can insist that ucp never sent one.
package nrltest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"

	"ucp/nrl"
)

// SpecEnv names the environment variable holding the path of NRL's producer
// OpenAPI specification (nrl-producer.yaml).
const SpecEnv = "NRL_SPEC"

// Prefix is the path of the producer API below the sandbox's address, as on
// the NHS API platform.
const Prefix = "/record-locator/producer/FHIR/R4"

const fhirJSON = "application/fhir+json;version=1"

// Sandbox is a running local NRL.
type Sandbox struct {
	// URL is the producer API's base URL (with Prefix).
	URL string

	router routers.Router
	srv    *http.Server
	log    *slog.Logger

	mu         sync.Mutex
	pointers   map[string]*nrl.Pointer
	order      []string // ids in creation order
	violations []string
	down       int  // requests still to answer 503
	dropNext   bool // the next create is stored but its answer is lost
	refuse     map[string]string
	creates    int
}

// Start starts a sandbox on loopback for a test and stops it at the end; the
// test is skipped when SpecEnv is unset.
func Start(tb testing.TB) *Sandbox {
	tb.Helper()
	return StartWith(tb, Options{})
}

// Options change what the sandbox accepts beyond the published
// specification.
type Options struct {
	// Structured accepts content items of format urn:nhs-ic:structured
	// ("Structured Document", application/fhir+json): NRL's format code
	// system and its validators know the code, but the published producer
	// specification's NRLFormatCode enumerates only record-contact and
	// unstructured, so an NRL onboarding must agree it first. Without it
	// the sandbox holds pointers to exactly what the specification allows.
	Structured bool
}

// StartWith is Start with opts.
func StartWith(tb testing.TB, opts Options) *Sandbox {
	tb.Helper()
	spec := os.Getenv(SpecEnv)
	if spec == "" {
		tb.Skip(SpecEnv + " is not set (the NRL producer specification, ../shared/specs/nrl-producer.yaml); make test sets it when the file is there")
	}
	s, err := ListenWith(context.Background(), spec, "127.0.0.1:0", nil, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Listen loads the specification from spec and serves the sandbox on addr.
// log, when not nil, is told of each pointer created or deleted and of each
// request that breaks the specification or NRL's rules (for a person
// watching; tests read Pointers and Violations).
func Listen(ctx context.Context, spec, addr string, log *slog.Logger) (*Sandbox, error) {
	return ListenWith(ctx, spec, addr, log, Options{})
}

// ListenWith is Listen with opts.
func ListenWith(ctx context.Context, spec, addr string, log *slog.Logger, opts Options) (*Sandbox, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(spec)
	if err != nil {
		return nil, fmt.Errorf("nrltest: loading %s: %w", spec, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String() + Prefix
	// The specification names the national servers; the sandbox is another.
	doc.Servers = openapi3.Servers{{URL: base}}
	if err := unionExtensions(doc); err != nil {
		ln.Close()
		return nil, fmt.Errorf("nrltest: %s: %w", spec, err)
	}
	if opts.Structured {
		if err := allowStructured(doc); err != nil {
			ln.Close()
			return nil, fmt.Errorf("nrltest: %s: %w", spec, err)
		}
	}
	// The specification's own examples break its schemas (an empty "none"
	// subject), so they are not checked; requests and responses are.
	if err := doc.Validate(ctx, openapi3.SetRegexCompiler(compile), openapi3.DisableExamplesValidation()); err != nil {
		ln.Close()
		return nil, fmt.Errorf("nrltest: %s: %w", spec, err)
	}
	// gorilla/mux, not the legacy router: it tells the POST of
	// DocumentReference/_search from DocumentReference/{id}.
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("nrltest: routing %s: %w", spec, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sandbox{URL: base, router: router, pointers: map[string]*nrl.Pointer{}, refuse: map[string]string{}, log: log}
	s.srv = &http.Server{Handler: s, BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the sandbox.
func (s *Sandbox) Close() error { return s.srv.Close() }

// Down makes the next n requests answer 503, as NRL out of hours or in an
// outage.
func (s *Sandbox) Down(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = n
}

// DropNextCreate stores the next created pointer but answers with a closed
// connection, as a timeout after NRL committed.
func (s *Sandbox) DropNextCreate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext = true
}

// Refuse makes creates for nhsNumber fail as NRL refuses a pointer it will
// never accept (400 with diagnostics).
func (s *Sandbox) Refuse(nhsNumber, diagnostics string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse[nhsNumber] = diagnostics
}

// Pointers returns the current pointers of an NHS number, in creation
// order.
func (s *Sandbox) Pointers(nhsNumber string) []nrl.Pointer {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []nrl.Pointer
	for _, id := range s.order {
		if p, ok := s.pointers[id]; ok && p.NHSNumber() == nhsNumber {
			out = append(out, *p)
		}
	}
	return out
}

// Creates counts the pointers created (superseding ones included).
func (s *Sandbox) Creates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creates
}

// Violations are the requests and responses that broke the specification or
// NRL's rules.
func (s *Sandbox) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

func (s *Sandbox) violation(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	s.log.Warn("NRL sandbox: refused", "why", msg)
	s.mu.Lock()
	s.violations = append(s.violations, msg)
	s.mu.Unlock()
	return msg
}

// answer is a response before it is checked and written.
type answer struct {
	status int
	header http.Header
	body   any
}

func outcome(status int, severity, code, spineCode, diagnostics string) answer {
	system := "https://fhir.nhs.uk/CodeSystem/Spine-ErrorOrWarningCode"
	if severity == "information" {
		system = "https://fhir.nhs.uk/CodeSystem/NRLF-SuccessCode"
	}
	return answer{status: status, body: map[string]any{
		"resourceType": "OperationOutcome",
		"issue": []any{map[string]any{
			"severity": severity, "code": code,
			"details":     map[string]any{"coding": []any{map[string]any{"system": system, "code": spineCode, "display": strings.ReplaceAll(spineCode, "_", " ")}}},
			"diagnostics": diagnostics,
		}},
	}}
}

func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	// NRL's proxy refuses a request without its tracing headers before
	// anything else.
	if r.Header.Get("X-Request-ID") == "" || r.Header.Get("X-Correlation-ID") == "" {
		s.violation("%s %s: no X-Request-ID or X-Correlation-ID", r.Method, r.URL.Path)
		s.write(w, r, nil, outcome(403, "error", "forbidden", "ACCESS_DENIED", "X-Request-ID and X-Correlation-ID are required"))
		return
	}
	s.mu.Lock()
	down := s.down > 0
	if down {
		s.down--
	}
	s.mu.Unlock()
	if down {
		s.write(w, r, nil, outcome(503, "error", "transient", "SERVICE_UNAVAILABLE", "The service is unavailable"))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := s.router.FindRoute(r)
	if err != nil {
		s.write(w, r, nil, outcome(404, "error", "not-found", "NOT_FOUND", s.violation("%s %s: no such operation: %v", r.Method, r.URL.Path, err)))
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: s.options()}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		s.write(w, r, in, outcome(400, "error", "invalid", "BAD_REQUEST", s.violation("%s %s: request breaks the specification: %v", r.Method, r.URL.Path, err)))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ods := r.Header.Get("NHSD-End-User-Organisation-ODS")
	var a answer
	switch route.Operation.OperationID {
	case "createDocumentReference":
		a = s.create(w, ods, body)
		if a.status == 0 {
			return // the connection was dropped
		}
	case "searchPostDocumentReference":
		var q map[string]string
		if err := json.Unmarshal(body, &q); err != nil {
			a = outcome(400, "error", "invalid", "BAD_REQUEST", err.Error())
			break
		}
		a = s.search(ods, q["subject:identifier"], q["type"])
	case "searchDocumentReference":
		a = s.search(ods, r.URL.Query().Get("subject:identifier"), r.URL.Query().Get("type"))
	case "readDocumentReference":
		a = s.read(ods, params["id"])
	case "deleteDocumentReference":
		a = s.delete(ods, params["id"])
	default:
		a = outcome(400, "error", "not-supported", "BAD_REQUEST", s.violation("operation %s is not simulated", route.Operation.OperationID))
	}
	s.write(w, r, in, a)
}

// unionExtensions reads the one oneOf of the specification, a content
// item's extension (ContentStability, RetrievalMechanism or any Extension),
// as the union NRL's own validator (pydantic) makes of it: under JSON
// Schema's oneOf every ContentStability extension also matches the generic
// Extension, so no valid pointer would pass. That the stability extension
// is there exactly once is checked by Rules.
func unionExtensions(doc *openapi3.T) error {
	content := doc.Components.Schemas["DocumentReferenceContent"]
	if content == nil || content.Value == nil || content.Value.Properties["extension"] == nil {
		return errors.New("no DocumentReferenceContent.extension schema")
	}
	items := content.Value.Properties["extension"].Value.Items
	if items == nil || items.Value == nil || len(items.Value.OneOf) == 0 {
		return errors.New("DocumentReferenceContent.extension is no longer a oneOf: review unionExtensions")
	}
	items.Value.AnyOf, items.Value.OneOf = items.Value.OneOf, nil
	return nil
}

// allowStructured adds the structured format (Options.Structured) to the
// specification's NRLFormatCode, its code and its display; nothing else of
// the specification changes.
func allowStructured(doc *openapi3.T) error {
	f := doc.Components.Schemas["NRLFormatCode"]
	if f == nil || f.Value == nil {
		return errors.New("no NRLFormatCode schema")
	}
	widened := 0
	for _, part := range f.Value.AllOf {
		if part.Value == nil {
			continue
		}
		for prop, add := range map[string]string{"code": nrl.FormatStructured, "display": "Structured Document"} {
			if p := part.Value.Properties[prop]; p != nil && p.Value != nil && len(p.Value.Enum) > 0 {
				p.Value.Enum = append(p.Value.Enum, add)
				widened++
			}
		}
	}
	if widened != 2 {
		return errors.New("NRLFormatCode no longer enumerates code and display: review allowStructured")
	}
	return nil
}

// options are the validation options: kin-openapi uses Go's regexp, which
// has no look-ahead, and the pointer id pattern bounds its length with one.
func (s *Sandbox) options() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
		RejectWhenRequestBodyNotSpecified: true,
		IncludeResponseStatus:             true,
		RegexCompiler:                     compile,
	}
}

// lengthLookahead is the one look-ahead NRL's specification uses:
// "(?=.{1,64}$)" at the start, a length bound.
var lengthLookahead = regexp.MustCompile(`^\^\(\?=\.\{(\d+),(\d+)\}\$\)`)

type boundedMatcher struct {
	min, max int
	re       *regexp.Regexp
}

func (b boundedMatcher) MatchString(s string) bool {
	return len(s) >= b.min && len(s) <= b.max && b.re.MatchString(s)
}

func compile(expr string) (openapi3.RegexMatcher, error) {
	if m := lengthLookahead.FindStringSubmatch(expr); m != nil {
		var lo, hi int
		fmt.Sscan(m[1], &lo)
		fmt.Sscan(m[2], &hi)
		re, err := regexp.Compile("^" + expr[len(m[0]):])
		if err != nil {
			return nil, err
		}
		return boundedMatcher{lo, hi, re}, nil
	}
	return regexp.Compile(expr)
}

// write checks the answer against the specification (for the operations it
// describes) and sends it with the tracing headers mirrored.
func (s *Sandbox) write(w http.ResponseWriter, r *http.Request, in *openapi3filter.RequestValidationInput, a answer) {
	b, err := json.Marshal(a.body)
	if err != nil {
		panic(err) // the sandbox's own values
	}
	h := w.Header()
	for k, v := range a.header {
		h[k] = v
	}
	h.Set("Content-Type", fhirJSON)
	h.Set("X-Request-Id", r.Header.Get("X-Request-ID"))
	h.Set("X-Correlation-Id", r.Header.Get("X-Correlation-ID"))
	if in != nil && a.status < 500 {
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: a.status, Header: h.Clone(), Options: s.options()}
		out.SetBodyBytes(b)
		if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
			s.violation("the sandbox's own %d answer to %s %s breaks the specification: %v", a.status, r.Method, r.URL.Path, err)
		}
	}
	w.WriteHeader(a.status)
	w.Write(b)
}

func (s *Sandbox) create(w http.ResponseWriter, ods string, body []byte) answer {
	var p nrl.Pointer
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // NRL: "Extra inputs are not permitted"
	if err := dec.Decode(&p); err != nil {
		return outcome(400, "error", "invalid", "INVALID_RESOURCE", s.violation("create: %v", err))
	}
	if msg := Rules(&p, ods); msg != "" {
		return outcome(400, "error", "business-rule", "UNPROCESSABLE_ENTITY", s.violation("create: %s", msg))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if why, ok := s.refuse[p.NHSNumber()]; ok {
		return outcome(400, "error", "invalid", "INVALID_NHS_NUMBER", why)
	}
	var replaced []string
	for _, rel := range p.RelatesTo {
		if rel.Code != "replaces" || rel.Target.Identifier == nil {
			continue
		}
		old, ok := s.pointers[rel.Target.Identifier.Value]
		if !ok {
			return outcome(400, "error", "invalid", "INVALID_VALUE", "The relatesTo target document does not exist")
		}
		if old.NHSNumber() != p.NHSNumber() || old.TypeCode() != p.TypeCode() {
			s.violations = append(s.violations, "supersede: the pointer replaced has another NHS number or type")
			return outcome(400, "error", "business-rule", "UNPROCESSABLE_ENTITY", "The relatesTo target document has a different NHS number or type")
		}
		replaced = append(replaced, old.ID)
	}
	p.ID = ods + "-" + strings.ReplaceAll(uuid.NewString(), "-", "")
	p.RelatesTo = nil
	for _, id := range replaced {
		delete(s.pointers, id)
	}
	s.pointers[p.ID] = &p
	s.order = append(s.order, p.ID)
	s.creates++
	s.log.Info("NRL sandbox: pointer created", "id", p.ID, "type", p.Type.Coding[0].Display, "master", p.Master(), "url", p.Content[0].Attachment.URL, "superseded", replaced)
	if s.dropNext {
		s.dropNext = false
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return answer{}
			}
		}
	}
	a := outcome(201, "information", "informational", "RESOURCE_CREATED", "The document has been created")
	a.header = http.Header{"Location": {"/DocumentReference/" + p.ID}}
	return a
}

func (s *Sandbox) search(ods, subject, typ string) answer {
	nhs := strings.TrimPrefix(subject, nrl.SystemNHSNumber+"|")
	s.mu.Lock()
	defer s.mu.Unlock()
	entries := []any{}
	for _, id := range s.order {
		p, ok := s.pointers[id]
		// A producer sees only its own pointers.
		if !ok || p.NHSNumber() != nhs || p.Custodian.Identifier.Value != ods {
			continue
		}
		if typ != "" && typ != nrl.SystemSNOMED+"|"+p.TypeCode() {
			continue
		}
		entries = append(entries, map[string]any{"resource": p})
	}
	return answer{status: 200, body: map[string]any{"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}}
}

func (s *Sandbox) read(ods, id string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pointers[id]
	if !ok || p.Custodian.Identifier.Value != ods {
		return outcome(404, "error", "not-found", "RESOURCE_NOT_FOUND", "Document Reference not found")
	}
	return answer{status: 200, body: p}
}

func (s *Sandbox) delete(ods, id string) answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pointers[id]
	if !ok {
		return outcome(404, "error", "not-found", "RESOURCE_NOT_FOUND", "Document Reference not found")
	}
	if p.Custodian.Identifier.Value != ods {
		return outcome(403, "error", "forbidden", "ACCESS_DENIED", "The requested document pointer cannot be deleted because it belongs to another organisation")
	}
	delete(s.pointers, id)
	s.log.Info("NRL sandbox: pointer deleted", "id", id, "master", p.Master())
	return outcome(200, "information", "informational", "RESOURCE_REMOVED", "Resource removed")
}

// categoryOf is each record type's one allowed category.
var categoryOf = map[string]string{
	"736253002": "734163000", "887701000000100": "734163000", "861421000000109": "734163000",
	"1382601000000107": "734163000", "325691000000100": "734163000", "736373009": "734163000",
	"736366004": "734163000", "735324008": "734163000", "2181441000000107": "734163000",
}

var (
	asidPattern = regexp.MustCompile(`^\d{12}$`)
	nhsPattern  = regexp.MustCompile(`^\d{10}$`)
	odsPattern  = regexp.MustCompile(`^[A-Za-z0-9]{1,12}$`)
)

// Rules applies NRL's producer validators that the OpenAPI schema does not
// express to a pointer created by the organisation ods. It returns what is
// wrong, "" when nothing is.
func Rules(p *nrl.Pointer, ods string) string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(p.Type.Coding) != 1 {
		bad("type must have exactly one coding")
	} else if c := p.Type.Coding[0]; c.System != nrl.SystemSNOMED || nrl.RecordTypeDisplay(c.Code) == "" && categoryOf[c.Code] == "" {
		bad("type %s|%s is not a record type", c.System, c.Code)
	} else if d := nrl.RecordTypeDisplay(c.Code); d != "" && c.Display != d {
		bad("type display %q must be %q", c.Display, d)
	}
	if len(p.Category) != 1 || len(p.Category[0].Coding) != 1 {
		bad("category must have exactly one coding")
	} else if c := p.Category[0].Coding[0]; c.System != nrl.SystemSNOMED || c.Code != categoryOf[p.TypeCode()] {
		bad("category %s|%s is not the category of type %s", c.System, c.Code, p.TypeCode())
	} else if c.Display != "Care plan" {
		bad("category display %q must be %q", c.Display, "Care plan")
	}
	if p.Subject.Identifier == nil || p.Subject.Identifier.System != nrl.SystemNHSNumber || !nhsPattern.MatchString(p.Subject.Identifier.Value) {
		bad("subject must be an NHS number")
	}
	if len(p.Author) != 1 || p.Author[0].Identifier == nil || p.Author[0].Identifier.System != nrl.SystemODS || !odsPattern.MatchString(p.Author[0].Identifier.Value) {
		bad("author must be exactly one ODS code")
	}
	if p.Custodian.Identifier == nil || p.Custodian.Identifier.Value != ods {
		bad("custodian must be the producer's ODS code %s", ods)
	}
	if len(p.Context.PracticeSetting.Coding) != 1 {
		bad("context.practiceSetting is required, with one coding")
	} else if c := p.Context.PracticeSetting.Coding[0]; nrl.PracticeSettingDisplay(c.Code) == "" || nrl.PracticeSettingDisplay(c.Code) != c.Display {
		bad("context.practiceSetting %s %q is not in England-PracticeSetting with that display", c.Code, c.Display)
	}
	ssp := false
	for i, c := range p.Content {
		stab := 0
		for _, e := range c.Extension {
			if e.URL == nrl.ExtensionStability {
				stab++
			}
		}
		if stab != 1 {
			bad("content[%d] must have exactly one ContentStability extension, has %d", i, stab)
		}
		want := map[string]string{"application/pdf": "urn:nhs-ic:unstructured", "application/fhir+json": "urn:nhs-ic:structured", "text/html": "urn:nhs-ic:record-contact"}[c.Attachment.ContentType]
		if want == "" || c.Format.Code != want || c.Format.System != nrl.SystemFormat {
			bad("content[%d].format %s does not fit content type %s", i, c.Format.Code, c.Attachment.ContentType)
		}
		u, err := url.Parse(c.Attachment.URL)
		if err != nil || u.Host == "" {
			bad("content[%d].attachment.url %q is not a URL", i, c.Attachment.URL)
		} else if u.Scheme == "ssp" {
			ssp = true
		}
	}
	if len(p.Content) == 0 {
		bad("content is required")
	}
	if ssp {
		n := 0
		for _, r := range p.Context.Related {
			if r.Identifier != nil && r.Identifier.System == nrl.SystemASID && asidPattern.MatchString(r.Identifier.Value) {
				n++
			}
		}
		if n != 1 {
			bad("an ssp:// URL needs exactly one 12-digit ASID in context.related")
		}
	}
	sort.Strings(problems)
	return strings.Join(problems, "; ")
}
