package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/fhir/service"
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

// searchIn is search-type (typ set) or search-system (typ ""), restricted to
// the Patient compartment of patient when that is set (see
// handleCompartmentSearch).
func (s *Server) searchIn(c *gin.Context, typ, patient string) error {
	params, err := s.searchParams(c)
	if err != nil {
		return err
	}
	b, err := s.searchset(c.Request.Context(), s.service(c), s.base(c), typ, patient, params, c.Request.Header.Values("Prefer"), func(a Access) { s.note(c, a) })
	if err != nil {
		return err
	}
	return s.writeJSON(c, http.StatusOK, b)
}

// searchset is the searchset Bundle of a search of typ (every type when
// "") in the compartment of patient (none when ""), with params as the
// request's parameters, links below base, and the request's Prefer
// headers; note is told the Access the search is authorised as. The
// search runs under Config.SearchTimeout.
func (s *Server) searchset(ctx context.Context, svc *service.Service, base, typ, patient string, params url.Values, prefer []string, note func(Access)) (b []byte, err error) {
	err = s.svc.Bounded(ctx, func(ctx context.Context) error {
		b, err = s.searchWithin(ctx, svc, base, typ, patient, params, prefer, note)
		return err
	})
	return b, err
}

// searchWithin is searchset within the search's deadline (ctx): the
// service searches; this opens and seals the paging cursors and encodes
// the searchset.
func (s *Server) searchWithin(ctx context.Context, svc *service.Service, base, typ, patient string, params url.Values, prefer []string, note func(Access)) ([]byte, error) {
	sealed := params.Get("_cursor")
	parseParams := url.Values{}
	for k, v := range params {
		if k != "_cursor" && !controlParams[k] {
			parseParams[k] = v
		}
	}
	scope := service.CursorScope("search", typ+"\x00"+patient, parseParams)
	r := service.SearchRequest{
		Type: typ, Patient: patient, Params: parseParams, Query: params.Encode(),
		Lenient: parsePrefer(prefer).handling == "lenient",
		Noted:   note,
	}
	var err error
	if r.Cursor, err = s.svc.OpenCursor(ctx, scope, sealed); err != nil {
		return nil, err
	}
	res, err := svc.Search(ctx, r)
	if err != nil {
		return nil, err
	}
	req := res.Parsed
	b := &bundle{ResourceType: "Bundle", ID: uuid.NewString(), Type: "searchset", Total: res.Total,
		Meta: &bundleMeta{LastUpdated: resource.FormatInstant(s.now())}}
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
	b.Link = append(b.Link, bundleLink{Relation: "self", URL: selfPath + "?" + service.EncodeParams(used, sealed)})
	if res.Next != "" {
		b.Link = append(b.Link, bundleLink{Relation: "next", URL: selfPath + "?" + service.EncodeParams(parseParams, s.svc.SealCursor(ctx, scope, res.Next))})
	}
	if res.Prev != "" {
		b.Link = append(b.Link, bundleLink{Relation: "previous", URL: selfPath + "?" + service.EncodeParams(parseParams, s.svc.SealCursor(ctx, scope, res.Prev))})
	}
	for i := range res.Matches {
		v := &res.Matches[i]
		body, err := s.subset(v.JSON, req.Summary, strings.Join(req.Elements, ","))
		if err != nil {
			return nil, err
		}
		b.Entry = append(b.Entry, bundleEntry{
			FullURL: base + "/" + v.Type + "/" + v.ID, Resource: body, Search: &entrySearch{Mode: "match"},
		})
	}
	for i := range res.Included {
		v := &res.Included[i]
		b.Entry = append(b.Entry, bundleEntry{
			FullURL: base + "/" + v.Type + "/" + v.ID, Resource: v.JSON, Search: &entrySearch{Mode: "include"},
		})
	}
	if res.IncludeCut {
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
	return marshalBundle(b), nil
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
