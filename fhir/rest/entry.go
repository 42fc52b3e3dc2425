package rest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/service"
)

// A GET or HEAD entry of a batch or transaction is answered as the request
// of its own would be, through the service and the same encoders, never by
// sending this server an HTTP request: the same interaction, the same
// authorisation, one audit record and one log line per entry.

// entryRead is one interaction a read entry may ask for; params are the
// route's, as gin would give them.
type entryRead func(ctx context.Context, c *gin.Context, e *service.Entry, params gin.Params, note func(Access)) (int, bundleEntry, error)

// entryRoutes are the read interactions of fhirRoutes, by path (in gin's
// syntax, matched by matchRoute) and method.
func (s *Server) entryRoutes() []struct {
	method, path string
	h            entryRead
} {
	return []struct {
		method, path string
		h            entryRead
	}{
		{"GET", "metadata", s.metadataEntry},
		{"GET", "", s.searchEntry},
		{"GET", "_history", s.historyEntry},
		{"GET", ":type", s.searchEntry},
		{"GET", ":type/_history", s.historyEntry},
		{"GET", ":type/:id", s.readEntry},
		{"HEAD", ":type/:id", s.readEntry},
		{"GET", ":type/:id/_history", s.historyEntry},
		{"GET", ":type/:id/_history/:vid", s.vreadEntry},
		{"GET", ":type/:id/:comp", s.searchEntry},
		{"GET", "$:op", s.operationEntry},
		{"GET", ":type/$:op", s.operationEntry},
		{"GET", ":type/:id/$:op", s.operationEntry},
	}
}

// getEntry answers a GET or HEAD entry, audits it and logs it.
func (s *Server) getEntry(c *gin.Context, e *service.Entry) bundleEntry {
	ctx := c.Request.Context()
	start := s.cfg.Now()
	t0 := time.Now()
	rel, _, _ := strings.Cut(e.Path, "?")
	path := s.entryPath(e)
	var noted *Access
	status, out, err := s.routeEntry(ctx, c, e, rel, func(a Access) { noted = &a })
	if err != nil {
		var body []byte
		status, body = s.outcome(ctx, e.Method, path, err)
		out = bundleEntry{Response: &entryResponse{Status: statusText(status), Outcome: body}}
	}
	if noted != nil {
		s.cfg.Audit.Record(ctx, AuditRecord{Access: *noted, Call: callOf(c), Method: e.Method, Path: path, Status: status, Time: start, Err: err})
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "fhir request",
		slog.String("method", e.Method),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(t0)),
		slog.Bool("bundle_entry", true))
	return out
}

// routeEntry finds the interaction of a read entry by FHIR's path rules,
// as unrouted does for a request, and runs it.
func (s *Server) routeEntry(ctx context.Context, c *gin.Context, e *service.Entry, rel string, note func(Access)) (int, bundleEntry, error) {
	var segs []string
	if p := strings.Trim(rel, "/"); p != "" {
		for _, seg := range strings.Split(p, "/") {
			u, err := url.PathUnescape(seg)
			if err != nil {
				return 0, bundleEntry{}, invalid("bad path segment %q", seg)
			}
			segs = append(segs, u)
		}
	}
	pathMatched := false
	for _, rt := range s.entryRoutes() {
		params, ok := matchRoute(rt.path, segs)
		if !ok {
			continue
		}
		if rt.method != e.Method {
			pathMatched = true
			continue
		}
		if t := params.ByName("type"); t != "" {
			if err := s.checkType(t); err != nil {
				return 0, bundleEntry{}, err
			}
		}
		if id := params.ByName("id"); id != "" && !validID(id) {
			return 0, bundleEntry{}, &outcome.Error{Kind: outcome.Invalid, Message: fmt.Sprintf("invalid resource id %q: ids are 1-64 characters of A-Z, a-z, 0-9, '-' and '.'", id)}
		}
		return rt.h(ctx, c, e, params, note)
	}
	if pathMatched {
		return 0, bundleEntry{}, refuse(outcome.MethodNotAllowed, fmt.Sprintf("method %s is not supported at %s", e.Method, s.cfg.Prefix+"/"+rel))
	}
	if len(segs) > 0 && !strings.HasPrefix(segs[0], "_") && segs[0] != "metadata" {
		if err := s.checkType(segs[0]); err != nil {
			return 0, bundleEntry{}, err
		}
	}
	return 0, bundleEntry{}, refuse(outcome.NotFound, "no FHIR endpoint at "+s.cfg.Prefix+"/"+rel)
}

// entryQuery parses the query of a read entry's request.url.
func entryQuery(e *service.Entry) (url.Values, error) {
	q, err := url.ParseQuery(e.Query)
	if err != nil {
		return nil, invalid("malformed query string: %v", err)
	}
	return q, nil
}

// bodyEntry is a 200 response entry with body: a resource, or an
// OperationOutcome in the response's outcome.
func bodyEntry(status int, body []byte) bundleEntry {
	out := bundleEntry{Response: &entryResponse{Status: statusText(status)}}
	switch {
	case len(body) == 0:
	case status >= 400 || bytes.Contains(body[:min(len(body), 64)], []byte(`"resourceType":"OperationOutcome"`)):
		out.Response.Outcome = body
	default:
		out.Resource = body
	}
	return out
}

func (s *Server) metadataEntry(_ context.Context, _ *gin.Context, _ *service.Entry, _ gin.Params, _ func(Access)) (int, bundleEntry, error) {
	b, err := s.CapabilityStatement()
	if err != nil {
		return 0, bundleEntry{}, err
	}
	return http.StatusOK, bodyEntry(http.StatusOK, b), nil
}

func (s *Server) searchEntry(ctx context.Context, c *gin.Context, e *service.Entry, params gin.Params, note func(Access)) (int, bundleEntry, error) {
	typ, patient := params.ByName("type"), ""
	if comp := params.ByName("comp"); comp != "" {
		var err error
		rel, _, _ := strings.Cut(e.Path, "?")
		if typ, err = compartmentType(typ, comp, s.cfg.Prefix+"/"+rel); err != nil {
			return 0, bundleEntry{}, err
		}
		if typ != "" {
			if err := s.checkType(typ); err != nil {
				return 0, bundleEntry{}, err
			}
		}
		patient = params.ByName("id")
	}
	q, err := entryQuery(e)
	if err != nil {
		return 0, bundleEntry{}, err
	}
	b, err := s.searchset(ctx, s.service(c), s.base(c), typ, patient, q, c.Request.Header.Values("Prefer"), note)
	if err != nil {
		return 0, bundleEntry{}, err
	}
	return http.StatusOK, bodyEntry(http.StatusOK, b), nil
}

func (s *Server) historyEntry(ctx context.Context, c *gin.Context, e *service.Entry, params gin.Params, note func(Access)) (int, bundleEntry, error) {
	q, err := entryQuery(e)
	if err != nil {
		return 0, bundleEntry{}, err
	}
	b, err := s.historyBundle(ctx, s.service(c), s.base(c), params.ByName("type"), params.ByName("id"), q, note)
	if err != nil {
		return 0, bundleEntry{}, err
	}
	return http.StatusOK, bodyEntry(http.StatusOK, b), nil
}

func (s *Server) readEntry(ctx context.Context, c *gin.Context, e *service.Entry, params gin.Params, note func(Access)) (int, bundleEntry, error) {
	typ, id := params.ByName("type"), params.ByName("id")
	note(Access{Interaction: "read", Type: typ, ID: id})
	v, err := s.service(c).Read(ctx, typ, id)
	if err != nil {
		return 0, bundleEntry{}, err
	}
	notModified := false
	if h := e.IfNoneMatch; h != "" {
		if n, err := service.ParseETag(h); err == nil && n == v.VersionID {
			notModified = true
		}
	}
	if h := e.IfModifiedSince; h != "" && !notModified {
		if t, err := http.ParseTime(h); err == nil && !v.LastUpdated.Truncate(time.Second).After(t) {
			notModified = true
		}
	}
	if notModified {
		return http.StatusNotModified, versionEntry(http.StatusNotModified, nil, v.VersionID, v.LastUpdated), nil
	}
	return s.resourceEntry(e, v.JSON, v.VersionID, v.LastUpdated)
}

func (s *Server) vreadEntry(ctx context.Context, c *gin.Context, e *service.Entry, params gin.Params, note func(Access)) (int, bundleEntry, error) {
	typ, id := params.ByName("type"), params.ByName("id")
	note(Access{Interaction: "vread", Type: typ, ID: id})
	vid, err := service.ParseETag(params.ByName("vid"))
	if err != nil {
		return 0, bundleEntry{}, invalid("invalid version id %q", params.ByName("vid"))
	}
	v, err := s.service(c).VRead(ctx, typ, id, vid)
	if err != nil {
		return 0, bundleEntry{}, err
	}
	return s.resourceEntry(e, v.JSON, v.VersionID, v.LastUpdated)
}

// resourceEntry is the 200 entry of one version, subsetted as the entry's
// _summary and _elements ask.
func (s *Server) resourceEntry(e *service.Entry, data []byte, vid int64, lastUpdated time.Time) (int, bundleEntry, error) {
	q, err := entryQuery(e)
	if err != nil {
		return 0, bundleEntry{}, err
	}
	body, err := s.subset(data, q.Get("_summary"), q.Get("_elements"))
	if err != nil {
		return 0, bundleEntry{}, err
	}
	return http.StatusOK, versionEntry(http.StatusOK, body, vid, lastUpdated), nil
}

// versionEntry is a response entry with a version's ETag and, as its
// Last-Modified header would give it, its time to the second.
func versionEntry(status int, body []byte, vid int64, lastUpdated time.Time) bundleEntry {
	out := bodyEntry(status, body)
	out.Response.Etag = etag(vid)
	out.Response.LastModified = resource.FormatInstant(lastUpdated.UTC().Truncate(time.Second))
	return out
}

func (s *Server) operationEntry(ctx context.Context, c *gin.Context, e *service.Entry, params gin.Params, note func(Access)) (int, bundleEntry, error) {
	header := http.Header{}
	for _, h := range []string{"Authorization", "Prefer", "X-Forwarded-Proto"} {
		if v := c.Request.Header.Values(h); len(v) > 0 {
			header[h] = v
		}
	}
	header.Set("Accept", mimeFHIRJSON)
	if e.IfNoneMatch != "" {
		header.Set("If-None-Match", e.IfNoneMatch)
	}
	if e.IfModifiedSince != "" {
		header.Set("If-Modified-Since", e.IfModifiedSince)
	}
	query, _ := url.ParseQuery(e.Query)
	// The service records the call (under the entry's path), so note is
	// not told of it.
	res, err := s.service(c).Operation(ctx, &OperationRequest{
		Name: strings.TrimPrefix(params.ByName("op"), "$"), Method: e.Method, Type: params.ByName("type"), ID: params.ByName("id"),
		Query: query, RawQuery: e.Query, Base: s.base(c), Path: s.entryPath(e), Header: header, ResponseHeader: http.Header{},
	})
	if err != nil {
		return 0, bundleEntry{}, err
	}
	status, rh, b := res.Status, res.Header, res.Body
	out := bodyEntry(status, b)
	out.Response.Location = rh.Get("Location")
	out.Response.Etag = rh.Get("ETag")
	if lm := rh.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			out.Response.LastModified = resource.FormatInstant(t)
		}
	}
	return status, out, nil
}

// entryPath is the path an entry's request names, below the prefix and
// unescaped, for its audit record and log line.
func (s *Server) entryPath(e *service.Entry) string {
	rel, _, _ := strings.Cut(e.Path, "?")
	path := s.cfg.Prefix + "/" + rel
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	return path
}
