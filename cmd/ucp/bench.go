package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ucp/auth"
	"ucp/auth/devissuer"
	"ucp/bulk"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/loadgen"
	"ucp/nrl/nrltest"
	"ucp/profiles"
	"ucp/store"
	"ucp/store/postgres"
	"ucp/store/sqlite"
	"ucp/synth"
)

// benchReport is what `ucp bench` writes to bench/results.
type benchReport struct {
	Time            time.Time `json:"time"`
	AuditSync       string    `json:"audit_sync"`
	Role            string    `json:"role"` // the token's role: clinical skips the sharing checks urgent care (view) passes
	GoVersion       string    `json:"go_version"`
	CPUs            int       `json:"cpus"`
	Patients        int       `json:"patients"`
	Store           string    `json:"store"`
	GenerateSeconds float64   `json:"generate_seconds"`
	Resources       int64     `json:"resources_loaded"`
	Versions        int64     `json:"versions_written"`
	LoadSeconds     float64   `json:"load_seconds"`
	LoadRate        float64   `json:"load_resources_per_s"`
	LoadMethod      string    `json:"load_method"`
	LoadRejected    int       `json:"load_rejected"`
	DatabaseBytes   int64     `json:"database_bytes"`
	// LoadedBytes is the SQLite files' size just after the load, before
	// any request; AuditBytes the audit file's at the end and AuditEvents
	// how many it then holds (SQLite only).
	LoadedBytes  int64            `json:"loaded_database_bytes,omitempty"`
	AuditBytes   int64            `json:"audit_bytes,omitempty"`
	AuditEvents  int              `json:"audit_events,omitempty"`
	PeakRSSBytes int64            `json:"peak_rss_bytes"`
	Results      []loadgen.Result `json:"results"`
	// Ceiling is each result's req/s as a share of the ceiling's at the
	// same concurrency, with the p99s of its paced runs beside the
	// ceiling's own at the same fraction of capacity.
	Ceiling []ceilingShare `json:"of_ceiling"`
	// Measures are the times of one evaluation of each Measure.
	Measures []measureTiming `json:"measures,omitempty"`
	// PageWeight is what one urgent care view page downloads (web.go).
	PageWeight string `json:"page_weight,omitempty"`
	// NRL is approval → pointer and PDF rendering (benchnrl.go).
	NRL *nrlTiming `json:"nrl,omitempty"`
}

type ceilingShare struct {
	Scenario string      `json:"scenario"`
	Clients  int         `json:"clients"`
	Share    float64     `json:"share"`
	Paced    []pacedP99s `json:"paced,omitempty"`
}

// pacedP99s is a scenario's p99 paced at Fraction of its own capacity,
// beside the ceiling's p99 paced at the same fraction of the ceiling's.
type pacedP99s struct {
	Fraction   float64       `json:"fraction"`
	P99        time.Duration `json:"p99_ns"`
	CeilingP99 time.Duration `json:"ceiling_p99_ns"`
}

// ceilingScenario names the runs against the static-bytes server.
const ceilingScenario = "ceiling: static plan bytes"

func defaultBenchPatients() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_PATIENTS")); err == nil && n > 0 {
		return n
	}
	return 10_000
}

// runBench fills a fresh server with synthetic patients, then drives it
// over loopback HTTP with 1, 8 and 32 clients per scenario.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ucp bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	patients := fs.Int("patients", defaultBenchPatients(), "synthetic `N` patients to load (default $BENCH_PATIENTS, else 10,000)")
	seed := fs.Uint64("seed", 1, "the generator's seed")
	duration := fs.Duration("duration", 5*time.Second, "how long each scenario runs at each concurrency")
	warmup := fs.Duration("warmup", time.Second, "how long each run sends requests before it starts counting them")
	maxRequests := fs.Int("requests", 0, "end each run after `N` requests, even before --duration (0: no bound); a smoke run that checks the bench works, not how fast")
	clientsFlag := fs.String("clients", "1,8,32", "the concurrencies, comma-separated")
	pacedFlag := fs.String("paced", "0.25,0.5", "after each run with more than one client, run again with the same clients paced at these `FRACTIONS` of its req/s (comma-separated; empty for none), for the latency at that load")
	out := fs.String("out", "bench/results", "`DIR` for the JSON report")
	auditSync := fs.Duration("audit-sync-interval", 0, "as for serve: 0 fsyncs the audit journal before each response")
	only := fs.String("scenario", "", "run only the scenarios whose name contains `TEXT`")
	roleFlag := fs.String("role", string(auth.RoleClinical), "the `ROLE` of the bench's token: clinical (every scenario), or view to time the reads as urgent care makes them, through the consent and sharing checks clinicians skip (the write scenarios then fail)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load phase (server and generator) to `FILE`, for go tool pprof")
	dir := fs.String("dir", "", "keep the database in `DIR` (default: a temporary folder, removed after)")
	reuse := fs.Bool("reuse", false, "with --dir: when DIR already holds a loaded database, serve it instead of generating and importing again")
	storeSpec := fs.String("store", "", "load and serve this PostgreSQL database, `postgres://…` (empty, or loaded with --reuse), instead of a SQLite file in the work folder")
	nrlRuns := fs.Int("nrl-approvals", 200, "approvals (and PDF renderings) timed for NRL publishing, against the local NRL of $"+nrltest.SpecEnv+" (0, or the variable unset: not timed; --requests bounds it too)")
	var pool postgres.Options
	poolFlags(fs, &pool)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	role, err := auth.ParseRole(*roleFlag)
	if err != nil {
		fmt.Fprintln(stderr, "ucp bench: --role:", err)
		return 2
	}
	var clients []int
	for _, f := range strings.Split(*clientsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(stderr, "ucp bench: --clients %q: want positive numbers\n", *clientsFlag)
			return 2
		}
		clients = append(clients, n)
	}
	var paced []float64
	for _, f := range strings.Split(*pacedFlag, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		x, err := strconv.ParseFloat(f, 64)
		if err != nil || !(x > 0 && x <= 1) {
			fmt.Fprintf(stderr, "ucp bench: --paced %q: want fractions above 0 and at most 1\n", *pacedFlag)
			return 2
		}
		paced = append(paced, x)
	}
	work := *dir
	if work != "" {
		if err := os.MkdirAll(work, 0o755); err != nil {
			fmt.Fprintln(stderr, "ucp bench:", err)
			return 1
		}
	} else {
		tmp, err := os.MkdirTemp("", "ucp-bench-")
		if err != nil {
			fmt.Fprintln(stderr, "ucp bench:", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		work = tmp
	}
	db := filepath.Join(work, "ucp.db")
	spec := "sqlite:" + db
	if *storeSpec != "" {
		if !isPostgres(*storeSpec) {
			fmt.Fprintln(stderr, "ucp bench: --store takes a PostgreSQL URL (the SQLite file is the work folder's)")
			return 2
		}
		spec = *storeSpec
	}
	report := benchReport{Store: redactStore(spec), Time: time.Now().UTC(), AuditSync: "before each response", GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), Patients: *patients, Role: string(role),
		LoadMethod: "ucp import of the generator's NDJSON (bulk.Importer: validation, care-plan rules, index extraction; 2,000 resources per store transaction; search-only indexes rebuilt after, included in the time)"}
	if *auditSync > 0 {
		report.AuditSync = "every " + auditSync.String()
	}
	exists, err := benchLoaded(ctx, spec, pool)
	if err != nil {
		fmt.Fprintln(stderr, "ucp bench:", err)
		return 1
	}
	switch {
	case exists && *reuse:
		report.LoadMethod = "reused " + report.Store
		fmt.Fprintf(stdout, "serving the database already in %s\n", report.Store)
	case exists:
		fmt.Fprintf(stderr, "ucp bench: %s already holds a register: pass --reuse to serve it, or empty it\n", report.Store)
		return 2
	default:
		if err := benchLoad(ctx, &report, work, spec, pool, *seed, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "ucp bench:", err)
			return 1
		}
	}

	if !isPostgres(spec) {
		report.LoadedBytes = sqliteBytes(db)
		fmt.Fprintf(stdout, "database after the load: %.1f MB, %.1f KB a patient\n",
			float64(report.LoadedBytes)/1e6, float64(report.LoadedBytes)/1e3/float64(max(report.Patients, 1)))
		if err := printSpace(ctx, db, report.Patients, stdout); err != nil {
			fmt.Fprintln(stderr, "ucp bench:", err)
			return 1
		}
	}
	quiet := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv, err := startServer(ctx, serveConfig{Addr: "127.0.0.1:0", Store: spec, DataDir: work, Pool: pool,
		Dev: true, MaxBody: 16 << 20, MinIDAssurance: 3, AuditSync: *auditSync}, quiet)
	if err != nil {
		fmt.Fprintln(stderr, "ucp bench:", err)
		return 1
	}
	defer srv.Close()

	samples, err := sampleWorld(ctx, srv.loader)
	if err != nil {
		fmt.Fprintln(stderr, "ucp bench:", err)
		return 1
	}
	tok, err := srv.dev.Mint(devissuer.TokenRequest{Role: role, TTL: 6 * time.Hour})
	if err != nil {
		fmt.Fprintln(stderr, "ucp bench:", err)
		return 1
	}
	ceiling, err := startCeiling(ctx, srv.base, "Bearer "+tok.AccessToken, samples.plans[0])
	if err != nil {
		fmt.Fprintln(stderr, "ucp bench:", err)
		return 1
	}
	defer ceiling.Close()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "ucp bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "ucp bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	scenarios := benchScenarios(srv.base, ceiling.URL, "Bearer "+tok.AccessToken, samples)
	page, weight, err := webBench(ctx, srv, samples)
	if err != nil {
		fmt.Fprintln(stderr, "ucp bench:", err)
		return 1
	}
	for _, sc := range append(scenarios, page) {
		// The ceiling always runs: every figure is a share of it.
		if *only != "" && !strings.Contains(sc.Name, *only) && sc.Name != ceilingScenario {
			continue
		}
		for _, c := range clients {
			cfg := loadgen.Config{Clients: c, Duration: *duration, Warmup: *warmup, MaxRequests: *maxRequests}
			r, err := loadgen.Run(ctx, sc, cfg)
			if err != nil {
				fmt.Fprintln(stderr, "ucp bench:", err)
				return 1
			}
			runs := []loadgen.Result{r}
			// Back to back, the latency with several clients is mostly
			// queueing; paced below the most the server did, it is what a
			// caller waits at that load.
			for _, f := range paced {
				if c == 1 || r.RPS <= 0 {
					break
				}
				cfg.Rate = f * r.RPS
				p, err := loadgen.Run(ctx, sc, cfg)
				if err != nil {
					fmt.Fprintln(stderr, "ucp bench:", err)
					return 1
				}
				runs = append(runs, p)
			}
			for _, r := range runs {
				fmt.Fprintln(stdout, r)
				if r.Errors > 0 {
					fmt.Fprintf(stdout, "    first error: %s\n", r.FirstError)
				}
				report.Results = append(report.Results, r)
			}
		}
	}
	if *only == "" || strings.Contains("evaluate-measure", *only) {
		if report.Measures, err = benchMeasures(ctx, srv, stdout); err != nil {
			fmt.Fprintln(stderr, "ucp bench:", err)
			return 1
		}
	}
	if spec := os.Getenv(nrltest.SpecEnv); *nrlRuns > 0 && spec != "" && (*only == "" || strings.Contains("nrl", *only)) {
		n := *nrlRuns
		if *maxRequests > 0 {
			n = min(n, *maxRequests) // a smoke run
		}
		if report.NRL, err = benchNRL(ctx, work, spec, n, stdout); err != nil {
			fmt.Fprintln(stderr, "ucp bench: NRL:", err)
			return 1
		}
	}
	report.Ceiling = ceilingShares(report.Results)
	if len(report.Ceiling) > 0 {
		fmt.Fprintln(stdout, "share of the ceiling (req/s against the same plan bytes from a plain net/http handler, same clients; paced p99 beside the ceiling's):")
		for _, c := range report.Ceiling {
			fmt.Fprintf(stdout, "  %-36s %3d clients  %6.3f", c.Scenario, c.Clients, c.Share)
			for _, p := range c.Paced {
				fmt.Fprintf(stdout, "  p99 at %.0f%%: %s (ceiling %s)", 100*p.Fraction, p.P99.Round(10*time.Microsecond), p.CeilingP99.Round(10*time.Microsecond))
			}
			fmt.Fprintln(stdout)
		}
	}
	if *only == "" || strings.Contains(page.Name, *only) {
		w, err := weight(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "ucp bench:", err)
			return 1
		}
		fmt.Fprintln(stdout, w)
		report.PageWeight = w
	}
	report.DatabaseBytes = sqliteBytes(db)
	if !isPostgres(spec) {
		if err := auditFigures(ctx, srv, db, &report, stdout); err != nil {
			fmt.Fprintln(stderr, "ucp bench:", err)
			return 1
		}
	}
	if sz, ok := srv.store.(interface {
		Size(context.Context) (int64, error)
	}); ok && isPostgres(spec) {
		if report.DatabaseBytes, err = sz.Size(ctx); err != nil {
			fmt.Fprintln(stderr, "ucp bench:", err)
			return 1
		}
	}
	report.PeakRSSBytes = peakRSS()
	fmt.Fprintf(stdout, "database %.1f MB, peak RSS %.1f MB (server and load generator, one process)\n",
		float64(report.DatabaseBytes)/1e6, float64(report.PeakRSSBytes)/1e6)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "ucp bench:", err)
		return 1
	}
	name := filepath.Join(*out, fmt.Sprintf("bench-%d-%s.json", *patients, report.Time.Format("20060102T150405Z")))
	data, _ := json.MarshalIndent(report, "", "  ")
	if err := os.WriteFile(name, append(data, '\n'), 0o644); err != nil {
		fmt.Fprintln(stderr, "ucp bench:", err)
		return 1
	}
	fmt.Fprintln(stdout, "report:", name)
	return 0
}

// benchLoad generates the synthetic register as one NDJSON stream (each
// patient's story in order) into work, then imports it into work/ucp.db as
// ucp import does, timing both.
func benchLoad(ctx context.Context, report *benchReport, work, spec string, pool postgres.Options, seed uint64, stdout, stderr io.Writer) error {
	path := filepath.Join(work, "synth.ndjson")
	fmt.Fprintf(stdout, "generating %d synthetic patients…\n", report.Patients)
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = errors.Join(synth.Generate(synth.Options{Patients: report.Patients, Seed: seed}, cancellable(ctx, synth.NDJSONStream(bw))), bw.Flush(), f.Close())
	if err != nil {
		return err
	}
	report.GenerateSeconds = time.Since(start).Seconds()
	size := fileSizes(path)
	fmt.Fprintf(stdout, "generated %.1f MB in %.1f s; importing…\n", float64(size)/1e6, report.GenerateSeconds)

	st, err := openStore(ctx, spec, pool)
	if err != nil {
		return err
	}
	defer st.Close()
	im, err := newImporter(st, nil) // as the server bench starts: without UK Core
	if err != nil {
		return err
	}
	prog := newProgress(stderr, size)
	var firstReject string
	im.Reject = func(r bulk.Rejection) {
		if firstReject == "" {
			firstReject = r.String()
		}
	}
	im.Progress = prog.update
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	start = time.Now()
	restore, err := deferIndexes(ctx, st, "auto")
	if err != nil {
		return err
	}
	stats, err := im.ImportNDJSON(auth.NewContext(ctx, importer), in, path)
	prog.finish()
	if err != nil {
		return err
	}
	if err := restore(ctx, stderr); err != nil {
		return err
	}
	if err := afterLoad(ctx, st, stderr); err != nil {
		return err
	}
	report.LoadSeconds = time.Since(start).Seconds()
	report.Resources, report.Versions = int64(stats.Lines), int64(stats.Written+stats.Extra)
	report.LoadRate = float64(stats.Lines) / report.LoadSeconds
	report.LoadRejected = stats.Rejected
	fmt.Fprintf(stdout, "imported %d resources (%d versions with those the rules added) in %.1f s: %.0f resources/s, %d rejected\n",
		stats.Lines, report.Versions, report.LoadSeconds, report.LoadRate, stats.Rejected)
	if stats.Rejected > 0 {
		return fmt.Errorf("the import rejected %d generated resources, first: %s", stats.Rejected, firstReject)
	}
	return os.Remove(path)
}

// world is what the scenarios pick from: stored plan ids, their patients'
// ids and NHS numbers.
type world struct {
	plans    []string
	patients []string
	nhs      []string
}

func sampleWorld(ctx context.Context, svc *service.Service) (*world, error) {
	ctx = auth.NewContext(ctx, demoLoader)
	w := &world{}
	plans, err := svc.Find(ctx, "CarePlan", "status=active", 1000)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, v := range plans {
		w.plans = append(w.plans, v.ID)
		plan, err := resource.Parse(v.JSON)
		if err != nil {
			return nil, err
		}
		subject, _ := plan["subject"].(map[string]any)
		ref, _ := subject["reference"].(string)
		r := resource.ParseReference(ref)
		if r.Type != "Patient" || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		pv, err := svc.Read(ctx, "Patient", r.ID)
		if err != nil {
			continue // not one the loader may see
		}
		res, err := resource.Parse(pv.JSON)
		if err != nil {
			return nil, err
		}
		w.patients = append(w.patients, r.ID)
		for _, id := range asAnyList(res["identifier"]) {
			im, _ := id.(map[string]any)
			if im["system"] == profiles.SystemNHSNumber {
				w.nhs = append(w.nhs, im["value"].(string))
			}
		}
	}
	if len(w.plans) == 0 || len(w.nhs) == 0 {
		return nil, errors.New("no active plans to benchmark with: load more patients")
	}
	return w, nil
}

func asAnyList(v any) []any { l, _ := v.([]any); return l }

// benchScenarios are the interactions urgent care and GP systems make.
func benchScenarios(base, ceiling, bearer string, w *world) []loadgen.Scenario {
	// Each worker reads its responses into a buffer of its own, reused: the
	// generator shares the server's cores, and reading every body into a
	// fresh slice cost it a third of its CPU and much of the GC.
	var bufs sync.Map // worker -> *bytes.Buffer
	do := func(ctx context.Context, c *http.Client, wk int, method, u string, body []byte, hdr map[string]string, want int) (*http.Response, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Authorization", bearer)
		req.Header.Set("Accept", "application/fhir+json")
		if body != nil {
			req.Header.Set("Content-Type", "application/fhir+json")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, _ := bufs.LoadOrStore(wk, new(bytes.Buffer))
		buf := b.(*bytes.Buffer)
		buf.Reset()
		if _, err := buf.ReadFrom(resp.Body); err != nil {
			return nil, nil, err
		}
		data := buf.Bytes() // valid until the worker's next request
		if resp.StatusCode != want {
			return resp, data, fmt.Errorf("%s %s: %d %.200s", method, u, resp.StatusCode, data)
		}
		return resp, data, nil
	}
	pick := func(list []string, worker, n int) string { return list[(worker*7919+n)%len(list)] }
	var txCounter atomic.Int64
	return []loadgen.Scenario{
		{Name: ceilingScenario, Do: func(ctx context.Context, c *http.Client, wk, n int) error {
			_, _, err := do(ctx, c, wk, http.MethodGet, ceiling+"/CarePlan/"+pick(w.plans, wk, n), nil, nil, 200)
			return err
		}},
		{Name: "GET metadata", Do: func(ctx context.Context, c *http.Client, wk, _ int) error {
			_, _, err := do(ctx, c, wk, http.MethodGet, base+"/metadata", nil, nil, 200)
			return err
		}},
		{Name: "read a plan by id", Do: func(ctx context.Context, c *http.Client, wk, n int) error {
			_, _, err := do(ctx, c, wk, http.MethodGet, base+"/CarePlan/"+pick(w.plans, wk, n), nil, nil, 200)
			return err
		}},
		{Name: "urgent query by NHS number", Do: func(ctx context.Context, c *http.Client, wk, n int) error {
			q := url.Values{"subject:identifier": {profiles.SystemNHSNumber + "|" + pick(w.nhs, wk, n)}, "status": {"active"},
				"_include": {"CarePlan:subject", "CarePlan:goal"}, "_revinclude": {"Provenance:target"}}
			_, body, err := do(ctx, c, wk, http.MethodGet, base+"/CarePlan?"+q.Encode(), nil, nil, 200)
			if err == nil && !bytes.Contains(body, []byte(`"CarePlan"`)) {
				return errors.New("urgent query found no plan")
			}
			return err
		}},
		{Name: "Patient by NHS number", Do: func(ctx context.Context, c *http.Client, wk, n int) error {
			q := url.Values{"identifier": {profiles.SystemNHSNumber + "|" + pick(w.nhs, wk, n)}}
			_, body, err := do(ctx, c, wk, http.MethodGet, base+"/Patient?"+q.Encode(), nil, nil, 200)
			if err == nil && !bytes.Contains(body, []byte(`"Patient"`)) {
				return errors.New("no patient found by NHS number")
			}
			return err
		}},
		{Name: "Patient/$everything", Do: func(ctx context.Context, c *http.Client, wk, n int) error {
			_, _, err := do(ctx, c, wk, http.MethodGet, base+"/Patient/"+pick(w.patients, wk, n)+"/$everything?_count=50", nil, nil, 200)
			return err
		}},
		{Name: "new plan version (GET+PUT If-Match)", Do: func(ctx context.Context, c *http.Client, wk, n int) error {
			// Each worker keeps to its own plans, so If-Match races are
			// between requests that really compete.
			id := ownPlan(w.plans, wk, n)
			resp, body, err := do(ctx, c, wk, http.MethodGet, base+"/CarePlan/"+id, nil, nil, 200)
			if err != nil {
				return err
			}
			plan, err := resource.Parse(body)
			if err != nil {
				return err
			}
			plan["description"] = fmt.Sprintf("Reviewed (benchmark %d/%d)", wk, n)
			_, _, err = do(ctx, c, wk, http.MethodPut, base+"/CarePlan/"+id, resource.Marshal(plan),
				map[string]string{"If-Match": resp.Header.Get("ETag"), "Prefer": "return=minimal"}, 200)
			return err
		}},
		{Name: "transaction: a whole new plan", Do: func(ctx context.Context, c *http.Client, wk, _ int) error {
			_, _, err := do(ctx, c, wk, http.MethodPost, base, newPlanBundle(txCounter.Add(1)), map[string]string{"Prefer": "return=minimal"}, 200)
			return err
		}},
	}
}

// benchNHSNumber returns a well-formed NHS number in the 998 range (the
// generator uses 999), unique for n.
func benchNHSNumber(n int64) string {
	for ; ; n++ {
		nine := fmt.Sprintf("998%06d", n%1_000_000)
		if d := profiles.NHSCheckDigit(nine); d >= 0 && d <= 9 {
			return nine + strconv.Itoa(d)
		}
	}
}

// newPlanBundle is a transaction holding a new patient with consent,
// background, prognosis, CPR decision and an active plan.
func newPlanBundle(n int64) []byte {
	ref := func(i int) map[string]any {
		return map[string]any{"reference": fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", i)}
	}
	cc := func(system, code, display string) map[string]any {
		return map[string]any{"coding": []any{map[string]any{"system": system, "code": code, "display": display}}}
	}
	entry := func(i int, res map[string]any) any {
		return map[string]any{"fullUrl": ref(i)["reference"], "resource": res,
			"request": map[string]any{"method": "POST", "url": res["resourceType"]}}
	}
	const sct = "http://snomed.info/sct"
	b := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		entry(1, map[string]any{"resourceType": "Patient", "gender": "female", "birthDate": "1938-05-17",
			"identifier": []any{map[string]any{"system": profiles.SystemNHSNumber, "value": benchNHSNumber(n)}},
			"name":       []any{map[string]any{"family": "Bench", "given": []any{"Test"}}}}),
		entry(2, map[string]any{"resourceType": "Consent", "status": "active", "patient": ref(1), "dateTime": "2026-10-01T10:00:00Z",
			"scope":      cc("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy", "Privacy Consent"),
			"category":   []any{cc(sct, profiles.CodeConsentGiven, "Consent given for sharing end of life care coordination record")},
			"policyRule": cc("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", "opt-in"),
			"provision":  map[string]any{"type": "permit"}}),
		entry(3, map[string]any{"resourceType": "Condition", "subject": ref(1),
			"code": cc(sct, "363358000", "Malignant tumor of lung")}),
		entry(4, map[string]any{"resourceType": "ClinicalImpression", "status": "completed", "subject": ref(1),
			"prognosisCodeableConcept": []any{cc(sct, "968211000000101", "Last months of life")}}),
		entry(5, map[string]any{"resourceType": "Observation", "status": "final", "subject": ref(1),
			"code":                 cc(sct, profiles.CodeResuscitationStatus, "Resuscitation status"),
			"valueCodeableConcept": cc(sct, profiles.CodeNotForCPR, "Not for attempted cardiopulmonary resuscitation")}),
		entry(6, map[string]any{"resourceType": "CarePlan", "status": "active", "intent": "plan", "subject": ref(1),
			"category":       []any{cc(sct, profiles.CodeEndOfLifeCarePlan, "End of life care plan")},
			"period":         map[string]any{"start": "2026-10-01"},
			"addresses":      []any{ref(3)},
			"supportingInfo": []any{ref(4), ref(5), ref(2)},
			"activity":       []any{map[string]any{"detail": map[string]any{"status": "not-started", "description": "Keep comfortable at home; call the district nurses."}}}}),
	}}
	return resource.Marshal(b)
}

// ceilingShares relates every result to the ceiling's at the same
// concurrency: a capacity (a run back to back) as a share of the ceiling's,
// and each paced run's p99 beside the ceiling's paced at the same fraction
// of its capacity. A paced run follows its scenario's run back to back, so
// its fraction is its offered rate over that run's req/s.
func ceilingShares(results []loadgen.Result) []ceilingShare {
	type key struct {
		clients  int
		fraction float64
	}
	fractionOf := func(paced, capacity loadgen.Result) float64 {
		return math.Round(100*paced.Rate/capacity.RPS) / 100
	}
	ceiling := map[int]float64{}
	ceilingP99 := map[key]time.Duration{}
	var last loadgen.Result
	for _, r := range results {
		if r.Scenario != ceilingScenario {
			continue
		}
		if r.Rate == 0 {
			ceiling[r.Clients], last = r.RPS, r
		} else if last.RPS > 0 && last.Clients == r.Clients {
			ceilingP99[key{r.Clients, fractionOf(r, last)}] = r.P99
		}
	}
	var out []ceilingShare
	var prev loadgen.Result
	for _, r := range results {
		if r.Scenario == ceilingScenario {
			continue
		}
		c := ceiling[r.Clients]
		if r.Rate == 0 {
			prev = r
			if c > 0 {
				out = append(out, ceilingShare{Scenario: r.Scenario, Clients: r.Clients, Share: r.RPS / c})
			}
			continue
		}
		// A paced run's req/s is what it was asked for, not a capacity:
		// it adds its p99 to the share of the run it follows.
		n := len(out)
		if n > 0 && prev.RPS > 0 && out[n-1].Scenario == r.Scenario && out[n-1].Clients == r.Clients {
			f := fractionOf(r, prev)
			out[n-1].Paced = append(out[n-1].Paced, pacedP99s{Fraction: f, P99: r.P99, CeilingP99: ceilingP99[key{r.Clients, f}]})
		}
	}
	return out
}

// startCeiling serves, on a port of its own, the bytes and content type
// the server answers a read of plan id with, from a plain net/http handler:
// the most this machine's HTTP stack and the load generator can do with
// that response, which every figure of the bench is a share of.
func startCeiling(ctx context.Context, base, bearer, id string) (*ceilingServer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/CarePlan/"+id, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", bearer)
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading plan %s for the ceiling: %d %.200s", id, resp.StatusCode, body)
	}
	ctype, etag := resp.Header.Get("Content-Type"), resp.Header.Get("ETag")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("ETag", etag)
		w.Write(body)
	})}
	go hs.Serve(ln)
	return &ceilingServer{URL: "http://" + ln.Addr().String(), srv: hs}, nil
}

// ceilingServer is the static-bytes server of the bench.
type ceilingServer struct {
	URL string
	srv *http.Server
}

func (c *ceilingServer) Close() error { return c.srv.Close() }

// sqliteBytes is the size of the SQLite store at db: both files and their
// write-ahead logs.
func sqliteBytes(db string) int64 {
	return fileSizes(db, db+"-wal", auditStorePath(db), auditStorePath(db)+"-wal")
}

// printSpace prints the largest tables and indexes of the SQLite file at
// db, per patient: where the bytes of the database go.
func printSpace(ctx context.Context, db string, patients int, stdout io.Writer) error {
	st, err := sqlite.Open(db)
	if err != nil {
		return err
	}
	defer st.Close()
	space, err := st.Space(ctx)
	if err != nil {
		return err
	}
	for _, o := range space[:min(len(space), 10)] {
		fmt.Fprintf(stdout, "  %-24s %7.1f MB %6.1f KB a patient %9d rows\n",
			o.Name, float64(o.Bytes)/1e6, float64(o.Bytes)/1e3/float64(max(patients, 1)), o.Rows)
	}
	return nil
}

// auditFigures notes the audit file's size and how many AuditEvents it
// holds once the journal is drained: the storage an audited request costs.
func auditFigures(ctx context.Context, srv *server, db string, report *benchReport, stdout io.Writer) error {
	if _, err := srv.audit.Drain(ctx); err != nil {
		return err
	}
	res, err := srv.store.Search(ctx, store.Query{Types: []string{"AuditEvent"}, Total: store.TotalAccurate})
	if err != nil {
		return err
	}
	report.AuditEvents = res.Total
	report.AuditBytes = fileSizes(auditStorePath(db), auditStorePath(db)+"-wal")
	fmt.Fprintf(stdout, "audit: %.1f MB for %d AuditEvents, %.2f KB each (the file and its WAL)\n",
		float64(report.AuditBytes)/1e6, report.AuditEvents, float64(report.AuditBytes)/1e3/float64(max(report.AuditEvents, 1)))
	return nil
}

func fileSizes(paths ...string) int64 {
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// peakRSS reads the process's high-water resident set size (Linux).
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// ownPlan picks plan n of those that belong to worker wk alone (indexes
// congruent to wk modulo min(64, len(plans))), so concurrent updates do not
// race each other unless there are more workers than plans.
func ownPlan(plans []string, wk, n int) string {
	m := min(64, len(plans))
	r := wk % m
	per := (len(plans) - r + m - 1) / m
	return plans[r+m*(n%per)]
}

// benchLoaded reports whether the store spec names already holds a
// register (a SQLite file that exists, a PostgreSQL database with a
// resource).
func benchLoaded(ctx context.Context, spec string, pool postgres.Options) (bool, error) {
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok {
		_, err := os.Stat(path)
		return err == nil, nil
	}
	st, err := openStore(ctx, spec, pool)
	if err != nil {
		return false, err
	}
	defer st.Close()
	r, err := st.Search(ctx, store.Query{Count: 1, Total: store.TotalNone})
	if err != nil {
		return false, err
	}
	return len(r.Versions) > 0, nil
}
