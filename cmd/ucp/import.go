package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"ucp/auth"
	"ucp/auth/audit"
	"ucp/bulk"
	"ucp/careplan"
	"ucp/fhir/resource"
	"ucp/store"
	"ucp/store/postgres"
)

// importer is the principal an import runs as: a clinician, so that active
// plans in the input are approved like any other (and their Provenance
// names the import).
var importer = &auth.Principal{Role: auth.RoleClinical, Subject: "ucp-import", UserID: "ucp-import", Name: "ucp import"}

// typeRank orders a directory's NDJSON files (one per type, named
// Type.ndjson) so that what others refer to is loaded first: definitions,
// then people and organisations, then clinical records and consents, then
// the plans, then what refers to plans.
var typeRank = map[string]int{
	"StructureDefinition": 0, "ValueSet": 0, "CodeSystem": 0, "SearchParameter": 0,
	"Organization": 1, "Contract": 1, "Location": 1,
	"Practitioner": 2, "PractitionerRole": 3, "Patient": 4, "RelatedPerson": 5,
	"Consent":  7,
	"CarePlan": 8, "Composition": 9, "Provenance": 9, "Task": 9,
}

// rank is a file's place in the load order; unknown types go between the
// patients and the consents.
func rank(path string) int {
	typ, _, _ := strings.Cut(filepath.Base(path), ".")
	if r, ok := typeRank[typ]; ok {
		return r
	}
	return 6
}

// importFiles expands the arguments: a directory gives its .ndjson and .json
// files in load order.
func importFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		des, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var files []string
		for _, de := range des {
			if n := de.Name(); !de.IsDir() && (strings.HasSuffix(n, ".ndjson") || strings.HasSuffix(n, ".json")) {
				files = append(files, filepath.Join(a, n))
			}
		}
		slices.SortStableFunc(files, func(x, y string) int {
			if d := rank(x) - rank(y); d != 0 {
				return d
			}
			return strings.Compare(x, y)
		})
		out = append(out, files...)
	}
	return out, nil
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ucp import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeSpec := fs.String("store", "sqlite:./data/ucp.db", storeUsage)
	var pool postgres.Options
	poolFlags(fs, &pool)
	batch := fs.Int("batch", bulk.DefaultBatch, "resources per store transaction")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the import to `FILE`, for go tool pprof")
	ukcoreDir := fs.String("ukcore", os.Getenv(ukcoreEnv), "the UK Core package `DIR` to validate against, as for serve (default $"+ukcoreEnv+")")
	deferMode := fs.String("defer-indexes", "auto", "set the search-only indexes aside during the load and rebuild them after: auto (when the store is empty), always or never")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ucp import [--store sqlite:PATH|postgres://…] [--pool-max-conns N] [--batch N] [--ukcore DIR] PATH...\n\nPATH is an NDJSON file (one resource per line), a transaction Bundle (.json) or a directory of them.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	files, err := importFiles(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "ucp import:", err)
		return 1
	}
	var total int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			total += fi.Size()
		}
	}
	st, err := openStore(ctx, *storeSpec, pool)
	if err != nil {
		fmt.Fprintln(stderr, "ucp import:", err)
		return 1
	}
	defer st.Close()
	ukcore, err := loadUKCore(*ukcoreDir, func(msg string) { fmt.Fprintln(stderr, "ucp import:", msg) })
	if err != nil {
		fmt.Fprintln(stderr, "ucp import:", err)
		return 1
	}
	im, err := newImporter(st, ukcore)
	if err != nil {
		fmt.Fprintln(stderr, "ucp import:", err)
		return 1
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "ucp import:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "ucp import:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	restore, err := deferIndexes(ctx, st, *deferMode)
	if err != nil {
		fmt.Fprintln(stderr, "ucp import:", err)
		return 1
	}
	prog := newProgress(stderr, total)
	im.Batch, im.Reject, im.Progress = *batch, prog.reject, prog.update
	ctx = auth.NewContext(ctx, importer)
	svc, err := im.Service()
	if err != nil {
		fmt.Fprintln(stderr, "ucp import:", err)
		return 1
	}
	who := runBy()
	for _, f := range files {
		start := time.Now()
		st, err := importFile(ctx, im, f)
		// Audited whatever happened, before anything else is reported.
		ev, aerr := importEvent(who, f, start, st, err)
		if aerr == nil {
			aerr = putResource(ctx, svc, ev)
		}
		if aerr != nil {
			fmt.Fprintln(stderr, "ucp import: recording the AuditEvent of", f+":", aerr)
			if err == nil {
				err = aerr
			}
		}
		if err != nil {
			prog.finish()
			fmt.Fprintln(stderr, "ucp import:", err)
			// The next open of the store restores the indexes too.
			if err := restore(context.Background(), stderr); err != nil {
				fmt.Fprintln(stderr, "ucp import:", err)
			}
			return 1
		}
		prog.update(im.Total())
	}
	prog.finish()
	if err := restore(ctx, stderr); err != nil {
		fmt.Fprintln(stderr, "ucp import:", err)
		return 1
	}
	if err := afterLoad(ctx, st, stderr); err != nil {
		fmt.Fprintln(stderr, "ucp import:", err)
		return 1
	}
	t := im.Total()
	el := time.Since(prog.start)
	fmt.Fprintf(stdout, "imported %d files: %d resources read, %d versions written (%d new resources, %d added by the rules) in %d store transactions, %d unchanged, %d rejected in %s (%.0f resources/s)\n",
		t.Files, t.Lines, t.Written+t.Extra, t.Created, t.Extra, t.Batches, t.Unchanged, t.Rejected, el.Round(time.Millisecond), float64(t.Lines)/el.Seconds())
	if t.Rejected > 0 {
		return 1
	}
	return 0
}

// indexDeferrer is a store that can set its search-only indexes aside for a
// bulk load (store/sqlite).
type indexDeferrer interface {
	DeferIndexes(ctx context.Context) (restore func(context.Context) error, err error)
}

// deferIndexes sets the store's search-only indexes aside when mode says so
// ("auto": when the store holds no resource, so nothing searches it during
// the load) and the store can. The returned function rebuilds them, saying
// so on w; it does nothing when nothing was set aside.
func deferIndexes(ctx context.Context, st store.Store, mode string) (func(context.Context, io.Writer) error, error) {
	none := func(context.Context, io.Writer) error { return nil }
	d, ok := st.(indexDeferrer)
	switch mode {
	case "never":
		return none, nil
	case "always":
	case "auto":
		r, err := st.Search(ctx, store.Query{Count: 1, Total: store.TotalNone})
		if err != nil {
			return nil, err
		}
		if len(r.Versions) > 0 {
			return none, nil
		}
	default:
		return nil, fmt.Errorf("--defer-indexes %q: want auto, always or never", mode)
	}
	if !ok {
		return none, nil
	}
	restore, err := d.DeferIndexes(ctx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, w io.Writer) error {
		start := time.Now()
		fmt.Fprintln(w, "ucp import: rebuilding the search indexes…")
		if err := restore(ctx); err != nil {
			return err
		}
		fmt.Fprintf(w, "ucp import: search indexes rebuilt in %s\n", time.Since(start).Round(time.Millisecond))
		return nil
	}, nil
}

// newImporter returns an importer into st with the rules and index
// extraction the API applies.
func newImporter(st store.Store, ukcore careplan.BasePackage) (*bulk.Importer, error) {
	reg, err := newRegistry(st, "")
	if err != nil {
		return nil, err
	}
	plans, err := careplan.New(careplan.Config{Store: st, Registry: reg, Validator: careplan.NewValidatorOn(st, reg, ukcore)})
	if err != nil {
		return nil, err
	}
	return &bulk.Importer{Store: st, Registry: reg, Rules: plans}, nil
}

// importFile imports one NDJSON file or transaction Bundle.
func importFile(ctx context.Context, im *bulk.Importer, path string) (bulk.Stats, error) {
	if strings.HasSuffix(path, ".json") {
		body, err := os.ReadFile(path)
		if err != nil {
			return bulk.Stats{}, err
		}
		return im.ImportBundle(ctx, body, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return bulk.Stats{}, err
	}
	defer f.Close()
	return im.ImportNDJSON(ctx, f, path)
}

// importEvent is the AuditEvent of one imported file (see
// audit.ImportEvent for why one per file), as a resource to write.
func importEvent(who, path string, start time.Time, st bulk.Stats, err error) (map[string]any, error) {
	if abs, aerr := filepath.Abs(path); aerr == nil {
		path = abs
	}
	ev := audit.ImportEvent(&audit.Import{Principal: importer, RunBy: who, File: path, Start: start,
		Read: st.Lines, Written: st.Written, Created: st.Created, Extra: st.Extra, Unchanged: st.Unchanged,
		Rejected: st.Rejected, Batches: st.Batches, Err: err})
	return resource.Parse(ev.JSON())
}

// runBy names the operating-system account running the command, for the
// audit: user@host, as far as they are known.
func runBy() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}

// progress reports an import's progress on stderr: one line redrawn in
// place on a terminal, a log line every 10 seconds otherwise (so a log file
// is not flooded with carriage returns).
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	total int64
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, total int64) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	now := time.Now()
	return &progress{w: w, tty: tty, total: total, start: now, last: now}
}

func (p *progress) update(s bulk.Stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	every := 10 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	el := time.Since(p.start).Seconds()
	rate := float64(s.Lines) / el
	msg := fmt.Sprintf("%d resources, %d rejected, %.0f/s", s.Lines, s.Rejected, rate)
	if p.total > 0 && s.Bytes > 0 {
		frac := float64(s.Bytes) / float64(p.total)
		eta := time.Duration(el/frac*(1-frac)) * time.Second
		msg += fmt.Sprintf(", %.0f%%, ETA %s", 100*frac, eta.Round(time.Second))
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", msg)
		p.drawn = true
	} else {
		fmt.Fprintln(p.w, "ucp import:", msg)
	}
}

func (p *progress) reject(r bulk.Rejection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	fmt.Fprintln(p.w, "rejected:", r)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
