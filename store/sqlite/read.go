package sqlite

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"ucp/store"
)

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

// Read returns the current version of a resource.
func (s *Store) Read(ctx context.Context, typ, id string) (*store.Version, error) {
	v := &store.Version{Type: typ, ID: id}
	var lu int64
	err := s.readStmt.QueryRowContext(ctx, typ, id).Scan(&v.VersionID, &lu, &v.Deleted, &v.Method, &v.JSON)
	if err == sql.ErrNoRows {
		return nil, store.Errorf(store.NotFound, "%s/%s not found", typ, id)
	}
	if err != nil {
		return nil, storeErr(err, "sqlite: read")
	}
	v.LastUpdated = fromMicros(lu)
	if v.Deleted {
		v.JSON = nil
		return nil, &store.Error{Kind: store.Gone, Message: typ + "/" + id + " was deleted", Version: v}
	}
	if v.JSON, err = s.codec.unpack(v.JSON); err != nil {
		return nil, err
	}
	return v, nil
}

// VRead returns one version of a resource.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (*store.Version, error) {
	v := &store.Version{Type: typ, ID: id, VersionID: version}
	var lu int64
	err := s.vreadStmt.QueryRowContext(ctx, typ, id, version).Scan(&lu, &v.Deleted, &v.Method, &v.JSON)
	if err == sql.ErrNoRows {
		return nil, store.Errorf(store.NotFound, "%s/%s version %d not found", typ, id, version)
	}
	if err != nil {
		return nil, storeErr(err, "sqlite: vread")
	}
	v.LastUpdated = fromMicros(lu)
	if v.Deleted {
		v.JSON = nil
	}
	if v.JSON, err = s.codec.unpack(v.JSON); err != nil {
		return nil, err
	}
	return v, nil
}

// historyCursor is the keyset position after the last version of a page.
type historyCursor struct {
	LU  int64 `json:"l"`
	Seq int64 `json:"s"`
}

// History returns versions newest first by (last_updated, seq). Paging is
// keyset on that pair, so versions written while a client pages appear
// before its cursor and never shift later pages.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) (*store.HistoryPage, error) {
	if q.ID != "" && q.Type == "" {
		return nil, store.Errorf(store.Invalid, "history: an id needs a type")
	}
	if q.Count <= 0 {
		return nil, store.Errorf(store.Invalid, "history: count must be positive")
	}
	var where []string
	var args []any
	switch {
	case q.ID != "":
		where = append(where, "v.type = ? AND v.id = ?")
		args = append(args, q.Type, q.ID)
	case q.Type != "":
		where = append(where, "v.type = ?")
		args = append(args, q.Type)
	}
	if !q.Since.IsZero() {
		where = append(where, "v.last_updated >= ?")
		args = append(args, micros(q.Since))
	}
	if !q.At.IsZero() {
		// The version current at At: written at or before At, and no later
		// version of the same resource written at or before At.
		where = append(where, `v.last_updated <= ? AND NOT EXISTS (SELECT 1 FROM version v2
			WHERE v2.type = v.type AND v2.id = v.id AND v2.last_updated <= ? AND v2.seq > v.seq)`)
		args = append(args, micros(q.At), micros(q.At))
	}
	filter := ""
	if len(where) > 0 {
		filter = " WHERE " + strings.Join(where, " AND ")
	}

	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, storeErr(err, "sqlite: history")
	}
	defer tx.Rollback()

	page := &store.HistoryPage{}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM version v"+filter, args...).Scan(&page.Total); err != nil {
		return nil, storeErr(err, "sqlite: history")
	}
	pageWhere, pageArgs := where, args
	if q.Cursor != "" {
		var c historyCursor
		if err := decodeCursor(q.Cursor, &c); err != nil {
			return nil, err
		}
		pageWhere = append(append([]string(nil), where...), "(v.last_updated, v.seq) < (?, ?)")
		pageArgs = append(append([]any(nil), args...), c.LU, c.Seq)
	}
	query := "SELECT v.seq, v.type, v.id, v.version, v.last_updated, v.deleted, v.method, v.json FROM version v"
	if len(pageWhere) > 0 {
		query += " WHERE " + strings.Join(pageWhere, " AND ")
	}
	query += " ORDER BY v.last_updated DESC, v.seq DESC LIMIT ?"
	rows, err := tx.QueryContext(ctx, query, append(pageArgs, q.Count+1)...)
	if err != nil {
		return nil, storeErr(err, "sqlite: history")
	}
	defer rows.Close()
	var last historyCursor
	for rows.Next() {
		if len(page.Versions) == q.Count {
			page.Next = encodeCursor(last)
			break
		}
		var v store.Version
		var lu, seq int64
		if err := rows.Scan(&seq, &v.Type, &v.ID, &v.VersionID, &lu, &v.Deleted, &v.Method, &v.JSON); err != nil {
			return nil, storeErr(err, "sqlite: history")
		}
		v.LastUpdated = fromMicros(lu)
		if v.Deleted {
			v.JSON = nil
		}
		if v.JSON, err = s.codec.unpack(v.JSON); err != nil {
			return nil, err
		}
		page.Versions = append(page.Versions, v)
		last = historyCursor{LU: lu, Seq: seq}
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(err, "sqlite: history")
	}
	return page, nil
}
