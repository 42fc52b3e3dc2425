// Package postgres is the store of ucp for deployments that outgrow one
// machine: PostgreSQL through pgx v5, behind the same store.Store contract
// as store/sqlite and passing the same suite (store/storetest).
//
// Layout: the SQLite store's tables in PostgreSQL's types (see
// migrations/0001_init.sql): a resource table (current version of each
// resource), a version table (every version, the JSON exactly as written),
// one index table per search parameter type, the patient compartment, and
// a tsvector table for _text and _content. Index rows belong to the current
// version only. Search builds the same SQL shapes as the SQLite store
// (search.go), with btree indexes for equalities and ranges, trigrams for
// :contains and GIN-indexed tsvectors for full text.
//
// Concurrency: writers run concurrently in READ COMMITTED transactions. A
// write locks the rows of the resources it changes (SELECT … FOR UPDATE),
// so a version check and the new version are atomic; two creates of one
// resource meet at the unique (type, id) index. A conditional create must
// also see every resource another writer could be creating: writes hold a
// transaction advisory lock shared, and a write with a condition holds it
// exclusively, so conditional creates are serialised against all writes
// (as every write is in SQLite) while ordinary writes are not. The locks
// are the database's, so they hold across ucp processes too.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"ucp/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys (pg_advisory_lock's bigint space is shared by every
// client of the database: these are ucp's, "ucp" and a number).
const (
	lockMigrate = 0x756370_0001 // held while migrations run
	lockWrite   = 0x756370_0002 // shared by writes, exclusive for conditional creates
)

// Options tune the connection pool. Zero values leave pgx's defaults
// (pool_max_conns in the connection string, else max(4, CPUs)).
type Options struct {
	MaxConns int32
	MinConns int32
}

// Store is a store.Store over a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by conn (a pgx connection string:
// postgres://user:pass@host:port/db?sslmode=… or key=value pairs) and
// brings its schema up to date.
func Open(ctx context.Context, conn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		// The message may hold the password: say only what is wrong.
		return nil, &store.Error{Kind: store.Invalid, Message: "postgres: the connection string is not valid"}
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if opts.MinConns > 0 {
		cfg.MinConns = opts.MinConns
	}
	if cfg.MinConns > cfg.MaxConns {
		return nil, store.Errorf(store.Invalid, "postgres: the pool's minimum (%d) is above its maximum (%d)", cfg.MinConns, cfg.MaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, storeErr(err, "postgres: connect")
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies, in file name order, every embedded migration not yet
// recorded in schema_version, each in its own transaction with its record,
// under a session advisory lock: nodes starting together take turns, and
// the later ones find the work done.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return storeErr(err, "postgres: migrate")
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(lockMigrate)); err != nil {
		return storeErr(err, "postgres: migrate")
	}
	defer func() {
		// A fresh context: the lock must go even when ctx has ended, or
		// this connection goes back to the pool still holding it.
		_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(lockMigrate))
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version integer PRIMARY KEY, name text NOT NULL, applied bigint NOT NULL)`); err != nil {
		return storeErr(err, "postgres: migrate")
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return storeErr(err, "postgres: migrate")
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("postgres: migration %s: name must start with a number: %w", base, err)
		}
		if err := applyMigration(ctx, conn.Conn(), num, name, base); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *pgx.Conn, num int, name, base string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return storeErr(err, "postgres: migrate")
	}
	defer tx.Rollback(ctx)
	var done int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_version WHERE version = $1`, num).Scan(&done); err != nil {
		return storeErr(err, "postgres: migrate")
	}
	if done > 0 {
		return nil
	}
	body, err := migrations.ReadFile(name)
	if err != nil {
		return storeErr(err, "postgres: migrate")
	}
	// The simple protocol runs a file of several statements in one call.
	if _, err := tx.Exec(ctx, string(body), pgx.QueryExecModeSimpleProtocol); err != nil {
		return storeErr(err, "postgres: migration "+base)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_version(version, name, applied) VALUES ($1, $2, $3)`,
		num, base, time.Now().UnixMicro()); err != nil {
		return storeErr(err, "postgres: migrate")
	}
	return storeErr(tx.Commit(ctx), "postgres: migrate")
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
	if errors.Is(err, pgx.ErrNoRows) {
		return &store.Error{Kind: store.NotFound, Message: op + ": not found", Err: err}
	}
	var e *pgconn.PgError
	if errors.As(err, &e) {
		switch e.Code {
		case "23505": // unique_violation
			// Two writers created one resource, or wrote one version, at
			// once: the loser retries from the new state.
			return &store.Error{Kind: store.Conflict, Message: op + ": written concurrently, retry", Err: err}
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return &store.Error{Kind: store.Conflict, Message: op + ": concurrent writes, retry", Err: err}
		case "54000", "22001": // program_limit_exceeded (a word or tsvector too long), string_data_right_truncation
			return &store.Error{Kind: store.Invalid, Message: op + ": value too big", Err: err}
		case "22021": // character_not_in_repertoire: invalid UTF-8 or a NUL in text
			return &store.Error{Kind: store.Invalid, Message: op + ": a value is not valid text", Err: err}
		}
	}
	return &store.Error{Kind: store.Internal, Message: op, Err: err}
}
