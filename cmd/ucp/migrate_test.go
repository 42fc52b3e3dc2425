package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ucp/store"
	"ucp/store/postgres"
	"ucp/store/postgres/pgtest"
	"ucp/store/sqlite"
)

// TestMigrateCopiesAndCompares imports a synthetic register into SQLite,
// migrates it (to PostgreSQL when the tests run against it, else to another
// SQLite file) and back, and checks that ucp migrate reports the copies
// equal, and that a second run finds nothing left to copy.
func TestMigrateCopiesAndCompares(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	runOK := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(ctx, args, &out, &errb); code != 0 {
			t.Fatalf("ucp %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
		return out.String()
	}
	reg := filepath.Join(dir, "register.ndjson")
	if err := os.WriteFile(reg, []byte(runOK("generate", "--patients", "4")), 0o600); err != nil {
		t.Fatal(err)
	}
	src := "sqlite:" + filepath.Join(dir, "a.db")
	runOK("import", "--store", src, reg)
	mid := onTestStore(t, serveConfig{Store: "sqlite:" + filepath.Join(dir, "b.db")}).Store

	out := runOK("migrate", "--from", src, "--to", mid)
	if !strings.Contains(out, "the target holds exactly what the source holds") || !strings.Contains(out, "CarePlan") {
		t.Errorf("migrate: %s", out)
	}
	if out := runOK("migrate", "--from", src, "--to", mid); !strings.Contains(out, "copied 0 versions") {
		t.Errorf("migrate again: %s, want nothing left to copy", out)
	}
	if out := runOK("migrate", "--from", mid, "--to", "sqlite:"+filepath.Join(dir, "c.db")); !strings.Contains(out, "the target holds exactly") {
		t.Errorf("migrate back: %s", out)
	}

	for _, args := range [][]string{
		{"migrate", "--from", src, "--to", src},
		{"migrate", "--from", src},
		{"migrate", "--from", src, "--to", mid, "--batch", "0"},
	} {
		var out, errb bytes.Buffer
		if code := run(ctx, args, &out, &errb); code != 2 {
			t.Errorf("ucp %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
}

// TestMigrateMovesAuditEventsOut: ucp migrate from a database of an earlier
// ucp, which holds its AuditEvents itself, into a new file puts them in the
// new database's audit file, every version, as the README says.
func TestMigrateMovesAuditEventsOut(t *testing.T) {
	t.Setenv(pgtest.Env, "") // SQLite to SQLite
	ctx := context.Background()
	dir := t.TempDir()
	old := filepath.Join(dir, "old", "ucp.db")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(old)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := st.Write(ctx, []store.Change{
		{Type: "Patient", ID: "p1", VersionID: 1, LastUpdated: at, Method: "PUT", JSON: []byte(`{"resourceType":"Patient","id":"p1","meta":{"versionId":"1","lastUpdated":"2025-01-02T03:04:05Z"}}`)},
		{Type: "AuditEvent", ID: "e1", VersionID: 1, LastUpdated: at, Method: "POST", JSON: []byte(`{"resourceType":"AuditEvent","id":"e1","meta":{"versionId":"1","lastUpdated":"2025-01-02T03:04:05Z"},"recorded":"2025-01-02T03:04:05Z","entity":[{"what":{"reference":"Patient/p1"}}]}`)},
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	moved := filepath.Join(dir, "new", "ucp.db")
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"migrate", "--from", "sqlite:" + old, "--to", "sqlite:" + moved}, &out, &errb); code != 0 {
		t.Fatalf("migrate: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	side, err := sqlite.Open(auditStorePath(moved))
	if err != nil {
		t.Fatal(err)
	}
	defer side.Close()
	if _, err := side.Read(ctx, "AuditEvent", "e1"); err != nil {
		t.Errorf("the AuditEvent is not in the new audit file: %v", err)
	}
	both, err := openStore(ctx, "sqlite:"+moved, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer both.Close()
	res, err := both.Search(ctx, store.Query{Types: []string{"AuditEvent"}, Count: 10, Where: []store.Clause{{Any: []store.Cond{{
		Param: "entity", Type: store.Reference, RefType: "Patient", RefID: "p1"}}}}})
	if err != nil || len(res.Versions) != 1 {
		t.Errorf("AuditEvent?entity=Patient/p1 in the new store: %d, %v; want 1", len(res.Versions), err)
	}
}
