package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"ucp/store"
	"ucp/store/postgres"
	"ucp/store/storetest"
)

// database returns a new database of the package's throwaway cluster,
// which TestMain (main_test.go) starts.
func database(t *testing.T) string { return (*postgres.Cluster).Database(t) }

func mustOpen(tb testing.TB, conn string) *postgres.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, conn, postgres.Options{})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return mustOpen(t, database(t))
	})
}

func TestReopenDurableAndConcurrentMigrations(t *testing.T) {
	conn := database(t)
	ctx := context.Background()
	// Nodes starting together: the advisory lock makes them take turns,
	// and each finds the schema it needs.
	stores := make(chan *postgres.Store, 4)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := postgres.Open(ctx, conn, postgres.Options{MaxConns: 2})
			if err != nil {
				errs <- err
				return
			}
			stores <- s
		}()
	}
	for range 4 {
		select {
		case err := <-errs:
			t.Fatalf("concurrent Open: %v", err)
		case s := <-stores:
			defer s.Close()
		}
	}
	s := mustOpen(t, conn)
	lu := time.Date(2024, 6, 1, 12, 0, 0, 123456000, time.UTC)
	body := []byte(`{"resourceType":"Patient","id":"p1","meta":{"versionId":"1"},"name":[{"text":"Zoë"}]}`)
	if _, err := s.Write(ctx, []store.Change{{Type: "Patient", ID: "p1", VersionID: 1, LastUpdated: lu, Method: "POST", JSON: body,
		Entries: []store.Entry{{Param: "name", Type: store.String, Norm: "zoe", Exact: "Zoë"}}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range 2 { // reopening runs the migrations again: they must be no-ops
		s = mustOpen(t, conn)
		v, err := s.Read(ctx, "Patient", "p1")
		if err != nil || string(v.JSON) != string(body) || !v.LastUpdated.Equal(lu) {
			t.Fatalf("after reopen: %+v, %v", v, err)
		}
		res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10,
			Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "zo"}}}}})
		if err != nil || len(res.Versions) != 1 {
			t.Fatalf("search after reopen: %+v, %v", res, err)
		}
		s.Close()
	}
}

func TestOpenRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		conn string
		opts postgres.Options
		want store.Kind
	}{
		{"not a connection string", "postgres://ucp:s3cret@host:notaport/db", postgres.Options{}, store.Invalid},
		{"min above max", "host=/nonexistent dbname=x", postgres.Options{MaxConns: 2, MinConns: 3}, store.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := postgres.Open(ctx, tt.conn, tt.opts)
			if got := store.KindOf(err); got != tt.want {
				t.Fatalf("Open = %v (kind %v), want kind %v", err, got, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// A value PostgreSQL's text cannot hold (a NUL) is the caller's mistake,
// refused as Invalid, and changes nothing.
func TestTextItCannotHoldIsInvalid(t *testing.T) {
	s := mustOpen(t, database(t))
	defer s.Close()
	ctx := context.Background()
	c := store.Change{Type: "Patient", ID: "p1", VersionID: 1, LastUpdated: time.Now(), Method: "POST", JSON: []byte(`{}`),
		Entries: []store.Entry{{Param: "name", Type: store.String, Norm: "a\x00b", Exact: "a\x00b"}}}
	if _, err := s.Write(ctx, []store.Change{c}); store.KindOf(err) != store.Invalid {
		t.Fatalf("Write = %v, want Invalid", err)
	}
	if _, err := s.Read(ctx, "Patient", "p1"); store.KindOf(err) != store.NotFound {
		t.Fatalf("Read after the refused write = %v, want NotFound", err)
	}
	q := store.Query{Types: []string{"Patient"}, Count: 1, Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: "a\x00"}}}}}
	if _, err := s.Search(ctx, q); store.KindOf(err) != store.Invalid {
		t.Fatalf("Search = %v, want Invalid", err)
	}
}
