package service

import (
	"context"

	"ucp/store"
)

// Read returns the current version of typ/id as the caller in ctx may see
// it (R4 http.html#read): authorised as a read, then passed through the
// ReadInterceptor.
func (s *Service) Read(ctx context.Context, typ, id string) (*store.Version, error) {
	if err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "read", Type: typ, ID: id}); err != nil {
		return nil, err
	}
	v, err := s.cfg.Store.Read(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.ReadInterceptor.AllowRead(ctx, v, Disclose); err != nil {
		return nil, err
	}
	return v, nil
}

// Find returns up to limit current versions of typ matching a search query
// of search parameters (no _include, _summary or paging), as the caller in
// ctx may see them: authorised as a search, each version passed through the
// ReadInterceptor. It is for in-process callers that look a resource up
// (start-up loading, the demo), not the search interaction, which the REST
// adapter serves.
func (s *Service) Find(ctx context.Context, typ, query string, limit int) ([]store.Version, error) {
	if err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "search-type", Type: typ, Query: query}); err != nil {
		return nil, err
	}
	q, err := s.Condition(ctx, typ, query)
	if err != nil {
		return nil, err
	}
	vs, err := s.MatchCondition(ctx, q, limit)
	if err != nil {
		return nil, err
	}
	out := vs[:0]
	for i := range vs {
		if s.cfg.ReadInterceptor.AllowRead(ctx, &vs[i], Disclose) == nil {
			out = append(out, vs[i])
		}
	}
	return out, nil
}
