package service

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
)

// DecodeEntry reads entry i of a batch or transaction Bundle (R4
// http.html#transaction): its request (method, url, conditions), its
// resource, and for a PATCH the patch it carries. request.url may be
// absolute when it starts with one of bases. Errors name the entry.
func DecodeEntry(i int, raw any, bases ...string) (*Entry, error) {
	at := fmt.Sprintf("Bundle.entry[%d]", i)
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, invalidAt(at, "%s is not an object", at)
	}
	e := &Entry{Index: i}
	e.FullURL, _ = m["fullUrl"].(string)
	if rv, ok := m["resource"]; ok {
		if e.Resource, ok = rv.(map[string]any); !ok {
			return nil, invalidAt(at+".resource", "%s.resource is not a resource", at)
		}
	}
	req, ok := m["request"].(map[string]any)
	if !ok {
		return nil, invalidAt(at+".request", "%s has no request", at)
	}
	var ifMatch string
	e.Method, _ = req["method"].(string)
	e.URL, _ = req["url"].(string)
	ifMatch, _ = req["ifMatch"].(string)
	e.IfNoneExist, _ = req["ifNoneExist"].(string)
	e.IfNoneMatch, _ = req["ifNoneMatch"].(string)
	e.IfModifiedSince, _ = req["ifModifiedSince"].(string)
	switch e.Method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE":
	default:
		return nil, invalidAt(at+".request.method", "%s.request.method %q is not GET, HEAD, POST, PUT, PATCH or DELETE", at, e.Method)
	}
	if e.URL == "" {
		return nil, invalidAt(at+".request.url", "%s.request.url is missing", at)
	}
	if (e.Method == "POST" || e.Method == "PUT") && e.Resource == nil {
		return nil, invalidAt(at+".resource", "%s: a %s needs a resource", at, e.Method)
	}
	rel := strings.TrimPrefix(e.URL, "/")
	for _, b := range bases {
		if b != "" && strings.HasPrefix(e.URL, b+"/") {
			rel = strings.TrimPrefix(e.URL, b+"/")
			break
		}
	}
	e.Path = rel
	if err := e.splitURL(rel); err != nil {
		return nil, &EntryError{Index: i, Err: err}
	}
	if e.Method == "GET" || e.Method == "HEAD" || e.Type == "" {
		return e, nil
	}
	if err := e.decodeWrite(ifMatch); err != nil {
		return nil, &EntryError{Index: i, Err: err}
	}
	return e, nil
}

// splitURL splits a relative request.url into type, id and query.
func (e *Entry) splitURL(rel string) error {
	path, query, _ := strings.Cut(rel, "?")
	e.Query = query
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if segs[0] == "" {
		segs = nil
	}
	at := fmt.Sprintf("Bundle.entry[%d].request.url", e.Index)
	if len(segs) == 0 {
		if e.Method == "GET" || e.Method == "HEAD" {
			return nil
		}
		return invalidAt(at, "request.url %q names no resource type", e.URL)
	}
	if segs[0] == "metadata" || strings.HasPrefix(segs[0], "_") {
		if e.Method == "GET" || e.Method == "HEAD" {
			return nil
		}
		return invalidAt(at, "request.url %q is not writable", e.URL)
	}
	e.Type = segs[0]
	if len(segs) > 1 {
		e.ID = segs[1]
		if !resource.ValidID(e.ID) && !(e.ID == "_history" || e.ID == "_search") {
			return invalidAt(at, "invalid resource id %q", e.ID)
		}
	}
	switch e.Method {
	case "GET", "HEAD":
		return nil
	case "POST":
		if len(segs) != 1 {
			return invalidAt(at, "a POST entry's request.url must be the resource type, not %q", e.URL)
		}
		e.ID = ""
	case "PUT", "PATCH", "DELETE":
		if (len(segs) == 2) == (query != "") || len(segs) > 2 {
			return invalidAt(at, "a %s entry's request.url must be Type/id or Type?condition, not %q", e.Method, e.URL)
		}
	}
	if e.Resource != nil && e.Method != "PATCH" {
		if err := checkType(e.Resource, e.Type); err != nil {
			return err
		}
	}
	return nil
}

// decodeWrite reads what a write entry needs besides its URL: the body id
// check of an update by id, the patch of a PATCH, the If-Match version.
func (e *Entry) decodeWrite(ifMatch string) error {
	switch e.Method {
	case "PUT":
		if e.Query == "" {
			if err := CheckBodyID(e.Resource, e.ID); err != nil {
				return err
			}
		}
	case "PATCH":
		body, jsonPatch, err := EntryPatch(e.Resource)
		if err != nil {
			return err
		}
		if e.Patch, err = PatchFunc(e.Type, e.ID, body, jsonPatch); err != nil {
			return err
		}
	}
	if ifMatch != "" {
		v, err := ParseETag(ifMatch)
		if err != nil {
			return err
		}
		e.IfMatch = v
	}
	return nil
}

// EntryPatch returns a PATCH entry's patch body: a Parameters resource is a
// FHIRPath Patch, a Binary holding application/json-patch+json a JSON Patch
// (R4 http.html#patch in bundles).
func EntryPatch(res map[string]any) (body []byte, jsonPatch bool, err error) {
	switch resource.Type(res) {
	case "Parameters":
		return resource.Marshal(res), false, nil
	case "Binary":
	default:
		return nil, false, outcome.Errorf(outcome.Unsupported, "a PATCH entry needs a Binary resource holding a JSON Patch, or a Parameters resource holding a FHIRPath Patch")
	}
	if ct, _ := res["contentType"].(string); ct != "application/json-patch+json" {
		return nil, false, outcome.Errorf(outcome.Unsupported, "the PATCH entry's Binary.contentType must be application/json-patch+json")
	}
	data, _ := res["data"].(string)
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, false, invalidAt("Binary.data", "Binary.data is not base64: %v", err)
	}
	return b, true, nil
}

// CheckBodyID enforces R4 http.html#update: the body's id must equal the URL's.
func CheckBodyID(res map[string]any, id string) error {
	bid, ok := res["id"].(string)
	switch {
	case !ok || bid == "":
		return invalidAt("id", "the resource has no id; an update must carry the id %q of the URL", id)
	case bid != id:
		return invalidAt("id", "the resource id %q does not match the id %q in the URL", bid, id)
	}
	return nil
}

// ParseETag reads a version from an ETag value: W/"3", "3" or 3.
func ParseETag(v string) (int64, error) {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, invalid("malformed ETag %q: expected W/\"<version>\"", v)
	}
	return n, nil
}

// BatchEntry runs one write entry of a batch as an interaction of its own
// (R4 http.html#batch): authorised, its conditions resolved, retried like
// any write. GET and HEAD entries are the door's: BatchEntry refuses them.
func (s *Service) BatchEntry(ctx context.Context, e *Entry) (*Result, error) {
	if e.Type == "" || !s.types[e.Type] {
		return nil, outcome.Errorf(outcome.NotFound, "resource type %q is not supported by this server", e.Type)
	}
	w := &Write{Method: e.Method, Type: e.Type, ID: e.ID, Resource: e.Resource, IfMatch: e.IfMatch}
	a := e.Access()
	w.Interaction = a.Interaction
	switch e.Method {
	case "PUT":
		w.CreateOnMissing = true
	case "PATCH":
		w.Resource, w.Patch = nil, e.Patch
	case "GET", "HEAD":
		return nil, outcome.Errorf(outcome.Unsupported, "a %s entry is not a write", e.Method)
	}
	if err := s.cfg.Authorizer.Authorize(ctx, a); err != nil {
		return nil, err
	}
	if w.Interaction == "create" {
		w.Resource = deepCopy(e.Resource).(map[string]any)
		if e.IfNoneExist != "" {
			q, err := s.Condition(ctx, e.Type, e.IfNoneExist)
			if err != nil {
				return nil, err
			}
			w.IfNoneExist = q
		}
		return s.Write(ctx, w)
	}
	if e.Query == "" {
		if w.Resource != nil {
			w.Resource = deepCopy(w.Resource).(map[string]any)
		}
		return s.Write(ctx, w)
	}
	q, err := s.Condition(ctx, e.Type, e.Query)
	if err != nil {
		return nil, err
	}
	switch e.Method {
	case "PUT":
		return s.ConditionalUpdate(ctx, e.Type, q, e.Resource, e.IfMatch)
	case "DELETE":
		n, err := s.ConditionalDelete(ctx, e.Type, q, s.cfg.ConditionalDeleteMultiple, s.cfg.MaxConditionalDelete)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return &Result{Outcome: NoOp}, nil
		}
		return &Result{Outcome: Deleted}, nil
	}
	vs, err := s.MatchCondition(ctx, q, 2)
	if err != nil {
		return nil, err
	}
	switch len(vs) {
	case 0:
		return nil, outcome.Errorf(outcome.NotFound, "no %s matches the condition", e.Type)
	case 1:
	default:
		return nil, outcome.Errorf(outcome.PreconditionFailed, "the condition matches more than one %s", e.Type)
	}
	w.ID = vs[0].ID
	return s.Write(ctx, w)
}

// Access is the interaction a write entry of a batch is, as its own
// request would be authorised and audited.
func (e *Entry) Access() Access {
	a := Access{Type: e.Type, ID: e.ID}
	switch e.Method {
	case "POST":
		a.Interaction, a.Query = "create", e.IfNoneExist
	case "PUT":
		a.Interaction = "update"
	case "PATCH":
		a.Interaction = "patch"
	case "DELETE":
		a.Interaction = "delete"
	}
	if e.Query != "" {
		a.ID, a.Query = "", e.Query
	}
	return a
}

// Bundle runs the writes of a transaction or batch Bundle for an
// in-process caller (start-up loading, an import): a transaction all or
// nothing, a batch entry by entry, an entry's error in its EntryResult. GET
// and HEAD entries are refused: they are the REST adapter's.
func (s *Service) Bundle(ctx context.Context, b map[string]any) ([]EntryResult, error) {
	typ, _ := b["type"].(string)
	if resource.Type(b) != "Bundle" || (typ != "transaction" && typ != "batch") {
		return nil, invalidAt("Bundle.type", "a Bundle of type batch or transaction is needed, not %q", typ)
	}
	raw, _ := b["entry"].([]any)
	entries := make([]*Entry, len(raw))
	out := make([]EntryResult, len(raw))
	for i, r := range raw {
		e, err := DecodeEntry(i, r)
		if err == nil && (e.Method == "GET" || e.Method == "HEAD") {
			err = &EntryError{Index: i, Err: outcome.Errorf(outcome.Unsupported, "only writes are run in process: a %s entry is not", e.Method)}
		}
		if err != nil && typ == "transaction" {
			return nil, err
		}
		entries[i], out[i].Err = e, err
	}
	if typ == "transaction" {
		return s.Transaction(ctx, entries)
	}
	for i, e := range entries {
		if out[i].Err != nil {
			continue
		}
		r, err := s.BatchEntry(ctx, e)
		if err != nil {
			out[i].Err = &EntryError{Index: i, Err: err}
			continue
		}
		out[i].Outcome, out[i].Version = r.Outcome, r.Version
	}
	return out, nil
}
