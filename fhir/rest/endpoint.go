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
// written is answered as an OperationOutcome (store.Error kinds choose the
// status); after writing, it is only logged.
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
// server serves requests.
func (s *Server) RegisterEndpoint(e Endpoint) error {
	segs := strings.Split(strings.Trim(e.Path, "/"), "/")
	if e.Handler == nil || e.Method == "" || !strings.HasPrefix(segs[0], "_") || strings.HasPrefix(segs[0], "{") {
		return fmt.Errorf("rest: endpoint %s %q needs a handler and a first path segment starting with \"_\"", e.Method, e.Path)
	}
	for _, seg := range segs {
		if seg == "" {
			return fmt.Errorf("rest: endpoint path %q has an empty segment", e.Path)
		}
	}
	s.endpoints = append(s.endpoints, endpoint{method: e.Method, pattern: segs, h: e.Handler})
	return nil
}

type endpoint struct {
	method  string
	pattern []string
	h       EndpointHandler
}

// serveEndpoint serves segs if an Endpoint matches them. It reports
// whether one did (by path: a path match with another method is a 405).
func (s *Server) serveEndpoint(c *gin.Context, segs []string) (bool, error) {
	pathMatched := false
	for _, ep := range s.endpoints {
		params, ok := matchSegments(ep.pattern, segs)
		if !ok {
			continue
		}
		pathMatched = true
		if ep.method != c.Request.Method {
			continue
		}
		req := &EndpointRequest{Request: c.Request, Params: params, Base: s.base(c),
			authorize: func(a Access) error { return s.authorize(c, a) }}
		return true, ep.h(c.Writer, req)
	}
	if pathMatched {
		return true, statusErr(http.StatusMethodNotAllowed, "not-supported", fmt.Sprintf("method %s is not supported at %s", c.Request.Method, c.Request.URL.Path))
	}
	return false, nil
}

// matchSegments matches path segments against a pattern of literals and
// {name} placeholders.
func matchSegments(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if segs[i] == "" {
				return nil, false
			}
			params[p[1:len(p)-1]] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}
