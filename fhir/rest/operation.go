package rest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
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
	known := op != nil && (level == "system" && op.System || level == "type" && opAllows(op.Types, typ) || level == "instance" && opAllows(op.Instance, typ))
	if !known {
		where := "at system level"
		if typ != "" {
			where = "on " + typ
			if id != "" {
				where = "on a " + typ + " instance"
			}
		}
		return &outcome.Error{Kind: outcome.NotFound, Code: "not-supported", Message: fmt.Sprintf("operation $%s is not supported %s", name, where)}
	}
	if c.Request.Method == http.MethodGet && op.AffectsState {
		return refuse(outcome.MethodNotAllowed, fmt.Sprintf("operation $%s changes data and must be invoked with POST", name))
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
			return outcome.Errorf(outcome.Internal, "encoding $%s response: %v", name, err)
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
		if typ == "" && op.System || typ != "" && (opAllows(op.Types, typ) || opAllows(op.Instance, typ)) {
			out = append(out, conformance.Operation{Name: op.Name, Definition: op.Definition, Documentation: op.Documentation})
		}
	}
	return out
}
