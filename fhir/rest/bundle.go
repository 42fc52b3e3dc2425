package rest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"ucp/fhir/resource"
	"ucp/store"
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

// txEntry is a transaction entry being processed.
type txEntry struct {
	*bundleReq
	typ, id string // from request.url
	query   string // the condition or search query of request.url
	matched *store.Version
	noop    bool // a conditional delete with no match, or a delete of nothing
	p       *pending
	written *store.Version
	status  int
	sub     *bundleEntry // GET results
}

// transaction processes a transaction Bundle all or nothing: every write is
// prepared first (ids assigned, urn: and conditional references resolved and
// rewritten, preconditions checked), then stored in ONE store.Write, so a
// bad entry leaves nothing stored. Entries are processed in the R4 order
// DELETE, POST, PUT/PATCH, then GET/HEAD (reads see the transaction's
// result). A write that loses a race with a concurrent writer is retried
// from the start.
func (s *Server) transaction(c *gin.Context, entries []any) error {
	ctx := c.Request.Context()
	var tx []*txEntry
	var err error
	for attempt := 1; ; attempt++ {
		tx, err = s.prepareTransaction(c, entries)
		if err != nil {
			return err
		}
		var changes []store.Change
		var owners []*txEntry
		for _, e := range tx {
			if e.p != nil && e.p.change != nil {
				changes = append(changes, *e.p.change)
				owners = append(owners, e)
				changes = append(changes, e.p.extra...)
				for range e.p.extra {
					owners = append(owners, nil)
				}
			}
		}
		if len(changes) == 0 {
			break
		}
		vs, werr := s.cfg.Store.Write(ctx, changes)
		if werr == nil {
			for _, e := range tx {
				s.committed(e.p)
			}
			for i, o := range owners {
				if o != nil {
					v := vs[i]
					o.written = &v
				}
			}
			break
		}
		if store.KindOf(werr) == store.Conflict && attempt < maxWriteAttempts {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
			continue // a concurrent write: re-evaluate conditions and versions
		}
		return werr
	}
	for _, e := range tx {
		if e.method == "GET" || e.method == "HEAD" {
			sub := s.subRequest(c, e.bundleReq)
			e.sub = &sub
		}
	}
	ret := parsePrefer(c.Request.Header.Values("Prefer")).ret
	out := &bundle{ResourceType: "Bundle", ID: uuid.NewString(), Type: "transaction-response"}
	base := s.base(c)
	for _, e := range tx {
		if e.sub != nil {
			out.Entry = append(out.Entry, *e.sub)
			continue
		}
		be := bundleEntry{Response: &entryResponse{Status: statusText(e.status)}}
		v := e.written
		if v == nil {
			v = e.matched
		}
		if v != nil {
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

// txOrder is the R4 processing order of a transaction's methods.
var txOrder = map[string]int{"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}

// prepareTransaction does everything but the write. Errors name the entry.
func (s *Server) prepareTransaction(c *gin.Context, entries []any) ([]*txEntry, error) {
	ctx := c.Request.Context()
	tx := make([]*txEntry, len(entries))
	for i, raw := range entries {
		r, err := entryReq(i, raw)
		if err != nil {
			return nil, err
		}
		e := &txEntry{bundleReq: r}
		if err := s.parseEntryURL(c, e); err != nil {
			return nil, entryErr(i, err)
		}
		if r.res != nil && r.method != "PATCH" {
			// Work on a copy: a retry must start from the client's content.
			r.res = deepCopy(r.res).(map[string]any)
		}
		tx[i] = e
	}
	// Pass 1: decide every written resource's id, so that references to
	// fullUrls (urn:uuid:, urn:oid:, absolute) can be rewritten.
	ids := map[string]string{} // fullUrl -> Type/id
	seen := map[string]int{}
	for _, e := range tx {
		if err := s.assignID(ctx, e); err != nil {
			return nil, entryErr(e.idx, err)
		}
		if e.method == "GET" || e.method == "HEAD" || e.id == "" {
			continue
		}
		key := e.typ + "/" + e.id
		if j, dup := seen[key]; dup && !e.noop {
			return nil, entryErr(e.idx, invalid("%s is also written by Bundle.entry[%d]; a transaction may change a resource only once", key, j))
		}
		seen[key] = e.idx
		if e.fullURL != "" {
			ids[e.fullURL] = key
		}
	}
	// Pass 2: rewrite references in every resource.
	for _, e := range tx {
		if e.res == nil || e.method == "PATCH" {
			continue
		}
		if err := s.rewriteRefs(ctx, e.res, ids); err != nil {
			return nil, entryErr(e.idx, err)
		}
	}
	// Pass 3: prepare the writes, in processing order and, within each
	// method, each entry after the entries it refers to, so domain rules
	// see what the transaction writes (TransactionVersion).
	view := NewPending()
	ctx = view.Context(ctx, math.MaxInt)
	for pass := 0; pass <= 2; pass++ {
		var batch []*txEntry
		for _, e := range tx {
			if txOrder[e.method] == pass && !e.noop && e.matched == nil {
				batch = append(batch, e)
			}
		}
		for _, e := range dependencyOrder(batch) {
			w := &writeReq{method: e.method, typ: e.typ, id: e.id, res: e.res}
			switch e.method {
			case "DELETE":
				w.interaction = "delete"
			case "POST":
				w.interaction = "create"
				if e.ifNoneExist != "" {
					q, err := s.parseCondition(ctx, e.typ, e.ifNoneExist)
					if err != nil {
						return nil, entryErr(e.idx, err)
					}
					w.ifNoneExist = q
				}
			case "PUT":
				w.interaction, w.createOnMissing = "update", true
				if e.query == "" {
					if err := checkBodyID(e.res, e.id); err != nil {
						return nil, entryErr(e.idx, err)
					}
				}
			case "PATCH":
				w.interaction = "patch"
				pb, mt, err := entryPatch(e.res)
				if err != nil {
					return nil, entryErr(e.idx, err)
				}
				if w.patch, err = patchFunc(e.typ, e.id, pb, mt); err != nil {
					return nil, entryErr(e.idx, err)
				}
				w.res = nil
			}
			if e.ifMatch != "" {
				v, err := parseETag(e.ifMatch)
				if err != nil {
					return nil, entryErr(e.idx, err)
				}
				w.ifMatch = v
			}
			if err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: w.interaction, Type: e.typ, ID: e.id, Query: e.query}); err != nil {
				return nil, entryErr(e.idx, err)
			}
			p, err := s.prepare(ctx, w)
			if err != nil {
				return nil, entryErr(e.idx, err)
			}
			e.p, e.status = p, p.status
			view.Add(view.Len(), p.change)
			if e.method == "DELETE" && p.change == nil {
				e.status = http.StatusNoContent
			}
		}
	}
	for _, e := range tx {
		switch {
		case e.matched != nil:
			e.status = http.StatusOK
		case e.noop:
			e.status = http.StatusNoContent
		}
	}
	return tx, nil
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

// assignID fixes the id a write entry will have: a new uuid for a create
// (or the existing resource for a matched If-None-Exist), and the match of
// a conditional update, patch or delete.
func (s *Server) assignID(ctx context.Context, e *txEntry) error {
	switch e.method {
	case "POST":
		if e.ifNoneExist != "" {
			q, err := s.parseCondition(ctx, e.typ, e.ifNoneExist)
			if err != nil {
				return err
			}
			v, err := s.conditionalCreateMatch(ctx, q)
			if err != nil {
				return err
			}
			if v != nil {
				e.matched, e.id = v, v.ID
				return nil
			}
		}
		e.id = uuid.NewString()
	case "PUT", "PATCH", "DELETE":
		if e.query == "" {
			return nil
		}
		q, err := s.parseCondition(ctx, e.typ, e.query)
		if err != nil {
			return err
		}
		vs, err := s.matchCondition(ctx, q, 2)
		if err != nil {
			return err
		}
		switch {
		case len(vs) > 1:
			return precondition("the condition %s?%s matches more than one resource", e.typ, e.query)
		case len(vs) == 1:
			e.id = vs[0].ID
			if bid, _ := e.res["id"].(string); e.method == "PUT" && bid != "" && bid != e.id {
				return invalidAt("id", "the resource id %q does not match the resource %s/%s the condition matched", bid, e.typ, e.id)
			}
			if e.method == "PUT" {
				e.res["id"] = e.id
			}
		case e.method == "DELETE":
			e.noop = true
		case e.method == "PATCH":
			return store.Errorf(store.NotFound, "no %s matches %s", e.typ, e.query)
		default: // PUT with no match creates
			bid, _ := e.res["id"].(string)
			if bid == "" {
				bid = uuid.NewString()
			} else if !validID(bid) {
				return invalidAt("id", "invalid resource id %q", bid)
			}
			e.id = bid
			e.res["id"] = bid
		}
	}
	return nil
}

// rewriteRefs rewrites references to bundle fullUrls into the assigned
// Type/id, and resolves conditional references (Patient?identifier=…) to
// their one match.
func (s *Server) rewriteRefs(ctx context.Context, res map[string]any, ids map[string]string) error {
	var err error
	resource.WalkReferences(res, func(ref map[string]any) {
		if err != nil {
			return
		}
		r, ok := ref["reference"].(string)
		if !ok || r == "" || strings.HasPrefix(r, "#") {
			return
		}
		if to, ok := ids[r]; ok {
			ref["reference"] = to
			return
		}
		if strings.HasPrefix(r, "urn:uuid:") || strings.HasPrefix(r, "urn:oid:") {
			err = invalid("reference %q names no entry of this bundle", r)
			return
		}
		if typ, query, ok := strings.Cut(r, "?"); ok && !strings.Contains(typ, "/") && !strings.Contains(typ, ":") {
			var q *store.Query
			if q, err = s.parseCondition(ctx, typ, query); err != nil {
				return
			}
			var vs []store.Version
			if vs, err = s.matchCondition(ctx, q, 2); err != nil {
				return
			}
			if len(vs) != 1 {
				err = precondition("the conditional reference %q matches %d resources; it must match exactly one", r, len(vs))
				return
			}
			ref["reference"] = typ + "/" + vs[0].ID
		}
	})
	return err
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

// deepCopy copies a parsed JSON tree.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = deepCopy(e)
		}
		return a
	}
	return v
}

// dependencyOrder orders entries so that one referring to another entry of
// the list comes after it; references in a cycle keep the Bundle's order.
func dependencyOrder(entries []*txEntry) []*txEntry {
	if len(entries) < 2 {
		return entries
	}
	index := map[string]int{}
	for i, e := range entries {
		if e.id != "" {
			index[e.typ+"/"+e.id] = i
		}
	}
	deps := make([][]int, len(entries))
	for i, e := range entries {
		if e.res == nil {
			continue
		}
		resource.WalkReferences(e.res, func(ref map[string]any) {
			r := resource.ParseReference(ref["reference"].(string))
			if j, ok := index[r.Type+"/"+r.ID]; ok && r.IsLocal() && j != i {
				deps[i] = append(deps[i], j)
			}
		})
	}
	done := make([]bool, len(entries))
	out := make([]*txEntry, 0, len(entries))
	for len(out) < len(entries) {
		progress := false
		for i, e := range entries {
			if done[i] {
				continue
			}
			ready := true
			for _, j := range deps[i] {
				if !done[j] {
					ready = false
					break
				}
			}
			if ready {
				done[i], progress = true, true
				out = append(out, e)
			}
		}
		if !progress { // a cycle: take the first waiting entry as it stands
			for i, e := range entries {
				if !done[i] {
					done[i] = true
					out = append(out, e)
					break
				}
			}
		}
	}
	return out
}
