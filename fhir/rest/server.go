package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/conformance"
	"ucp/fhir/outcome"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/store"
)

// Store is what the REST layer needs of a store; store.Store satisfies it.
type Store = service.Store

// The interaction and hook types are the service's: the REST layer is one
// door to it among others (bulk import, start-up loading).
type (
	// Access describes one interaction for an Authorizer and the audit sink.
	Access = service.Access
	// Authorizer decides whether the request may perform an interaction.
	Authorizer = service.Authorizer
	// WriteOp is a resource version about to be written.
	WriteOp = service.WriteOp
	// WriteInterceptor applies domain rules to every write.
	WriteInterceptor = service.WriteInterceptor
	// ReadInterceptor filters what a request may see.
	ReadInterceptor = service.ReadInterceptor
	// TypeHider is implemented by a ReadInterceptor that knows which types
	// it may hide from the request's caller (see service.Service.SearchTotal).
	TypeHider = service.TypeHider
	// AuditRecord is one interaction's outcome, for the audit sink.
	AuditRecord = service.AuditRecord
	// AuditSink receives one record per interaction after it completes.
	AuditSink = service.AuditSink
)

// RequestObserver is told of every request the Server answers (bundle
// entries not counted again), for metrics. interaction is the FHIR
// interaction code ("$name" for an operation, "" when the request never
// reached one, as for a path that is no endpoint) and typ the resource type
// when any: never an id, so that labels made of them stay few.
type RequestObserver interface {
	ObserveRequest(interaction, typ string, status int, d time.Duration)
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, Access) error { return nil }
func (allowAll) AllowRead(context.Context, *store.Version, service.Purpose, *service.Call) error {
	return nil
}
func (allowAll) MayHide(context.Context, string) bool { return false }
func (allowAll) Record(context.Context, AuditRecord)  {}

// Config configures a Server. Store, Registry and Types are required.
type Config struct {
	Store    Store
	Registry *search.Registry
	// Types are the resource types served; requests for others get 404.
	Types []string
	// BaseURL is the absolute URL of the FHIR base as clients see it, e.g.
	// "https://ucp.example.org/fhir"; used in Location headers, fullUrls and
	// links. When empty it is derived from each request's Host. When set,
	// the Registry must have been given the same (Registry.SetBaseURL).
	BaseURL string
	// Prefix is the path the FHIR API is mounted at; default "/fhir".
	Prefix string
	// MaxBodyBytes bounds request bodies (413 above); default 16 MiB.
	MaxBodyBytes int64
	// ConditionalDeleteMultiple allows a conditional delete to delete every
	// match (up to MaxConditionalDelete, default 100) instead of failing 412.
	ConditionalDeleteMultiple bool
	MaxConditionalDelete      int
	// MaxBundleEntries bounds batch and transaction bundles; default 1000.
	MaxBundleEntries int
	// SupportedProfiles lists, per resource type, the profiles (canonical
	// URLs) the server validates against, for the CapabilityStatement.
	SupportedProfiles map[string][]string
	// SecurityService names the security service declared in the
	// CapabilityStatement (e.g. "SMART-on-FHIR"); Security describes it.
	SecurityService string
	Security        string
	// SoftwareName and SoftwareVersion are reported in the CapabilityStatement.
	SoftwareName    string
	SoftwareVersion string
	// SummaryElements lists a type's top-level elements marked isSummary, for
	// _summary=true. When nil, _summary=true keeps every element but text.
	SummaryElements func(typ string) []string

	Logger           *slog.Logger
	Authorizer       Authorizer
	WriteInterceptor WriteInterceptor
	ReadInterceptor  ReadInterceptor
	Audit            AuditSink
	// Observer, when set, is told of each request (see RequestObserver).
	Observer RequestObserver
	// Operations are registered with the service at New, after its
	// built-in $everything and $reindex (see service.Config.Operations).
	Operations []Operation
	// Endpoints are registered at New (see RegisterEndpoint).
	Endpoints []Endpoint
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxIncluded bounds the resources _include and _revinclude add to one
	// page of a search; default 1000. When it cuts, the searchset says so
	// in an OperationOutcome entry.
	MaxIncluded int
	// SearchTimeout bounds the time one search (with its includes and
	// total) may take; default 10 s. A search still running then is
	// stopped and answered 503 with an OperationOutcome "too-costly".
	SearchTimeout time.Duration
	// CursorKey is the HMAC key that binds paging cursors to the search
	// and caller they were issued to (see service.Service.SealCursor); nil means a random
	// key made by New, so cursors do not outlive the process. Servers that
	// share paging (several nodes behind one address) share a key.
	CursorKey []byte
	// BreakGlass returns the break-glass reason a request states, once
	// checked that its caller may break the glass (auth.BreakGlass); the
	// service gives it to the hooks in the request's service.Call. nil
	// means no request breaks the glass.
	BreakGlass func(r *http.Request) string
	// Caller names the caller of a request (the same for the same person
	// or system through the same client and context), to bind paging
	// cursors to them; nil binds cursors to the search alone.
	Caller func(ctx context.Context) string
}

// Server serves the FHIR REST API. It is an http.Handler.
type Server struct {
	cfg    Config
	svc    *service.Service
	log    *slog.Logger
	engine *gin.Engine
	types  map[string]bool
	// routes are the FHIR interactions' routes (see fhirRoutes).
	routes []route
	// endpoints are the routes others registered (RegisterEndpoint).
	endpoints []endpoint

	// capMu guards the cached CapabilityStatement; capJSON nil means it
	// must be (re)built, as after a SearchParameter changed the registry.
	capMu   sync.Mutex
	capJSON []byte
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Registry == nil {
		return nil, errors.New("rest: Config.Store and Config.Registry are required")
	}
	if len(cfg.Types) == 0 {
		return nil, errors.New("rest: Config.Types is empty")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/fhir"
	}
	cfg.Prefix = "/" + strings.Trim(cfg.Prefix, "/")
	if cfg.Prefix == "/" {
		cfg.Prefix = ""
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.MaxConditionalDelete <= 0 {
		cfg.MaxConditionalDelete = 100
	}
	if cfg.MaxBundleEntries <= 0 {
		cfg.MaxBundleEntries = 1000
	}
	if cfg.SoftwareName == "" {
		cfg.SoftwareName = "ucp"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = allowAll{}
	}
	if cfg.ReadInterceptor == nil {
		cfg.ReadInterceptor = allowAll{}
	}
	if cfg.Audit == nil {
		cfg.Audit = allowAll{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxIncluded <= 0 {
		cfg.MaxIncluded = service.DefaultMaxIncluded
	}
	if cfg.SearchTimeout <= 0 {
		cfg.SearchTimeout = service.DefaultSearchTimeout
	}
	if cfg.BaseURL != "" && cfg.Registry.BaseURL() != cfg.BaseURL {
		// Else absolute references to ourselves would be indexed as remote
		// ones, and searches for them would quietly miss. The registry is
		// shared with other doors, so the server reads it, never sets it.
		return nil, fmt.Errorf("rest: the registry's base URL is %q, not the server's %q: set it with Registry.SetBaseURL where the registry is built", cfg.Registry.BaseURL(), cfg.BaseURL)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, types: map[string]bool{}}
	for _, t := range cfg.Types {
		s.types[t] = true
	}
	s.cfg.Types = slices.Sorted(func(yield func(string) bool) {
		for t := range s.types {
			if !yield(t) {
				return
			}
		}
	})
	svc, err := service.New(service.Config{
		Store: cfg.Store, Registry: cfg.Registry, Types: s.cfg.Types,
		Authorizer: cfg.Authorizer, WriteInterceptor: cfg.WriteInterceptor, ReadInterceptor: cfg.ReadInterceptor,
		ConditionalDeleteMultiple: cfg.ConditionalDeleteMultiple, MaxConditionalDelete: cfg.MaxConditionalDelete,
		MaxIncluded: cfg.MaxIncluded, SearchTimeout: cfg.SearchTimeout, CursorKey: cfg.CursorKey, Caller: cfg.Caller,
		Audit: cfg.Audit, Operations: cfg.Operations,
		Now: cfg.Now, Logger: cfg.Logger, OnSearchParameters: s.invalidateCapabilities,
	})
	if err != nil {
		return nil, err
	}
	s.svc = svc
	// gin.New (not Default) installs neither gin's stdout logger nor its
	// recovery, which print outside slog: ours log through slog and answer
	// with OperationOutcome. gin's debug output (the route dump) follows
	// its process-wide mode, which the program sets, not this constructor.
	e := gin.New()
	e.ContextWithFallback = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	// unrouted decides between 404 and 405 by FHIR's path rules.
	e.HandleMethodNotAllowed = false
	// Routing on the escaped path keeps an id's "%2F" inside its segment
	// (then refused as an id) instead of splitting the path there.
	e.UseRawPath = true
	e.Use(s.logMiddleware, s.recoverMiddleware)
	s.engine = e
	for _, ep := range cfg.Endpoints {
		if err := s.RegisterEndpoint(ep); err != nil {
			return nil, err
		}
	}
	s.mountRoutes(e)
	return s, nil
}

// Service returns the FHIR service the server is the HTTP door to, for
// the other doors of the same process (bulk import, start-up loading), so
// that what they change (a SearchParameter) is seen by the API at once.
func (s *Server) Service() *service.Service { return s.svc }

// Handler returns the gin engine, for mounting more routes (a health check,
// web pages) next to the FHIR API. Paths below the prefix are the API's:
// a route there clashes with its own (gin panics); use RegisterEndpoint.
func (s *Server) Handler() *gin.Engine { return s.engine }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// CapabilityStatement returns the server's CapabilityStatement JSON, built
// from what is registered and cached until the search parameters change
// (see invalidateCapabilities).
func (s *Server) CapabilityStatement() ([]byte, error) {
	s.capMu.Lock()
	defer s.capMu.Unlock()
	if s.capJSON != nil {
		return s.capJSON, nil
	}
	{
		opts := conformance.Options{
			SoftwareName:    s.cfg.SoftwareName,
			SoftwareVersion: s.cfg.SoftwareVersion,
			BaseURL:         s.cfg.BaseURL,
			Now:             s.cfg.Now(),
			SecurityService: s.cfg.SecurityService,
			Security:        s.cfg.Security,
			Documentation:   s.searchLimitsDoc(),
		}
		for _, t := range s.cfg.Types {
			rt := conformance.Resource{
				Type:              t,
				Interactions:      typeInteractions,
				ConditionalCreate: true,
				ConditionalUpdate: true,
				ConditionalDelete: "single",
				ReadHistory:       true,
				UpdateCreate:      true,
				SupportedProfiles: s.cfg.SupportedProfiles[t],
			}
			if s.cfg.ConditionalDeleteMultiple {
				rt.ConditionalDelete = "multiple"
			}
			for _, p := range append(s.cfg.Registry.Params(t), search.TextParams(t)...) {
				doc := p.Description
				if p.Custom() {
					doc = strings.TrimSpace(doc + " " + customParamNote)
				}
				rt.SearchParams = append(rt.SearchParams, conformance.SearchParam{
					Name: p.Code, Type: string(p.Type), Definition: p.URL, Documentation: doc,
				})
			}
			rt.Operations = s.capabilityOperations(t)
			opts.Resources = append(opts.Resources, rt)
		}
		opts.Operations = s.capabilityOperations("")
		opts.SystemInteractions = []string{"transaction", "batch", "history-system", "search-system"}
		b, err := conformance.Build(opts)
		if err != nil {
			// Not cached: a failure is reported to every caller until a
			// build succeeds.
			return nil, err
		}
		s.capJSON = b
	}
	return s.capJSON, nil
}

// invalidateCapabilities drops the cached CapabilityStatement, so the next
// request rebuilds it from the registry.
func (s *Server) invalidateCapabilities() {
	s.capMu.Lock()
	s.capJSON = nil
	s.capMu.Unlock()
}

var typeInteractions = []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}

// checkType answers 404 for a type this server does not serve (R4 http.html
// allows 404 for an unsupported type).
func (s *Server) checkType(t string) error {
	if s.types[t] {
		return nil
	}
	return &outcome.Error{Kind: outcome.NotFound, Code: "not-supported", Message: fmt.Sprintf("resource type %q is not supported by this server", t)}
}

func (s *Server) handleMetadata(c *gin.Context) error {
	b, err := s.CapabilityStatement()
	if err != nil {
		return err
	}
	return s.writeJSON(c, http.StatusOK, b)
}

// base returns the absolute base URL for links in responses.
func (s *Server) base(c *gin.Context) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	if p := c.GetHeader("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	return scheme + "://" + c.Request.Host + s.cfg.Prefix
}
