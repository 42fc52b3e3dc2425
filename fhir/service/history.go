package service

import (
	"context"
	"time"

	"ucp/fhir/outcome"
	"ucp/fhir/search"
	"ucp/store"
)

// VRead returns version vid of typ/id as the caller in ctx may see it (R4
// http.html#vread): authorised as a vread, then passed through the
// ReadInterceptor. A version that is a deletion is a Gone error, returned
// with that version so that a door can still tell its version id.
func (s *Service) VRead(ctx context.Context, typ, id string, vid int64) (*store.Version, error) {
	if err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: "vread", Type: typ, ID: id}); err != nil {
		return nil, err
	}
	v, err := s.cfg.Store.VRead(ctx, typ, id, vid)
	if err != nil {
		if outcome.KindOf(err) == outcome.NotFound {
			return nil, outcome.Errorf(outcome.NotFound, "%s/%s has no version %d", typ, id, vid)
		}
		return nil, err
	}
	if v.Deleted {
		return v, outcome.Errorf(outcome.Gone, "version %d of %s/%s is a deletion", vid, typ, id)
	}
	if err := s.cfg.ReadInterceptor.AllowRead(ctx, v, Disclose, s.call); err != nil {
		return nil, err
	}
	return v, nil
}

// HistoryRequest is a history interaction: of one instance (Type and ID),
// of a type (Type) or of the system (neither).
type HistoryRequest struct {
	Type, ID string
	// Count is the page size; 0 means search.DefaultCount, and it is at
	// most search.MaxCount.
	Count int
	// Since and At are _since and _at; zero when not asked for.
	Since, At time.Time
	// Cursor is the store's cursor of the page to return ("" for the
	// first); a door that hands cursors to clients seals them itself.
	Cursor string
}

// HistoryResult is one page of a history, newest first.
type HistoryResult struct {
	// Versions are the versions on the page the caller may see; a
	// deletion is always shown.
	Versions []store.Version
	// Total is the number of versions the caller may know of, nil when it
	// is not known (see visibleTotal).
	Total *int
	// Next is the store's cursor of the next page, "" on the last.
	Next string
}

// History returns a page of the history r asks for (R4 http.html#history),
// authorised as history-instance, history-type or history-system and
// filtered through the ReadInterceptor. An instance never written is a
// NotFound error, as for a read.
func (s *Service) History(ctx context.Context, r HistoryRequest) (*HistoryResult, error) {
	interaction := "history-system"
	switch {
	case r.ID != "":
		interaction = "history-instance"
	case r.Type != "":
		interaction = "history-type"
	}
	if err := s.cfg.Authorizer.Authorize(ctx, Access{Interaction: interaction, Type: r.Type, ID: r.ID}); err != nil {
		return nil, err
	}
	q := store.HistoryQuery{Type: r.Type, ID: r.ID, Count: r.Count, Since: r.Since, At: r.At, Cursor: r.Cursor}
	if q.Count <= 0 {
		q.Count = search.DefaultCount
	}
	q.Count = min(q.Count, search.MaxCount)
	page, err := s.cfg.Store.History(ctx, q)
	if err != nil {
		return nil, err
	}
	if r.ID != "" && len(page.Versions) == 0 && q.Cursor == "" && q.Since.IsZero() {
		// An instance never written has no history: 404, as for a read.
		if _, err := s.cfg.Store.Read(ctx, r.Type, r.ID); outcome.KindOf(err) == outcome.NotFound {
			return nil, describeReadErr(err, r.Type, r.ID)
		}
	}
	total := page.Total
	out := &HistoryResult{Total: &total, Next: page.Next}
	hidden := 0
	for i := range page.Versions {
		v := &page.Versions[i]
		if !v.Deleted && s.cfg.ReadInterceptor.AllowRead(ctx, v, Disclose, s.call) != nil {
			hidden++
			continue
		}
		out.Versions = append(out.Versions, *v)
	}
	var types []string
	if r.Type != "" {
		types = []string{r.Type}
	}
	if hideable := s.hideable(ctx, types); len(hideable) > 0 {
		// The versions of the types that may be hidden, one history query
		// per type (a system history spans them all).
		versions := func(limit int) ([]store.Version, error) {
			var vs []store.Version
			for _, t := range hideable {
				hq := q
				hq.Type, hq.Cursor, hq.Count = t, "", limit-len(vs)
				p, err := s.cfg.Store.History(ctx, hq)
				if err != nil {
					return nil, err
				}
				if vs = append(vs, p.Versions...); len(vs) >= limit {
					break
				}
			}
			return vs, nil
		}
		if out.Total, err = s.visibleTotal(ctx, total, q.Cursor == "" && page.Next == "", hidden, versions); err != nil {
			return nil, err
		}
	}
	return out, nil
}
