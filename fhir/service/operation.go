package service

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
)

// OperationHandler runs one FHIR operation (R4 operations.html). It returns
// the HTTP status and the response body: []byte (JSON as is), a
// map[string]any resource tree (serialised canonically, numbers kept), or any
// other value (encoding/json). A nil body with status 0 answers 204. Errors go
// through the same OperationOutcome adapter as every other interaction, so a
// handler returns *outcome.Error kinds rather than writing error bodies.
// Request headers (Prefer) are in req.Header; headers for the response
// (Content-Location of an asynchronous kick-off) go in req.ResponseHeader.
type OperationHandler func(ctx context.Context, req *OperationRequest) (status int, body any, err error)

// Operation is a named operation and where it may be invoked.
type Operation struct {
	// Name without the "$" ("validate", "document").
	Name string
	// Definition is the OperationDefinition canonical, for the
	// CapabilityStatement.
	Definition    string
	Documentation string
	// System allows /fhir/$name; Types lists the types allowing
	// /fhir/{type}/$name and Instance the types allowing
	// /fhir/{type}/{id}/$name. "*" in Types or Instance means every served
	// type.
	System   bool
	Types    []string
	Instance []string
	// AffectsState operations may be invoked with POST only; the others
	// with GET too (R4 operationdefinition affectsState).
	AffectsState bool
	Handler      OperationHandler
}

// OperationRequest is one invocation of an Operation.
type OperationRequest struct {
	Name     string // without "$"
	Method   string // GET or POST
	Type, ID string // "" at system level; ID "" at type level
	// Query holds the URL query parameters (GET, and POST with parameters in
	// the URL).
	Query url.Values
	// Parameters is the Parameters resource of a POST body, or nil.
	Parameters map[string]any
	// Resource is a POST body that is not a Parameters resource (several
	// operations, $validate among them, accept the resource itself), or nil.
	Resource map[string]any
	// RawQuery is the query as the door received it, for the Authorizer
	// and the audit (Access.Query); when empty, Query encoded.
	RawQuery string
	// ReadBody, when set, returns the POSTed body (nil when there is
	// none). The service calls it only once the call is authorised, so a
	// door that reads bodies lazily refuses an unauthorised caller before
	// looking at what it sent; its result becomes Parameters or Resource.
	ReadBody func() (map[string]any, error)
	// Base is the absolute FHIR base URL of the request, for fullUrls.
	Base string
	// Path is where the door received the call, for the audit record
	// (the HTTP path for the REST adapter).
	Path string
	// Noted, when set, is told the Access the call is authorised as,
	// before it is authorised (the REST adapter labels its metrics with
	// it).
	Noted func(Access)
	// Header holds the request's headers (Prefer, Accept…); read only.
	Header http.Header
	// Call is the interaction the operation runs in (set by
	// Service.Operation from Service.For): a handler passes it to the
	// hooks it asks itself (a ReadInterceptor) and acts through
	// Service.For(Call).
	Call *Call
	// ResponseHeader is sent with a successful response: a handler sets
	// Content-Location, Expires and the like here. Error responses do not
	// carry it.
	ResponseHeader http.Header
}

// Param returns the parameter entries named name from the Parameters body
// (each a map with value[x], resource or part).
func (r *OperationRequest) Param(name string) []map[string]any {
	var out []map[string]any
	ps, _ := r.Parameters["parameter"].([]any)
	for _, p := range ps {
		if m, ok := p.(map[string]any); ok && m["name"] == name {
			out = append(out, m)
		}
	}
	return out
}

// String returns the first value of a primitive parameter: from the query
// string, else from the Parameters body's value[x] as written.
func (r *OperationRequest) String(name string) string {
	if v := r.Query.Get(name); v != "" {
		return v
	}
	for _, p := range r.Param(name) {
		for k, v := range p {
			if strings.HasPrefix(k, "value") {
				switch v := v.(type) {
				case string:
					return v
				case json.Number:
					return v.String()
				case bool:
					return fmt.Sprint(v)
				}
			}
		}
	}
	return ""
}

// Strings returns every value of a primitive parameter, query and body.
func (r *OperationRequest) Strings(name string) []string {
	out := append([]string(nil), r.Query[name]...)
	for _, p := range r.Param(name) {
		for k, v := range p {
			if s, ok := v.(string); ok && strings.HasPrefix(k, "value") {
				out = append(out, s)
			}
		}
	}
	return out
}

// ResourceParam returns the first resource parameter named name.
func (r *OperationRequest) ResourceParam(name string) map[string]any {
	for _, p := range r.Param(name) {
		if m, ok := p["resource"].(map[string]any); ok {
			return m
		}
	}
	return nil
}

// OperationResult is what an operation answered.
type OperationResult struct {
	// Status is the HTTP status the operation chose (200 unless it said
	// otherwise; 204 when it returned no body).
	Status int
	// Header holds the headers the handler set (Content-Location of an
	// asynchronous kick-off).
	Header http.Header
	// Body is the response resource's JSON, nil for none.
	Body []byte
}

// RegisterOperation adds op. Call it before the service is used
// (registration is not synchronised with dispatch). A second operation
// with the same name replaces the first.
func (s *Service) RegisterOperation(op Operation) error {
	op.Name = strings.TrimPrefix(op.Name, "$")
	if op.Name == "" || op.Handler == nil {
		return fmt.Errorf("service: operation needs a name and a handler")
	}
	s.ops[op.Name] = &op
	return nil
}

// Operations returns the registered operations invocable at system level
// (typ "") or on typ (at type or instance level), sorted by name, for the
// CapabilityStatement.
func (s *Service) Operations(typ string) []Operation {
	var out []Operation
	for _, name := range slices.Sorted(maps.Keys(s.ops)) {
		op := s.ops[name]
		if typ == "" && op.System || typ != "" && (opAllows(op.Types, typ) || opAllows(op.Instance, typ)) {
			out = append(out, *op)
		}
	}
	return out
}

// opAllows reports whether an operation whose level list is list may be
// invoked on typ.
func opAllows(list []string, typ string) bool {
	for _, t := range list {
		if t == "*" || t == typ {
			return true
		}
	}
	return false
}

// Operation invokes the registered operation req names, at the level its
// Type and ID give, as the caller in ctx. It authorises the call as
// Access{Interaction: "operation", Operation: name, Type, ID, Query} and
// records it with Config.Audit (allowed or refused, with the status the
// door will answer), so every door that invokes operations gets the same
// checks and the same trail. An unknown operation (NotFound, not-supported)
// and a GET of one that changes data (MethodNotAllowed) are refused before
// that and not recorded: no interaction took place.
func (s *Service) Operation(ctx context.Context, req *OperationRequest) (*OperationResult, error) {
	req.Name = strings.TrimPrefix(req.Name, "$")
	name, typ, id := req.Name, req.Type, req.ID
	op := s.ops[name]
	level := "system"
	switch {
	case id != "":
		level = "instance"
	case typ != "":
		level = "type"
	}
	known := op != nil && (level == "system" && op.System || level == "type" && opAllows(op.Types, typ) || level == "instance" && opAllows(op.Instance, typ))
	if !known {
		where := "at system level"
		if typ != "" {
			where = "on " + typ
			if id != "" {
				where = "on a " + typ + " instance"
			}
		}
		return nil, &outcome.Error{Kind: outcome.NotFound, Code: "not-supported", Message: fmt.Sprintf("operation $%s is not supported %s", name, where)}
	}
	if req.Method == http.MethodGet && op.AffectsState {
		return nil, &outcome.Error{Kind: outcome.MethodNotAllowed, Message: fmt.Sprintf("operation $%s changes data and must be invoked with POST", name)}
	}
	if req.Query == nil {
		req.Query = url.Values{}
	}
	if req.RawQuery == "" {
		req.RawQuery = req.Query.Encode()
	}
	req.Call = s.call
	a := Access{Interaction: "operation", Operation: name, Type: typ, ID: id, Query: req.RawQuery}
	if req.Noted != nil {
		req.Noted(a)
	}
	start := s.cfg.Now()
	res, err := s.runOperation(ctx, op, a, req)
	// An operation may write through a service of its own, which cannot
	// drop what this interaction remembered (Call.Remember).
	s.call.forget()
	status := outcome.Status(err)
	if err == nil {
		status = res.Status
	}
	s.cfg.Audit.Record(ctx, AuditRecord{Access: a, Call: s.call, Method: req.Method, Path: req.Path, Status: status, Time: start, Err: err})
	return res, err
}

// runOperation authorises a call of op and runs its handler.
func (s *Service) runOperation(ctx context.Context, op *Operation, a Access, req *OperationRequest) (*OperationResult, error) {
	if err := s.cfg.Authorizer.Authorize(ctx, a); err != nil {
		return nil, err
	}
	if req.ReadBody != nil {
		res, err := req.ReadBody()
		if err != nil {
			return nil, err
		}
		if res["resourceType"] == "Parameters" {
			req.Parameters = res
		} else if res != nil {
			req.Resource = res
		}
	}
	if req.ResponseHeader == nil {
		req.ResponseHeader = http.Header{}
	}
	status, body, err := op.Handler(ctx, req)
	if err != nil {
		return nil, err
	}
	out := &OperationResult{Status: status, Header: req.ResponseHeader}
	switch v := body.(type) {
	case nil:
		if out.Status == 0 {
			out.Status = http.StatusNoContent
		}
		return out, nil
	case []byte:
		out.Body = v
	case map[string]any:
		out.Body = resource.Marshal(v)
	default:
		if out.Body, err = json.Marshal(v); err != nil {
			return nil, outcome.Errorf(outcome.Internal, "encoding $%s response: %v", op.Name, err)
		}
	}
	if out.Status == 0 {
		out.Status = http.StatusOK
	}
	return out, nil
}
