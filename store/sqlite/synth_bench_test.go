package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/store"
	"ucp/store/sqlite"
	"ucp/synth"
)

// The synthetic-world benchmark: 100k patients of ucp/synth, extracted by
// the real registry, as a server would store them. By default only the
// resources the urgent-care round touches and their neighbours are stored
// (Patient, CarePlan, Goal, Condition, Consent, Provenance): every generated
// resource (about 24 a patient, 2.4M) takes far longer to build than a
// benchmark run should; -synth.types=all stores them all.
var (
	synthPatients = flag.Int("synth.patients", benchPatients(), "patients in the synthetic benchmark database (default $BENCH_PATIENTS, else 10,000)")
	synthTypes    = flag.String("synth.types", "Patient,CarePlan,Goal,Condition,Consent,Provenance",
		"resource types to store (comma-separated; \"all\" for every generated resource)")
	synthExplain = flag.Bool("explain", false, "log EXPLAIN QUERY PLAN of the hot queries on the synthetic database")
)

// synthGenVersion changes whenever the way the file is built changes, so a
// stale cached file is never reused.
const synthGenVersion = "synth-v1"

const synthBatch = 2000 // changes per Write while building

// synthDB returns a store holding the synthetic world, cached in os.TempDir
// under a hash of the schema, the generator version and the size.
func synthDB(b *testing.B, reg *search.Registry) *sqlite.Store {
	b.Helper()
	h := sha256.New()
	fs.WalkDir(os.DirFS("migrations"), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			body, _ := os.ReadFile(filepath.Join("migrations", p))
			h.Write(body)
		}
		return nil
	})
	fmt.Fprintf(h, "%s/%d/%s", synthGenVersion, *synthPatients, *synthTypes)
	keep := map[string]bool{}
	for _, t := range strings.Split(*synthTypes, ",") {
		keep[t] = true
	}
	path := filepath.Join(os.TempDir(), "ucp-sqlite-synth-"+hex.EncodeToString(h.Sum(nil))[:16]+".db")
	if _, err := os.Stat(path); err == nil {
		return mustOpen(b, path)
	}
	tmp := path + ".building"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(tmp + suffix)
	}
	s := mustOpen(b, tmp)
	ctx := context.Background()
	start := time.Now()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []store.Change
	inBatch := map[string]bool{}
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := s.Write(ctx, batch); err != nil {
			return err
		}
		batch, inBatch = batch[:0], map[string]bool{}
		return nil
	}
	w := writerFunc(func(rec *synth.Record) error {
		for _, e := range rec.Entries {
			if e.Shared && !e.FirstUse {
				continue // written with the first record that used it
			}
			if !keep["all"] && !keep[e.Type] {
				continue
			}
			key := e.Type + "/" + e.ID
			if inBatch[key] || len(batch) >= synthBatch {
				if err := flush(); err != nil {
					return err
				}
			}
			n++
			lu := base.Add(time.Duration(n) * time.Millisecond)
			m := e.Resource
			meta, _ := m["meta"].(map[string]any)
			if meta == nil {
				meta = map[string]any{}
				m["meta"] = meta
			}
			meta["versionId"] = strconv.Itoa(e.Version)
			meta["lastUpdated"] = lu.Format(time.RFC3339Nano)
			// Round-trip so numbers are json.Number, as a server sees them.
			body := resource.Marshal(m)
			res, err := resource.Parse(body)
			if err != nil {
				return err
			}
			entries, patients, err := reg.Extract(res)
			if err != nil {
				return fmt.Errorf("extract %s: %w", key, err)
			}
			method := "POST"
			if e.Version > 1 {
				method = "PUT"
			}
			batch = append(batch, store.Change{Type: e.Type, ID: e.ID, VersionID: int64(e.Version), LastUpdated: lu,
				Method: method, JSON: body, PrevVersion: int64(e.Version - 1), Entries: entries, Patients: patients})
			inBatch[key] = true
		}
		return nil
	})
	if err := synth.Generate(synth.Options{Patients: *synthPatients, Seed: 1}, w); err != nil {
		b.Fatal(err)
	}
	if err := flush(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d patients, %d resource versions in %v", *synthPatients, n, time.Since(start))
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return mustOpen(b, path)
}

type writerFunc func(*synth.Record) error

func (f writerFunc) Write(r *synth.Record) error { return f(r) }

// nhsNumbers returns the NHS numbers of some stored patients, spread over
// the file (pages of Patients from several cursors).
func nhsNumbers(b *testing.B, s *sqlite.Store, reg *search.Registry) []string {
	ctx := context.Background()
	var out []string
	q := store.Query{Types: []string{"Patient"}, Count: 1000, Total: store.TotalNone}
	for page := 0; page < 100 && len(out) < 5000; page++ {
		res, err := s.Search(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		for i, v := range res.Versions {
			if i%20 != 0 {
				continue
			}
			m, err := resource.Parse(v.JSON)
			if err != nil {
				b.Fatal(err)
			}
			for _, id := range asMaps(m["identifier"]) {
				if id["system"] == nhsSystem {
					out = append(out, id["value"].(string))
				}
			}
		}
		if res.Next == "" {
			break
		}
		q.Cursor = res.Next
	}
	if len(out) == 0 {
		b.Fatal("no NHS numbers in the synthetic database")
	}
	return out
}

func asMaps(v any) []map[string]any {
	l, _ := v.([]any)
	var out []map[string]any
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func refOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["reference"].(string)
	return s
}

// urgentRound runs the urgent-care query as the REST layer would: the
// search, then its _include=CarePlan:subject, _include=CarePlan:goal (a
// search by _id of the referenced ids) and _revinclude=Provenance:target (a
// search of Provenance?target=CarePlan/id,…). It returns the resources read.
func urgentRound(ctx context.Context, s store.Store, reg *search.Registry, nhs string) (int, error) {
	req, err := reg.Parse(context.Background(), "CarePlan", url.Values{
		"subject:identifier": {nhsSystem + "|" + nhs},
		"status":             {"active"},
	}, true)
	if err != nil {
		return 0, err
	}
	res, err := s.Search(ctx, req.Query)
	if err != nil {
		return 0, err
	}
	n := len(res.Versions)
	if n == 0 {
		return 0, nil
	}
	ids := map[string][]string{}
	var plans []string
	for _, v := range res.Versions {
		m, err := resource.Parse(v.JSON)
		if err != nil {
			return 0, err
		}
		plans = append(plans, "CarePlan/"+v.ID)
		refs := []string{refOf(m["subject"])}
		for _, g := range asMaps(m["goal"]) {
			refs = append(refs, refOf(g))
		}
		for _, r := range refs {
			if t, id, ok := strings.Cut(r, "/"); ok && !slices.Contains(ids[t], id) {
				ids[t] = append(ids[t], id)
			}
		}
	}
	var subs []*search.Request
	for _, t := range []string{"Patient", "Goal"} {
		if len(ids[t]) == 0 {
			continue
		}
		r, err := reg.Parse(context.Background(), t, url.Values{"_id": {strings.Join(ids[t], ",")}}, true)
		if err != nil {
			return 0, err
		}
		subs = append(subs, r)
	}
	r, err := reg.Parse(context.Background(), "Provenance", url.Values{"target": {strings.Join(plans, ",")}}, true)
	if err != nil {
		return 0, err
	}
	subs = append(subs, r)
	for _, r := range subs {
		r.Query.Total = store.TotalNone
		r.Query.Count = search.MaxCount
		inc, err := s.Search(ctx, r.Query)
		if err != nil {
			return 0, err
		}
		n += len(inc.Versions)
	}
	return n, nil
}

// BenchmarkSynth measures the urgent-care round and unselective pages on
// the synthetic world. The first run builds the database (minutes); later
// runs reuse the cached file. -explain logs the query plans.
func BenchmarkSynth(b *testing.B) {
	reg, err := search.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	s := synthDB(b, reg)
	defer s.Close()
	ctx := context.Background()
	nhs := nhsNumbers(b, s, reg)

	if *synthExplain {
		explainSynth(b, s, reg, nhs[0])
	}

	b.Run("urgent round", func(b *testing.B) {
		var durs []time.Duration
		found := 0
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			t0 := time.Now()
			n, err := urgentRound(ctx, s, reg, nhs[(i*7919)%len(nhs)])
			if err != nil {
				b.Fatal(err)
			}
			durs = append(durs, time.Since(t0))
			if n > 0 {
				found++
			}
			i++
		}
		slices.Sort(durs)
		b.ReportMetric(float64(durs[len(durs)/2].Microseconds()), "median-µs")
		b.ReportMetric(float64(durs[len(durs)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(found)/float64(i), "found/op")
	})
	for _, tc := range []struct {
		name  string
		total string
	}{{"status=draft page1 total=none", "none"}, {"status=draft page1 total=estimate", "estimate"}, {"status=draft page1 total=accurate", "accurate"}} {
		b.Run(tc.name, func(b *testing.B) {
			req, err := reg.Parse(context.Background(), "CarePlan", url.Values{"status": {"draft"}, "_total": {tc.total}}, true)
			if err != nil {
				b.Fatal(err)
			}
			var total int
			b.ReportAllocs()
			for b.Loop() {
				res, err := s.Search(ctx, req.Query)
				if err != nil {
					b.Fatal(err)
				}
				total = res.Total
			}
			b.ReportMetric(float64(total), "total")
		})
	}
}

func explainSynth(b *testing.B, s *sqlite.Store, reg *search.Registry, nhs string) {
	ctx := context.Background()
	for _, tc := range []struct {
		typ string
		v   url.Values
	}{
		{"CarePlan", url.Values{"subject:identifier": {nhsSystem + "|" + nhs}, "status": {"active"}}},
		{"Patient", url.Values{"_id": {"a,b"}}},
		{"Goal", url.Values{"_id": {"a,b"}}},
		{"Provenance", url.Values{"target": {"CarePlan/a,CarePlan/b"}}},
		{"CarePlan", url.Values{"status": {"draft"}}},
		{"CarePlan", url.Values{"status": {"draft"}, "_sort": {"-date"}}},
		{"CarePlan", url.Values{"_sort": {"-_lastUpdated"}}},
	} {
		req, err := reg.Parse(context.Background(), tc.typ, tc.v, true)
		if err != nil {
			b.Fatal(err)
		}
		plan, err := s.ExplainSearch(ctx, req.Query)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s?%s\n%s", tc.typ, tc.v.Encode(), plan)
	}
}

// benchPatients is the default size of the synthetic database: building
// 100k patients takes about 25 minutes here, too long for every make bench.
func benchPatients() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_PATIENTS")); err == nil && n > 0 {
		return n
	}
	return 10_000
}
