package service

import (
	"context"
	"net/http"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/store"
)

// ConditionalUpdate is an update by condition (R4 http.html#cond-update): no
// match creates (with the body's id if it has one), one match updates it,
// several are 412. A request that loses the race to create the match
// updates it instead, so racing identical conditional updates store one
// resource and never answer 409. ifMatch is the If-Match version, 0 when
// absent; it applies when a match exists.
func (s *Service) ConditionalUpdate(ctx context.Context, typ string, q *store.Query, res map[string]any, ifMatch int64) (*Result, error) {
	retry := s.retrier(ctx)
	bid, _ := res["id"].(string)
	for {
		vs, err := s.MatchCondition(ctx, q, 2)
		if err != nil {
			return nil, err
		}
		// A copy per attempt: Prepare sets id and meta on what it writes.
		w := &Write{Interaction: "update", Method: http.MethodPut, Type: typ, Resource: deepCopy(res).(map[string]any), CreateOnMissing: true}
		switch len(vs) {
		case 0:
			if bid == "" {
				w.Interaction, w.Method, w.IfNoneExist = "create", http.MethodPost, q
			} else {
				if !resource.ValidID(bid) {
					return nil, invalidAt("id", "invalid resource id %q", bid)
				}
				// R4 http.html#cond-update: no match and an id that already
				// exists is 409; a create with that id (PrevVersion 0) says so.
				w.Interaction, w.Method, w.ID, w.MustNotExist, w.IfNoneExist = "create", http.MethodPut, bid, true, q
			}
		case 1:
			if bid != "" && bid != vs[0].ID {
				return nil, invalidAt("id", "the resource id %q does not match the resource %s/%s the condition matched", bid, typ, vs[0].ID)
			}
			w.ID = vs[0].ID
			w.IfMatch = ifMatch
		default:
			return nil, outcome.Errorf(outcome.PreconditionFailed, "the condition matches more than one %s", typ)
		}
		r, err := s.Write(ctx, w)
		if err == nil && r.Outcome == Matched {
			// A concurrent request created the match first: update it.
			if !retry.wait() {
				return nil, outcome.Errorf(outcome.Conflict, "%s was changed concurrently until the request's deadline", typ)
			}
			continue
		}
		return r, err
	}
}

// ConditionalDelete deletes what q matches (R4 http.html#cdelete). One
// match is deleted; several are 412 unless multiple, then all are deleted
// in one atomic write (at most max, else 412). It returns how many were
// deleted.
func (s *Service) ConditionalDelete(ctx context.Context, typ string, q *store.Query, multiple bool, max int) (int, error) {
	retry := s.retrier(ctx)
	limit := 2
	if multiple {
		limit = max + 1
	}
	for {
		vs, err := s.MatchCondition(ctx, q, limit)
		if err != nil {
			return 0, err
		}
		if len(vs) >= limit {
			if multiple {
				return 0, outcome.Errorf(outcome.PreconditionFailed, "the condition matches more than %d resources", max)
			}
			return 0, outcome.Errorf(outcome.PreconditionFailed, "the condition matches more than one %s", typ)
		}
		if len(vs) == 0 {
			return 0, nil
		}
		var changes []store.Change
		var ps []*Prepared
		raced := false
		for _, v := range vs {
			p, err := s.Prepare(ctx, &Write{Interaction: "delete", Method: http.MethodDelete, Type: typ, ID: v.ID, IfMatch: v.VersionID}, View{})
			if outcome.KindOf(err) == outcome.PreconditionFailed {
				raced = true // changed since the search: search again
				break
			}
			if err != nil {
				return 0, err
			}
			changes = append(changes, p.Changes()...)
			ps = append(ps, p)
		}
		if !raced {
			_, err = s.cfg.Store.Write(ctx, changes)
			if err == nil {
				s.Committed(ps...)
				return len(ps), nil
			}
			if outcome.KindOf(err) != outcome.Conflict {
				return 0, err
			}
		}
		if !retry.wait() {
			if err == nil {
				err = outcome.Errorf(outcome.Conflict, "the %s matching the condition kept changing until the request's deadline", typ)
			}
			return 0, err
		}
	}
}

func invalidAt(expr string, format string, args ...any) error {
	e := outcome.Errorf(outcome.Invalid, format, args...)
	e.Expr = []string{expr}
	return e
}

// deepCopy copies a parsed JSON tree.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = deepCopy(e)
		}
		return a
	}
	return v
}
