package rest

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// Endpoint is a route below the FHIR base served by code outside this
// package, for protocols that are not FHIR interactions on resources: the
// Bulk Data status and file URLs, say. It runs behind whatever wraps the
// Server (the token middleware), its errors are answered as OperationOutcome
// through the same table as every interaction, and what it authorizes is
// audited, but it does its own content negotiation (a file download is
// NDJSON, not FHIR JSON).
type Endpoint struct {
	Method string // GET, POST, DELETE…
	// Path is below the prefix: "/"-separated segments, each a literal or a
	// "{name}" placeholder ("_bulk/{job}/{file}"). The first segment must be
	// a literal starting with "_", so that no endpoint can shadow a FHIR
	// route ({type} never starts with "_").
	Path    string
	Handler EndpointHandler
}

// EndpointHandler serves one request to an Endpoint. It writes a
// successful response to w itself. An error returned before anything is
// written is answered as an OperationOutcome (its outcome kind chooses
// the status); after writing, it is only logged.
type EndpointHandler func(w http.ResponseWriter, r *EndpointRequest) error

// EndpointRequest is one request to an Endpoint.
type EndpointRequest struct {
	*http.Request
	// Params are the placeholders' values, unescaped.
	Params map[string]string
	// Base is the absolute FHIR base URL, as OperationRequest.Base.
	Base string

	authorize func(Access) error
}

// Authorize asks the server's Authorizer about a and remembers it for the
// audit record of this request, as every FHIR interaction does. An
// endpoint that never calls it is not audited.
func (r *EndpointRequest) Authorize(a Access) error { return r.authorize(a) }

// RegisterEndpoint adds e. Like RegisterOperation, call it before the
// server serves requests. Placeholders at the same position of endpoints
// sharing the segments before it must have the same name (gin's router
// keeps one parameter per position).
func (s *Server) RegisterEndpoint(e Endpoint) (err error) {
	segs := strings.Split(strings.Trim(e.Path, "/"), "/")
	if e.Handler == nil || e.Method == "" || !strings.HasPrefix(segs[0], "_") || strings.HasPrefix(segs[0], "{") {
		return fmt.Errorf("rest: endpoint %s %q needs a handler and a first path segment starting with \"_\"", e.Method, e.Path)
	}
	ginPath := make([]string, len(segs))
	for i, seg := range segs {
		switch {
		case seg == "":
			return fmt.Errorf("rest: endpoint path %q has an empty segment", e.Path)
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			ginPath[i] = ":" + seg[1:len(seg)-1]
		case strings.ContainsAny(seg, ":*{}"):
			return fmt.Errorf("rest: endpoint path %q: a segment is a literal or a whole {placeholder}", e.Path)
		default:
			ginPath[i] = seg
		}
	}
	// gin panics on a route that clashes with one it has.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rest: endpoint %s %q: %v", e.Method, e.Path, r)
		}
	}()
	s.addRoute(s.engine, e.Method, strings.Join(ginPath, "/"), s.handle(s.serveEndpoint(e.Handler)))
	s.endpoints = append(s.endpoints, endpoint{method: e.Method, pattern: segs, h: e.Handler})
	return nil
}

// endpoint is a registered Endpoint, for unrouted.
type endpoint struct {
	method  string
	pattern []string
	h       EndpointHandler
}

// serveEndpoint wraps an EndpointHandler as a route's handler.
func (s *Server) serveEndpoint(h EndpointHandler) func(*gin.Context) error {
	return func(c *gin.Context) error {
		// Endpoints negotiate their own content (see Endpoint); their
		// errors are FHIR JSON like every other.
		c.Set(ctypeKey, mimeFHIRJSON)
		params := make(map[string]string, len(c.Params))
		for _, p := range c.Params {
			if p.Value == "" {
				// A doubled slash: the path is unrouted's to judge.
				return s.unrouted(c)
			}
			params[p.Key] = p.Value
		}
		req := &EndpointRequest{Request: c.Request, Params: params, Base: s.base(c),
			authorize: func(a Access) error { return s.authorize(c, a) }}
		err := h(c.Writer, req)
		if err != nil && c.Writer.Written() {
			s.log.ErrorContext(c.Request.Context(), "fhir endpoint failed after answering", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
			return nil
		}
		return err
	}
}

// matchSegments matches path segments against a pattern of literals and
// {name} placeholders, and returns the placeholders' values.
func matchSegments(pattern, segs []string) (gin.Params, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var params gin.Params
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return nil, false
			}
			params = append(params, gin.Param{Key: p[1 : len(p)-1], Value: segs[i]})
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}
