package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"ucp/fhir/search"
	"ucp/store"
)

// Store is what the service needs of a store; store.Store satisfies it.
type Store interface {
	Read(ctx context.Context, typ, id string) (*store.Version, error)
	VRead(ctx context.Context, typ, id string, version int64) (*store.Version, error)
	Write(ctx context.Context, changes []store.Change) ([]store.Version, error)
	History(ctx context.Context, q store.HistoryQuery) (*store.HistoryPage, error)
	Search(ctx context.Context, q store.Query) (*store.Result, error)
}

var _ Store = store.Store(nil)

// Config configures a Service. Store and Registry are required.
type Config struct {
	Store    Store
	Registry *search.Registry
	// Types are the resource types served; nil means the registry's.
	Types []string
	// Authorizer decides every interaction the service authorises itself
	// (the entries of a transaction); nil allows everything.
	Authorizer Authorizer
	// WriteInterceptor applies the domain rules to every write; nil
	// accepts everything.
	WriteInterceptor WriteInterceptor
	// ReadInterceptor filters what a caller may see of what Read and Find
	// return; nil shows everything.
	ReadInterceptor ReadInterceptor
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RetryTimeout bounds the retries of a write that keeps losing races
	// to concurrent writers when the caller's context has no deadline;
	// default 30 s.
	RetryTimeout time.Duration
	// ConditionalDeleteMultiple allows a conditional delete to delete every
	// match (up to MaxConditionalDelete, default 100) instead of failing 412.
	ConditionalDeleteMultiple bool
	MaxConditionalDelete      int
	// MaxIncluded bounds the resources _include and _revinclude add to one
	// page of a search; default DefaultMaxIncluded.
	MaxIncluded int
	// OnSearchParameters, when set, is called after a stored write changed
	// the registry's search parameters (to drop a cached
	// CapabilityStatement).
	OnSearchParameters func()
	Logger             *slog.Logger
	// Audit receives one record per operation the service dispatches
	// (Service.Operation); nil records nothing.
	Audit AuditSink
	// Operations are registered at New, after the built-in $everything
	// (when Patient is served) and $reindex (when the store is a
	// store.Reindexer), so that one of the same name replaces those.
	Operations []Operation
	// SearchTimeout bounds a search's work run through Bounded; default
	// DefaultSearchTimeout.
	SearchTimeout time.Duration
	// CursorKey is the HMAC key that seals paging cursors (see
	// SealCursor); nil means a random key made by New, so cursors do not
	// outlive the process. Services that share paging (several nodes
	// behind one address) share a key.
	CursorKey []byte
	// Caller names the caller in ctx (the same for the same person or
	// system through the same client), to bind paging cursors to them; nil
	// binds cursors to the search alone.
	Caller func(ctx context.Context) string
}

// Service runs FHIR interactions against a store, without HTTP. It is safe
// for concurrent use.
type Service struct {
	cfg   Config
	types map[string]bool
	// ops are the registered operations by name (RegisterOperation).
	ops map[string]*Operation
	// call is the interaction the service acts for (see For); nil for the
	// service as built.
	call *Call
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Registry == nil {
		return nil, errors.New("service: Config.Store and Config.Registry are required")
	}
	if cfg.Types == nil {
		cfg.Types = cfg.Registry.Types()
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = allowAll{}
	}
	if cfg.WriteInterceptor == nil {
		cfg.WriteInterceptor = allowAll{}
	}
	if cfg.ReadInterceptor == nil {
		cfg.ReadInterceptor = allowAll{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxConditionalDelete <= 0 {
		cfg.MaxConditionalDelete = 100
	}
	if cfg.MaxIncluded <= 0 {
		cfg.MaxIncluded = DefaultMaxIncluded
	}
	if cfg.RetryTimeout <= 0 {
		cfg.RetryTimeout = 30 * time.Second
	}
	if cfg.OnSearchParameters == nil {
		cfg.OnSearchParameters = func() {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Audit == nil {
		cfg.Audit = allowAll{}
	}
	if cfg.SearchTimeout <= 0 {
		cfg.SearchTimeout = DefaultSearchTimeout
	}
	if len(cfg.CursorKey) == 0 {
		cfg.CursorKey = make([]byte, 32)
		if _, err := rand.Read(cfg.CursorKey); err != nil {
			return nil, fmt.Errorf("service: cursor key: %w", err)
		}
	}
	s := &Service{cfg: cfg, types: map[string]bool{}, ops: map[string]*Operation{}}
	for _, t := range cfg.Types {
		s.types[t] = true
	}
	if s.types["Patient"] {
		if err := s.RegisterOperation(s.everythingOperation()); err != nil {
			return nil, err
		}
	}
	if _, ok := cfg.Store.(store.Reindexer); ok {
		if err := s.RegisterOperation(s.reindexOperation()); err != nil {
			return nil, err
		}
	}
	for _, op := range cfg.Operations {
		if err := s.RegisterOperation(op); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Store returns the store the service writes to.
func (s *Service) Store() Store { return s.cfg.Store }

// Registry returns the search registry the service indexes with.
func (s *Service) Registry() *search.Registry { return s.cfg.Registry }

// Serves reports whether typ is a served resource type.
func (s *Service) Serves(typ string) bool { return s.types[typ] }

// now is the service clock at microsecond precision, the precision every
// store keeps, so meta.lastUpdated in the JSON equals Version.LastUpdated.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }
