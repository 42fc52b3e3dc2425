package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/fhir/resource"
	"ucp/store"
	"ucp/store/postgres"
	"ucp/store/split"
)

// pruner is the principal ucp audit prune records its AuditEvent as.
var pruner = &auth.Principal{Role: auth.RoleAdmin, Subject: "ucp-audit-prune", UserID: "ucp-audit-prune", Name: "ucp audit prune"}

const auditUsage = `ucp audit prune --before DATE (--archive FILE.ndjson[.zst] | --no-archive) [--store sqlite:PATH]`

// runAudit runs ucp audit's subcommands.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "prune" {
		fmt.Fprintln(stderr, "usage:", auditUsage)
		return 2
	}
	fs := flag.NewFlagSet("ucp audit prune", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("store", "sqlite:./data/ucp.db", storeUsage)
	before := fs.String("before", "", "remove the AuditEvents last written before `DATE` (2019-01-01, or an instant 2019-01-01T00:00:00Z)")
	archive := fs.String("archive", "", "append each AuditEvent removed to `FILE` first (NDJSON; zstd-compressed when it ends in .zst)")
	noArchive := fs.Bool("no-archive", false, "remove without archiving")
	batch := fs.Int("batch", 1000, "AuditEvents per archive write and store transaction, `N`")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	at, err := pruneDate(*before, time.Now())
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "ucp audit prune: --before:", err)
		return 2
	case fs.NArg() > 0:
		fmt.Fprintln(stderr, "ucp audit prune: unexpected arguments; usage:", auditUsage)
		return 2
	case *archive == "" && !*noArchive:
		fmt.Fprintln(stderr, "ucp audit prune: give --archive FILE to keep what is removed, or --no-archive to remove it for good")
		return 2
	case *archive != "" && *noArchive:
		fmt.Fprintln(stderr, "ucp audit prune: --archive and --no-archive together: choose one")
		return 2
	case *batch < 1:
		fmt.Fprintln(stderr, "ucp audit prune: --batch must be 1 or more")
		return 2
	}
	st, err := openStore(ctx, *spec, postgres.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "ucp audit prune:", err)
		return 1
	}
	defer st.Close()
	var audits store.Store = st
	if sp, ok := st.(*split.Store); ok {
		audits = sp.Side()
	}
	ex, ok := audits.(audit.Expirer)
	if !ok {
		fmt.Fprintln(stderr, "ucp audit prune: this store cannot prune yet (SQLite only; see README, \"How long audit is kept\")")
		return 1
	}
	p := audit.Prune{Before: at, Archive: *archive, Batch: *batch}
	start := time.Now()
	done, err := audit.PruneBefore(ctx, ex, p)
	// Recorded whatever happened, before anything else is reported.
	aerr := recordPrune(ctx, st, &audit.PruneRun{Principal: pruner, RunBy: runBy(), Start: start, Prune: p, Done: done, Err: err})
	if aerr != nil {
		fmt.Fprintln(stderr, "ucp audit prune: recording its AuditEvent:", aerr)
	}
	fmt.Fprintf(stdout, "AuditEvents last written before %s: %d archived, %d removed\n", at.Format(time.RFC3339), done.Archived, done.Removed)
	if err != nil {
		fmt.Fprintln(stderr, "ucp audit prune:", err, "(run it again with the same arguments to finish)")
		return 1
	}
	if aerr != nil {
		return 1
	}
	return 0
}

// pruneDate parses --before: a date (midnight UTC) or an instant, not
// after now.
func pruneDate(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, errors.New("a date is required, such as 2019-01-01")
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, v); err != nil {
			return time.Time{}, fmt.Errorf("%q: want a date (2019-01-01) or an instant (2019-01-01T00:00:00Z)", v)
		}
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("%s is in the future", v)
	}
	return t.UTC(), nil
}

// recordPrune writes the prune's AuditEvent through the store's service,
// as ucp import records each file.
func recordPrune(ctx context.Context, st store.Store, r *audit.PruneRun) error {
	im, err := newImporter(st, nil)
	if err != nil {
		return err
	}
	ctx = auth.NewContext(ctx, pruner)
	svc, err := im.Service()
	if err != nil {
		return err
	}
	ev, err := resource.Parse(audit.PruneEvent(r).JSON())
	if err != nil {
		return err
	}
	return putResource(ctx, svc, ev)
}
