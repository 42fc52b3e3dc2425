package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"ucp/fhir/service"
	"ucp/migrate"
	"ucp/store/postgres"
)

// runMigrate is ucp migrate: copy a register between stores (package
// migrate), then compare them.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ucp migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the store to copy, `SPEC` (sqlite:PATH or postgres://…); stop its server first")
	to := fs.String("to", "", "the store to copy into, `SPEC`: empty, or a copy this command began")
	batch := fs.Int("batch", 500, "versions per write to the target")
	base := fs.String("base-url", "", "the server's --base-url, if it has one: absolute references to it are indexed as local ones, as the server does")
	var pool postgres.Options
	poolFlags(fs, &pool)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ucp migrate --from SPEC --to SPEC [--batch N] [--base-url URL]\n\nCopies every version of every resource exactly (ids, versions, lastUpdated, deletions, history),\nresuming a copy that was interrupted, then compares counts and a checksum per type.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *from == "" || *to == "" || fs.NArg() > 0 || *batch <= 0 {
		fs.Usage()
		return 2
	}
	if *from == *to {
		fmt.Fprintln(stderr, "ucp migrate: --from and --to are the same store")
		return 2
	}
	src, err := openStore(ctx, *from, pool)
	if err != nil {
		fmt.Fprintln(stderr, "ucp migrate:", err)
		return 1
	}
	defer src.Close()
	dst, err := openStore(ctx, *to, pool)
	if err != nil {
		fmt.Fprintln(stderr, "ucp migrate:", err)
		return 1
	}
	defer dst.Close()

	// The index is extracted as the server extracts it: its parameters,
	// and the custom ones stored in the register.
	reg, err := newRegistry(src, *base)
	if err != nil {
		fmt.Fprintln(stderr, "ucp migrate:", err)
		return 1
	}
	svc, err := service.New(service.Config{Store: src, Registry: reg})
	if err != nil {
		fmt.Fprintln(stderr, "ucp migrate:", err)
		return 1
	}
	if err := svc.LoadSearchParameters(ctx); err != nil {
		fmt.Fprintln(stderr, "ucp migrate:", err)
		return 1
	}

	fmt.Fprintf(stdout, "copying %s to %s\n", redactStore(*from), redactStore(*to))
	step := 0
	n, err := migrate.Copy(ctx, src, dst, reg, migrate.Options{Batch: *batch, Progress: func(copied, total int) {
		if tenth := copied * 10 / max(total, 1); tenth > step {
			step = tenth
			fmt.Fprintf(stdout, "  %d of %d versions\n", copied, total)
		}
	}})
	if err != nil {
		fmt.Fprintf(stderr, "ucp migrate: %v\n(after %d versions: run the same command again to resume)\n", err, n)
		return 1
	}
	if err := afterLoad(ctx, dst, stdout); err != nil {
		fmt.Fprintln(stderr, "ucp migrate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "copied %d versions; comparing…\n", n)
	lines, err := migrate.Compare(ctx, src, dst)
	if err != nil {
		fmt.Fprintln(stderr, "ucp migrate:", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "type\tresources\tversions\tchecksum (sha-256)\t")
	ok := true
	for _, l := range lines {
		state := l.Source.Checksum[:16]
		if !l.Match() {
			ok = false
			state = fmt.Sprintf("DIFFERS: source %d/%d %.16s, target %d/%d %.16s", l.Source.Resources, l.Source.Versions, l.Source.Checksum,
				l.Target.Resources, l.Target.Versions, l.Target.Checksum)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", l.Type, l.Source.Resources, l.Source.Versions, state)
	}
	tw.Flush()
	if !ok {
		fmt.Fprintln(stderr, "ucp migrate: the stores differ (see above)")
		return 1
	}
	fmt.Fprintln(stdout, "the target holds exactly what the source holds")
	return 0
}
