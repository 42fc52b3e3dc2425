package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"ucp/conformance"
	"ucp/fhir/resource"
	"ucp/store"
)

// OperationHandler runs one FHIR operation (R4 operations.html). It returns
// the HTTP status and the response body: []byte (JSON as is), a
// map[string]any resource tree (serialised canonically, numbers kept), or any
// other value (encoding/json). A nil body with status 0 answers 204. Errors go
// through the same OperationOutcome adapter as every other interaction, so a
// handler returns *store.Error kinds rather than writing error bodies.
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

// RegisterOperation adds op. Call it before the server serves requests
// (registration is not synchronised with dispatch) and before the first
// CapabilityStatement is built. A second operation with the same name
// replaces the first.
func (s *Server) RegisterOperation(op Operation) error {
	op.Name = strings.TrimPrefix(op.Name, "$")
	if op.Name == "" || op.Handler == nil {
		return fmt.Errorf("rest: operation needs a name and a handler")
	}
	if s.ops == nil {
		s.ops = map[string]*Operation{}
	}
	s.ops[op.Name] = &op
	return nil
}

// allows reports whether op may be invoked on typ at this level.
func (op *Operation) allows(list []string, typ string) bool {
	for _, t := range list {
		if t == "*" || t == typ {
			return true
		}
	}
	return false
}

// handleOperation serves /$op, /{type}/$op and /{type}/{id}/$op.
func (s *Server) handleOperation(c *gin.Context) error {
	name := strings.TrimPrefix(c.Param("op"), "$")
	typ, id := c.Param("type"), c.Param("id")
	op := s.ops[name]
	level := "system"
	switch {
	case id != "":
		level = "instance"
	case typ != "":
		level = "type"
	}
	known := op != nil && (level == "system" && op.System || level == "type" && op.allows(op.Types, typ) || level == "instance" && op.allows(op.Instance, typ))
	if !known {
		where := "at system level"
		if typ != "" {
			where = "on " + typ
			if id != "" {
				where = "on a " + typ + " instance"
			}
		}
		return statusErr(http.StatusNotFound, "not-supported", fmt.Sprintf("operation $%s is not supported %s", name, where))
	}
	if c.Request.Method == http.MethodGet && op.AffectsState {
		return statusErr(http.StatusMethodNotAllowed, "not-supported", fmt.Sprintf("operation $%s changes data and must be invoked with POST", name))
	}
	if err := s.authorize(c, Access{Interaction: "operation", Operation: name, Type: typ, ID: id, Query: c.Request.URL.RawQuery}); err != nil {
		return err
	}
	req := &OperationRequest{Name: name, Method: c.Request.Method, Type: typ, ID: id, Query: c.Request.URL.Query(), Base: s.base(c),
		Header: c.Request.Header.Clone(), ResponseHeader: http.Header{}}
	if c.Request.Method == http.MethodPost {
		body, _, err := s.readBody(c, mimeFHIRJSON, mimeJSON)
		if err != nil {
			return err
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			res, err := parseResource(body, "")
			if err != nil {
				return err
			}
			if res["resourceType"] == "Parameters" {
				req.Parameters = res
			} else {
				req.Resource = res
			}
		}
	}
	status, body, err := op.Handler(c.Request.Context(), req)
	if err != nil {
		return err
	}
	for k, vs := range req.ResponseHeader {
		for _, v := range vs {
			c.Writer.Header().Add(k, v)
		}
	}
	var b []byte
	switch v := body.(type) {
	case nil:
		if status == 0 {
			status = http.StatusNoContent
		}
		c.Status(status)
		c.Writer.WriteHeaderNow()
		return nil
	case []byte:
		b = v
	case map[string]any:
		b = resource.Marshal(v)
	default:
		if b, err = json.Marshal(v); err != nil {
			return store.Errorf(store.Internal, "encoding $%s response: %v", name, err)
		}
	}
	if status == 0 {
		status = http.StatusOK
	}
	return s.writeJSON(c, status, b)
}

// capabilityOperations lists the registered operations for the
// CapabilityStatement: system ones at rest level, the others on each type
// that allows them.
func (s *Server) capabilityOperations(typ string) []conformance.Operation {
	var out []conformance.Operation
	for _, name := range slices.Sorted(maps.Keys(s.ops)) {
		op := s.ops[name]
		if typ == "" && op.System || typ != "" && (op.allows(op.Types, typ) || op.allows(op.Instance, typ)) {
			out = append(out, conformance.Operation{Name: op.Name, Definition: op.Definition, Documentation: op.Documentation})
		}
	}
	return out
}
