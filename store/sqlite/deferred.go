package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"ucp/store"
)

// deferrable are the secondary indexes a bulk load may set aside: those
// that only searches use. A load still reads through the rest (a resource
// by type and id, a version, a patient's Consents by reference, a profile
// by url), and replaces a resource's rows through its rid (the clustered
// keys, compartment_rid).
var deferrable = []string{
	"idx_token_param_code",
	"idx_string_norm", "idx_string_exact",
	"idx_date_lo", "idx_date_hi",
	"idx_number_lo", "idx_number_hi",
	"idx_quantity_lo", "idx_quantity_hi", "idx_quantity_canon",
	"idx_reference_url", "idx_reference_ident",
	"resource_type_live", "resource_id", "resource_type_lu", "resource_lu",
	"version_type_lu", "version_lu",
}

// DeferIndexes drops the secondary indexes that only searches use, for a
// bulk load into a store nothing searches meanwhile: each row then costs a
// few B-tree inserts instead of dozens, and rebuilding an index from sorted
// rows at the end is far cheaper than keeping it up to date row by row.
// Searches stay correct meanwhile, only slower. The returned restore
// recreates them; if it is never called (the load crashed), Open does.
func (s *Store) DeferIndexes(ctx context.Context) (restore func(context.Context) error, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, storeErr(err, "sqlite: defer indexes")
	}
	defer tx.Rollback()
	for _, name := range deferrable {
		var def string
		err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?`, name).Scan(&def)
		if err == sql.ErrNoRows {
			continue // already deferred
		}
		if err != nil {
			return nil, storeErr(err, "sqlite: defer indexes")
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO deferred_index(name, sql) VALUES (?, ?)`, name, def); err != nil {
			return nil, storeErr(err, "sqlite: defer indexes")
		}
		if _, err := tx.ExecContext(ctx, `DROP INDEX `+name); err != nil {
			return nil, storeErr(err, "sqlite: defer indexes")
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, storeErr(err, "sqlite: defer indexes")
	}
	return s.restoreIndexes, nil
}

// restoreIndexes recreates every deferred index, one transaction each, so
// that a crash part way keeps the ones already built.
func (s *Store) restoreIndexes(ctx context.Context) error {
	rows, err := s.w.QueryContext(ctx, `SELECT name, sql FROM deferred_index ORDER BY name`)
	if err != nil {
		return storeErr(err, "sqlite: restore indexes")
	}
	type index struct{ name, sql string }
	var todo []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			rows.Close()
			return storeErr(err, "sqlite: restore indexes")
		}
		todo = append(todo, ix)
	}
	if err := rows.Close(); err != nil {
		return storeErr(err, "sqlite: restore indexes")
	}
	for _, ix := range todo {
		if !strings.HasPrefix(ix.sql, "CREATE INDEX ") {
			return store.Errorf(store.Internal, "sqlite: deferred index %s: unexpected definition %q", ix.name, ix.sql)
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return storeErr(err, "sqlite: restore indexes")
		}
		// IF NOT EXISTS: a crash between the build and the row's removal
		// leaves the index built.
		_, err = tx.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS "+strings.TrimPrefix(ix.sql, "CREATE INDEX "))
		if err == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM deferred_index WHERE name = ?`, ix.name)
		}
		if err == nil {
			err = tx.Commit()
		}
		tx.Rollback()
		if err != nil {
			return storeErr(err, "sqlite: restore indexes")
		}
	}
	return nil
}
