package rest

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/gin-gonic/gin"

	"ucp/fhir/resource"
	"ucp/store"
)

// handleCreate is create and conditional create (R4 http.html#create). The
// server assigns the id; any id in the body is ignored.
func (s *Server) handleCreate(c *gin.Context) error {
	typ := c.Param("type")
	w := &writeReq{interaction: "create", method: http.MethodPost, typ: typ}
	cond := c.GetHeader("If-None-Exist")
	if err := s.authorize(c, Access{Interaction: "create", Type: typ, Query: cond}); err != nil {
		return err
	}
	body, _, err := s.readBody(c, mimeFHIRJSON, mimeJSON)
	if err != nil {
		return err
	}
	if w.res, err = parseResource(body, typ); err != nil {
		return err
	}
	if cond != "" {
		if w.ifNoneExist, err = s.parseCondition(c.Request.Context(), typ, cond); err != nil {
			return err
		}
	}
	r, err := s.write(c.Request.Context(), w)
	if err != nil {
		return err
	}
	return s.respondWrite(c, r)
}

// handleUpdate is update (PUT) and patch (PATCH) of one resource by id.
func (s *Server) handleUpdate(c *gin.Context) error {
	typ, id := c.Param("type"), c.Param("id")
	w, err := s.updateRequest(c, typ, id)
	if err != nil {
		return err
	}
	r, err := s.write(c.Request.Context(), w)
	if err != nil {
		return err
	}
	return s.respondWrite(c, r)
}

// updateRequest reads a PUT or PATCH request into a writeReq for typ/id.
func (s *Server) updateRequest(c *gin.Context, typ, id string) (*writeReq, error) {
	w := &writeReq{typ: typ, id: id, method: c.Request.Method}
	if c.Request.Method == http.MethodPatch {
		w.interaction = "patch"
	} else {
		w.interaction = "update"
		w.createOnMissing = true
	}
	if err := s.authorize(c, Access{Interaction: w.interaction, Type: typ, ID: id}); err != nil {
		return nil, err
	}
	if h := c.GetHeader("If-Match"); h != "" {
		v, err := parseETag(h)
		if err != nil {
			return nil, err
		}
		w.ifMatch = v
	}
	if w.interaction == "patch" {
		body, mt, err := s.readBody(c, mimeJSONPatch, mimeFHIRJSON, mimeJSON)
		if err != nil {
			return nil, err
		}
		w.patch, err = patchFunc(typ, id, body, mt)
		return w, err
	}
	body, _, err := s.readBody(c, mimeFHIRJSON, mimeJSON)
	if err != nil {
		return nil, err
	}
	if w.res, err = parseResource(body, typ); err != nil {
		return nil, err
	}
	return w, checkBodyID(w.res, id)
}

// checkBodyID enforces R4 http.html#update: the body's id must equal the URL's.
func checkBodyID(res map[string]any, id string) error {
	bid, ok := res["id"].(string)
	switch {
	case !ok || bid == "":
		return invalidAt("id", "the resource has no id; an update must carry the id %q of the URL", id)
	case bid != id:
		return invalidAt("id", "the resource id %q does not match the id %q in the URL", bid, id)
	}
	return nil
}

// patchFunc returns the function applying a patch body to the current
// version. JSON Patch (RFC 6902) is applied to the stored bytes by a library
// that keeps untouched values, numbers included, exactly as written;
// FHIRPath Patch (a Parameters body) edits the parsed tree.
func patchFunc(typ, id string, body []byte, mt string) (func(*store.Version) (map[string]any, error), error) {
	check := func(res map[string]any) (map[string]any, error) {
		if rt, _ := res["resourceType"].(string); rt != typ {
			return nil, &issueError{status: http.StatusUnprocessableEntity, code: "processing", msg: "a patch may not change resourceType", expr: []string{"resourceType"}}
		}
		if rid, _ := res["id"].(string); rid != id {
			return nil, &issueError{status: http.StatusUnprocessableEntity, code: "processing", msg: "a patch may not change id", expr: []string{"id"}}
		}
		return res, nil
	}
	if mt != mimeJSONPatch {
		// FHIRPath Patch: a Parameters resource (application/fhir+json).
		params, err := parseResource(body, "Parameters")
		if err != nil {
			return nil, err
		}
		return func(cur *store.Version) (map[string]any, error) {
			res, err := resource.Parse(cur.JSON)
			if err != nil {
				return nil, err
			}
			if err := fhirpathPatch(res, params); err != nil {
				return nil, err
			}
			return check(res)
		}, nil
	}
	patch, err := jsonpatch.DecodePatch(body)
	if err != nil {
		return nil, invalid("malformed JSON Patch document: %v", err)
	}
	return func(cur *store.Version) (map[string]any, error) {
		out, err := patch.Apply(cur.JSON)
		if err != nil {
			return nil, store.Errorf(store.Unprocessable, "applying the JSON Patch to %s/%s: %v", typ, id, err)
		}
		res, err := resource.Parse(out)
		if err != nil {
			return nil, store.Errorf(store.Unprocessable, "the patched resource is not valid JSON: %v", err)
		}
		return check(res)
	}, nil
}

// handleConditionalUpdate is PUT /{type}?condition (R4 http.html#cond-update):
// no match creates (with the body's id if it has one), one match updates it,
// several are 412.
func (s *Server) handleConditionalUpdate(c *gin.Context) error {
	typ := c.Param("type")
	raw := c.Request.URL.RawQuery
	q, err := s.parseCondition(c.Request.Context(), typ, stripControlParams(raw))
	if err != nil {
		return err
	}
	if err := s.authorize(c, Access{Interaction: "update", Type: typ, Query: raw}); err != nil {
		return err
	}
	body, _, err := s.readBody(c, mimeFHIRJSON, mimeJSON)
	if err != nil {
		return err
	}
	res, err := parseResource(body, typ)
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	for attempt := 1; ; attempt++ {
		vs, err := s.matchCondition(ctx, q, 2)
		if err != nil {
			return err
		}
		bid, _ := res["id"].(string)
		// A copy per attempt: prepare sets id and meta on what it writes.
		w := &writeReq{interaction: "update", method: http.MethodPut, typ: typ, res: deepCopy(res).(map[string]any), createOnMissing: true}
		switch len(vs) {
		case 0:
			if bid == "" {
				w.interaction, w.method, w.ifNoneExist = "create", http.MethodPost, q
			} else {
				if !validID(bid) {
					return invalidAt("id", "invalid resource id %q", bid)
				}
				// R4 http.html#cond-update: no match and an id that already
				// exists is 409; a create with that id (PrevVersion 0) says so.
				w.interaction, w.method, w.id, w.mustNotExist, w.ifNoneExist = "create", http.MethodPut, bid, true, q
			}
		case 1:
			if bid != "" && bid != vs[0].ID {
				return invalidAt("id", "the resource id %q does not match the resource %s/%s the condition matched", bid, typ, vs[0].ID)
			}
			w.id = vs[0].ID
		default:
			return precondition("the condition matches more than one %s", typ)
		}
		if h := c.GetHeader("If-Match"); h != "" && w.id != "" {
			v, err := parseETag(h)
			if err != nil {
				return err
			}
			w.ifMatch = v
		}
		r, err := s.write(ctx, w)
		if err == nil && r.matched && attempt < maxWriteAttempts {
			// A concurrent request created the match first: update it.
			continue
		}
		if err != nil {
			return err
		}
		return s.respondWrite(c, r)
	}
}

// handleConditionalPatch is PATCH /{type}?condition: exactly one match.
func (s *Server) handleConditionalPatch(c *gin.Context) error {
	typ := c.Param("type")
	q, err := s.parseCondition(c.Request.Context(), typ, stripControlParams(c.Request.URL.RawQuery))
	if err != nil {
		return err
	}
	vs, err := s.matchCondition(c.Request.Context(), q, 2)
	if err != nil {
		return err
	}
	switch len(vs) {
	case 0:
		return store.Errorf(store.NotFound, "no %s matches the condition", typ)
	case 1:
	default:
		return precondition("the condition matches more than one %s", typ)
	}
	w, err := s.updateRequest(c, typ, vs[0].ID)
	if err != nil {
		return err
	}
	r, err := s.write(c.Request.Context(), w)
	if err != nil {
		return err
	}
	return s.respondWrite(c, r)
}

// handleDelete is delete (R4 http.html#delete). Deleting a missing or
// already deleted resource is 204 with nothing written.
func (s *Server) handleDelete(c *gin.Context) error {
	typ, id := c.Param("type"), c.Param("id")
	if err := s.authorize(c, Access{Interaction: "delete", Type: typ, ID: id}); err != nil {
		return err
	}
	w := &writeReq{interaction: "delete", method: http.MethodDelete, typ: typ, id: id}
	if h := c.GetHeader("If-Match"); h != "" {
		v, err := parseETag(h)
		if err != nil {
			return err
		}
		w.ifMatch = v
	}
	r, err := s.write(c.Request.Context(), w)
	if err != nil {
		return err
	}
	if r.version != nil {
		c.Header("ETag", etag(r.version.VersionID))
	}
	return s.respondNoContent(c)
}

// handleConditionalDelete is DELETE /{type}?condition. One match is deleted;
// several are 412 unless ConditionalDeleteMultiple, then all are deleted in
// one atomic write (at most MaxConditionalDelete, else 412).
func (s *Server) handleConditionalDelete(c *gin.Context) error {
	typ := c.Param("type")
	raw := c.Request.URL.RawQuery
	q, err := s.parseCondition(c.Request.Context(), typ, stripControlParams(raw))
	if err != nil {
		return err
	}
	if err := s.authorize(c, Access{Interaction: "delete", Type: typ, Query: raw}); err != nil {
		return err
	}
	ctx := c.Request.Context()
	limit := 2
	if s.cfg.ConditionalDeleteMultiple {
		limit = s.cfg.MaxConditionalDelete + 1
	}
	for attempt := 1; ; attempt++ {
		vs, err := s.matchCondition(ctx, q, limit)
		if err != nil {
			return err
		}
		if len(vs) >= limit {
			if s.cfg.ConditionalDeleteMultiple {
				return precondition("the condition matches more than %d resources", s.cfg.MaxConditionalDelete)
			}
			return precondition("the condition matches more than one %s", typ)
		}
		if len(vs) == 0 {
			return s.respondNoContent(c)
		}
		var changes []store.Change
		var ps []*pending
		for _, v := range vs {
			p, err := s.prepare(ctx, &writeReq{interaction: "delete", method: http.MethodDelete, typ: typ, id: v.ID, ifMatch: v.VersionID})
			if err != nil {
				if store.KindOf(err) == store.PreconditionFailed && attempt < maxWriteAttempts {
					changes = nil
					break
				}
				return err
			}
			if p.change != nil {
				changes = append(changes, *p.change)
				changes = append(changes, p.extra...)
				ps = append(ps, p)
			}
		}
		if changes == nil {
			continue
		}
		_, err = s.cfg.Store.Write(ctx, changes)
		if store.KindOf(err) == store.Conflict && attempt < maxWriteAttempts {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		s.committed(ps...)
		return s.respondNoContent(c)
	}
}

func (s *Server) respondNoContent(c *gin.Context) error {
	if parsePrefer(c.Request.Header.Values("Prefer")).ret == "OperationOutcome" {
		return s.writeJSON(c, http.StatusOK, outcomeJSON("information", "informational", "deleted", nil))
	}
	c.Status(http.StatusNoContent)
	c.Writer.WriteHeaderNow()
	return nil
}

// respondWrite answers a create, update or patch: Location (on create),
// ETag and Last-Modified, and the body Prefer asks for (representation by
// default).
func (s *Server) respondWrite(c *gin.Context, r *result) error {
	if r.version == nil {
		return s.respondNoContent(c)
	}
	v := r.version
	setVersionHeaders(c, v)
	if r.status == http.StatusCreated {
		c.Header("Location", fmt.Sprintf("%s/%s/%s/_history/%d", s.base(c), v.Type, v.ID, v.VersionID))
	}
	switch parsePrefer(c.Request.Header.Values("Prefer")).ret {
	case "minimal":
		c.Status(r.status)
		c.Writer.WriteHeaderNow()
		return nil
	case "OperationOutcome":
		msg := fmt.Sprintf("%s/%s version %d", v.Type, v.ID, v.VersionID)
		return s.writeJSON(c, r.status, outcomeJSON("information", "informational", msg, nil))
	}
	return s.writeJSON(c, r.status, v.JSON)
}

func setVersionHeaders(c *gin.Context, v *store.Version) {
	c.Header("ETag", etag(v.VersionID))
	c.Header("Last-Modified", httpDate(v.LastUpdated))
}

// handleRead is read (R4 http.html#read), with If-None-Match and
// If-Modified-Since (304) and _summary/_elements.
func (s *Server) handleRead(c *gin.Context) error {
	typ, id := c.Param("type"), c.Param("id")
	if err := s.authorize(c, Access{Interaction: "read", Type: typ, ID: id}); err != nil {
		return err
	}
	ctx := c.Request.Context()
	v, err := s.cfg.Store.Read(ctx, typ, id)
	if err != nil {
		return describeReadErr(err, typ, id)
	}
	if err := s.cfg.ReadInterceptor.AllowRead(ctx, v); err != nil {
		return err
	}
	if h := c.GetHeader("If-None-Match"); h != "" {
		if n, err := parseETag(h); err == nil && n == v.VersionID {
			setVersionHeaders(c, v)
			c.Status(http.StatusNotModified)
			c.Writer.WriteHeaderNow()
			return nil
		}
	}
	if h := c.GetHeader("If-Modified-Since"); h != "" {
		if t, err := http.ParseTime(h); err == nil && !v.LastUpdated.Truncate(time.Second).After(t) {
			setVersionHeaders(c, v)
			c.Status(http.StatusNotModified)
			c.Writer.WriteHeaderNow()
			return nil
		}
	}
	return s.respondResource(c, v)
}

// respondResource writes one version with its headers, subsetted when the
// request asks for _summary or _elements.
func (s *Server) respondResource(c *gin.Context, v *store.Version) error {
	body, err := s.subset(v.JSON, c.Query("_summary"), c.Query("_elements"))
	if err != nil {
		return err
	}
	setVersionHeaders(c, v)
	return s.writeJSON(c, http.StatusOK, body)
}

// describeReadErr gives NotFound and Gone a message naming the resource.
func describeReadErr(err error, typ, id string) error {
	e := store.AsError(err)
	if e == nil {
		return err
	}
	switch e.Kind {
	case store.NotFound:
		if e.Message == "" {
			return store.Errorf(store.NotFound, "%s/%s is not known", typ, id)
		}
	case store.Gone:
		return store.Errorf(store.Gone, "%s/%s has been deleted", typ, id)
	}
	return err
}

// handleVRead is vread (R4 http.html#vread). A deletion version is 410.
func (s *Server) handleVRead(c *gin.Context) error {
	typ, id := c.Param("type"), c.Param("id")
	if err := s.authorize(c, Access{Interaction: "vread", Type: typ, ID: id}); err != nil {
		return err
	}
	vid, err := parseETag(c.Param("vid"))
	if err != nil {
		return invalid("invalid version id %q", c.Param("vid"))
	}
	ctx := c.Request.Context()
	v, err := s.cfg.Store.VRead(ctx, typ, id, vid)
	if err != nil {
		if store.KindOf(err) == store.NotFound {
			return store.Errorf(store.NotFound, "%s/%s has no version %d", typ, id, vid)
		}
		return err
	}
	if v.Deleted {
		c.Header("ETag", etag(v.VersionID))
		return store.Errorf(store.Gone, "version %d of %s/%s is a deletion", vid, typ, id)
	}
	if err := s.cfg.ReadInterceptor.AllowRead(ctx, v); err != nil {
		return err
	}
	return s.respondResource(c, v)
}

// controlParams are request parameters about the response format, never
// search or condition parameters.
var controlParams = map[string]bool{"_format": true, "_pretty": true}

// stripControlParams removes _format and _pretty from a raw query.
func stripControlParams(raw string) string {
	if !strings.Contains(raw, "_format") && !strings.Contains(raw, "_pretty") {
		return raw
	}
	var keep []string
	for _, kv := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if !controlParams[k] {
			keep = append(keep, kv)
		}
	}
	return strings.Join(keep, "&")
}
