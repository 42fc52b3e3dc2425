package rest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"ucp/fhir/resource"
	"ucp/fhir/service"
)

// handleBundle is POST [base] with a batch or transaction Bundle (R4
// http.html#transaction). fhir-kit-client posts to /fhir/ and fhir.js to
// /fhir; the dispatcher routes both here.
func (s *Server) handleBundle(c *gin.Context) error {
	body, _, err := s.readBody(c, mimeFHIRJSON, mimeJSON)
	if err != nil {
		return err
	}
	res, err := parseResource(body, "Bundle")
	if err != nil {
		return err
	}
	typ, _ := res["type"].(string)
	entries, _ := res["entry"].([]any)
	if res["entry"] != nil && entries == nil {
		return invalidAt("Bundle.entry", "Bundle.entry must be an array")
	}
	if len(entries) > s.cfg.MaxBundleEntries {
		return &issueError{status: http.StatusRequestEntityTooLarge, code: "too-costly", msg: fmt.Sprintf("the bundle has %d entries; at most %d are accepted", len(entries), s.cfg.MaxBundleEntries), expr: []string{"Bundle.entry"}}
	}
	if isBundleEntry(c.Request) {
		return invalid("a batch or transaction may not contain another batch or transaction")
	}
	switch typ {
	case "batch":
		if err := s.authorize(c, Access{Interaction: "batch"}); err != nil {
			return err
		}
		return s.batch(c, entries)
	case "transaction":
		if err := s.authorize(c, Access{Interaction: "transaction"}); err != nil {
			return err
		}
		return s.transaction(c, entries)
	}
	return invalidAt("Bundle.type", "POST to the base needs a Bundle of type batch or transaction, not %q (store other bundles with POST /Bundle)", typ)
}

// bundleEntryKey marks, in its context, an internal request that a batch
// runs for one entry (the value is the entry's index). A context value and
// not a header, so that no client can pass its own request off as one.
type bundleEntryKey struct{}

func isBundleEntry(r *http.Request) bool {
	_, ok := r.Context().Value(bundleEntryKey{}).(int)
	return ok
}

// bundleReq is one entry's request.
type bundleReq struct {
	idx                                                int
	method, rawURL, fullURL                            string
	ifMatch, ifNoneExist, ifNoneMatch, ifModifiedSince string
	res                                                map[string]any
}

// entryReq reads entry i's request element.
func entryReq(i int, raw any) (*bundleReq, error) {
	at := fmt.Sprintf("Bundle.entry[%d]", i)
	e, ok := raw.(map[string]any)
	if !ok {
		return nil, invalidAt(at, "%s is not an object", at)
	}
	r := &bundleReq{idx: i}
	r.fullURL, _ = e["fullUrl"].(string)
	if rv, ok := e["resource"]; ok {
		if r.res, ok = rv.(map[string]any); !ok {
			return nil, invalidAt(at+".resource", "%s.resource is not a resource", at)
		}
	}
	req, ok := e["request"].(map[string]any)
	if !ok {
		return nil, invalidAt(at+".request", "%s has no request", at)
	}
	r.method, _ = req["method"].(string)
	r.rawURL, _ = req["url"].(string)
	r.ifMatch, _ = req["ifMatch"].(string)
	r.ifNoneExist, _ = req["ifNoneExist"].(string)
	r.ifNoneMatch, _ = req["ifNoneMatch"].(string)
	r.ifModifiedSince, _ = req["ifModifiedSince"].(string)
	switch r.method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE":
	default:
		return nil, invalidAt(at+".request.method", "%s.request.method %q is not GET, HEAD, POST, PUT, PATCH or DELETE", at, r.method)
	}
	if r.rawURL == "" {
		return nil, invalidAt(at+".request.url", "%s.request.url is missing", at)
	}
	if (r.method == "POST" || r.method == "PUT") && r.res == nil {
		return nil, invalidAt(at+".resource", "%s: a %s needs a resource", at, r.method)
	}
	return r, nil
}

// relURL makes an entry URL relative to the base.
func (s *Server) relURL(c *gin.Context, raw string) string {
	for _, b := range []string{s.base(c), s.cfg.BaseURL} {
		if b != "" && strings.HasPrefix(raw, b+"/") {
			return strings.TrimPrefix(raw, b+"/")
		}
	}
	return strings.TrimPrefix(raw, "/")
}

// batch runs each entry on its own through the router, as if it were its
// own request (same principal and headers), and reports each outcome.
func (s *Server) batch(c *gin.Context, entries []any) error {
	out := &bundle{ResourceType: "Bundle", ID: uuid.NewString(), Type: "batch-response"}
	for i, raw := range entries {
		r, err := entryReq(i, raw)
		var e bundleEntry
		if err != nil {
			status, code, msg, expr := errorStatus(err)
			e.Response = &entryResponse{Status: statusText(status), Outcome: outcomeJSON("error", code, msg, expr)}
		} else {
			e = s.subRequest(c, r)
		}
		out.Entry = append(out.Entry, e)
	}
	return s.writeJSON(c, http.StatusOK, marshalBundle(out))
}

// subRequest runs one bundle entry through the router and turns the
// recorded response into a response entry.
func (s *Server) subRequest(c *gin.Context, r *bundleReq) bundleEntry {
	target := s.cfg.Prefix + "/" + s.relURL(c, r.rawURL)
	var body []byte
	ctype := mimeFHIRJSON
	if r.res != nil {
		if r.method == "PATCH" {
			var err error
			if body, ctype, err = entryPatch(r.res); err != nil {
				status, code, msg, expr := errorStatus(err)
				return bundleEntry{Response: &entryResponse{Status: statusText(status), Outcome: outcomeJSON("error", code, msg, expr)}}
			}
		} else {
			body = resource.Marshal(r.res)
		}
	}
	req, err := http.NewRequestWithContext(context.WithValue(c.Request.Context(), bundleEntryKey{}, r.idx), r.method, target, bytes.NewReader(body))
	if err != nil {
		return bundleEntry{Response: &entryResponse{Status: "400 Bad Request", Outcome: outcomeJSON("error", "invalid", "bad request.url: "+err.Error(), []string{fmt.Sprintf("Bundle.entry[%d].request.url", r.idx)})}}
	}
	for _, h := range []string{"Authorization", "Prefer", "X-Forwarded-Proto"} {
		if v := c.Request.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	req.Host = c.Request.Host
	req.TLS = c.Request.TLS
	req.RemoteAddr = c.Request.RemoteAddr
	req.Header.Set("Accept", mimeFHIRJSON)
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	for h, v := range map[string]string{"If-Match": r.ifMatch, "If-None-Exist": r.ifNoneExist, "If-None-Match": r.ifNoneMatch, "If-Modified-Since": r.ifModifiedSince} {
		if v != "" {
			req.Header.Set(h, v)
		}
	}
	rec := httptest.NewRecorder()
	s.engine.ServeHTTP(rec, req)
	resp := &entryResponse{
		Status:   statusText(rec.Code),
		Location: rec.Header().Get("Location"),
		Etag:     rec.Header().Get("ETag"),
	}
	if lm := rec.Header().Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			resp.LastModified = resource.FormatInstant(t)
		}
	}
	e := bundleEntry{Response: resp}
	if rb := rec.Body.Bytes(); len(rb) > 0 {
		if rec.Code >= 400 || bytes.Contains(rb[:min(len(rb), 64)], []byte(`"resourceType":"OperationOutcome"`)) {
			resp.Outcome = rb
		} else {
			e.Resource = rb
		}
	}
	if e.Resource != nil && r.method != "GET" && r.method != "HEAD" {
		if res, err := resource.Parse(e.Resource); err == nil {
			e.FullURL = s.base(c) + "/" + resource.Type(res) + "/" + resource.ID(res)
		}
	}
	return e
}

// entryPatch returns a PATCH entry's patch body and media type: a
// Parameters resource is a FHIRPath Patch, a Binary a JSON Patch.
func entryPatch(res map[string]any) ([]byte, string, error) {
	if resource.Type(res) == "Parameters" {
		return resource.Marshal(res), mimeFHIRJSON, nil
	}
	b, err := binaryPatch(res)
	return b, mimeJSONPatch, err
}

// binaryPatch reads a PATCH entry's resource: a Binary whose data is a
// base64 JSON Patch document (R4 http.html#patch in bundles).
func binaryPatch(res map[string]any) ([]byte, error) {
	if resource.Type(res) != "Binary" {
		return nil, statusErr(http.StatusUnsupportedMediaType, "not-supported", "a PATCH entry needs a Binary resource holding a JSON Patch, or a Parameters resource holding a FHIRPath Patch")
	}
	if ct, _ := res["contentType"].(string); ct != mimeJSONPatch {
		return nil, statusErr(http.StatusUnsupportedMediaType, "not-supported", "the PATCH entry's Binary.contentType must be application/json-patch+json")
	}
	data, _ := res["data"].(string)
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, invalidAt("Binary.data", "Binary.data is not base64: %v", err)
	}
	return b, nil
}

func statusText(code int) string {
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// txEntry is a transaction entry being decoded.
type txEntry struct {
	*bundleReq
	typ, id string // from request.url
	query   string // the condition or search query of request.url
}

// transaction processes a transaction Bundle all or nothing through the
// service (see service.Service.Transaction): this decodes the entries and
// encodes the response. GET and HEAD entries are answered after the writes,
// so that reads see the transaction's result.
func (s *Server) transaction(c *gin.Context, entries []any) error {
	ctx := c.Request.Context()
	tx := make([]*txEntry, len(entries))
	in := make([]*service.Entry, len(entries))
	for i, raw := range entries {
		r, err := entryReq(i, raw)
		if err != nil {
			return err
		}
		e := &txEntry{bundleReq: r}
		if err := s.parseEntryURL(c, e); err != nil {
			return entryErr(i, err)
		}
		se, err := serviceEntry(e)
		if err != nil {
			return entryErr(i, err)
		}
		tx[i], in[i] = e, se
	}
	results, err := s.svc.Transaction(ctx, in)
	if err != nil {
		var ee *service.EntryError
		if errors.As(err, &ee) {
			return entryErr(ee.Index, ee.Err)
		}
		return err
	}
	ret := parsePrefer(c.Request.Header.Values("Prefer")).ret
	out := &bundle{ResourceType: "Bundle", ID: uuid.NewString(), Type: "transaction-response"}
	base := s.base(c)
	for i, e := range tx {
		if e.method == "GET" || e.method == "HEAD" {
			out.Entry = append(out.Entry, s.subRequest(c, e.bundleReq))
			continue
		}
		be := bundleEntry{Response: &entryResponse{Status: statusText(writeStatus(results[i].Outcome))}}
		if v := results[i].Version; v != nil {
			be.FullURL = base + "/" + v.Type + "/" + v.ID
			be.Response.Location = fmt.Sprintf("%s/%s/_history/%d", v.Type, v.ID, v.VersionID)
			be.Response.Etag = etag(v.VersionID)
			be.Response.LastModified = resource.FormatInstant(v.LastUpdated)
			if !v.Deleted && ret != "minimal" && ret != "OperationOutcome" {
				be.Resource = v.JSON
			}
			if v.Deleted {
				be.Response.Location = ""
			}
		}
		out.Entry = append(out.Entry, be)
	}
	return s.writeJSON(c, http.StatusOK, marshalBundle(out))
}

// serviceEntry turns a decoded write entry into the service's Entry: its
// patch, its If-Match version, and the body id check of an update by id.
func serviceEntry(e *txEntry) (*service.Entry, error) {
	se := &service.Entry{Index: e.idx, Method: e.method, Type: e.typ, ID: e.id, Query: e.query,
		FullURL: e.fullURL, Resource: e.res, IfNoneExist: e.ifNoneExist}
	switch e.method {
	case "GET", "HEAD":
		return se, nil
	case "PUT":
		if e.query == "" {
			if err := checkBodyID(e.res, e.id); err != nil {
				return nil, err
			}
		}
	case "PATCH":
		pb, mt, err := entryPatch(e.res)
		if err != nil {
			return nil, err
		}
		if se.Patch, err = patchFunc(e.typ, e.id, pb, mt); err != nil {
			return nil, err
		}
		se.Resource = nil
	}
	if e.ifMatch != "" {
		v, err := parseETag(e.ifMatch)
		if err != nil {
			return nil, err
		}
		se.IfMatch = v
	}
	return se, nil
}

// parseEntryURL splits request.url into type, id, version and query.
func (s *Server) parseEntryURL(c *gin.Context, e *txEntry) error {
	rel := s.relURL(c, e.rawURL)
	path, query, _ := strings.Cut(rel, "?")
	e.query = query
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if segs[0] == "" {
		segs = nil
	}
	at := fmt.Sprintf("Bundle.entry[%d].request.url", e.idx)
	if len(segs) == 0 {
		if e.method == "GET" || e.method == "HEAD" {
			return nil
		}
		return invalidAt(at, "request.url %q names no resource type", e.rawURL)
	}
	e.typ = segs[0]
	if e.typ == "metadata" || strings.HasPrefix(e.typ, "_") {
		if e.method == "GET" || e.method == "HEAD" {
			return nil
		}
		return invalidAt(at, "request.url %q is not writable", e.rawURL)
	}
	if err := s.checkType(e.typ); err != nil {
		return err
	}
	if len(segs) > 1 {
		e.id = segs[1]
		if !validID(e.id) && !(e.id == "_history" || e.id == "_search") {
			return invalidAt(at, "invalid resource id %q", e.id)
		}
	}
	switch e.method {
	case "GET", "HEAD":
		return nil
	case "POST":
		if len(segs) != 1 {
			return invalidAt(at, "a POST entry's request.url must be the resource type, not %q", e.rawURL)
		}
		e.id = ""
	case "PUT", "PATCH", "DELETE":
		if (len(segs) == 2) == (query != "") || len(segs) > 2 {
			return invalidAt(at, "a %s entry's request.url must be Type/id or Type?condition, not %q", e.method, e.rawURL)
		}
	}
	if e.res != nil && e.method != "PATCH" {
		if err := checkType(e.res, e.typ); err != nil {
			return err
		}
	}
	return nil
}

// entryErr prefixes an error with the entry it is about, keeping its status.
// Internal errors pass through untouched: their detail is never shown.
func entryErr(i int, err error) error {
	status, code, msg, expr := errorStatus(err)
	if status >= 500 {
		return err
	}
	at := fmt.Sprintf("Bundle.entry[%d]", i)
	var ex []string
	for _, x := range expr {
		if strings.HasPrefix(x, "Bundle.") {
			ex = append(ex, x)
		} else {
			ex = append(ex, at+".resource."+x)
		}
	}
	if len(ex) == 0 {
		ex = []string{at}
	}
	if !strings.HasPrefix(msg, at) {
		msg = at + ": " + msg
	}
	return &issueError{status: status, code: code, msg: msg, expr: ex}
}
