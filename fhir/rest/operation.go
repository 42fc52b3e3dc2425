package rest

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"ucp/conformance"
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

// RegisterOperation adds op to the service. Call it before the server
// serves requests (registration is not synchronised with dispatch) and
// before the first CapabilityStatement is built. A second operation with
// the same name replaces the first.
func (s *Server) RegisterOperation(op Operation) error { return s.svc.RegisterOperation(op) }

// handleOperation serves /$op, /{type}/$op and /{type}/{id}/$op: it decodes
// the call, has the service dispatch it (which authorises and audits it)
// and encodes the answer.
func (s *Server) handleOperation(c *gin.Context) error {
	query, _ := url.ParseQuery(c.Request.URL.RawQuery)
	req := &OperationRequest{
		Name: strings.TrimPrefix(c.Param("op"), "$"), Method: c.Request.Method, Type: c.Param("type"), ID: c.Param("id"),
		Query: query, RawQuery: c.Request.URL.RawQuery, Base: s.base(c), Path: c.Request.URL.Path,
		Header: c.Request.Header.Clone(), ResponseHeader: http.Header{},
		// The service records the call; the request's own record would
		// be a second one.
		Noted: func(a Access) { c.Set(accessKey, a); c.Set(auditedKey, true) },
	}
	if req.Method == http.MethodPost {
		// Read once authorised, as the body of any request is.
		req.ReadBody = func() (map[string]any, error) {
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
	res, err := s.service(c).Operation(c.Request.Context(), req)
	if err != nil {
		return err
	}
	for k, vs := range res.Header {
		for _, v := range vs {
			c.Writer.Header().Add(k, v)
		}
	}
	if res.Body == nil {
		c.Status(res.Status)
		c.Writer.WriteHeaderNow()
		return nil
	}
	return s.writeJSON(c, res.Status, res.Body)
}

// capabilityOperations lists the registered operations for the
// CapabilityStatement: system ones at rest level, the others on each type
// that allows them.
func (s *Server) capabilityOperations(typ string) []conformance.Operation {
	var out []conformance.Operation
	for _, op := range s.svc.Operations(typ) {
		out = append(out, conformance.Operation{Name: op.Name, Definition: op.Definition, Documentation: op.Documentation})
	}
	return out
}
