package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/fhir/service"
	"ucp/store"
)

// handleSearch is search-type: GET /{type}?… and POST /{type}/_search with
// a form body merged with the URL query (R4 http.html#search).
func (s *Server) handleSearch(c *gin.Context) error {
	return s.search(c, c.Param("type"))
}

// handleSearchSystem is GET /?_type=… (or POST /_search).
func (s *Server) handleSearchSystem(c *gin.Context) error {
	return s.search(c, "")
}

func (s *Server) search(c *gin.Context, typ string) error {
	return s.searchIn(c, typ, "")
}

// searchableTypes authorizes a search of every type (GET /fhir?…) as a
// search of each type it reaches, as chains and compartments are: a type
// named in _type must be allowed (the client asked for it); without _type
// it is every served type the caller may search, so a scope that covers
// "*" still reaches only what the policy lets it search (not the audit,
// say). It returns those types, or nil when _type names them.
func (s *Server) searchableTypes(ctx context.Context, params url.Values) ([]string, error) {
	q := params.Encode()
	if len(params["_type"]) > 0 {
		for _, v := range params["_type"] {
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t == "" {
					continue
				}
				if err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "search-type", Type: t, Query: q}); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	}
	var out []string
	for _, t := range s.cfg.Types {
		err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "search-type", Type: t, Query: q})
		switch {
		case err == nil:
			out = append(out, t)
		case outcome.KindOf(err) != outcome.Forbidden:
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, outcome.Errorf(outcome.Forbidden, "you may search no type")
	}
	return out, nil
}

// searchIn is search-type (typ set) or search-system (typ ""), restricted to
// the Patient compartment of patient when that is set (see
// handleCompartmentSearch, which has authorised the request already).
func (s *Server) searchIn(c *gin.Context, typ, patient string) error {
	return s.bounded(c.Request.Context(), func(ctx context.Context) error {
		return s.searchWithin(ctx, c, typ, patient)
	})
}

// searchWithin is searchIn within the search's deadline (ctx).
func (s *Server) searchWithin(ctx context.Context, c *gin.Context, typ, patient string) error {
	params, err := s.searchParams(c)
	if err != nil {
		return err
	}
	var compTypes []string // for Patient/{id}/* and a search of every type: the types the caller may search
	if patient == "" {
		interaction := "search-type"
		if typ == "" {
			interaction = "search-system"
			for _, v := range params["_type"] {
				for _, t := range strings.Split(v, ",") {
					if err := s.checkType(strings.TrimSpace(t)); err != nil {
						return err
					}
				}
			}
		}
		if err := s.authorize(c, Access{Interaction: interaction, Type: typ, Query: params.Encode()}); err != nil {
			return err
		}
		if typ == "" {
			if compTypes, err = s.searchableTypes(c.Request.Context(), params); err != nil {
				return err
			}
		}
	} else if compTypes, err = s.authorizeCompartment(c, typ, patient, params); err != nil {
		return err
	}
	sealed := params.Get("_cursor")
	parseParams := url.Values{}
	for k, v := range params {
		if k != "_cursor" && !controlParams[k] {
			parseParams[k] = v
		}
	}
	scope := cursorScope("search", typ+"\x00"+patient, parseParams)
	cursor, err := s.openCursor(ctx, scope, sealed)
	if err != nil {
		return err
	}
	// Strict unless the client asks otherwise: a misspelt parameter that
	// was silently dropped would widen the search to other patients' plans.
	lenient := parsePrefer(c.Request.Header.Values("Prefer")).handling == "lenient"
	req, err := s.cfg.Registry.Parse(ctx, typ, parseParams, !lenient)
	if err != nil {
		return err
	}
	if err := s.svc.AuthorizeReach(ctx, &req.Query); err != nil {
		return err
	}
	if err := service.NarrowReach(ctx, s.cfg.Store, s.cfg.ReadInterceptor, req.Query.Where); err != nil {
		return err
	}
	q := req.Query
	q.Cursor = cursor
	if patient != "" {
		q.Patient = patient
	}
	if len(q.Types) == 0 && compTypes != nil {
		// Patient/{id}/* or a search of every type: every served type
		// the caller may search, not whatever else the store may hold.
		q.Types = compTypes
	}
	if req.Summary == "count" {
		q.Count = 0
		q.Total = store.TotalAccurate
	}
	res, err := s.cfg.Store.Search(ctx, q)
	if err != nil {
		return err
	}
	base := s.base(c)
	b := &bundle{ResourceType: "Bundle", ID: uuid.NewString(), Type: "searchset",
		Meta: &bundleMeta{LastUpdated: resource.FormatInstant(s.now())}}
	if res.Total >= 0 {
		t := res.Total
		b.Total = &t
	}
	selfPath := base + "/"
	switch {
	case patient != "":
		// Paging links keep the compartment path: the compartment is not
		// a parameter a plain search link could carry.
		ct := typ
		if ct == "" {
			ct = "*"
		}
		selfPath += "Patient/" + url.PathEscape(patient) + "/" + ct
	case typ != "":
		selfPath += typ
	}
	// The self link shows the parameters actually used (R4 search.html#conformance);
	// next and previous repeat the request's own so paging keeps its meaning.
	used := req.Used
	if used == nil {
		used = parseParams
	}
	b.Link = append(b.Link, bundleLink{"self", selfPath + "?" + encodeParams(used, sealed)})
	if res.Next != "" {
		b.Link = append(b.Link, bundleLink{"next", selfPath + "?" + encodeParams(parseParams, s.sealCursor(ctx, scope, res.Next))})
	}
	if res.Prev != "" {
		b.Link = append(b.Link, bundleLink{"previous", selfPath + "?" + encodeParams(parseParams, s.sealCursor(ctx, scope, res.Prev))})
	}
	// Only the matches the caller may see are followed by _include and
	// _revinclude: a hidden plan's goals and provenance are hidden with it.
	shown := res.Versions[:0:0]
	for i := range res.Versions {
		v := &res.Versions[i]
		if s.cfg.ReadInterceptor.AllowRead(ctx, v, service.Disclose) != nil {
			continue
		}
		shown = append(shown, *v)
		body, err := s.subset(v.JSON, req.Summary, strings.Join(req.Elements, ","))
		if err != nil {
			return err
		}
		b.Entry = append(b.Entry, bundleEntry{
			FullURL: base + "/" + v.Type + "/" + v.ID, Resource: body, Search: &entrySearch{Mode: "match"},
		})
	}
	if b.Total != nil && s.mayHide(ctx, q.Types) {
		onePage := q.Count > 0 && q.Cursor == "" && res.Next == ""
		b.Total, err = s.visibleTotal(ctx, res.Total, onePage, len(res.Versions)-len(shown), s.hideableMatches(ctx, q))
		if err != nil {
			return err
		}
	}
	included, cut, err := s.includes(ctx, req, shown)
	if err != nil {
		return err
	}
	for i := range included {
		v := &included[i]
		b.Entry = append(b.Entry, bundleEntry{
			FullURL: base + "/" + v.Type + "/" + v.ID, Resource: v.JSON, Search: &entrySearch{Mode: "include"},
		})
	}
	if cut {
		msg := fmt.Sprintf("_include and _revinclude reached the bound of %d resources for one page, so there may be more than are included here. "+
			"Ask for fewer (a smaller _count, named parameters rather than *, no :iterate) to be sure of them all.", s.cfg.MaxIncluded)
		b.Entry = append(b.Entry, bundleEntry{
			Resource: outcomeJSON("warning", "too-costly", msg, nil),
			Search:   &entrySearch{Mode: "outcome"},
		})
	}
	if len(req.Ignored) > 0 {
		msg := "ignored unknown or unsupported search parameters: " + strings.Join(req.Ignored, ", ")
		b.Entry = append(b.Entry, bundleEntry{
			Resource: outcomeJSON("warning", "not-supported", msg, req.Ignored),
			Search:   &entrySearch{Mode: "outcome"},
		})
	}
	return s.writeJSON(c, http.StatusOK, marshalBundle(b))
}

// defaultSearchTimeout is the default of Config.SearchTimeout: far beyond
// what any search a client needs takes (milliseconds), short enough that a
// few pathological ones cannot hold the store for everyone else.
const defaultSearchTimeout = 10 * time.Second

// bounded runs a search's work under Config.SearchTimeout. Past the
// deadline the work's store calls fail; that failure is answered 503
// too-costly, not as whatever the store made of it (a 500). A client that
// went away is not told anything.
func (s *Server) bounded(ctx context.Context, work func(ctx context.Context) error) error {
	bctx, cancel := context.WithTimeout(ctx, s.cfg.SearchTimeout)
	defer cancel()
	err := work(bctx)
	if err != nil && ctx.Err() == nil && errors.Is(bctx.Err(), context.DeadlineExceeded) {
		return refuse(outcome.TooCostly,
			fmt.Sprintf("the search did not finish within %s and was stopped; narrow it (fewer values, _include/_revinclude or :iterate, a smaller _count)", s.cfg.SearchTimeout))
	}
	return err
}

// searchLimitsDoc states the limits of a search for the
// CapabilityStatement (rest.documentation).
func (s *Server) searchLimitsDoc() string {
	return fmt.Sprintf("Search limits: at most %d comma-separated values per parameter (%d for _id), %d parameters per search "+
		"(repeats counted) and %d values in all; a search beyond them is refused with 400. "+
		"A page includes at most %d resources through _include and _revinclude (an OperationOutcome entry says when more were cut). "+
		"A search that takes longer than %s is stopped and answered 503 with an OperationOutcome (too-costly). "+
		"Unknown parameters and modifiers are refused with 400 unless the request says Prefer: handling=lenient.",
		search.MaxValues, search.MaxIDValues, search.MaxParams, search.MaxTotalValues, s.cfg.MaxIncluded, s.cfg.SearchTimeout)
}

// searchParams merges the URL query with a POST _search form body.
func (s *Server) searchParams(c *gin.Context) (url.Values, error) {
	params, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		return nil, invalid("malformed query string: %v", err)
	}
	if c.Request.Method != http.MethodPost {
		return params, nil
	}
	body, _, err := s.readBody(c, mimeForm)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalid("malformed form body: %v", err)
	}
	for k, v := range form {
		params[k] = append(params[k], v...)
	}
	return params, nil
}

// encodeParams encodes search parameters for a link, in a stable order, with
// the page cursor when given.
func encodeParams(p url.Values, cursor string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		for _, v := range p[k] {
			if sb.Len() > 0 {
				sb.WriteByte('&')
			}
			sb.WriteString(url.QueryEscape(k))
			sb.WriteByte('=')
			sb.WriteString(url.QueryEscape(v))
		}
	}
	if cursor != "" {
		if sb.Len() > 0 {
			sb.WriteByte('&')
		}
		sb.WriteString("_cursor=" + url.QueryEscape(cursor))
	}
	return sb.String()
}

// maxRecount is the most matches visibleTotal checks one by one.
const maxRecount = search.MaxCount

// hideable returns those of types (every served type when empty) whose
// resources the ReadInterceptor may hide from the caller.
func (s *Server) hideable(ctx context.Context, types []string) []string {
	if len(types) == 0 {
		types = s.cfg.Types
	}
	h, ok := s.cfg.ReadInterceptor.(TypeHider)
	if !ok {
		return types
	}
	var out []string
	for _, t := range types {
		if h.MayHide(ctx, t) {
			out = append(out, t)
		}
	}
	return out
}

// mayHide reports whether the ReadInterceptor may hide from the caller a
// resource of any of types (every served type when types is empty).
func (s *Server) mayHide(ctx context.Context, types []string) bool {
	return len(s.hideable(ctx, types)) > 0
}

// visibleTotal is a bundle's total as the caller may know it: the matches
// (or versions) the ReadInterceptor lets them see. The store counted them
// all, and a total that counts hidden ones tells the caller that something
// is hidden (a crew told "total": 1 with no plan in the bundle), so it is
// corrected:
//   - when everything is on this page, by the hidden ones on it;
//   - otherwise by the hidden ones among every match of a type that may be
//     hidden (hideable returns up to limit of them), when there are at most
//     maxRecount of those;
//   - otherwise it is left out (nil), as R4 allows: the count is not known.
//
// Deleted versions (in a history) are never hidden.
func (s *Server) visibleTotal(ctx context.Context, total int, onePage bool, hiddenHere int, hideable func(limit int) ([]store.Version, error)) (*int, error) {
	if onePage {
		total -= hiddenHere
		return &total, nil
	}
	if total == 0 {
		return &total, nil
	}
	vs, err := hideable(maxRecount + 1)
	if err != nil {
		return nil, err
	}
	if len(vs) > maxRecount {
		return nil, nil
	}
	for i := range vs {
		if !vs[i].Deleted && s.cfg.ReadInterceptor.AllowRead(ctx, &vs[i], service.Count) != nil {
			total--
		}
	}
	return &total, nil
}

// hideableMatches returns, for visibleTotal, up to limit matches of q of
// the types that may be hidden.
func (s *Server) hideableMatches(ctx context.Context, q store.Query) func(int) ([]store.Version, error) {
	return func(limit int) ([]store.Version, error) {
		q.Types = s.hideable(ctx, q.Types)
		q.Cursor, q.Count, q.Total = "", limit, store.TotalNone
		res, err := s.cfg.Store.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		return res.Versions, nil
	}
}
