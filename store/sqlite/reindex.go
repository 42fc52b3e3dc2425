package sqlite

import (
	"context"
	"database/sql"

	"ucp/store"
)

var _ store.Reindexer = (*Store)(nil)

// Reindex replaces the index rows of current versions (see
// store.Reindexer) in one BEGIN IMMEDIATE transaction on the writer
// connection, so the version check and the replacement are atomic with
// respect to every Write.
func (s *Store) Reindex(ctx context.Context, updates []store.IndexUpdate) (int, error) {
	if len(updates) == 0 {
		return 0, nil
	}
	seen := make(map[store.Ref]struct{}, len(updates))
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
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, storeErr(err, "sqlite: reindex")
	}
	defer tx.Rollback()
	w := writer{s: s, ctx: ctx, tx: tx}
	n := 0
	for i := range updates {
		u := &updates[i]
		var rid, cur int64
		var deleted bool
		err := tx.QueryRowContext(ctx, `SELECT rid, version, deleted FROM resource WHERE type = ? AND id = ?`, u.Type, u.ID).Scan(&rid, &cur, &deleted)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return 0, storeErr(err, "sqlite: reindex")
		}
		if deleted || cur != u.VersionID {
			// Written since the caller read it: that write indexed it.
			continue
		}
		if err := w.unindex(rid); err != nil {
			return 0, err
		}
		if err := w.index(rid, u.Type, u.ID, u.Entries, u.Patients); err != nil {
			return 0, err
		}
		n++
	}
	if err := w.flush(); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, storeErr(err, "sqlite: commit")
	}
	return n, nil
}
