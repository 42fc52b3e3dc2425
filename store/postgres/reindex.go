package postgres

import (
	"context"

	"ucp/store"
)

var _ store.Reindexer = (*Store)(nil)

// Reindex replaces the index rows of current versions (see
// store.Reindexer) in one transaction that locks the resources' rows, so
// the version check and the replacement are atomic with respect to every
// Write.
func (s *Store) Reindex(ctx context.Context, updates []store.IndexUpdate) (int, error) {
	if len(updates) == 0 {
		return 0, nil
	}
	seen := make(map[store.Ref]struct{}, len(updates))
	refs := make([]store.Ref, len(updates))
	for i := range updates {
		u := &updates[i]
		if u.Type == "" || u.ID == "" {
			return 0, store.Errorf(store.Invalid, "reindex update %d: type and id are required", i)
		}
		if u.VersionID <= 0 {
			return 0, store.Errorf(store.Invalid, "reindex update %d (%s/%s): version id must be positive", i, u.Type, u.ID)
		}
		ref := store.Ref{Type: u.Type, ID: u.ID}
		if _, dup := seen[ref]; dup {
			return 0, store.Errorf(store.Invalid, "%s appears more than once in one reindex", ref)
		}
		seen[ref] = struct{}{}
		refs[i] = ref
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, storeErr(err, "postgres: reindex")
	}
	defer tx.Rollback(ctx)
	w := writer{ctx: ctx, tx: tx}
	// Index rows are what a conditional create's check reads.
	if err := w.lock(false); err != nil {
		return 0, err
	}
	current, err := w.current(refs)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range updates {
		u := &updates[i]
		cur, ok := current[refs[i]]
		if !ok || cur.deleted || cur.version != u.VersionID {
			// Never written, or written since the caller read it: that
			// write indexed it.
			continue
		}
		w.unindexed = append(w.unindexed, cur.rid)
		if err := w.index(cur.rid, u.Type, u.ID, u.Entries, u.Patients); err != nil {
			return 0, err
		}
		n++
	}
	if err := w.flush(); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, storeErr(err, "postgres: commit")
	}
	return n, nil
}
