package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"ucp/auth/audit"
	"ucp/auth/authstate"
	"ucp/auth/authstate/pgstate"
	"ucp/store"
	"ucp/store/postgres"
	"ucp/store/split"
	"ucp/store/sqlite"
)

// storeUsage is the --store flag's help, the same for every subcommand.
const storeUsage = "the store: sqlite:`PATH`, or a PostgreSQL connection URL postgres://user:pass@host:port/db?sslmode=…"

// poolFlags registers the PostgreSQL pool flags on fs.
func poolFlags(fs *flag.FlagSet, o *postgres.Options) {
	fs.Func("pool-max-conns", "PostgreSQL: the most connections this process opens, `N` (default: pool_max_conns in the URL, else max(4, CPUs))", func(v string) error {
		return poolSize(v, &o.MaxConns)
	})
	fs.Func("pool-min-conns", "PostgreSQL: connections kept open when idle, `N` (default 0)", func(v string) error {
		return poolSize(v, &o.MinConns)
	})
}

func poolSize(v string, dst *int32) error {
	var n int32
	if _, err := fmt.Sscan(v, &n); err != nil || n < 0 || fmt.Sprint(n) != v {
		return errors.New("want a whole number, 0 or more")
	}
	*dst = n
	return nil
}

// isPostgres reports whether a --store value names a PostgreSQL database.
func isPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// redactStore is a --store value fit for logs and messages: a URL's
// password is replaced.
func redactStore(spec string) string {
	if !isPostgres(spec) {
		return spec
	}
	u, err := url.Parse(spec)
	if err != nil {
		return "postgres://…" // unparseable: show none of it
	}
	return u.Redacted()
}

// openStore opens the store a --store value names.
func openStore(ctx context.Context, spec string, pool postgres.Options) (store.Store, error) {
	if isPostgres(spec) {
		// Bounded, so that a database that does not answer stops the
		// command with a message instead of hanging it.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		st, err := postgres.Open(ctx, spec, pool)
		if err != nil {
			return nil, fmt.Errorf("--store %s: %w", redactStore(spec), err)
		}
		return st, nil
	}
	kind, path, ok := strings.Cut(spec, ":")
	if !ok {
		return nil, fmt.Errorf("--store %q: want sqlite:PATH or postgres://…", spec)
	}
	switch kind {
	case "sqlite":
		if path == "" {
			return nil, errors.New("--store sqlite: needs a file path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		return openSQLite(ctx, path)
	default:
		return nil, fmt.Errorf("--store %q: unknown store %q (want sqlite:PATH or postgres://…)", redactStore(spec), kind)
	}
}

// auditStorePath is the SQLite file of AuditEvents beside the main file at
// path: ucp.db → ucp-audit.db.
func auditStorePath(path string) string {
	ext := filepath.Ext(path)
	if strings.ContainsRune(ext, filepath.Separator) {
		ext = ""
	}
	return strings.TrimSuffix(path, ext) + "-audit" + ext
}

// openSQLite opens the SQLite store at path, its JSON zstd-compressed, with
// its AuditEvents in a file of their own (store/split, auditStorePath), zstd-compressed and indexed
// only by audit.SearchParams. A database of an earlier ucp, which holds its
// AuditEvents itself and has no audit file, is opened as it is, with a
// warning: ucp migrate into a new file moves its AuditEvents out.
func openSQLite(ctx context.Context, path string) (store.Store, error) {
	// Compressed with the shipped dictionary: about a third of the file's
	// bytes at 10,000 patients were the versions' JSON. A database written
	// uncompressed reads as before; its new versions are compressed.
	main, err := sqlite.OpenWith(path, sqlite.Options{CompressJSON: true})
	if err != nil {
		return nil, err
	}
	ap := auditStorePath(path)
	if _, err := os.Stat(ap); errors.Is(err, os.ErrNotExist) {
		// The audit file is made with the database. Missing beside a
		// database that holds resources, it is either an earlier ucp's
		// database or an audit file lost: a new empty one would hide
		// the loss of every AuditEvent.
		legacy, err := holds(ctx, main, "AuditEvent")
		if err == nil && legacy {
			slog.Warn("the database holds its AuditEvents itself, as before ucp kept them in a file of their own; "+
				"ucp migrate --from sqlite:OLD --to sqlite:NEW moves them out (README, \"How long audit is kept\")",
				"store", path, "audit file", ap)
			return main, nil
		}
		var used bool
		if err == nil {
			used, err = holds(ctx, main, "")
		}
		if err == nil && used {
			err = fmt.Errorf("the audit file %s of the database %s is missing: restore it with the database from the same ucp backup; "+
				"a database of an earlier ucp without one is moved to this layout with ucp migrate into a new file", ap, path)
		}
		if err != nil {
			main.Close()
			return nil, err
		}
	} else if err != nil {
		main.Close()
		return nil, err
	}
	side, err := sqlite.OpenWith(ap, sqlite.Options{CompressJSON: true})
	if err != nil {
		main.Close()
		return nil, err
	}
	return split.New(main, side, split.Options{Types: []string{"AuditEvent"}, Params: audit.SearchParams()}), nil
}

// holds reports whether st holds a current resource of typ ("": any).
func holds(ctx context.Context, st store.Store, typ string) (bool, error) {
	q := store.Query{Count: 1, Total: store.TotalNone}
	if typ != "" {
		q.Types = []string{typ}
	}
	r, err := st.Search(ctx, q)
	if err != nil {
		return false, err
	}
	return len(r.Versions) > 0, nil
}

// postgresBackup is what ucp backup says of a PostgreSQL store, which
// PostgreSQL's own tools back up consistently while it runs.
const postgresBackup = `ucp backup: a PostgreSQL store is backed up with PostgreSQL's tools, not ucp backup:
  pg_dump --format=custom --file=FILE DATABASE-URL     a consistent snapshot while ucp runs
  pg_basebackup with WAL archiving                     point-in-time recovery
The server's key (server-key.pem) and audit journal in --data-dir still need copying (see README, "PostgreSQL").`

// makeDataDir creates the folder of the server's key and audit journal
// when no SQLite file's creation made it.
func makeDataDir(cfg serveConfig) error {
	if !isPostgres(cfg.Store) {
		return nil
	}
	return os.MkdirAll(cfg.dataDir(), 0o700)
}

// analyzer is a store whose query planner keeps statistics that a bulk
// load leaves stale (store/postgres).
type analyzer interface {
	Analyze(ctx context.Context) error
}

// afterLoad brings the store's statistics up to date after a bulk load
// (import, migrate), saying so on w; a store without any needs nothing.
func afterLoad(ctx context.Context, st store.Store, w io.Writer) error {
	a, ok := st.(analyzer)
	if !ok {
		return nil
	}
	start := time.Now()
	if err := a.Analyze(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "statistics of the loaded tables brought up to date in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// signInState is the sign-in state the doors and the authorization server
// keep (auth/authstate's contract), with what the server does to it.
type signInState interface {
	Put(ctx context.Context, kind, key string, value []byte, expires time.Time) error
	Add(ctx context.Context, kind, key string, value []byte, expires time.Time) error
	Get(ctx context.Context, kind, key string) ([]byte, error)
	Take(ctx context.Context, kind, key string) ([]byte, error)
	Delete(ctx context.Context, kind, key string) error
	Sweep(ctx context.Context, now time.Time) (int64, error)
	Close() error
}

// openSignInState opens the sign-in state beside the store: in the same
// PostgreSQL database, so that every node on it shares sessions and sees
// every used token id, or else a SQLite file in the data folder.
func openSignInState(ctx context.Context, cfg serveConfig) (signInState, error) {
	if isPostgres(cfg.Store) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return pgstate.Open(ctx, cfg.Store)
	}
	return authstate.Open(ctx, authStateFile(cfg.dataDir()))
}
