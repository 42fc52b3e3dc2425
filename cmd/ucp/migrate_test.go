package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
