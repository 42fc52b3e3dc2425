package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"ucp/store"
	"ucp/store/sqlite"
)

const (
	benchN     = 100_000 // CarePlans in the read benchmarks
	benchBatch = 1000    // changes per Write while building
	nhsSystem  = "https://fhir.nhs.uk/Id/nhs-number"
)

func benchPlan(i int) store.Change {
	id := fmt.Sprintf("cp%06d", i)
	nhs := fmt.Sprintf("9%09d", i/2) // two plans per patient
	status := []string{"active", "draft", "revoked", "completed"}[i%4]
	lu := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return store.Change{
		Type: "CarePlan", ID: id, VersionID: 1, LastUpdated: lu, Method: "POST",
		JSON: fmt.Appendf(nil, `{"resourceType":"CarePlan","id":%q,"meta":{"versionId":"1","lastUpdated":%q},"status":%q,"intent":"plan","subject":{"reference":"Patient/p%d","identifier":{"system":%q,"value":%q}},"title":"Urgent care plan"}`,
			id, lu.Format(time.RFC3339), status, i/2, nhsSystem, nhs),
		Entries: []store.Entry{
			{Param: "subject", Type: store.Reference, RefType: "Patient", RefID: fmt.Sprintf("p%d", i/2), System: nhsSystem, Code: nhs},
			{Param: "patient", Type: store.Reference, RefType: "Patient", RefID: fmt.Sprintf("p%d", i/2), System: nhsSystem, Code: nhs},
			{Param: "status", Type: store.Token, System: "http://hl7.org/fhir/request-status", Code: status},
			{Param: "intent", Type: store.Token, System: "http://hl7.org/fhir/request-intent", Code: "plan"},
			{Param: "category", Type: store.Token, System: "http://snomed.info/sct", Code: "736373009", Text: "End of life care plan"},
			{Param: "date", Type: store.Date, Low: lu, High: lu.Add(time.Second)},
		},
		Patients: []string{fmt.Sprintf("p%d", i/2)},
	}
}

// benchDB returns a store holding benchN CarePlans. The file is cached in
// os.TempDir under a hash of the schema and this generator, so only the
// first run pays for building it.
func benchDB(b *testing.B) *sqlite.Store {
	b.Helper()
	h := sha256.New()
	fs.WalkDir(os.DirFS("migrations"), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			body, _ := os.ReadFile(filepath.Join("migrations", p))
			h.Write(body)
		}
		return nil
	})
	fmt.Fprintf(h, "%d/%s", benchN, benchPlan(1).JSON)
	path := filepath.Join(os.TempDir(), "ucp-sqlite-bench-"+hex.EncodeToString(h.Sum(nil))[:16]+".db")
	if _, err := os.Stat(path); err == nil {
		return mustOpen(b, path)
	}
	tmp := path + ".building"
	os.Remove(tmp)
	s := mustOpen(b, tmp)
	start := time.Now()
	for i := 0; i < benchN; i += benchBatch {
		changes := make([]store.Change, 0, benchBatch)
		for j := i; j < i+benchBatch && j < benchN; j++ {
			changes = append(changes, benchPlan(j))
		}
		if _, err := s.Write(context.Background(), changes); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built %d resources in %v", benchN, time.Since(start))
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return mustOpen(b, path)
}

func BenchmarkCreate(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "ucp.db"))
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Write(ctx, []store.Change{benchPlan(i)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCreateParallel creates from 8 goroutines at once, as 8 clients
// of the API do: with group commit, many of their transactions share an
// fsync.
func BenchmarkCreateParallel(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "ucp.db"))
	defer s.Close()
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(8 / max(1, runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Write(ctx, []store.Change{benchPlan(int(next.Add(1)))}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCreateBatch1000(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "ucp.db"))
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		changes := make([]store.Change, benchBatch)
		for j := range changes {
			changes[j] = benchPlan(i)
			i++
		}
		if _, err := s.Write(ctx, changes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/resource")
}

func BenchmarkRead(b *testing.B) {
	s := benchDB(b)
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Read(ctx, "CarePlan", fmt.Sprintf("cp%06d", (i*7919)%benchN)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTokenSearch is a plain token search: Patient identifier-like
// lookup of one plan's category+status is too broad, so it looks up the
// plans of one NHS number's subject by :identifier (the hot query) and, as
// a second case, one status value with _count=20.
func BenchmarkTokenSearch(b *testing.B) {
	s := benchDB(b)
	defer s.Close()
	ctx := context.Background()
	cases := []struct {
		name string
		q    func(i int) store.Query
		want int
	}{
		{"hot subject:identifier&status", func(i int) store.Query {
			return store.Query{Types: []string{"CarePlan"}, Count: 20, Where: []store.Clause{
				{Any: []store.Cond{{Param: "subject", Type: store.Reference, Identifier: true, System: nhsSystem, SystemSet: true, Code: fmt.Sprintf("9%09d", (i*7919)%(benchN/2)*2/2)}}},
				{Any: []store.Cond{{Param: "status", Type: store.Token, Code: "active"}}},
			}}
		}, -1},
		{"token status count20 total none", func(int) store.Query {
			return store.Query{Types: []string{"CarePlan"}, Count: 20, Total: store.TotalNone, Where: []store.Clause{
				{Any: []store.Cond{{Param: "status", Type: store.Token, System: "http://hl7.org/fhir/request-status", SystemSet: true, Code: "draft"}}}}}
		}, 20},
		{"chain subject:Patient.identifier", func(i int) store.Query {
			return store.Query{Types: []string{"CarePlan"}, Count: 20, Where: []store.Clause{
				{Any: []store.Cond{{Param: "patient", Type: store.Reference, Identifier: true, System: nhsSystem, SystemSet: true, Code: fmt.Sprintf("9%09d", (i*7919)%(benchN/2))}}}}}
		}, 2},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				res, err := s.Search(ctx, c.q(i))
				if err != nil {
					b.Fatal(err)
				}
				if c.want >= 0 && len(res.Versions) != c.want {
					b.Fatalf("%d results, want %d", len(res.Versions), c.want)
				}
				i++
			}
		})
	}
}
