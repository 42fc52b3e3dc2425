package export

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"ucp/auth"
	"ucp/fhir/outcome"
	"ucp/fhir/resource"

	"ucp/fhir/service"
)

const stateFile = "job.json"

// The job states.
const (
	statusQueued   = "queued"
	statusRunning  = "running"
	statusComplete = "complete"
	statusFailed   = "failed"
)

// The export levels.
const (
	levelSystem  = "system"
	levelPatient = "patient"
	levelGroup   = "group"
)

// job is one export: what was asked, and what it produced. It is saved as
// job.json; fields are guarded by Manager.mu once the job is shared.
type job struct {
	ID     string `json:"id"`
	Owner  string `json:"owner"`
	Status string `json:"status"`
	// Request is the kick-off URL, for the manifest.
	Request string `json:"request"`
	Base    string `json:"base"`
	Level   string `json:"level"`
	Group   string `json:"group,omitempty"`
	// Patients narrows Patient and Group level exports (sorted ids).
	Patients []string `json:"patients,omitempty"`
	// AllPatients: Patient level without a patient parameter.
	AllPatients bool     `json:"allPatients,omitempty"`
	Types       []string `json:"types"`
	// Filters are each type's _typeFilter queries ("status=active"), ORed.
	Filters         map[string][]string `json:"typeFilters,omitempty"`
	Since           time.Time           `json:"since,omitzero"`
	TransactionTime time.Time           `json:"transactionTime"`
	Created         time.Time           `json:"created"`
	Finished        time.Time           `json:"finished,omitzero"`
	Output          []file              `json:"output,omitempty"`
	Errors          []file              `json:"error,omitempty"`
	// Warnings are the parts of a lenient request that were not honoured.
	Warnings []string `json:"warnings,omitempty"`
	Failure  string   `json:"failure,omitempty"`
	// Beat is when the state was last written: a node rewrites its open
	// jobs' state every heartbeat, so that other nodes can tell a job
	// whose node stopped.
	Beat time.Time `json:"beat,omitzero"`

	principal *auth.Principal
	written   atomic.Int64
	cancel    context.CancelFunc // while running
	deleted   bool               // cancelled by the client
}

// file is one output file.
type file struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func (j *job) finished() bool { return j.Status == statusComplete || j.Status == statusFailed }

// ownerOf identifies a principal for job ownership: the same person (or
// system) through the same client.
func ownerOf(p *auth.Principal) string {
	if p == nil || p.Subject == "" {
		return ""
	}
	return p.Issuer + "\x00" + p.Subject + "\x00" + p.ClientID
}

// Operations returns the $export operation for the REST server.
func (m *Manager) Operations() []service.Operation {
	return []service.Operation{{
		Name:       "export",
		Definition: "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
		Documentation: "FHIR Bulk Data export (async, Prefer: respond-async): system, Patient and Group level; " +
			"_outputFormat ndjson, _since, _type, _typeFilter, patient (POST). Status at Content-Location; files need the same token.",
		System:   true,
		Types:    []string{"Patient"},
		Instance: []string{"Group"},
		Handler:  m.kickoff,
	}}
}

// Request is one request to a status or file route: the HTTP request, the
// route's path parameters, the FHIR base URL, and the authorizer of the
// server it came through (which audits what it authorises).
type Request struct {
	*http.Request
	Params    map[string]string
	Base      string
	Authorize func(service.Access) error
}

// Route is a status or file URL of the Bulk Data protocol, served below the
// FHIR base (the REST adapter's Endpoint): Path segments are literals or
// "{name}" placeholders.
type Route struct {
	Method, Path string
	Handler      func(w http.ResponseWriter, r *Request) error
}

// Routes returns the status and file routes for the REST server.
func (m *Manager) Routes() []Route {
	return []Route{
		{Method: http.MethodGet, Path: "_bulk/{job}", Handler: m.handleStatus},
		{Method: http.MethodDelete, Path: "_bulk/{job}", Handler: m.handleDelete},
		{Method: http.MethodGet, Path: "_bulk/{job}/{file}", Handler: m.handleFile},
	}
}

// knownParams are the kick-off parameters this server honours.
var knownParams = map[string]bool{"_outputFormat": true, "_since": true, "_type": true, "_typeFilter": true, "patient": true}

// ignoredParams are the REST layer's own, never a client's export request.
var ignoredParams = map[string]bool{"_format": true, "_pretty": true}

func invalid(format string, args ...any) error {
	return outcome.Errorf(outcome.Invalid, format, args...)
}

// kickoff validates the request, authorizes every type and queues the
// job: 202 with Content-Location.
func (m *Manager) kickoff(ctx context.Context, r *service.OperationRequest) (int, any, error) {
	p := auth.FromContext(ctx)
	owner := ownerOf(p)
	if owner == "" {
		return 0, nil, &outcome.Error{Kind: outcome.Unauthenticated, Message: "authentication required: send a Bearer token",
			Err: &auth.AuthError{Description: "authentication required"}}
	}
	prefer := preferences(r.Header)
	if !prefer["respond-async"] {
		return 0, nil, invalid("$export is asynchronous: send Prefer: respond-async")
	}
	strict := prefer["handling=strict"]
	j := &job{ID: newJobID(), Owner: owner, Status: statusQueued, Base: r.Base, Request: requestURL(r), principal: p}
	now := m.cfg.Now().UTC()
	j.Created, j.TransactionTime = now, now.Truncate(time.Microsecond)
	if err := m.parse(ctx, r, j, strict); err != nil {
		return 0, nil, err
	}
	if err := m.create(ctx, j); err != nil {
		return 0, nil, outcome.Errorf(outcome.Internal, "saving export job: %v", err)
	}
	m.mu.Lock()
	select {
	case m.queue <- j:
		m.jobs[j.ID] = j
		m.mu.Unlock()
	default:
		m.mu.Unlock()
		if err := m.st.Remove(ctx, j.ID); err != nil {
			m.log.Error("export: removing a job refused", "job", j.ID, "err", err)
		}
		return 0, nil, outcome.Errorf(outcome.Conflict, "too many export jobs are waiting; try again later")
	}
	r.ResponseHeader.Set("Content-Location", statusURL(r.Base, j.ID))
	return http.StatusAccepted, nil, nil
}

// parse fills j from the request's parameters.
func (m *Manager) parse(ctx context.Context, r *service.OperationRequest, j *job, strict bool) error {
	// Parameters: the query string, and a POST's Parameters body.
	names := map[string]bool{}
	for k := range r.Query {
		names[k] = true
	}
	if r.Resource != nil {
		return invalid("$export takes a Parameters resource, not a %s", resource.Type(r.Resource))
	}
	if ps, _ := r.Parameters["parameter"].([]any); ps != nil {
		for _, p := range ps {
			if pm, ok := p.(map[string]any); ok {
				if n, _ := pm["name"].(string); n != "" {
					names[n] = true
				}
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		if knownParams[n] || ignoredParams[n] {
			continue
		}
		if strict {
			return invalid("$export: parameter %s is not supported", n)
		}
		j.Warnings = append(j.Warnings, fmt.Sprintf("parameter %s is not supported and was ignored", n))
	}

	switch f := r.String("_outputFormat"); f {
	case "", "application/fhir+ndjson", "application/ndjson", "ndjson":
	default:
		return invalid("_outputFormat %q is not supported: this server writes application/fhir+ndjson", f)
	}
	if s := r.String("_since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return invalid("_since %q is not an instant (e.g. 2024-01-02T03:04:05Z, with a time zone)", s)
		}
		j.Since = t.UTC()
	}

	// The level.
	switch {
	case r.Type == "":
		j.Level = levelSystem
	case r.ID == "":
		j.Level = levelPatient
	default:
		j.Level, j.Group = levelGroup, r.ID
	}
	patients, err := patientParams(r)
	if err != nil {
		return err
	}
	switch j.Level {
	case levelSystem:
		if len(patients) > 0 {
			return invalid("patient applies to Patient and Group level exports, not to a system export")
		}
	case levelPatient:
		if len(patients) > 0 {
			j.Patients = patients
		} else {
			j.AllPatients = true
		}
	case levelGroup:
		members, err := m.groupMembers(ctx, r.ID)
		if err != nil {
			return err
		}
		if len(patients) > 0 {
			// Only members may be asked for: patient narrows the Group.
			set := map[string]bool{}
			for _, id := range members {
				set[id] = true
			}
			members = slices.DeleteFunc(patients, func(id string) bool { return !set[id] })
		}
		j.Patients = members
	}

	// Types: asked for, or every served one the caller may search.
	var asked []string
	for _, v := range r.Strings("_type") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			if !slices.Contains(m.cfg.Types, t) {
				if strict {
					return invalid("_type: resource type %q is not served by this server", t)
				}
				j.Warnings = append(j.Warnings, fmt.Sprintf("_type: resource type %q is not served by this server and was left out", t))
				continue
			}
			if !slices.Contains(asked, t) {
				asked = append(asked, t)
			}
		}
	}
	if len(r.Strings("_type")) > 0 && len(asked) == 0 {
		return invalid("_type names no resource type this server serves")
	}
	if err := m.parseFilters(ctx, r, j, asked, strict); err != nil {
		return err
	}
	az := m.cfg.Authorizer
	if len(asked) > 0 {
		for _, t := range asked {
			if err := authorizeType(ctx, az, t, j.Filters[t]); err != nil {
				return err
			}
		}
		j.Types = asked
		return nil
	}
	for _, t := range m.cfg.Types {
		err := authorizeType(ctx, az, t, j.Filters[t])
		switch outcome.KindOf(err) {
		case outcome.Forbidden:
			continue // the IG: without _type, the types the client may see
		}
		if err != nil {
			return err
		}
		j.Types = append(j.Types, t)
	}
	if len(j.Types) == 0 {
		return outcome.Errorf(outcome.Forbidden, "you may not search any resource type, so there is nothing to export")
	}
	return nil
}

// parseFilters reads _typeFilter: "Type?query", comma-separated or
// repeated. Each query is parsed as strictly as a conditional
// interaction's: an export that silently dropped part of a filter would
// hold more than was asked for.
func (m *Manager) parseFilters(ctx context.Context, r *service.OperationRequest, j *job, asked []string, strict bool) error {
	for _, v := range r.Strings("_typeFilter") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			typ, q, ok := strings.Cut(f, "?")
			if !ok || typ == "" || q == "" {
				return invalid("_typeFilter %q: want Type?search-query, e.g. CarePlan?status=active", f)
			}
			if !slices.Contains(m.cfg.Types, typ) || len(asked) > 0 && !slices.Contains(asked, typ) {
				if strict {
					return invalid("_typeFilter %q: %s is not exported by this request", f, typ)
				}
				j.Warnings = append(j.Warnings, fmt.Sprintf("_typeFilter %q was ignored: %s is not exported by this request", f, typ))
				continue
			}
			if _, err := m.cfg.Registry.ParseCondition(ctx, typ, q); err != nil {
				return invalid("_typeFilter %q: %s", f, outcome.AsError(err).Message)
			}
			if j.Filters == nil {
				j.Filters = map[string][]string{}
			}
			if !slices.Contains(j.Filters[typ], q) {
				j.Filters[typ] = append(j.Filters[typ], q)
			}
		}
	}
	return nil
}

// authorizeType asks whether the caller may search typ (with each of its
// filters as the query, so granular scopes apply).
func authorizeType(ctx context.Context, az service.Authorizer, typ string, filters []string) error {
	if az == nil {
		return nil
	}
	if len(filters) == 0 {
		filters = []string{""}
	}
	for _, q := range filters {
		if err := az.Authorize(ctx, service.Access{Interaction: "search-type", Type: typ, Query: q}); err != nil {
			return err
		}
	}
	return nil
}

// patientParams reads the patient parameters (valueReference) of a POST
// body. In a URL they are refused: patient ids do not belong in URLs,
// which end up in logs.
func patientParams(r *service.OperationRequest) ([]string, error) {
	if len(r.Query["patient"]) > 0 {
		return nil, invalid("patient is accepted only in a POST Parameters body")
	}
	var ids []string
	for _, p := range r.Param("patient") {
		ref, _ := p["valueReference"].(map[string]any)
		s, _ := ref["reference"].(string)
		pr := resource.ParseReference(s)
		if pr.Type != "Patient" || !pr.IsLocal() || !resource.ValidID(pr.ID) {
			return nil, invalid("patient: want valueReference {\"reference\": \"Patient/id\"}, got %q", s)
		}
		if !slices.Contains(ids, pr.ID) {
			ids = append(ids, pr.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// groupMembers returns the sorted ids of a Group's active Patient members.
// An unknown Group is 404; one the caller may not read answers as a read.
func (m *Manager) groupMembers(ctx context.Context, id string) ([]string, error) {
	v, err := m.cfg.Store.Read(ctx, "Group", id)
	if err != nil {
		switch outcome.KindOf(err) {
		case outcome.NotFound, outcome.Gone:
			return nil, outcome.Errorf(outcome.NotFound, "Group/%s is not known", id)
		}
		return nil, err
	}
	if rd := m.cfg.ReadInterceptor; rd != nil {
		// No Call: an export is never break-glass access, and what it
		// discloses is audited by its own events.
		if err := rd.AllowRead(ctx, v, service.Disclose, nil); err != nil {
			return nil, err
		}
	}
	g, err := resource.Parse(v.JSON)
	if err != nil {
		return nil, outcome.Errorf(outcome.Internal, "Group/%s: %v", id, err)
	}
	now := m.cfg.Now()
	var ids []string
	members, _ := g["member"].([]any)
	for _, mm := range members {
		mem, _ := mm.(map[string]any)
		if inactive, _ := mem["inactive"].(bool); inactive {
			continue
		}
		if per, _ := mem["period"].(map[string]any); per != nil {
			if end, _ := per["end"].(string); end != "" {
				if t, err := time.Parse(time.RFC3339Nano, end); err == nil && t.Before(now) {
					continue
				}
				if t, err := time.Parse("2006-01-02", end); err == nil && t.AddDate(0, 0, 1).Before(now) {
					continue
				}
			}
		}
		ent, _ := mem["entity"].(map[string]any)
		s, _ := ent["reference"].(string)
		if pr := resource.ParseReference(s); pr.Type == "Patient" && pr.IsLocal() && pr.ID != "" && !slices.Contains(ids, pr.ID) {
			ids = append(ids, pr.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// preferences parses Prefer (RFC 7240) into its tokens, lower case, with
// "handling=strict" style values.
func preferences(h http.Header) map[string]bool {
	out := map[string]bool{}
	for _, v := range h.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			for _, tok := range strings.Split(p, ";") {
				tok = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(tok), " ", ""))
				tok = strings.ReplaceAll(tok, "\"", "")
				if tok != "" {
					out[tok] = true
				}
			}
		}
	}
	return out
}

// requestURL rebuilds the kick-off URL for the manifest's request.
func requestURL(r *service.OperationRequest) string {
	u := r.Base
	if r.Type != "" {
		u += "/" + r.Type
	}
	if r.ID != "" {
		u += "/" + url.PathEscape(r.ID)
	}
	u += "/$" + r.Name
	if len(r.Query) > 0 {
		u += "?" + r.Query.Encode()
	}
	return u
}

func statusURL(base, id string) string { return base + "/_bulk/" + id }
