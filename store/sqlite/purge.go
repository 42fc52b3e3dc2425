package sqlite

import (
	"context"
	"database/sql"
	"time"

	"ucp/store"
)

// Expired returns up to limit resources of typ whose current version (a
// deletion or not) was written before before, oldest first (by lastUpdated,
// then write order), each as all its versions, oldest first. With Purge it
// is how an operator removes what is kept for a limited time (AuditEvents:
// ucp audit prune). Neither is part of store.Store, under which a version
// is never forgotten.
func (s *Store) Expired(ctx context.Context, typ string, before time.Time, limit int) ([][]store.Version, error) {
	if typ == "" || limit <= 0 {
		return nil, store.Errorf(store.Invalid, "expired: a type and a positive limit are required")
	}
	// One read transaction: the resources and their versions from one
	// snapshot.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, storeErr(err, "sqlite: expired")
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id FROM resource WHERE type = ? AND last_updated < ?
		ORDER BY last_updated, rid LIMIT ?`, typ, before.UTC().UnixMicro(), limit)
	if err != nil {
		return nil, storeErr(err, "sqlite: expired")
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, storeErr(err, "sqlite: expired")
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, storeErr(err, "sqlite: expired")
	}
	out := make([][]store.Version, 0, len(ids))
	for _, id := range ids {
		vs, err := s.versions(ctx, tx, typ, id)
		if err != nil {
			return nil, err
		}
		out = append(out, vs)
	}
	return out, nil
}

func (s *Store) versions(ctx context.Context, tx *sql.Tx, typ, id string) ([]store.Version, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version, last_updated, deleted, method, json FROM version
		WHERE type = ? AND id = ? ORDER BY version`, typ, id)
	if err != nil {
		return nil, storeErr(err, "sqlite: expired")
	}
	defer rows.Close()
	var out []store.Version
	for rows.Next() {
		v := store.Version{Type: typ, ID: id}
		var lu int64
		if err := rows.Scan(&v.VersionID, &lu, &v.Deleted, &v.Method, &v.JSON); err != nil {
			return nil, storeErr(err, "sqlite: expired")
		}
		v.LastUpdated = fromMicros(lu)
		if v.Deleted {
			v.JSON = nil
		}
		if v.JSON, err = s.codec.unpack(v.JSON); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, storeErr(rows.Err(), "sqlite: expired")
}

// Purge removes the resources refs names, every version, index row and
// compartment row of each, in one transaction, and returns how many it
// removed; one that does not exist is skipped. See Expired.
func (s *Store) Purge(ctx context.Context, refs []store.Ref) (int, error) {
	if len(refs) == 0 {
		return 0, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, storeErr(err, "sqlite: purge")
	}
	defer tx.Rollback()
	w := writer{s: s, ctx: ctx, tx: tx}
	n := 0
	for _, r := range refs {
		var rid int64
		err := tx.QueryRowContext(ctx, `SELECT rid FROM resource WHERE type = ? AND id = ?`, r.Type, r.ID).Scan(&rid)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return 0, storeErr(err, "sqlite: purge")
		}
		if err := w.unindex(rid); err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM version WHERE type = ? AND id = ?`, r.Type, r.ID); err != nil {
			return 0, storeErr(err, "sqlite: purge")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM resource WHERE rid = ?`, rid); err != nil {
			return 0, storeErr(err, "sqlite: purge")
		}
		n++
	}
	if err := tx.Commit(); err != nil {
		return 0, storeErr(err, "sqlite: commit")
	}
	return n, nil
}
