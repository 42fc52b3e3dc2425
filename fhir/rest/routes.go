package rest

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
)

// route is one FHIR interaction's route: a method and a path below the
// prefix in gin's syntax (":type", ":id", ":vid", ":comp", "$:op").
type route struct {
	method, path string
	h            func(*gin.Context) error
}

// fhirRoutes lists every FHIR interaction in one place (R4 http.html). gin's
// router prefers a literal segment (metadata, _history, _search, a "$"
// operation) to a parameter at the same level, so the order here does not
// matter. By FHIR's path rules (see placeholderValue) no path matches two
// routes of one method, so unrouted, which matches by those rules, finds
// the route gin would.
func (s *Server) fhirRoutes() []route {
	rs := []route{
		// System level.
		{"GET", "metadata", s.handleMetadata},
		{"GET", "", s.handleSearchSystem},
		{"POST", "_search", s.handleSearchSystem},
		{"POST", "", s.handleBundle},
		{"GET", "_history", s.handleHistory},
		// Type level.
		{"GET", ":type", s.handleSearch},
		{"POST", ":type/_search", s.handleSearch},
		{"POST", ":type", s.handleCreate},
		{"PUT", ":type", s.handleConditionalUpdate},
		{"PATCH", ":type", s.handleConditionalPatch},
		{"DELETE", ":type", s.handleConditionalDelete},
		{"GET", ":type/_history", s.handleHistory},
		// Instance level.
		{"GET", ":type/:id", s.handleRead},
		{"HEAD", ":type/:id", s.handleRead},
		{"PUT", ":type/:id", s.handleUpdate},
		{"PATCH", ":type/:id", s.handleUpdate},
		{"DELETE", ":type/:id", s.handleDelete},
		{"GET", ":type/:id/_history", s.handleHistory},
		{"GET", ":type/:id/_history/:vid", s.handleVRead},
		// Compartment search: :comp is a type or "*".
		{"GET", ":type/:id/:comp", s.handleCompartmentSearch},
		{"POST", ":type/:id/:comp/_search", s.handleCompartmentSearch},
	}
	// Operations at each level; which operation exists where is the
	// registry's business (see handleOperation).
	for _, m := range []string{"GET", "POST"} {
		rs = append(rs,
			route{m, "$:op", s.handleOperation},
			route{m, ":type/$:op", s.handleOperation},
			route{m, ":type/:id/$:op", s.handleOperation})
	}
	return rs
}

// mountRoutes registers the FHIR routes on e, each also with a trailing
// slash ("/fhir/Patient/" is "/fhir/Patient"), and the answer for paths no
// route takes.
func (s *Server) mountRoutes(e *gin.Engine) {
	s.routes = s.fhirRoutes()
	for _, rt := range s.routes {
		s.addRoute(e, rt.method, rt.path, s.handle(s.interaction(rt.h)))
	}
	e.NoRoute(s.handle(s.unrouted))
}

// addRoute registers h at path below the prefix, with and without a
// trailing slash.
func (s *Server) addRoute(e *gin.Engine, method, path string, h gin.HandlerFunc) {
	full := s.cfg.Prefix + "/" + path
	if path == "" {
		full = s.cfg.Prefix
	}
	if full != "" {
		e.Handle(method, full, h)
	}
	if !strings.HasSuffix(full, "/") {
		e.Handle(method, full+"/", h)
	}
}

// interaction wraps the handler of a FHIR route. gin's router matches any
// text at a parameter, but FHIR reserves segments starting with "_"
// (_history, _search) and "$" (operations) and wants a type name at :type:
// a request whose parameters break those rules is one the route does not
// take ("DELETE /metadata" is 405 because GET /metadata exists, not a
// conditional delete of a type "metadata"), and so is one with an empty
// parameter, from a doubled slash ("/fhir/Patient//").
func (s *Server) interaction(h func(*gin.Context) error) func(*gin.Context) error {
	return func(c *gin.Context) error {
		for _, p := range c.Params {
			if p.Value == "" || p.Key != "op" && !placeholderValue(p.Key, p.Value) {
				return s.unrouted(c)
			}
		}
		return s.serveInteraction(c, h)
	}
}

// serveInteraction serves a request its route took: the response's media
// type is negotiated, the type must be served and the id well formed.
func (s *Server) serveInteraction(c *gin.Context, h func(*gin.Context) error) error {
	if err := s.negotiate(c); err != nil {
		return err
	}
	if t := c.Param("type"); t != "" {
		if err := s.checkType(t); err != nil {
			return err
		}
	}
	if id := c.Param("id"); id != "" && !validID(id) {
		return &outcome.Error{Kind: outcome.Invalid, Message: fmt.Sprintf("invalid resource id %q: ids are 1-64 characters of A-Z, a-z, 0-9, '-' and '.'", id)}
	}
	return h(c)
}

// placeholderValue reports whether seg may stand at the placeholder named
// key of a FHIR route.
func placeholderValue(key, seg string) bool {
	if strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, "$") {
		return false
	}
	return key != "type" || resource.ValidType(seg)
}

// unrouted serves a request that gin's tree did not take, or took to a
// route whose parameters FHIR's path rules refuse. It matches the path's
// segments against the same routes by those rules: gin cannot say them
// (a parameter there matches any text), routes on the path as sent (so
// "/fhir//Patient", which a base URL ending in "/" gives, and an escaped
// "%24everything" would miss), and answers 405 by its own matching, which
// would make "POST /Patient/_x" a 405 where FHIR has no such path at all.
// A path no route takes by any method is 404, naming an unsupported type
// when it starts with one; one another method takes is 405. An endpoint's
// 405 comes before content negotiation, as its requests are not FHIR JSON.
func (s *Server) unrouted(c *gin.Context) error {
	p := c.Request.URL.EscapedPath()
	if s.cfg.Prefix != "" && p != s.cfg.Prefix && !strings.HasPrefix(p, s.cfg.Prefix+"/") {
		return refuse(outcome.NotFound, "no FHIR endpoint at "+c.Request.URL.Path)
	}
	p = strings.Trim(strings.TrimPrefix(p, s.cfg.Prefix), "/")
	var segs []string
	if p != "" {
		for _, seg := range strings.Split(p, "/") {
			u, err := url.PathUnescape(seg)
			if err != nil {
				return invalid("bad path segment %q", seg)
			}
			segs = append(segs, u)
		}
	}
	// Errors of endpoints are FHIR JSON like every other.
	c.Set(ctypeKey, mimeFHIRJSON)
	method := c.Request.Method
	notAllowed := refuse(outcome.MethodNotAllowed, fmt.Sprintf("method %s is not supported at %s", method, c.Request.URL.Path))
	pathMatched := false
	for _, ep := range s.endpoints {
		params, ok := matchSegments(ep.pattern, segs)
		if !ok {
			continue
		}
		if ep.method == method {
			c.Params = params
			return s.serveEndpoint(ep.h)(c)
		}
		pathMatched = true
	}
	if pathMatched {
		return notAllowed
	}
	if err := s.negotiate(c); err != nil {
		return err
	}
	for _, rt := range s.routes {
		params, ok := matchRoute(rt.path, segs)
		if !ok {
			continue
		}
		if rt.method == method {
			c.Params = params
			return s.serveInteraction(c, rt.h)
		}
		pathMatched = true
	}
	if pathMatched {
		return notAllowed
	}
	if len(segs) > 0 && !strings.HasPrefix(segs[0], "_") && segs[0] != "metadata" {
		if err := s.checkType(segs[0]); err != nil {
			return err
		}
	}
	return refuse(outcome.NotFound, "no FHIR endpoint at "+c.Request.URL.Path)
}

// matchRoute matches segs against a route's path by the rules interaction
// applies on top of gin's matching, and returns the parameters as gin
// would (":op" without its "$").
func matchRoute(path string, segs []string) (gin.Params, bool) {
	var pattern []string
	if path != "" {
		pattern = strings.Split(path, "/")
	}
	if len(pattern) != len(segs) {
		return nil, false
	}
	var params gin.Params
	for i, ps := range pattern {
		switch {
		case strings.HasPrefix(ps, "$:"):
			if !strings.HasPrefix(segs[i], "$") {
				return nil, false
			}
			params = append(params, gin.Param{Key: ps[2:], Value: segs[i][1:]})
		case strings.HasPrefix(ps, ":"):
			if !placeholderValue(ps[1:], segs[i]) {
				return nil, false
			}
			params = append(params, gin.Param{Key: ps[1:], Value: segs[i]})
		case ps != segs[i]:
			return nil, false
		}
	}
	return params, true
}
