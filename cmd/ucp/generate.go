package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"ucp/synth"
)

func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ucp generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	patients := fs.Int("patients", 100, "how many synthetic `N` patients, each with a care plan and its history")
	seed := fs.Uint64("seed", 1, "the `seed`: the same seed gives the same output, byte for byte")
	format := fs.String("format", "ndjson", "ndjson (one resource per line) or bundle (transaction Bundles)")
	out := fs.String("out", "", "write into `DIR` (NDJSON: a file per type; bundle: a file per transaction) instead of stdout")
	expected := fs.Bool("expected", false, "print the measures' expected values for this seed instead of the data (see --period-start, --period-end, --ods)")
	periodStart := fs.String("period-start", "2025-11-01", "with --expected: the period's first `day` (YYYY-MM-DD)")
	periodEnd := fs.String("period-end", "2026-10-31", "with --expected: the period's last `day` (YYYY-MM-DD)")
	ods := fs.String("ods", "", "with --expected: only this GP practice's patients (`ODS code`)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	f, err := synth.ParseFormat(*format)
	if err != nil || fs.NArg() > 0 || *patients < 0 {
		fmt.Fprintln(stderr, "ucp generate: bad arguments:", err, fs.Args())
		return 2
	}
	opts := synth.Options{Patients: *patients, Seed: *seed}
	if *expected {
		return printExpected(opts, *periodStart, *periodEnd, *ods, stdout, stderr)
	}
	if *out != "" {
		w, err := synth.NewDirWriter(*out, f)
		if err != nil {
			fmt.Fprintln(stderr, "ucp generate:", err)
			return 1
		}
		err = errors.Join(synth.Generate(opts, cancellable(ctx, w)), w.Close())
		if err != nil {
			fmt.Fprintln(stderr, "ucp generate:", err)
			return 1
		}
		fmt.Fprintf(stderr, "ucp generate: %d patients (seed %d) as %s in %s\n", *patients, *seed, f, *out)
		return 0
	}
	bw := bufio.NewWriterSize(stdout, 256<<10)
	var w synth.Writer = synth.NDJSONStream(bw)
	if f == synth.FormatBundle {
		w = synth.BundleStream(bw)
	}
	if err := errors.Join(synth.Generate(opts, cancellable(ctx, w)), bw.Flush()); err != nil {
		fmt.Fprintln(stderr, "ucp generate:", err)
		return 1
	}
	return 0
}

// cancellable stops generation when ctx ends (Ctrl-C on a large run).
func cancellable(ctx context.Context, w synth.Writer) synth.Writer {
	return writerFunc(func(r *synth.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return w.Write(r)
	})
}

type writerFunc func(*synth.Record) error

func (f writerFunc) Write(r *synth.Record) error { return f(r) }
