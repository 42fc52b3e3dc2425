package service

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"ucp/fhir/outcome"
	"ucp/fhir/search"
	"ucp/store"
)

// SearchRequest is a search (R4 search.html): of one type (Type), of every
// type (Type ""), or of either within the Patient compartment of Patient.
type SearchRequest struct {
	Type    string
	Patient string
	// Params are the search parameters, without _cursor and the response
	// format parameters (_format, _pretty), which are not the service's.
	Params url.Values
	// Query is the query string as the Authorizer sees it (and the audit
	// records it): the request's own, which may carry more than Params.
	Query string
	// Cursor is the store's cursor of the page to return ("" for the
	// first); a door that hands cursors to clients seals them itself.
	Cursor string
	// Lenient ignores unknown parameters and modifiers (reported in
	// SearchResult.Parsed.Ignored) instead of refusing them.
	Lenient bool
	// Noted, when set, is told each Access the search is authorised as,
	// before the Authorizer is asked, so that a door can record the last
	// one in its audit. A system search's per-type checks (see
	// searchableTypes) are not told: the search-system is what was asked.
	Noted func(Access)
}

// SearchResult is one page of a search.
type SearchResult struct {
	// Parsed is the parsed request: _summary, _elements, the parameters
	// used (for the self link) and those ignored under lenient handling.
	Parsed *search.Request
	// Matches are the matches on the page the caller may see.
	Matches []store.Version
	// Included are the resources _include and _revinclude add, each
	// authorised as a read and passed by the ReadInterceptor; IncludeCut
	// says that Config.MaxIncluded cut them short.
	Included   []store.Version
	IncludeCut bool
	// Total is the number of matches the caller may know of; nil when not
	// asked for or not known (see visibleTotal).
	Total *int
	// Next and Prev are the store's cursors of the next and previous
	// pages, "" when there is none.
	Next, Prev string
}

// Search runs r as the caller in ctx (R4 search.html): it authorises the
// search (a search-type, a search-system and each type it reaches, or each
// type of a compartment and the compartment's Patient), parses the
// parameters with the Registry, authorises every type a chain or _has
// reaches and narrows those reaches to what the caller may see, runs the
// store query, leaves out what the ReadInterceptor hides, follows _include
// and _revinclude from what is shown, and corrects the total for what is
// hidden.
func (s *Service) Search(ctx context.Context, r SearchRequest) (*SearchResult, error) {
	note := r.Noted
	if note == nil {
		note = func(Access) {}
	}
	var compTypes []string // for Patient/{id}/* and a search of every type: the types the caller may search
	if r.Patient == "" {
		interaction := "search-type"
		if r.Type == "" {
			interaction = "search-system"
			for _, v := range r.Params["_type"] {
				for _, t := range strings.Split(v, ",") {
					if err := s.checkType(strings.TrimSpace(t)); err != nil {
						return nil, err
					}
				}
			}
		}
		a := Access{Interaction: interaction, Type: r.Type, Query: r.Query}
		note(a)
		if err := s.cfg.Authorizer.Authorize(ctx, a); err != nil {
			return nil, err
		}
		if r.Type == "" {
			var err error
			if compTypes, err = s.searchableTypes(ctx, r.Params, r.Query); err != nil {
				return nil, err
			}
		}
	} else {
		var err error
		if compTypes, err = s.authorizeCompartment(ctx, r.Type, r.Patient, r.Params, note); err != nil {
			return nil, err
		}
	}
	// Strict unless the client asks otherwise: a misspelt parameter that
	// was silently dropped would widen the search to other patients' plans.
	req, err := s.cfg.Registry.Parse(ctx, r.Type, r.Params, !r.Lenient)
	if err != nil {
		return nil, err
	}
	if err := s.AuthorizeReach(ctx, &req.Query); err != nil {
		return nil, err
	}
	if err := NarrowReach(ctx, s.cfg.Store, s.cfg.ReadInterceptor, s.call, req.Query.Where); err != nil {
		return nil, err
	}
	q := req.Query
	q.Cursor = r.Cursor
	if r.Patient != "" {
		q.Patient = r.Patient
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
		return nil, err
	}
	out := &SearchResult{Parsed: req, Next: res.Next, Prev: res.Prev}
	// Only the matches the caller may see are followed by _include and
	// _revinclude: a hidden plan's goals and provenance are hidden with it.
	for i := range res.Versions {
		v := &res.Versions[i]
		if s.cfg.ReadInterceptor.AllowRead(ctx, v, Disclose, s.call) != nil {
			continue
		}
		out.Matches = append(out.Matches, *v)
	}
	if out.Total, err = s.SearchTotal(ctx, q, res, len(res.Versions)-len(out.Matches)); err != nil {
		return nil, err
	}
	if out.Included, out.IncludeCut, err = s.includes(ctx, req, out.Matches); err != nil {
		return nil, err
	}
	return out, nil
}

// SearchTotal is the total of res, the page of q's results on which the
// ReadInterceptor hid hidden matches, as the caller may know it (see
// visibleTotal): nil when the store did not count.
func (s *Service) SearchTotal(ctx context.Context, q store.Query, res *store.Result, hidden int) (*int, error) {
	if res.Total < 0 {
		return nil, nil
	}
	total := res.Total
	hideable := s.hideable(ctx, q.Types)
	if len(hideable) == 0 {
		return &total, nil
	}
	onePage := q.Count > 0 && q.Cursor == "" && res.Next == ""
	return s.visibleTotal(ctx, total, onePage, hidden, func(limit int) ([]store.Version, error) {
		q.Types = hideable
		q.Cursor, q.Count, q.Total = "", limit, store.TotalNone
		res, err := s.cfg.Store.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		return res.Versions, nil
	})
}

// checkType refuses a type the service does not serve.
func (s *Service) checkType(t string) error {
	if s.types[t] {
		return nil
	}
	return &outcome.Error{Kind: outcome.NotFound, Code: "not-supported", Message: fmt.Sprintf("resource type %q is not supported by this server", t)}
}

// searchableTypes authorizes a search of every type as a search of each
// type it reaches, as chains and compartments are: a type named in _type
// must be allowed (the client asked for it); without _type it is every
// served type the caller may search, so a scope that covers "*" still
// reaches only what the policy lets it search (not the audit, say). It
// returns those types, or nil when _type names them.
func (s *Service) searchableTypes(ctx context.Context, params url.Values, query string) ([]string, error) {
	if len(params["_type"]) > 0 {
		for _, v := range params["_type"] {
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t == "" {
					continue
				}
				if err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "search-type", Type: t, Query: query}); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	}
	var out []string
	for _, t := range s.cfg.Types {
		err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "search-type", Type: t, Query: query})
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

// authorizeCompartment authorises a search of typ ("" for *) in patient's
// compartment and then checks that the Patient exists and may be seen. A
// named type (typ, or each _type of *) must be allowed: the client asked
// for it. A bare * is every served type the caller may search there, as
// $everything is (see SearchableIn); those are returned, nil otherwise.
//
// Each type is authorised as a search-type whose query is
// "patient=Patient/{id}" followed by the client's parameters: restricting
// to the compartment means what pinning the search to the patient means to
// a policy. The authorisation comes before the Patient is looked up, so an
// unauthorised client cannot probe which patients exist.
func (s *Service) authorizeCompartment(ctx context.Context, typ, patient string, params url.Values, note func(Access)) ([]string, error) {
	types := []string{typ}
	if typ == "" {
		types = nil
		for _, v := range params["_type"] {
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t == "" {
					continue
				}
				if err := s.checkType(t); err != nil {
					return nil, err
				}
				types = append(types, t)
			}
		}
	}
	q := "patient=" + url.QueryEscape("Patient/"+patient)
	if enc := params.Encode(); enc != "" {
		q += "&" + enc
	}
	var allowed []string
	if len(types) == 0 {
		// The Access that stands for the search is the compartment's.
		note(Access{Interaction: "search-type", Query: q})
		var err error
		if allowed, err = s.SearchableIn(ctx, patient, s.cfg.Types); err != nil {
			return nil, err
		}
		if len(allowed) == 0 {
			return nil, outcome.Errorf(outcome.Forbidden, "you may search no type in the compartment of Patient/%s", patient)
		}
	}
	for _, t := range types {
		a := Access{Interaction: "search-type", Type: t, Query: q}
		note(a)
		if err := s.cfg.Authorizer.Authorize(ctx, a); err != nil {
			return nil, err
		}
	}
	_, err := s.Visible(ctx, "Patient", patient)
	return allowed, err
}

// SearchableIn returns those of types the caller may search in patient's
// compartment, asked as a compartment search is (search-type, pinned to
// the patient); a refused type is left out, so that a search of the whole
// compartment (and $everything) is everything the caller may see: not the
// AuditEvents, which only auditors may read, nor types a narrow token's
// scopes leave out. An authorizer that fails otherwise fails the request.
func (s *Service) SearchableIn(ctx context.Context, patient string, types []string) ([]string, error) {
	var out []string
	for _, t := range types {
		q := "patient=" + url.QueryEscape("Patient/"+patient)
		if t == "Patient" {
			q = "_id=" + url.QueryEscape(patient)
		}
		err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "search-type", Type: t, Query: q})
		switch {
		case err == nil:
			out = append(out, t)
		case outcome.KindOf(err) != outcome.Forbidden:
			return nil, err
		}
	}
	return out, nil
}
