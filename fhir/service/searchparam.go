package service

import (
	"context"
	"errors"
	"fmt"

	"ucp/fhir/outcome"
	"ucp/fhir/resource"
	"ucp/store"
)

// Custom search parameters at run time.
//
// A SearchParameter resource written through the service (create, update,
// patch, in batches, transactions and bulk imports alike) whose status is
// "active" and one of whose base types is served (or "Resource") is
// registered in the Registry once the write is stored, so searches and the
// CapabilityStatement know it from then on. Updating it re-registers it (the
// old url is unregistered first when it changed, or when the parameter is no
// longer active); deleting it unregisters it. A definition the Registry
// refuses (no url, a bad code, an expression that does not compile, a code
// clashing with another parameter of a base) refuses the write with 422
// naming why, before anything is stored. Several SearchParameter resources
// with one url share one registration: the last written wins, and deleting
// any of them unregisters the url.
//
// Only resources written after the parameter was registered are indexed
// for it: resources stored before are not found by it until they are
// re-extracted ($reindex).

// spChange is a staged change of a SearchParameter to the registry, applied
// by commitSearchParameter once its write is stored.
type spChange struct {
	newRes map[string]any // the new definition to register; nil when none (inactive, unserved, deleted)
	oldURL string         // the url of the previous version, "" when none
}

// registrable reports whether a SearchParameter should be in the registry:
// active, and searchable on at least one served base type.
func (s *Service) registrable(sp map[string]any) bool {
	if sp == nil || sp["status"] != "active" {
		return false
	}
	bases, _ := sp["base"].([]any)
	for _, b := range bases {
		if t, _ := b.(string); t == "Resource" || s.types[t] {
			return true
		}
	}
	return false
}

// stageSearchParameter checks a SearchParameter write (res nil for a
// delete) against the registry before it is stored and returns what to
// apply once it is. The Registry has no dry run, so the check registers the
// definition and puts back what was there: a definition is only ever left
// registered by commitSearchParameter, after the store accepted the write,
// so no failure path (a later entry of a transaction failing, a lost race)
// can leave a parameter behind whose resource was never stored.
func (s *Service) stageSearchParameter(res map[string]any, cur *store.Version) (*spChange, error) {
	ch := &spChange{}
	var old map[string]any
	if cur != nil && !cur.Deleted {
		if m, err := resource.Parse(cur.JSON); err == nil {
			old = m
			ch.oldURL, _ = m["url"].(string)
		}
	}
	if !s.registrable(res) {
		return ch, nil
	}
	url, _ := res["url"].(string)
	err := s.cfg.Registry.Register(res)
	if err == nil {
		// Put back what was registered before the check.
		s.cfg.Registry.Unregister(url)
		if s.registrable(old) && ch.oldURL == url {
			if rerr := s.cfg.Registry.Register(old); rerr != nil {
				s.cfg.Logger.Warn("restoring a search parameter after a check", "url", url, "err", rerr)
			}
		}
	}
	if err != nil {
		var expr []string
		if e := outcome.AsError(err); e != nil {
			expr = e.Expr
			if e.Message != "" {
				err = errors.New(e.Message)
			}
		}
		return nil, &outcome.Error{Kind: outcome.Unprocessable, Expr: expr,
			Message: fmt.Sprintf("SearchParameter refused: %v", err)}
	}
	ch.newRes = res
	return ch, nil
}

// commitSearchParameter applies a stored SearchParameter write to the
// registry. A Register that fails now (a conflicting parameter registered
// concurrently since the check) leaves the resource stored but not
// searchable; it is logged, and LoadSearchParameters reports it again at the
// next start.
func (s *Service) commitSearchParameter(ch *spChange) {
	newURL := ""
	if ch.newRes != nil {
		newURL, _ = ch.newRes["url"].(string)
	}
	if ch.oldURL != "" && ch.oldURL != newURL {
		s.cfg.Registry.Unregister(ch.oldURL)
	}
	if ch.newRes != nil {
		if err := s.cfg.Registry.Register(ch.newRes); err != nil {
			s.cfg.Logger.Warn("registering a stored search parameter", "url", newURL, "err", err)
		}
	}
}

// LoadSearchParameters registers every stored SearchParameter that is
// active and has a served base, so custom parameters survive a restart.
// Call it once at start, before serving. A stored definition the Registry
// refuses is skipped and named in the returned error, which is therefore
// worth logging rather than fatal: every other one is registered.
func (s *Service) LoadSearchParameters(ctx context.Context) error {
	var errs []error
	q := store.Query{Types: []string{"SearchParameter"}, Count: 500, Total: store.TotalNone}
	n := 0
	for {
		res, err := s.cfg.Store.Search(ctx, q)
		if err != nil {
			return fmt.Errorf("loading search parameters: %w", err)
		}
		for _, v := range res.Versions {
			sp, err := resource.Parse(v.JSON)
			if err != nil || !s.registrable(sp) {
				continue
			}
			if err := s.cfg.Registry.Register(sp); err != nil {
				errs = append(errs, fmt.Errorf("SearchParameter/%s: %w", v.ID, err))
				continue
			}
			n++
		}
		if res.Next == "" || len(res.Versions) == 0 {
			break
		}
		q.Cursor = res.Next
	}
	if n > 0 {
		s.cfg.OnSearchParameters()
	}
	return errors.Join(errs...)
}
