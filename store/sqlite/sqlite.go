// Package sqlite is the embedded default store of ucp: one SQLite file
// (modernc.org/sqlite, pure Go), WAL journal, synchronous=FULL, fully ACID.
//
// Layout: a resource table (current version of each resource), a version
// table (every version, the JSON exactly as written) and one index table per
// search parameter type plus the patient compartment; see
// migrations/0001_init.sql. Index rows belong to the current version only.
//
// Concurrency: SQLite allows one writer at a time. The store keeps a
// single-connection writer pool whose transactions start with BEGIN IMMEDIATE,
// so writers queue in Go instead of failing with SQLITE_BUSY, and a separate
// reader pool whose connections read concurrently from WAL snapshots.
// Writes that queue are committed together (group commit, see Store.Write):
// one transaction and one fsync for many, each write in a savepoint of its
// own, still all or none and durable before it is answered.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"ucp/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a store.Store over one SQLite file.
type Store struct {
	w *sql.DB // writer: one connection, BEGIN IMMEDIATE
	r *sql.DB // readers

	// Prepared statements of the hot paths, on the pool they run on.
	readStmt  *sql.Stmt
	vreadStmt *sql.Stmt

	// Search statements by SQL text: a query shape (same parameters, same
	// modifiers) compiles to the same text, so repeat searches skip SQLite's
	// compile step, which costs more than running an indexed lookup.
	mu    sync.Mutex
	stmts map[string]*sql.Stmt

	// The write path's statements by SQL text, prepared at Open on the
	// writer's one connection (a fixed set: see writeQueries); read-only
	// after. A transaction binds them (sql.Tx.StmtContext), which on that
	// connection costs nothing, where preparing them in each transaction
	// cost a small write about a millisecond.
	wstmts map[string]*sql.Stmt

	gc groupCommit

	codec *codec // stored JSON: plain or zstd (Options.CompressJSON)
}

const maxCachedStmts = 512

// stmt returns a prepared reader statement for query, cached when there is
// room.
func (s *Store) stmt(ctx context.Context, query string) (st *sql.Stmt, cached bool, err error) {
	s.mu.Lock()
	st = s.stmts[query]
	s.mu.Unlock()
	if st != nil {
		return st, true, nil
	}
	st, err = s.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, false, storeErr(err, "sqlite: prepare")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.stmts[query]; old != nil {
		st.Close()
		return old, true, nil
	}
	if len(s.stmts) >= maxCachedStmts {
		return st, false, nil
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = st
	return st, true, nil
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database at path and brings its
// schema up to date.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options.
func OpenWith(path string, o Options) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:") {
		// Two pools over an in-memory database would be two databases.
		return nil, store.Errorf(store.Unsupported, "sqlite: an in-memory database is not supported; use a file")
	}
	common := url.Values{}
	// busy_timeout covers the rare cases the pools cannot serialise:
	// checkpoints, and another process opening the same file.
	common.Add("_pragma", "busy_timeout(10000)")
	common.Add("_pragma", "journal_mode(WAL)")
	common.Add("_pragma", "synchronous(FULL)")
	// No foreign keys: index rows are owned by the store's own write path,
	// and the check would cost a lookup per index row.
	common.Add("_pragma", "foreign_keys(0)")
	// Memory-mapped reads and a larger page cache: a point read then costs
	// no pread syscalls once the hot pages are mapped.
	common.Add("_pragma", "mmap_size(1073741824)")
	common.Add("_pragma", "cache_size(-32000)")
	common.Add("_pragma", "temp_store(MEMORY)")

	wq := cloneValues(common)
	wq.Set("_txlock", "immediate")
	// The one writer inserts index rows all over large B-trees (patient ids,
	// codes): past a few million resources its inserts miss a small cache
	// on most pages. 256 MB keeps the upper levels and hot leaves of every
	// index; the readers keep the small cache above.
	wq.Del("_pragma")
	for _, p := range common["_pragma"] {
		if !strings.HasPrefix(p, "cache_size(") {
			wq.Add("_pragma", p)
		}
	}
	wq.Add("_pragma", "cache_size(-262144)")
	w, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, storeErr(err, "sqlite: open")
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(w); err != nil {
		w.Close()
		return nil, err
	}

	rq := cloneValues(common)
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, storeErr(err, "sqlite: open")
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)

	s := &Store{w: w, r: r, gc: groupCommit{turn: make(chan struct{}, 1)}}
	if s.codec, err = newCodec(o.CompressJSON); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(); err != nil {
		s.Close()
		return nil, err
	}
	// Indexes a bulk load set aside and never restored (it crashed).
	if err := s.restoreIndexes(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func (s *Store) prepare() error {
	s.wstmts = map[string]*sql.Stmt{}
	for _, q := range writeQueries() {
		st, err := s.w.Prepare(q)
		if err != nil {
			return storeErr(err, "sqlite: prepare")
		}
		s.wstmts[q] = st
	}
	var err error
	s.readStmt, err = s.r.Prepare(`SELECT v.version, v.last_updated, v.deleted, v.method, v.json
		FROM resource r CROSS JOIN version v ON v.seq = r.cur_seq WHERE r.type = ? AND r.id = ?`)
	if err != nil {
		return storeErr(err, "sqlite: prepare")
	}
	s.vreadStmt, err = s.r.Prepare(`SELECT last_updated, deleted, method, json FROM version WHERE type = ? AND id = ? AND version = ?`)
	if err != nil {
		return storeErr(err, "sqlite: prepare")
	}
	return nil
}

// Close closes both pools.
func (s *Store) Close() error {
	var errs []error
	s.mu.Lock()
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	s.mu.Unlock()
	for _, st := range s.wstmts {
		errs = append(errs, st.Close())
	}
	s.wstmts = nil
	for _, st := range []*sql.Stmt{s.readStmt, s.vreadStmt} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if s.codec != nil {
		s.codec.close()
	}
	if err := errors.Join(errs...); err != nil {
		return storeErr(err, "sqlite: close")
	}
	return nil
}

// migrate applies, in file name order, every embedded migration not yet
// recorded in schema_version; each in its own transaction with its record.
func migrate(db *sql.DB) error {
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied INTEGER NOT NULL)`); err != nil {
		return storeErr(err, "sqlite: migrate")
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return storeErr(err, "sqlite: migrate")
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: name must start with a number: %w", base, err)
		}
		if err := applyMigration(ctx, db, num, name, base); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, num int, name, base string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return storeErr(err, "sqlite: migrate")
	}
	defer tx.Rollback()
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_version WHERE version = ?`, num).Scan(&done); err != nil {
		return storeErr(err, "sqlite: migrate")
	}
	if done > 0 {
		return nil
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return storeErr(err, "sqlite: migrate")
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return storeErr(err, "sqlite: migration "+base)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version(version, name, applied) VALUES (?, ?, ?)`,
		num, base, time.Now().UnixMicro()); err != nil {
		return storeErr(err, "sqlite: migrate")
	}
	return storeErr(tx.Commit(), "sqlite: migrate")
}

// storeErr translates a driver error into a store error kind, once, for
// every call site. It returns nil for nil and keeps existing *store.Error
// values as they are.
func storeErr(err error, op string) error {
	if err == nil {
		return nil
	}
	if se := store.AsError(err); se != nil {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return &store.Error{Kind: store.NotFound, Message: op + ": not found", Err: err}
	}
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch code := e.Code(); {
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			// Two writers raced past the version check: only possible for a
			// caller that writes the same version number twice.
			return &store.Error{Kind: store.Conflict, Message: op + ": version already exists", Err: err}
		case code&0xff == sqlite3.SQLITE_BUSY || code&0xff == sqlite3.SQLITE_LOCKED:
			return &store.Error{Kind: store.Conflict, Message: op + ": database busy, retry", Err: err}
		case code&0xff == sqlite3.SQLITE_TOOBIG:
			return &store.Error{Kind: store.Invalid, Message: op + ": value too big", Err: err}
		}
	}
	// Context cancellation and everything else: Internal, cause kept for
	// errors.Is and the logs.
	return &store.Error{Kind: store.Internal, Message: op, Err: err}
}
