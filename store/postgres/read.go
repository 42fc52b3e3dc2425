package postgres

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"ucp/store"
)

// micros maps a time to the integer the date columns hold: microseconds
// since 1970 UTC, with MinTime and MaxTime (and anything beyond) mapped to
// the int64 extremes so that open ends compare as unbounded.
func micros(t time.Time) int64 {
	if !t.After(store.MinTime) {
		return math.MinInt64
	}
	if !t.Before(store.MaxTime) {
		return math.MaxInt64
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros for lastUpdated values.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

const (
	readSQL = `SELECT v.version, v.last_updated, v.deleted, v.method, v.json
		FROM resource r JOIN version v ON v.seq = r.cur_seq WHERE r.type = $1 AND r.id = $2`
	vreadSQL = `SELECT last_updated, deleted, method, json FROM version WHERE type = $1 AND id = $2 AND version = $3`
)

// Read returns the current version of a resource.
func (s *Store) Read(ctx context.Context, typ, id string) (*store.Version, error) {
	v := &store.Version{Type: typ, ID: id}
	var lu int64
	err := s.pool.QueryRow(ctx, readSQL, typ, id).Scan(&v.VersionID, &lu, &v.Deleted, &v.Method, &v.JSON)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Errorf(store.NotFound, "%s/%s not found", typ, id)
	}
	if err != nil {
		return nil, storeErr(err, "postgres: read")
	}
	v.LastUpdated = fromMicros(lu)
	if v.Deleted {
		v.JSON = nil
		return nil, &store.Error{Kind: store.Gone, Message: typ + "/" + id + " was deleted", Version: v}
	}
	return v, nil
}

// VRead returns one version of a resource.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (*store.Version, error) {
	v := &store.Version{Type: typ, ID: id, VersionID: version}
	var lu int64
	err := s.pool.QueryRow(ctx, vreadSQL, typ, id, version).Scan(&lu, &v.Deleted, &v.Method, &v.JSON)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.Errorf(store.NotFound, "%s/%s version %d not found", typ, id, version)
	}
	if err != nil {
		return nil, storeErr(err, "postgres: vread")
	}
	v.LastUpdated = fromMicros(lu)
	if v.Deleted {
		v.JSON = nil
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
	var b sqlb
	var where []func()
	switch {
	case q.ID != "":
		where = append(where, func() { b.w("v.type = "); b.a(q.Type); b.w(" AND v.id = "); b.a(q.ID) })
	case q.Type != "":
		where = append(where, func() { b.w("v.type = "); b.a(q.Type) })
	}
	if !q.Since.IsZero() {
		where = append(where, func() { b.w("v.last_updated >= "); b.a(micros(q.Since)) })
	}
	if !q.At.IsZero() {
		// The version current at At: written at or before At, and no later
		// version of the same resource written at or before At.
		where = append(where, func() {
			b.w("v.last_updated <= ")
			b.a(micros(q.At))
			b.w(` AND NOT EXISTS (SELECT 1 FROM version v2
			WHERE v2.type = v.type AND v2.id = v.id AND v2.last_updated <= `)
			b.a(micros(q.At))
			b.w(" AND v2.seq > v.seq)")
		})
	}
	filter := func(extra func()) {
		all := where
		if extra != nil {
			all = append(append([]func(){}, where...), extra)
		}
		for i, f := range all {
			if i == 0 {
				b.w(" WHERE ")
			} else {
				b.w(" AND ")
			}
			f()
		}
	}

	// One snapshot for the count and the page.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, storeErr(err, "postgres: history")
	}
	defer tx.Rollback(ctx)

	page := &store.HistoryPage{}
	b.w("SELECT count(*) FROM version v")
	filter(nil)
	if err := tx.QueryRow(ctx, b.b.String(), b.args...).Scan(&page.Total); err != nil {
		return nil, storeErr(err, "postgres: history")
	}
	b = sqlb{}
	var cursor func()
	if q.Cursor != "" {
		var c historyCursor
		if err := decodeCursor(q.Cursor, &c); err != nil {
			return nil, err
		}
		cursor = func() { b.w("(v.last_updated, v.seq) < ("); b.a(c.LU); b.w(", "); b.a(c.Seq); b.w(")") }
	}
	b.w("SELECT v.seq, v.type, v.id, v.version, v.last_updated, v.deleted, v.method, v.json FROM version v")
	filter(cursor)
	b.w(" ORDER BY v.last_updated DESC, v.seq DESC LIMIT ")
	b.a(q.Count + 1)
	rows, err := tx.Query(ctx, b.b.String(), b.args...)
	if err != nil {
		return nil, storeErr(err, "postgres: history")
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
			return nil, storeErr(err, "postgres: history")
		}
		v.LastUpdated = fromMicros(lu)
		if v.Deleted {
			v.JSON = nil
		}
		page.Versions = append(page.Versions, v)
		last = historyCursor{LU: lu, Seq: seq}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, storeErr(err, "postgres: history")
	}
	return page, nil
}

// Size returns the database's size in bytes (for the ucp_store_size_bytes
// metric): every table and index of it, as pg_database_size counts.
func (s *Store) Size(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
	return n, storeErr(err, "postgres: size")
}

// Analyze refreshes the planner's statistics of every table. After a bulk
// load the statistics describe empty tables until autovacuum gets round to
// them, and the planner then walks common values' index rows for a search
// that one selective value would answer: ucp import and migrate call this
// when they finish.
func (s *Store) Analyze(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `ANALYZE`)
	return storeErr(err, "postgres: analyze")
}
