package rest

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"ucp/fhir/outcome"
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
		return &outcome.Error{Kind: outcome.TooLarge, Code: "too-costly", Message: fmt.Sprintf("the bundle has %d entries; at most %d are accepted", len(entries), s.cfg.MaxBundleEntries), Expr: []string{"Bundle.entry"}}
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

// decodeEntry reads entry i, with request.url relative to this server's
// base.
func (s *Server) decodeEntry(c *gin.Context, i int, raw any) (*service.Entry, error) {
	e, err := service.DecodeEntry(i, raw, s.base(c), s.cfg.BaseURL)
	var ee *service.EntryError
	if errors.As(err, &ee) {
		return nil, entryErr(ee.Index, ee.Err)
	}
	return e, err
}

// batch runs each entry on its own, as if it were its own request (same
// principal and Prefer), and reports each outcome: a write through
// batchWrite, a read through getEntry; neither is an HTTP request.
func (s *Server) batch(c *gin.Context, entries []any) error {
	out := &bundle{ResourceType: "Bundle", ID: uuid.NewString(), Type: "batch-response"}
	for i, raw := range entries {
		r, err := s.decodeEntry(c, i, raw)
		var e bundleEntry
		switch {
		case err != nil:
			e.Response = entryFailure(err)
		case r.Method == "GET" || r.Method == "HEAD" || r.Type == "":
			e = s.getEntry(c, r)
		default:
			e = s.batchWrite(c, r)
		}
		out.Entry = append(out.Entry, e)
	}
	return s.writeJSON(c, http.StatusOK, marshalBundle(out))
}

// batchWrite runs a write entry of a batch through the service and encodes
// its response entry as the entry's own request would have been answered;
// it is audited as an interaction of its own.
func (s *Server) batchWrite(c *gin.Context, e *service.Entry) bundleEntry {
	ctx := c.Request.Context()
	if err := s.checkType(e.Type); err != nil {
		status, body := s.outcome(ctx, e.Method, e.URL, err)
		return bundleEntry{Response: &entryResponse{Status: statusText(status), Outcome: body}}
	}
	start := s.cfg.Now()
	r, err := s.service(c).BatchEntry(ctx, e)
	path, _, _ := strings.Cut(s.cfg.Prefix+"/"+e.Path, "?")
	if err != nil {
		status, body := s.outcome(ctx, e.Method, path, err)
		s.cfg.Audit.Record(ctx, AuditRecord{Access: e.Access(), Call: callOf(c), Method: e.Method, Path: path, Status: status, Time: start, Err: err})
		return bundleEntry{Response: &entryResponse{Status: statusText(status), Outcome: body}}
	}
	ret := parsePrefer(c.Request.Header.Values("Prefer")).ret
	status := writeStatus(r.Outcome)
	resp := &entryResponse{}
	out := bundleEntry{Response: resp}
	switch v := r.Version; {
	case v == nil || v.Deleted:
		if v != nil {
			resp.Etag = etag(v.VersionID)
		}
		if ret == "OperationOutcome" {
			status, resp.Outcome = http.StatusOK, outcome.Info("deleted").JSON()
		}
	default:
		resp.Etag = etag(v.VersionID)
		// As the Last-Modified header of a request of its own: to the second.
		resp.LastModified = resource.FormatInstant(v.LastUpdated.UTC().Truncate(time.Second))
		if status == http.StatusCreated {
			resp.Location = fmt.Sprintf("%s/%s/%s/_history/%d", s.base(c), v.Type, v.ID, v.VersionID)
		}
		switch ret {
		case "minimal":
		case "OperationOutcome":
			resp.Outcome = outcome.Info(fmt.Sprintf("%s/%s version %d", v.Type, v.ID, v.VersionID)).JSON()
		default:
			out.Resource = v.JSON
			out.FullURL = s.base(c) + "/" + v.Type + "/" + v.ID
		}
	}
	resp.Status = statusText(status)
	s.cfg.Audit.Record(ctx, AuditRecord{Access: e.Access(), Call: callOf(c), Method: e.Method, Path: path, Status: status, Time: start})
	return out
}

func statusText(code int) string {
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// transaction processes a transaction Bundle all or nothing through the
// service (see service.Service.Transaction): this decodes the entries and
// encodes the response. GET and HEAD entries are answered after the writes,
// so that reads see the transaction's result.
func (s *Server) transaction(c *gin.Context, entries []any) error {
	in := make([]*service.Entry, len(entries))
	for i, raw := range entries {
		e, err := s.decodeEntry(c, i, raw)
		if err != nil {
			return err
		}
		if e.Type != "" {
			if err := s.checkType(e.Type); err != nil {
				return entryErr(i, err)
			}
		}
		in[i] = e
	}
	results, err := s.service(c).Transaction(c.Request.Context(), in)
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
	for i, e := range in {
		if e.Method == "GET" || e.Method == "HEAD" {
			out.Entry = append(out.Entry, s.getEntry(c, e))
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

// entryFailure is the response of an entry that failed: its status and an
// OperationOutcome of one issue, an error even where the kind is a fault.
func entryFailure(err error) *entryResponse {
	status, is := outcome.Summary(err)
	is.Severity = "error"
	return &entryResponse{Status: statusText(status), Outcome: outcome.New(is).JSON()}
}

// entryErr prefixes an error with the entry it is about, keeping its kind
// and issue code. Internal errors pass through untouched: their detail is
// never shown.
func entryErr(i int, err error) error {
	e := outcome.AsError(err)
	if e == nil || e.Kind.Status() >= 500 {
		return err
	}
	_, is := outcome.Summary(err)
	at := fmt.Sprintf("Bundle.entry[%d]", i)
	var ex []string
	for _, x := range is.Expression {
		if strings.HasPrefix(x, "Bundle.") {
			ex = append(ex, x)
		} else {
			ex = append(ex, at+".resource."+x)
		}
	}
	if len(ex) == 0 {
		ex = []string{at}
	}
	msg := is.Diagnostics
	if !strings.HasPrefix(msg, at) {
		msg = at + ": " + msg
	}
	return &outcome.Error{Kind: e.Kind, Code: is.Code, Message: msg, Expr: ex}
}
