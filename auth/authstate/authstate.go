// Package authstate keeps the short-lived server-side state of sign-in and
// launch: browser sessions, authorization codes, refresh-token families,
// launch ids and the ids of one-time tokens already used.
//
// It is separate from the FHIR store because none of it is clinical record:
// it is not versioned, not searchable and not exported, and every entry
// expires. It is durable all the same, so a restart neither signs everyone
// out nor lets a used one-time token be replayed. Entries are grouped by kind
// (a namespace such as "session" or "code"); Take and Add are atomic, which
// is what single-use codes and replay detection need.
package authstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // the embedded SQLite driver
)

// ErrNotFound reports an entry that is missing or has expired.
var ErrNotFound = errors.New("authstate: not found")

// ErrExists reports that Add found an unexpired entry under the key.
var ErrExists = errors.New("authstate: already exists")

// Store is the SQLite implementation, one file of its own.
type Store struct {
	w   *sql.DB // one writer, so Add and Take never wait on a busy lock
	r   *sql.DB
	now func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes the store read the time from now (tests move it forward).
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

const schema = `CREATE TABLE IF NOT EXISTS state (
	kind    TEXT    NOT NULL,
	key     TEXT    NOT NULL,
	value   BLOB    NOT NULL,
	expires INTEGER NOT NULL,
	PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS state_expires ON state (expires);`

// Open opens (creating if needed) the state file at path.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	if path == "" {
		return nil, errors.New("authstate: no path")
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// A session or a used token id must survive a power cut like a plan does.
	q.Add("_pragma", "synchronous(FULL)")
	wq := url.Values{"_pragma": q["_pragma"], "_txlock": {"immediate"}}
	w, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("authstate: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	if _, err := w.ExecContext(ctx, schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("authstate: create schema in %s: %w", path, err)
	}
	rq := url.Values{"_pragma": append(q["_pragma"], "query_only(1)")}
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("authstate: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close closes the file.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Put stores value under kind and key until expires, replacing any entry.
func (s *Store) Put(ctx context.Context, kind, key string, value []byte, expires time.Time) error {
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO state (kind, key, value, expires) VALUES (?, ?, ?, ?)
		 ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
		kind, key, nonNil(value), expires.UnixNano())
	if err != nil {
		return fmt.Errorf("authstate: put %s: %w", kind, err)
	}
	return nil
}

// Add stores value only when no unexpired entry has the key, else ErrExists.
// An expired entry is replaced.
func (s *Store) Add(ctx context.Context, kind, key string, value []byte, expires time.Time) error {
	res, err := s.w.ExecContext(ctx,
		`INSERT INTO state (kind, key, value, expires) VALUES (?, ?, ?, ?)
		 ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, expires = excluded.expires
		 WHERE state.expires <= ?`,
		kind, key, nonNil(value), expires.UnixNano(), s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("authstate: add %s: %w", kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("authstate: add %s: %w", kind, err)
	}
	if n == 0 {
		return ErrExists
	}
	return nil
}

// Get returns the unexpired value under kind and key, else ErrNotFound.
func (s *Store) Get(ctx context.Context, kind, key string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx,
		`SELECT value FROM state WHERE kind = ? AND key = ? AND expires > ?`,
		kind, key, s.now().UnixNano()).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("authstate: get %s: %w", kind, err)
	}
	return v, nil
}

// Take returns the unexpired value under kind and key and deletes it in the
// same statement, so of two concurrent callers exactly one gets it.
func (s *Store) Take(ctx context.Context, kind, key string) ([]byte, error) {
	var v []byte
	var expires int64
	err := s.w.QueryRowContext(ctx,
		`DELETE FROM state WHERE kind = ? AND key = ? RETURNING value, expires`,
		kind, key).Scan(&v, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("authstate: take %s: %w", kind, err)
	}
	if expires <= s.now().UnixNano() {
		return nil, ErrNotFound
	}
	return v, nil
}

// Delete removes the entry under kind and key; a missing one is no error.
func (s *Store) Delete(ctx context.Context, kind, key string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM state WHERE kind = ? AND key = ?`, kind, key); err != nil {
		return fmt.Errorf("authstate: delete %s: %w", kind, err)
	}
	return nil
}

// Sweep deletes every entry that expired at or before now and says how many.
// Expired entries are already invisible; sweeping only reclaims space.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM state WHERE expires <= ?`, now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("authstate: sweep: %w", err)
	}
	return res.RowsAffected()
}

// nonNil stores an empty value as an empty blob rather than NULL.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}
