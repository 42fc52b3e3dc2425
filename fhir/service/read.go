package service

import (
	"context"

	"ucp/fhir/outcome"
	"ucp/store"
)

// Read returns the current version of typ/id as the caller in ctx may see
// it (R4 http.html#read): authorised as a read, then passed through the
// ReadInterceptor.
func (s *Service) Read(ctx context.Context, typ, id string) (*store.Version, error) {
	if err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "read", Type: typ, ID: id}); err != nil {
		return nil, err
	}
	return s.Visible(ctx, typ, id)
}

// Visible returns the current version of typ/id if the ReadInterceptor
// lets the caller in ctx see it, without authorising a read: for an
// interaction authorised as something wider that shows the resource (a
// compartment search and $everything show the compartment's Patient).
// Unknown is NotFound, deleted is Gone, hidden is the interceptor's error.
func (s *Service) Visible(ctx context.Context, typ, id string) (*store.Version, error) {
	v, err := s.cfg.Store.Read(ctx, typ, id)
	if err != nil {
		return nil, describeReadErr(err, typ, id)
	}
	if err := s.cfg.ReadInterceptor.AllowRead(ctx, v, Disclose, s.call); err != nil {
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
		if s.cfg.ReadInterceptor.AllowRead(ctx, &vs[i], Disclose, s.call) == nil {
			out = append(out, vs[i])
		}
	}
	return out, nil
}

// describeReadErr gives NotFound and Gone a message naming the resource.
func describeReadErr(err error, typ, id string) error {
	e := outcome.AsError(err)
	if e == nil {
		return err
	}
	switch e.Kind {
	case outcome.NotFound:
		if e.Message == "" {
			return outcome.Errorf(outcome.NotFound, "%s/%s is not known", typ, id)
		}
	case outcome.Gone:
		return outcome.Errorf(outcome.Gone, "%s/%s has been deleted", typ, id)
	}
	return err
}
