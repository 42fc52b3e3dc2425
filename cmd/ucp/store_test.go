package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/internal/resttest"
	"ucp/store"
	"ucp/store/postgres"
	"ucp/store/sqlite"
)

// onTestStore returns cfg with its SQLite store swapped for a fresh
// PostgreSQL database when the tests run against PostgreSQL (see
// resttest.PostgresURL); the server's key and journal stay in the SQLite
// file's folder, through --data-dir.
func onTestStore(t *testing.T, cfg serveConfig) serveConfig {
	t.Helper()
	path, ok := strings.CutPrefix(cfg.Store, "sqlite:")
	if !ok {
		return cfg
	}
	if url, ok := resttest.PostgresFor(t, path); ok {
		cfg.Store = url
		if cfg.DataDir == "" {
			cfg.DataDir = filepath.Dir(path)
		}
	}
	return cfg
}

func TestRedactStore(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sqlite:./data/ucp.db", "sqlite:./data/ucp.db"},
		{"postgres://ucp:s3cret@db.example:5432/ucp?sslmode=verify-full", "postgres://ucp:xxxxx@db.example:5432/ucp?sslmode=verify-full"},
		{"postgresql://ucp@/ucp?host=/run/postgresql", "postgresql://ucp@/ucp?host=/run/postgresql"},
		{"postgres://ucp:s3cret@db:bad port/x", "postgres://…"},
	}
	for _, tt := range tests {
		if got := redactStore(tt.in); got != tt.want {
			t.Errorf("redactStore(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOpenStoreRefusals(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"ucp.db", "want sqlite:PATH or postgres://"},
		{"mysql:ucp", `unknown store "mysql"`},
		{"sqlite:", "needs a file path"},
		{"postgres://ucp:s3cret@db:notaport/ucp", "--store postgres://…: postgres: the connection string is not valid"},
		{"postgres://ucp:s3cret@db:5432/ucp?pool_max_conns=many", "--store postgres://ucp:xxxxx@db:5432/ucp?pool_max_conns=many: postgres: the connection string is not valid"},
	}
	for _, tt := range tests {
		st, err := openStore(context.Background(), tt.spec, postgres.Options{})
		if err == nil {
			st.Close()
			t.Errorf("openStore(%q) opened a store", tt.spec)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("openStore(%q) = %v, want it to say %q and never the password", tt.spec, err, tt.want)
		}
	}
}

func TestPoolFlags(t *testing.T) {
	tests := []struct {
		args []string
		want postgres.Options
		bad  bool
	}{
		{nil, postgres.Options{}, false},
		{[]string{"--pool-max-conns", "20", "--pool-min-conns", "2"}, postgres.Options{MaxConns: 20, MinConns: 2}, false},
		{[]string{"--pool-max-conns", "-1"}, postgres.Options{}, true},
		{[]string{"--pool-max-conns", "ten"}, postgres.Options{}, true},
		{[]string{"--pool-min-conns", "99999999999"}, postgres.Options{}, true},
	}
	for _, tt := range tests {
		var o postgres.Options
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(new(bytes.Buffer))
		poolFlags(fs, &o)
		err := fs.Parse(tt.args)
		if (err != nil) != tt.bad || (!tt.bad && o != tt.want) {
			t.Errorf("%v: %+v, %v; want %+v (refused: %v)", tt.args, o, err, tt.want, tt.bad)
		}
	}
}

func TestBackupOfPostgresSaysWhatToUse(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runBackup(context.Background(), []string{"--store", "postgres://ucp:s3cret@db/ucp", "--to", filepath.Join(t.TempDir(), "b")}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "pg_dump") || strings.Contains(stderr.String(), "s3cret") {
		t.Errorf("backup of a PostgreSQL store: exit %d, %q; want 2 and the advice to use pg_dump", code, stderr.String())
	}
}

// TestBenchOnPostgres runs `ucp bench --store postgres://…` small, when the
// tests run against PostgreSQL (make test-postgres): it loads the database,
// drives every scenario and reports the database's size.
func TestBenchOnPostgres(t *testing.T) {
	url, ok := resttest.PostgresURL(t)
	if !ok {
		t.Skip("against PostgreSQL only (make test-postgres)")
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--store", url, "--patients", "10", "--duration", "10m", "--warmup", "0",
		"--requests", "5", "--clients", "2", "--paced", "", "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	files, _ := filepath.Glob(filepath.Join(out, "bench-10-*.json"))
	if len(files) != 1 {
		t.Fatalf("reports: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	var rep benchReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rep.Store, "postgres://") || rep.DatabaseBytes == 0 || rep.Resources == 0 || len(rep.Results) != 9 {
		t.Errorf("report: store %q, %d bytes, %d resources, %d results; want the PostgreSQL database, its size, and 9 results (7 scenarios, the urgent care view page and the ceiling)", rep.Store, rep.DatabaseBytes, rep.Resources, len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Errors > 0 {
			t.Errorf("%s: %d errors, first %s", r.Scenario, r.Errors, r.FirstError)
		}
	}
	// A loaded database is not loaded again by accident.
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"bench", "--store", url, "--patients", "10", "--out", out}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--reuse") {
		t.Errorf("bench on a loaded database: exit %d, %s; want 2 and the advice to pass --reuse", code, stderr.String())
	}
}

// TestOpenSQLiteAuditFile: a new database gets its audit file; a database
// of an earlier ucp, which holds its AuditEvents itself, opens as it is; a
// used database whose audit file is missing is refused, never given an
// empty one in its place.
func TestOpenSQLiteAuditFile(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	change := func(typ, id string) store.Change {
		return store.Change{Type: typ, ID: id, VersionID: 1, LastUpdated: at, Method: "POST",
			JSON: []byte(`{"resourceType":"` + typ + `","id":"` + id + `","meta":{"versionId":"1"}}`)}
	}
	if diff := cmp.Diff("/d/ucp-audit.db", auditStorePath("/d/ucp.db")); diff != "" {
		t.Errorf("auditStorePath (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("/d.x/ucp-audit", auditStorePath("/d.x/ucp")); diff != "" {
		t.Errorf("auditStorePath without an extension (-want +got):\n%s", diff)
	}

	t.Run("new", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ucp.db")
		st, err := openSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write(ctx, []store.Change{change("AuditEvent", "e1"), change("Patient", "p1")}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		side, err := sqlite.Open(auditStorePath(path))
		if err != nil {
			t.Fatal(err)
		}
		defer side.Close()
		if _, err := side.Read(ctx, "AuditEvent", "e1"); err != nil {
			t.Errorf("the AuditEvent is not in %s: %v", auditStorePath(path), err)
		}
		// Reopened: the same two files.
		st, err = openSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Read(ctx, "AuditEvent", "e1"); err != nil {
			t.Errorf("reopened: %v", err)
		}
	})

	t.Run("earlier ucp", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ucp.db")
		old, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Write(ctx, []store.Change{change("AuditEvent", "e1"), change("Patient", "p1")}); err != nil {
			t.Fatal(err)
		}
		old.Close()
		st, err := openSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Read(ctx, "AuditEvent", "e1"); err != nil {
			t.Errorf("the earlier database's AuditEvent: %v", err)
		}
		if _, err := os.Stat(auditStorePath(path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("an audit file was made beside an earlier database: %v", err)
		}
	})

	t.Run("audit file lost", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ucp.db")
		st, err := openSQLite(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write(ctx, []store.Change{change("AuditEvent", "e1"), change("Patient", "p1")}); err != nil {
			t.Fatal(err)
		}
		st.Close()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(auditStorePath(path) + suffix)
		}
		if st, err := openSQLite(ctx, path); err == nil || !strings.Contains(err.Error(), "is missing") {
			if st != nil {
				st.Close()
			}
			t.Errorf("opened without its audit file: %v", err)
		}
	})
}
