package migrate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/resource"
	"ucp/fhir/search"
	"ucp/migrate"
	"ucp/store"
	"ucp/store/postgres"
	"ucp/store/postgres/pgtest"
	"ucp/store/sqlite"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &cluster)) }

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ucp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openPostgres(t *testing.T) store.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), cluster.Database(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// seed writes, through the contract, a small register with history: plans
// in several versions, a deletion, a resource deleted and created again,
// and AuditEvents; every version at its own microsecond.
func seed(t *testing.T, st store.Store, reg *search.Registry) {
	t.Helper()
	ctx := context.Background()
	lu := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	write := func(typ, id string, v, prev int64, method, body string) {
		t.Helper()
		lu = lu.Add(time.Microsecond * 1001)
		c := store.Change{Type: typ, ID: id, VersionID: v, PrevVersion: prev, LastUpdated: lu, Method: method}
		if method == "DELETE" {
			c.Deleted = true
		} else {
			c.JSON = []byte(fmt.Sprintf(`{"resourceType":%q,"id":%q,"meta":{"versionId":"%d","lastUpdated":%q}%s}`, typ, id, v, lu.Format(time.RFC3339Nano), body))
			res, err := resource.Parse(c.JSON)
			if err != nil {
				t.Fatal(err)
			}
			if c.Entries, c.Patients, err = reg.Extract(res); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Write(ctx, []store.Change{c}); err != nil {
			t.Fatalf("seed %s/%s/%d: %v", typ, id, v, err)
		}
	}
	for i := range 7 {
		p := fmt.Sprintf("p%d", i)
		write("Patient", p, 1, 0, "PUT", `,"identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"943476591`+fmt.Sprint(i)+`"}],"name":[{"family":"Zoë"}]`)
		write("CarePlan", "cp"+p, 1, 0, "POST", `,"status":"draft","intent":"plan","subject":{"reference":"Patient/`+p+`"}`)
		write("CarePlan", "cp"+p, 2, 1, "PUT", `,"status":"active","intent":"plan","subject":{"reference":"Patient/`+p+`"}`)
		write("AuditEvent", "ae"+p, 1, 0, "POST", `,"recorded":"2026-01-02T03:04:05Z"`)
	}
	write("Patient", "p0", 2, 1, "DELETE", "")
	write("Patient", "p0", 3, 2, "PUT", `,"name":[{"family":"Back"}]`)
	write("CarePlan", "cpp1", 3, 2, "DELETE", "")
}

func TestCopyBothWaysResumable(t *testing.T) {
	reg, err := search.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := openSQLite(t)
	seed(t, src, reg)
	pg := openPostgres(t)

	// Interrupted after the first write (the context ends), then run
	// again: it finishes from where the target got to.
	cctx, cancel := context.WithCancel(ctx)
	n, err := migrate.Copy(cctx, src, pg, reg, migrate.Options{Batch: 5, Progress: func(int, int) { cancel() }})
	if err == nil || n != 5 {
		t.Fatalf("interrupted copy: %d versions, %v; want 5 and an error", n, err)
	}
	n, err = migrate.Copy(ctx, src, pg, reg, migrate.Options{Batch: 5})
	if err != nil || n != 28+3-5 {
		t.Fatalf("resumed copy: %d versions, %v; want %d", n, err, 28+3-5)
	}
	if n, err := migrate.Copy(ctx, src, pg, reg, migrate.Options{}); err != nil || n != 0 {
		t.Fatalf("copy of a finished copy: %d versions, %v; want 0", n, err)
	}
	back := openSQLite(t)
	if _, err := migrate.Copy(ctx, pg, back, reg, migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, pair := range []struct {
		name     string
		from, to store.Store
	}{{"sqlite to postgres", src, pg}, {"postgres to sqlite", pg, back}} {
		lines, err := migrate.Compare(ctx, pair.from, pair.to)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range lines {
			if !l.Match() {
				t.Errorf("%s: %s differs: %+v", pair.name, l.Type, l)
			}
			got = append(got, fmt.Sprintf("%s %d/%d", l.Type, l.Target.Resources, l.Target.Versions))
		}
		if diff := cmp.Diff([]string{"AuditEvent 7/7", "CarePlan 7/15", "Patient 7/9"}, got); diff != "" {
			t.Errorf("%s: types copied (-want +got):\n%s", pair.name, diff)
		}
	}
	// The copy searches like the source: its index was extracted again.
	q := store.Query{Types: []string{"CarePlan"}, Count: 10, Where: []store.Clause{{Any: []store.Cond{{Param: "status", Type: store.Token, Code: "active"}}}}}
	for name, st := range map[string]store.Store{"postgres": pg, "sqlite": back} {
		res, err := st.Search(ctx, q)
		if err != nil || len(res.Versions) != 6 {
			t.Errorf("%s: active plans: %d, %v; want 6", name, len(res.Versions), err)
		}
		if _, err := st.Read(ctx, "CarePlan", "cpp1"); store.KindOf(err) != store.Gone {
			t.Errorf("%s: the deleted plan: %v, want Gone", name, err)
		}
	}
}

func TestCopyRefusesAnotherRegister(t *testing.T) {
	reg, err := search.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src, other := openSQLite(t), openSQLite(t)
	seed(t, src, reg)
	seed(t, other, reg)
	// other moves on: its Patient/p1 is at a version src lacks.
	if _, err := other.Write(ctx, []store.Change{{Type: "Patient", ID: "p1", VersionID: 2, PrevVersion: 1, LastUpdated: time.Now(), Method: "DELETE", Deleted: true}}); err != nil {
		t.Fatal(err)
	}
	before, err := migrate.Sum(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Copy(ctx, src, other, reg, migrate.Options{}); err == nil || !strings.Contains(err.Error(), "Patient/p1 at version 2") {
		t.Fatalf("copy into another register: %v, want a refusal naming Patient/p1", err)
	}
	after, err := migrate.Sum(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("the refused copy changed the target (-before +after):\n%s", diff)
	}
}
