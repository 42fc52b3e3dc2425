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
	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
)

// The operation types are the service's: an operation is a FHIR
// interaction that any door may invoke.
type (
	// OperationHandler runs one FHIR operation.
	OperationHandler = service.OperationHandler
	// Operation is a named operation and where it may be invoked.
	Operation = service.Operation
	// OperationRequest is one invocation of an Operation.
	OperationRequest = service.OperationRequest
)

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

// handleOperation serves /$op, /{type}/$op and /{type}/{id}/$op.
func (s *Server) handleOperation(c *gin.Context) error {
	call := opCall{
		name: strings.TrimPrefix(c.Param("op"), "$"), method: c.Request.Method, typ: c.Param("type"), id: c.Param("id"),
		rawQuery: c.Request.URL.RawQuery, base: s.base(c), header: c.Request.Header.Clone(),
		note: func(a Access) { s.note(c, a) },
	}
	if call.method == http.MethodPost {
		// Read once authorised, as the body of any request is.
		call.body = func() (map[string]any, error) {
			body, _, err := s.readBody(c, mimeFHIRJSON, mimeJSON)
			if err != nil {
				return nil, err
			}
			if len(strings.TrimSpace(string(body))) == 0 {
				return nil, nil
			}
			return parseResource(body, "")
		}
	}
	status, header, b, err := s.invoke(c.Request.Context(), call)
	if err != nil {
		return err
	}
	for k, vs := range header {
		for _, v := range vs {
			c.Writer.Header().Add(k, v)
		}
	}
	if b == nil {
		c.Status(status)
		c.Writer.WriteHeaderNow()
		return nil
	}
	return s.writeJSON(c, status, b)
}

// opCall is one invocation of an operation, from a request or a bundle
// entry.
type opCall struct {
	name, method, typ, id string
	rawQuery, base        string
	header                http.Header
	// body returns the POSTed resource (nil when there is none); nil for a
	// GET.
	body func() (map[string]any, error)
	// note is told the Access the invocation is authorised as.
	note func(Access)
}

// invoke runs an operation: it finds the one registered for the name and
// level, authorises it and calls its handler, and returns the status, the
// response headers the handler set and the body (nil for none).
func (s *Server) invoke(ctx context.Context, call opCall) (int, http.Header, []byte, error) {
	name, typ, id := call.name, call.typ, call.id
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
		return 0, nil, nil, &outcome.Error{Kind: outcome.NotFound, Code: "not-supported", Message: fmt.Sprintf("operation $%s is not supported %s", name, where)}
	}
	if call.method == http.MethodGet && op.AffectsState {
		return 0, nil, nil, refuse(outcome.MethodNotAllowed, fmt.Sprintf("operation $%s changes data and must be invoked with POST", name))
	}
	a := Access{Interaction: "operation", Operation: name, Type: typ, ID: id, Query: call.rawQuery}
	call.note(a)
	if err := s.cfg.Authorizer.Authorize(ctx, a); err != nil {
		return 0, nil, nil, err
	}
	query, _ := url.ParseQuery(call.rawQuery)
	req := &OperationRequest{Name: name, Method: call.method, Type: typ, ID: id, Query: query, Base: call.base,
		Header: call.header, ResponseHeader: http.Header{}}
	if call.body != nil {
		res, err := call.body()
		if err != nil {
			return 0, nil, nil, err
		}
		if res["resourceType"] == "Parameters" {
			req.Parameters = res
		} else if res != nil {
			req.Resource = res
		}
	}
	status, body, err := op.Handler(ctx, req)
	if err != nil {
		return 0, nil, nil, err
	}
	var b []byte
	switch v := body.(type) {
	case nil:
		if status == 0 {
			status = http.StatusNoContent
		}
		return status, req.ResponseHeader, nil, nil
	case []byte:
		b = v
	case map[string]any:
		b = resource.Marshal(v)
	default:
		if b, err = json.Marshal(v); err != nil {
			return 0, nil, nil, outcome.Errorf(outcome.Internal, "encoding $%s response: %v", name, err)
		}
	}
	if status == 0 {
		status = http.StatusOK
	}
	return status, req.ResponseHeader, b, nil
}

// capabilityOperations lists the registered operations for the
// CapabilityStatement: system ones at rest level, the others on each type
// that allows them.
func (s *Server) capabilityOperations(typ string) []conformance.Operation {
	var out []conformance.Operation
	for _, name := range slices.Sorted(maps.Keys(s.ops)) {
		op := s.ops[name]
		if typ == "" && op.System || typ != "" && (opAllows(op.Types, typ) || opAllows(op.Instance, typ)) {
			out = append(out, conformance.Operation{Name: op.Name, Definition: op.Definition, Documentation: op.Documentation})
		}
	}
	return out
}
