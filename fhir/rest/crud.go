package rest

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"ucp/fhir/outcome"
	"ucp/fhir/service"
	"ucp/store"
)

// handleCreate is create and conditional create (R4 http.html#create). The
// server assigns the id; any id in the body is ignored.
func (s *Server) handleCreate(c *gin.Context) error {
	typ := c.Param("type")
	w := &service.Write{Interaction: "create", Method: http.MethodPost, Type: typ}
	cond := c.GetHeader("If-None-Exist")
	if err := s.authorize(c, Access{Interaction: "create", Type: typ, Query: cond}); err != nil {
		return err
	}
	body, _, err := s.readBody(c, mimeFHIRJSON, mimeJSON)
	if err != nil {
		return err
	}
	if w.Resource, err = parseResource(body, typ); err != nil {
		return err
	}
	if cond != "" {
		if w.IfNoneExist, err = s.parseCondition(c.Request.Context(), typ, cond); err != nil {
			return err
		}
	}
	r, err := s.service(c).Write(c.Request.Context(), w)
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
	r, err := s.service(c).Write(c.Request.Context(), w)
	if err != nil {
		return err
	}
	return s.respondWrite(c, r)
}

// updateRequest reads a PUT or PATCH request into a service.Write for typ/id.
func (s *Server) updateRequest(c *gin.Context, typ, id string) (*service.Write, error) {
	w := &service.Write{Type: typ, ID: id, Method: c.Request.Method}
	if c.Request.Method == http.MethodPatch {
		w.Interaction = "patch"
	} else {
		w.Interaction = "update"
		w.CreateOnMissing = true
	}
	if err := s.authorize(c, Access{Interaction: w.Interaction, Type: typ, ID: id}); err != nil {
		return nil, err
	}
	if h := c.GetHeader("If-Match"); h != "" {
		v, err := service.ParseETag(h)
		if err != nil {
			return nil, err
		}
		w.IfMatch = v
	}
	if w.Interaction == "patch" {
		body, mt, err := s.readBody(c, mimeJSONPatch, mimeFHIRJSON, mimeJSON)
		if err != nil {
			return nil, err
		}
		w.Patch, err = patchFunc(typ, id, body, mt)
		return w, err
	}
	body, _, err := s.readBody(c, mimeFHIRJSON, mimeJSON)
	if err != nil {
		return nil, err
	}
	if w.Resource, err = parseResource(body, typ); err != nil {
		return nil, err
	}
	return w, service.CheckBodyID(w.Resource, id)
}

// patchFunc returns the function applying a PATCH body of media type mt.
func patchFunc(typ, id string, body []byte, mt string) (func(*store.Version) (map[string]any, error), error) {
	return service.PatchFunc(typ, id, body, mt == mimeJSONPatch)
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
	var ifMatch int64
	if h := c.GetHeader("If-Match"); h != "" {
		if ifMatch, err = service.ParseETag(h); err != nil {
			return err
		}
	}
	r, err := s.service(c).ConditionalUpdate(c.Request.Context(), typ, q, res, ifMatch)
	if err != nil {
		return err
	}
	return s.respondWrite(c, r)
}

// handleConditionalPatch is PATCH /{type}?condition: exactly one match.
func (s *Server) handleConditionalPatch(c *gin.Context) error {
	typ := c.Param("type")
	raw := c.Request.URL.RawQuery
	q, err := s.parseCondition(c.Request.Context(), typ, stripControlParams(raw))
	if err != nil {
		return err
	}
	// Authorised before the condition is matched, as conditional update and
	// delete are: otherwise a caller who may not patch would learn from 404
	// or 412 against 403 whether anything matches (an NHS number, say).
	if err := s.authorize(c, Access{Interaction: "patch", Type: typ, Query: raw}); err != nil {
		return err
	}
	vs, err := s.service(c).MatchCondition(c.Request.Context(), q, 2)
	if err != nil {
		return err
	}
	switch len(vs) {
	case 0:
		return outcome.Errorf(outcome.NotFound, "no %s matches the condition", typ)
	case 1:
	default:
		return precondition("the condition matches more than one %s", typ)
	}
	w, err := s.updateRequest(c, typ, vs[0].ID)
	if err != nil {
		return err
	}
	r, err := s.service(c).Write(c.Request.Context(), w)
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
	w := &service.Write{Interaction: "delete", Method: http.MethodDelete, Type: typ, ID: id}
	if h := c.GetHeader("If-Match"); h != "" {
		v, err := service.ParseETag(h)
		if err != nil {
			return err
		}
		w.IfMatch = v
	}
	r, err := s.service(c).Write(c.Request.Context(), w)
	if err != nil {
		return err
	}
	if r.Version != nil {
		c.Header("ETag", etag(r.Version.VersionID))
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
	if _, err := s.service(c).ConditionalDelete(c.Request.Context(), typ, q, s.cfg.ConditionalDeleteMultiple, s.cfg.MaxConditionalDelete); err != nil {
		return err
	}
	return s.respondNoContent(c)
}

func (s *Server) respondNoContent(c *gin.Context) error {
	if parsePrefer(c.Request.Header.Values("Prefer")).ret == "OperationOutcome" {
		return s.writeJSON(c, http.StatusOK, outcome.Info("deleted").JSON())
	}
	c.Status(http.StatusNoContent)
	c.Writer.WriteHeaderNow()
	return nil
}

// respondWrite answers a create, update or patch: Location (on create),
// ETag and Last-Modified, and the body Prefer asks for (representation by
// default).
func (s *Server) respondWrite(c *gin.Context, r *service.Result) error {
	if r.Version == nil {
		return s.respondNoContent(c)
	}
	v := r.Version
	status := writeStatus(r.Outcome)
	setVersionHeaders(c, v)
	if status == http.StatusCreated {
		c.Header("Location", fmt.Sprintf("%s/%s/%s/_history/%d", s.base(c), v.Type, v.ID, v.VersionID))
	}
	switch parsePrefer(c.Request.Header.Values("Prefer")).ret {
	case "minimal":
		c.Status(status)
		c.Writer.WriteHeaderNow()
		return nil
	case "OperationOutcome":
		msg := fmt.Sprintf("%s/%s version %d", v.Type, v.ID, v.VersionID)
		return s.writeJSON(c, status, outcome.Info(msg).JSON())
	}
	return s.writeJSON(c, status, v.JSON)
}

func setVersionHeaders(c *gin.Context, v *store.Version) {
	c.Header("ETag", etag(v.VersionID))
	c.Header("Last-Modified", httpDate(v.LastUpdated))
}

// handleRead is read (R4 http.html#read), with If-None-Match and
// If-Modified-Since (304) and _summary/_elements.
func (s *Server) handleRead(c *gin.Context) error {
	typ, id := c.Param("type"), c.Param("id")
	s.note(c, Access{Interaction: "read", Type: typ, ID: id})
	v, err := s.service(c).Read(c.Request.Context(), typ, id)
	if err != nil {
		return err
	}
	if h := c.GetHeader("If-None-Match"); h != "" {
		if n, err := service.ParseETag(h); err == nil && n == v.VersionID {
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

// handleVRead is vread (R4 http.html#vread). A deletion version is 410.
func (s *Server) handleVRead(c *gin.Context) error {
	typ, id := c.Param("type"), c.Param("id")
	s.note(c, Access{Interaction: "vread", Type: typ, ID: id})
	vid, err := service.ParseETag(c.Param("vid"))
	if err != nil {
		return invalid("invalid version id %q", c.Param("vid"))
	}
	v, err := s.service(c).VRead(c.Request.Context(), typ, id, vid)
	if err != nil {
		if v != nil && v.Deleted {
			c.Header("ETag", etag(v.VersionID))
		}
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
