package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"ucp/auth/audit"
	"ucp/store/sqlite"
)

// runBackup copies what a restore needs while the server runs: the
// database and its AuditEvents' file (consistent snapshots), the server's
// signing keys and the audit journal, to FILE, its auditStorePath,
// FILE.server-key.pem, FILE.oidc-key.pem and FILE.audit.journal. It
// overwrites nothing.
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg serveConfig
	var to string
	fs := flag.NewFlagSet("ucp backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Store, "store", "sqlite:./data/ucp.db", "the store to back up: sqlite:`PATH`")
	fs.StringVar(&to, "to", "", "the backup `FILE` (must not exist); the key and audit journal go beside it")
	fs.StringVar(&cfg.AuditDir, "audit-dir", "", "the server's --audit-dir, if it has one")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if isPostgres(cfg.Store) {
		fmt.Fprintln(stderr, postgresBackup)
		return 2
	}
	path, ok := strings.CutPrefix(cfg.Store, "sqlite:")
	if to == "" || !ok || path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "ucp backup: want --store sqlite:PATH --to FILE")
		return 2
	}
	files := []struct{ from, to string }{
		{cfg.keyFile(), to + ".server-key.pem"},
		// The key of SMART apps' ID tokens (oauth.go).
		{idKeyFile(cfg.dataDir()), to + ".oidc-key.pem"},
		// The journal is copied before the database: an event drained
		// from it after its copy is then in the database's copy, and one
		// still in the journal's copy is replayed on restore (the
		// replay skips those already stored). Copied after, an event
		// drained and rotated away in between would be in neither.
		{audit.JournalPath(cfg.auditDir()), to + ".audit.journal"},
	}
	for _, p := range []string{to, auditStorePath(to), files[0].to, files[1].to, files[2].to} {
		if _, err := os.Lstat(p); err == nil {
			fmt.Fprintf(stderr, "ucp backup: %s already exists; a backup never overwrites a file\n", p)
			return 1
		}
	}
	// A failed backup leaves nothing it wrote behind to be mistaken for
	// one (sqlite.Backup removes its own partial copy).
	var copies []string
	fail := func(err error) int {
		for _, c := range copies {
			os.Remove(c)
		}
		fmt.Fprintln(stderr, "ucp backup:", err)
		return 1
	}
	for _, f := range files {
		copied, err := copyNew(f.from, f.to)
		if err != nil {
			return fail(err)
		}
		if copied {
			copies = append(copies, f.to)
		}
	}
	if err := sqlite.Backup(ctx, path, to); err != nil {
		return fail(err)
	}
	copies = append(copies, to)
	// The AuditEvents' file after the database: a write commits its
	// AuditEvent there before itself (store/split), so every write in the
	// database's copy has its AuditEvent in this one.
	if _, err := os.Stat(auditStorePath(path)); err == nil {
		if err := sqlite.Backup(ctx, auditStorePath(path), auditStorePath(to)); err != nil {
			return fail(err)
		}
		copies = append(copies, auditStorePath(to))
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", path, strings.Join(copies, ", "))
	return 0
}

// copyNew copies the file from to the new file to (mode 0600: the key is
// secret, the journal names patients) and syncs it. A from that does not
// exist is skipped: a server that never started has no key or journal.
func copyNew(from, to string) (copied bool, err error) {
	in, err := os.Open(from)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(to)
		return false, err
	}
	return true, nil
}
