package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportCommand generates a small register as per-type NDJSON files
// and imports the directory, then a bad file, through the command line.
func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"generate", "--patients", "10", "--out", filepath.Join(dir, "gen")}, &out, &errb); code != 0 {
		t.Fatalf("generate: %d %s", code, errb.String())
	}
	db := "sqlite:" + filepath.Join(dir, "ucp.db")
	out.Reset()
	errb.Reset()
	code := run(ctx, []string{"import", "--store", db, "--batch", "50", filepath.Join(dir, "gen")}, &out, &errb)
	if !strings.Contains(out.String(), "imported 15 files") {
		t.Fatalf("import answered %d: %s\n%s", code, out.String(), errb.String())
	}
	// Per-type files lose each patient's story order (a plan revoked before
	// its patient withdrew consent is loaded after the withdrawal), so some
	// plan versions of such patients may be refused: each is reported.
	for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if l != "" && !strings.HasPrefix(l, "rejected: ") && !strings.HasPrefix(l, "ucp import: ") {
			t.Errorf("unexpected output %q", l)
		}
	}
}
