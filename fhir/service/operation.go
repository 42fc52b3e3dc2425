package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
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
	// Base is the absolute FHIR base URL of the request, for fullUrls.
	Base string
	// Header holds the request's headers (Prefer, Accept…); read only.
	Header http.Header
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
