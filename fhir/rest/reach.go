package rest

import (
	"context"
	"errors"
	"slices"

	"ucp/store"
)

// authorizeReach asks the Authorizer about every type a query reaches
// through chains (subject:Patient.identifier=…) and reverse chains
// (_has:AuditEvent:patient:agent=…), as a search of that type: such a
// condition is a search of the type it names, and its answer (which
// matches remain) discloses what that type holds. Without this a viewer,
// who may not read AuditEvents, could list the patients a colleague opened.
// The searched types were authorized already and are not asked again, nor
// is the match :identifier adds on the referenced resource's own
// identifier (the urgent query's subject:identifier=…).
func (s *Server) authorizeReach(ctx context.Context, q *store.Query) error {
	for _, t := range reachedTypes(q.Where, nil) {
		if slices.Contains(q.Types, t) {
			continue
		}
		err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "search-type", Type: t})
		if err == nil {
			continue
		}
		var e *store.Error
		if errors.As(err, &e) && e.Kind == store.Forbidden {
			return store.Errorf(store.Forbidden, "the search reaches %s through a chain or _has: %s", t, e.Message)
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
