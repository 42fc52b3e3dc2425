package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/store"
)

// handleHistory is history at instance, type and system level (R4
// http.html#history): a Bundle of type history, newest first, with a
// request and response per entry; a deletion is an entry with request
// method DELETE and no resource. Paging follows the store's cursor.
func (s *Server) handleHistory(c *gin.Context) error {
	b, err := s.historyBundle(c.Request.Context(), s.service(c), s.base(c), c.Param("type"), c.Param("id"), c.Request.URL.Query(), func(a Access) { s.note(c, a) })
	if err != nil {
		return err
	}
	return s.writeJSON(c, http.StatusOK, b)
}

// historyBundle is the history Bundle of typ/id (either may be "") for
// the parameters in query, with links below base; note is told the Access
// the history is authorised as.
func (s *Server) historyBundle(ctx context.Context, svc *service.Service, base, typ, id string, query url.Values, note func(Access)) ([]byte, error) {
	interaction := "history-system"
	switch {
	case id != "":
		interaction = "history-instance"
	case typ != "":
		interaction = "history-type"
	}
	// The service authorises the history; the Access is noted here for
	// the request's audit record.
	note(Access{Interaction: interaction, Type: typ, ID: id})
	r := service.HistoryRequest{Type: typ, ID: id}
	keep := url.Values{}
	if v := query.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, invalidAt("_count", "_count must be a positive integer, not %q", v)
		}
		r.Count = n
		keep.Set("_count", v)
	}
	if v := query.Get("_since"); v != "" {
		t, err := service.ParseInstant(v)
		if err != nil {
			return nil, invalidAt("_since", "_since must be an instant such as 2024-01-31T12:00:00Z, not %q", v)
		}
		r.Since = t
		keep.Set("_since", v)
	}
	if v := query.Get("_at"); v != "" {
		t, err := service.ParseInstant(v)
		if err != nil {
			return nil, invalidAt("_at", "_at must be an instant, not %q", v)
		}
		r.At = t
		keep.Set("_at", v)
	}
	scope := service.CursorScope("history", typ+"/"+id, keep)
	var err error
	if r.Cursor, err = s.svc.OpenCursor(ctx, scope, query.Get("_cursor")); err != nil {
		return nil, err
	}
	page, err := svc.History(ctx, r)
	if err != nil {
		return nil, err
	}
	self := base
	if typ != "" {
		self += "/" + typ
	}
	if id != "" {
		self += "/" + id
	}
	self += "/_history"
	b := &bundle{ResourceType: "Bundle", ID: uuid.NewString(), Type: "history", Total: page.Total,
		Meta: &bundleMeta{LastUpdated: resource.FormatInstant(s.now())}}
	b.Link = append(b.Link, bundleLink{Relation: "self", URL: self + "?" + service.EncodeParams(keep, query.Get("_cursor"))})
	if page.Next != "" {
		b.Link = append(b.Link, bundleLink{Relation: "next", URL: self + "?" + service.EncodeParams(keep, s.svc.SealCursor(ctx, scope, page.Next))})
	}
	for i := range page.Versions {
		b.Entry = append(b.Entry, historyEntry(base, &page.Versions[i]))
	}
	return marshalBundle(b), nil
}

// historyEntry is one version as a history Bundle entry.
func historyEntry(base string, v *store.Version) bundleEntry {
	e := bundleEntry{FullURL: base + "/" + v.Type + "/" + v.ID}
	method := v.Method
	if method == "" {
		method = http.MethodPut
		if v.VersionID == 1 {
			method = http.MethodPost
		}
	}
	if v.Deleted {
		method = http.MethodDelete
	}
	url := v.Type + "/" + v.ID
	status := "200 OK"
	switch method {
	case http.MethodPost:
		url = v.Type
		status = "201 Created"
	case http.MethodDelete:
		status = "204 No Content"
	}
	if v.VersionID == 1 && method != http.MethodDelete {
		status = "201 Created"
	}
	e.Request = &entryRequest{Method: method, URL: url}
	e.Response = &entryResponse{Status: status, Etag: etag(v.VersionID), LastModified: resource.FormatInstant(v.LastUpdated)}
	if !v.Deleted {
		e.Resource = v.JSON
		e.Response.Location = fmt.Sprintf("%s/%s/_history/%d", v.Type, v.ID, v.VersionID)
	}
	return e
}
