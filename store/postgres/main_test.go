package postgres

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"ucp/store"
	"ucp/store/postgres/pgtest"
)

// Cluster is the tests' throwaway cluster, shared by the package's
// internal and external tests.
var Cluster = func() **pgtest.Cluster { var c *pgtest.Cluster; return &c }()

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, Cluster)) }

// TestConditionalCreateWaitsForWriters pauses a write that creates a
// matching resource just before its commit, and checks that a conditional
// create meanwhile waits for it and then finds its resource: the check and
// the other writer's insert cannot interleave, whatever the timing.
func TestConditionalCreateWaitsForWriters(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, (*Cluster).Database(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ident := store.Entry{Param: "identifier", Type: store.Token, System: "nhs", Code: "9000000009"}
	cond := &store.Query{Types: []string{"Patient"}, Where: []store.Clause{{Any: []store.Cond{
		{Param: "identifier", Type: store.Token, System: "nhs", SystemSet: true, Code: "9000000009"}}}}}
	patient := func(id string) store.Change {
		return store.Change{Type: "Patient", ID: id, VersionID: 1, LastUpdated: time.Now(), Method: "POST",
			JSON: []byte(`{"resourceType":"Patient","id":"` + id + `"}`), Entries: []store.Entry{ident}}
	}

	// The first writer, by the store's own write path, stopped before
	// its commit.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	w := writer{ctx: ctx, tx: tx}
	first := patient("first")
	if err := w.lock(false); err != nil {
		t.Fatal(err)
	}
	cur, err := w.current([]store.Ref{{Type: "Patient", ID: "first"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.number(1); err != nil {
		t.Fatal(err)
	}
	if _, err := w.apply(&first, cur); err != nil {
		t.Fatal(err)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}

	second := patient("second")
	second.IfNoneMatch = cond
	done := make(chan error, 1)
	go func() {
		_, err := s.Write(ctx, []store.Change{second})
		done <- err
	}()
	// Wait until the conditional create waits on the write lock, or ends.
	waiting := false
	for !waiting {
		select {
		case err := <-done:
			t.Fatalf("the conditional create ended (%v) while a matching write was in progress: it must wait for it", err)
		default:
		}
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		waiting = n > 0
		time.Sleep(5 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	err = <-done
	var e *store.Error
	if !errors.As(err, &e) || e.Kind != store.Conflict || len(e.Matches) != 1 || e.Matches[0].ID != "first" {
		t.Fatalf("conditional create after the matching write = %v, want a Conflict naming Patient/first", err)
	}
	if _, err := s.Read(ctx, "Patient", "second"); store.KindOf(err) != store.NotFound || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Patient/second: %v, want it not written", err)
	}
}

// TestAnalyze checks that Analyze gives the planner statistics of every
// table (reltuples is -1 for a table never analyzed).
func TestAnalyze(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, (*Cluster).Database(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const never = `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.reltuples < 0`
	var before, after int
	if err := s.pool.QueryRow(ctx, never).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := s.Analyze(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.QueryRow(ctx, never).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if before == 0 || after != 0 {
		t.Errorf("tables never analyzed: %d before Analyze, %d after; want some, then none", before, after)
	}
}
