package service

import (
	"context"
	"slices"

	"ucp/fhir/outcome"
	"ucp/fhir/search"
	"ucp/store"
)

// AuthorizeReach asks the Authorizer about every type a query reaches
// through chains (subject:Patient.identifier=…) and reverse chains
// (_has:AuditEvent:patient:agent=…), as a search of that type: such a
// condition is a search of the type it names, and its answer (which
// matches remain) discloses what that type holds. Without this a viewer,
// who may not read AuditEvents, could list the patients a colleague opened.
// The searched types were authorized already and are not asked again, nor
// is the match :identifier adds on the referenced resource's own
// identifier (the urgent query's subject:identifier=…).
func (s *Service) AuthorizeReach(ctx context.Context, q *store.Query) error {
	for _, t := range reachedTypes(q.Where, nil) {
		if slices.Contains(q.Types, t) {
			continue
		}
		err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "search-type", Type: t})
		if err == nil {
			continue
		}
		if e := outcome.AsError(err); e != nil && e.Kind == outcome.Forbidden {
			return outcome.Errorf(outcome.Forbidden, "the search reaches %s through a chain or _has: %s", t, e.Message)
		}
		return err
	}
	return nil
}

// reachedTypes appends to out the types that where's chains and _has
// conditions reach, at any depth, each once.
func reachedTypes(where []store.Clause, out []string) []string {
	for _, cl := range where {
		for _, c := range cl.Any {
			switch {
			case c.Chain != nil && c.Chain.OwnIdentifier:
				// subject:identifier=…: a match on the reference's
				// identifier, which the searched type's own search allows.
			case c.Chain != nil:
				if !slices.Contains(out, c.Chain.Type) {
					out = append(out, c.Chain.Type)
				}
				out = reachedTypes(c.Chain.Where, out)
			case c.Has != nil:
				if !slices.Contains(out, c.Has.Type) {
					out = append(out, c.Has.Type)
				}
				out = reachedTypes(c.Has.Where, out)
			}
			if len(c.Components) > 0 {
				out = reachedTypes([]store.Clause{{Any: c.Components}}, out)
			}
		}
	}
	return out
}

// maxRecount is the most resources of a hidden type a chain may reach,
// each checked one by one.
const maxRecount = search.MaxCount

// Searcher is the part of a Store that NarrowReach reads.
type Searcher interface {
	Search(ctx context.Context, q store.Query) (*store.Result, error)
}

// NarrowReach restricts every chain and _has in where that reaches a type
// rd may hide from the caller to the resources of that type the caller may
// see. The store answers such a condition from its indexes, and a match
// through a hidden resource tells that it exists
// (Patient?_has:CarePlan:subject:_id={a hidden plan}). A condition reaching
// more than maxRecount resources of such a type is refused: each would
// need checking. Every door that searches for a caller narrows its query:
// the REST search, and bulk export's _typeFilter. A nil rd hides nothing.
// call is the interaction's, passed to rd.
func NarrowReach(ctx context.Context, st Searcher, rd ReadInterceptor, call *Call, where []store.Clause) error {
	if rd == nil {
		return nil
	}
	return narrower{st, rd, call}.where(ctx, where)
}

type narrower struct {
	st   Searcher
	rd   ReadInterceptor
	call *Call
}

func (n narrower) where(ctx context.Context, where []store.Clause) error {
	for i := range where {
		for j := range where[i].Any {
			if err := n.cond(ctx, &where[i].Any[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n narrower) cond(ctx context.Context, c *store.Cond) error {
	for i := range c.Components {
		if err := n.cond(ctx, &c.Components[i]); err != nil {
			return err
		}
	}
	var typ string
	var inner *[]store.Clause
	switch {
	case c.Chain != nil:
		typ, inner = c.Chain.Type, &c.Chain.Where
	case c.Has != nil:
		typ, inner = c.Has.Type, &c.Has.Where
	default:
		return nil
	}
	if err := n.where(ctx, *inner); err != nil {
		return err
	}
	if h, ok := n.rd.(TypeHider); ok && !h.MayHide(ctx, typ) {
		return nil
	}
	ids, err := n.visibleIDs(ctx, typ, *inner)
	if err != nil {
		return err
	}
	*inner = append(slices.Clip(*inner), idsClause(ids))
	return nil
}

// visibleIDs returns the ids of the resources of typ matching where that
// the caller may see.
func (n narrower) visibleIDs(ctx context.Context, typ string, where []store.Clause) ([]string, error) {
	res, err := n.st.Search(ctx, store.Query{Types: []string{typ}, Where: where, Count: maxRecount + 1, Total: store.TotalNone})
	if err != nil {
		return nil, err
	}
	if len(res.Versions) > maxRecount {
		return nil, outcome.Errorf(outcome.Unsupported, "a chain or _has through %s may match at most %d resources that are checked one by one; narrow it", typ, maxRecount)
	}
	var ids []string
	for i := range res.Versions {
		if n.rd.AllowRead(ctx, &res.Versions[i], Count, n.call) == nil {
			ids = append(ids, res.Versions[i].ID)
		}
	}
	return ids, nil
}

// idsClause matches the resources with one of ids; with none, nothing (no
// resource has an empty id).
func idsClause(ids []string) store.Clause {
	if len(ids) == 0 {
		ids = []string{""}
	}
	cl := store.Clause{Any: make([]store.Cond, len(ids))}
	for i, id := range ids {
		cl.Any[i] = store.Cond{Param: "_id", Type: store.Token, Code: id}
	}
	return cl
}
