// Package pgexport keeps Bulk Data export jobs (package bulk/export) in a
// PostgreSQL database, so that every ucp node on that database answers for
// every job: a kick-off on one node is polled, downloaded and deleted on any
// other.
//
// It is chosen when --store is PostgreSQL and uses the same database, in
// tables of its own (export_job, export_file, export_chunk) outside the FHIR
// store's schema: an export is a copy of the record, not part of it. A job's
// state is one row; each file is written as chunks of at most ChunkSize bytes
// and read back a chunk at a time, so neither writing nor downloading a large
// export holds it in memory. Files and chunks belong to their job (ON DELETE
// CASCADE): deleting a job, on DELETE or at expiry, deletes its files, and a
// node still writing a job another node deleted is refused at its next
// chunk (export.ErrGone), which stops it.
package pgexport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"ucp/bulk/export"
)

// lockSchema serialises the tables' creation, as pgstate's does; the key
// is "ucp" and a number beside the others'.
const lockSchema = 0x756370_0102

const schema = `CREATE TABLE IF NOT EXISTS export_job (
	id      text        PRIMARY KEY,
	state   bytea       NOT NULL,
	updated timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS export_file (
	job     text        NOT NULL REFERENCES export_job (id) ON DELETE CASCADE,
	name    text        NOT NULL,
	size    bigint      NOT NULL,
	written timestamptz NOT NULL,
	PRIMARY KEY (job, name)
);
CREATE TABLE IF NOT EXISTS export_chunk (
	job  text   NOT NULL REFERENCES export_job (id) ON DELETE CASCADE,
	name text   NOT NULL,
	off  bigint NOT NULL,
	data bytea  NOT NULL,
	PRIMARY KEY (job, name, off)
)`

// DefaultChunkSize is the largest chunk of a file one row holds.
const DefaultChunkSize = 1 << 20

// Storage is export.Storage in a PostgreSQL database.
type Storage struct {
	pool *pgxpool.Pool
	// chunk is the chunk size.
	chunk int
}

var _ export.Storage = (*Storage)(nil)

// Option configures a Storage.
type Option func(*Storage)

// WithChunkSize sets the chunk size (tests make files of several chunks).
func WithChunkSize(n int) Option { return func(s *Storage) { s.chunk = n } }

// Open connects to the database conn names (a pgx connection string) with
// a small pool of its own and creates the tables if they are missing.
func Open(ctx context.Context, conn string, opts ...Option) (*Storage, error) {
	cfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		// The message may hold the password: say only what is wrong.
		return nil, errors.New("pgexport: the connection string is not valid")
	}
	// A few jobs at a time, each one writer and a download or two.
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgexport: connect: %w", err)
	}
	s := &Storage{pool: pool, chunk: DefaultChunkSize}
	for _, o := range opts {
		o(s)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockSchema)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schema, pgx.QueryExecModeSimpleProtocol)
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgexport: create tables: %w", err)
	}
	return s, nil
}

// Close closes the pool.
func (s *Storage) Close() error {
	s.pool.Close()
	return nil
}

// Shared implements export.Storage: every node on the database sees the
// same jobs.
func (s *Storage) Shared() bool { return true }

// Create implements export.Storage.
func (s *Storage) Create(ctx context.Context, id string, state []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO export_job (id, state) VALUES ($1, $2)`, id, state)
	if err != nil {
		return fmt.Errorf("pgexport: create job: %w", err)
	}
	return nil
}

// Update implements export.Storage.
func (s *Storage) Update(ctx context.Context, id string, state []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE export_job SET state = $2, updated = now() WHERE id = $1`, id, state)
	if err != nil {
		return fmt.Errorf("pgexport: update job: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return export.ErrGone
	}
	return nil
}

// Get implements export.Storage.
func (s *Storage) Get(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT state FROM export_job WHERE id = $1`, id).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, export.ErrGone
	} else if err != nil {
		return nil, fmt.Errorf("pgexport: get job: %w", err)
	}
	return b, nil
}

// List implements export.Storage.
func (s *Storage) List(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, state FROM export_job`)
	if err != nil {
		return nil, fmt.Errorf("pgexport: list jobs: %w", err)
	}
	out := map[string][]byte{}
	var id string
	var state []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &state}, func() error {
		out[id] = append([]byte(nil), state...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgexport: list jobs: %w", err)
	}
	return out, nil
}

// Remove implements export.Storage: the job's files and chunks go with it.
func (s *Storage) Remove(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM export_job WHERE id = $1`, id); err != nil {
		return fmt.Errorf("pgexport: remove job: %w", err)
	}
	return nil
}

// RemoveFiles implements export.Storage.
func (s *Storage) RemoveFiles(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM export_file WHERE job = $1`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM export_chunk WHERE job = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgexport: remove files: %w", err)
	}
	return nil
}

// CreateFile implements export.Storage. What an earlier attempt left of
// the file is dropped first.
func (s *Storage) CreateFile(ctx context.Context, id, name string) (export.FileWriter, error) {
	if _, err := s.pool.Exec(ctx, `DELETE FROM export_chunk WHERE job = $1 AND name = $2`, id, name); err != nil {
		return nil, fmt.Errorf("pgexport: create file: %w", err)
	}
	return &writer{s: s, ctx: ctx, job: id, name: name, buf: make([]byte, 0, s.chunk)}, nil
}

// writer buffers one chunk and inserts it when full.
type writer struct {
	s         *Storage
	ctx       context.Context
	job, name string
	buf       []byte
	off       int64 // of buf's first byte
	err       error
}

func (w *writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 && w.err == nil {
		k := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
		if len(w.buf) == cap(w.buf) {
			w.flush()
		}
	}
	return n, w.err
}

// flush inserts the buffered chunk. A job deleted meanwhile (by any node)
// refuses it: export.ErrGone.
func (w *writer) flush() {
	if len(w.buf) == 0 || w.err != nil {
		return
	}
	_, err := w.s.pool.Exec(w.ctx, `INSERT INTO export_chunk (job, name, off, data) VALUES ($1, $2, $3, $4)`, w.job, w.name, w.off, w.buf)
	if err != nil {
		w.err = gone(err, "write file")
		return
	}
	w.off += int64(len(w.buf))
	w.buf = w.buf[:0]
}

func (w *writer) Commit() error {
	w.flush()
	if w.err != nil {
		return w.err
	}
	_, err := w.s.pool.Exec(w.ctx, `INSERT INTO export_file (job, name, size, written) VALUES ($1, $2, $3, now())
		ON CONFLICT (job, name) DO UPDATE SET size = excluded.size, written = excluded.written`, w.job, w.name, w.off)
	return gone(err, "commit file")
}

func (w *writer) Abort() error {
	_, err := w.s.pool.Exec(w.ctx, `DELETE FROM export_chunk WHERE job = $1 AND name = $2`, w.job, w.name)
	return gone(err, "abort file")
}

// gone maps a foreign-key violation (the job is no longer there) to
// export.ErrGone.
func gone(err error, what string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" {
		return export.ErrGone
	}
	if err != nil {
		return fmt.Errorf("pgexport: %s: %w", what, err)
	}
	return nil
}

// OpenFile implements export.Storage.
func (s *Storage) OpenFile(ctx context.Context, id, name string) (export.File, error) {
	f := &reader{s: s, ctx: ctx, job: id, name: name}
	err := s.pool.QueryRow(ctx, `SELECT size, written FROM export_file WHERE job = $1 AND name = $2`, id, name).Scan(&f.size, &f.mod)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, export.ErrGone
	} else if err != nil {
		return nil, fmt.Errorf("pgexport: open file: %w", err)
	}
	return f, nil
}

// reader reads a file a chunk at a time, the chunk holding its position.
type reader struct {
	s         *Storage
	ctx       context.Context
	job, name string
	size, pos int64
	mod       time.Time
	chunk     []byte // the chunk read last, at chunkOff
	chunkOff  int64
}

func (r *reader) ModTime() time.Time { return r.mod }

func (r *reader) Close() error { return nil }

func (r *reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("pgexport: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("pgexport: seek before the start")
	}
	r.pos = offset
	return offset, nil
}

func (r *reader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.chunk == nil || r.pos < r.chunkOff || r.pos >= r.chunkOff+int64(len(r.chunk)) {
		err := r.s.pool.QueryRow(r.ctx, `SELECT off, data FROM export_chunk WHERE job = $1 AND name = $2 AND off <= $3
			ORDER BY off DESC LIMIT 1`, r.job, r.name, r.pos).Scan(&r.chunkOff, &r.chunk)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, io.ErrUnexpectedEOF // deleted while read
		} else if err != nil {
			return 0, fmt.Errorf("pgexport: read file: %w", err)
		}
		if r.pos >= r.chunkOff+int64(len(r.chunk)) {
			return 0, io.ErrUnexpectedEOF
		}
	}
	n := copy(p, r.chunk[r.pos-r.chunkOff:])
	r.pos += int64(n)
	return n, nil
}
