// Package pgstate keeps auth/authstate's sign-in state (sessions, OAuth
// codes, refresh families, launch ids, used token ids) in a PostgreSQL
// database, so that every ucp node on that database shares it: a user
// signed in through one node is signed in on all, and a one-time token
// used on one is refused by every other.
//
// It is chosen when --store is PostgreSQL and uses the same database, in a
// table of its own (auth_state) outside the FHIR store's schema: none of it
// is clinical record. Its contract, errors included, is authstate's, held
// by the same suite (auth/authstate/statetest).
package pgstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ucp/auth/authstate"
)

// lockSchema serialises the table's creation: CREATE TABLE IF NOT EXISTS
// run by two nodes at once can still fail on PostgreSQL's catalogue. The
// key is "ucp" and a number, beside store/postgres's own.
const lockSchema = 0x756370_0101

const schema = `CREATE TABLE IF NOT EXISTS auth_state (
	kind    text   NOT NULL,
	key     bytea  NOT NULL,
	value   bytea  NOT NULL,
	expires bigint NOT NULL,
	PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS auth_state_expires ON auth_state (expires)`

// Keys are stored as bytea, not text: callers build keys from ids joined
// by a NUL byte (a launcher and a link's jti), which PostgreSQL's text
// refuses, and the contract takes any string.

// Store is the PostgreSQL implementation of authstate's contract.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store read the time from now (tests move it forward).
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// Open connects to the database conn names (a pgx connection string) with
// a small pool of its own and creates the table if it is missing.
func Open(ctx context.Context, conn string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		// The message may hold the password: say only what is wrong.
		return nil, errors.New("pgstate: the connection string is not valid")
	}
	// Sign-in state is a few small rows per request: a handful of
	// connections is plenty, and leaves the database's for the store.
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstate: connect: %w", err)
	}
	s := &Store{pool: pool, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if err := s.create(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) create(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockSchema)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema, pgx.QueryExecModeSimpleProtocol)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgstate: create table: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Put stores value under kind and key until expires, replacing any entry.
func (s *Store) Put(ctx context.Context, kind, key string, value []byte, expires time.Time) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO auth_state (kind, key, value, expires) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
		kind, []byte(key), nonNil(value), expires.UnixNano())
	if err != nil {
		return fmt.Errorf("pgstate: put %s: %w", kind, err)
	}
	return nil
}

// Add stores value only when no unexpired entry has the key, else
// authstate.ErrExists. An expired entry is replaced. INSERT … ON CONFLICT
// is atomic across connections, so of two nodes adding one token id at
// once exactly one succeeds.
func (s *Store) Add(ctx context.Context, kind, key string, value []byte, expires time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO auth_state (kind, key, value, expires) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, expires = excluded.expires
		 WHERE auth_state.expires <= $5`,
		kind, []byte(key), nonNil(value), expires.UnixNano(), s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("pgstate: add %s: %w", kind, err)
	}
	if tag.RowsAffected() == 0 {
		return authstate.ErrExists
	}
	return nil
}

// Get returns the unexpired value under kind and key, else
// authstate.ErrNotFound.
func (s *Store) Get(ctx context.Context, kind, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx,
		`SELECT value FROM auth_state WHERE kind = $1 AND key = $2 AND expires > $3`,
		kind, []byte(key), s.now().UnixNano()).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, authstate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pgstate: get %s: %w", kind, err)
	}
	return v, nil
}

// Take returns the unexpired value under kind and key and deletes it in the
// same statement: the row lock makes one of two concurrent callers, on any
// nodes, get it and the other find nothing.
func (s *Store) Take(ctx context.Context, kind, key string) ([]byte, error) {
	var v []byte
	var expires int64
	err := s.pool.QueryRow(ctx,
		`DELETE FROM auth_state WHERE kind = $1 AND key = $2 RETURNING value, expires`,
		kind, []byte(key)).Scan(&v, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, authstate.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pgstate: take %s: %w", kind, err)
	}
	if expires <= s.now().UnixNano() {
		return nil, authstate.ErrNotFound
	}
	return v, nil
}

// Delete removes the entry under kind and key; a missing one is no error.
func (s *Store) Delete(ctx context.Context, kind, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM auth_state WHERE kind = $1 AND key = $2`, kind, []byte(key)); err != nil {
		return fmt.Errorf("pgstate: delete %s: %w", kind, err)
	}
	return nil
}

// Sweep deletes every entry that expired at or before now and says how
// many. Every node sweeps; a row deleted by another is simply not counted.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM auth_state WHERE expires <= $1`, now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("pgstate: sweep: %w", err)
	}
	return tag.RowsAffected(), nil
}

// nonNil stores an empty value as an empty bytea rather than NULL.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
