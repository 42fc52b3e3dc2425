package sqlite_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"ucp/store"
	"ucp/store/sqlite"
)

// indexes lists the store file's index names.
func indexes(t *testing.T, s *sqlite.Store) []string {
	t.Helper()
	names, err := sqlite.IndexNames(s)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestDeferIndexes: with its search indexes set aside a store still answers
// searches correctly, and restoring (or, after a crash, reopening) brings
// every index back.
func TestDeferIndexes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ucp.db")
	s := mustOpen(t, path)
	all := indexes(t, s)
	restore, err := s.DeferIndexes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := indexes(t, s); len(got) >= len(all) || !slices.Contains(got, "resource_type_id") || slices.Contains(got, "idx_token_code") {
		t.Fatalf("deferred: %v (of %v)", got, all)
	}
	var changes []store.Change
	for i := range 40 {
		changes = append(changes, benchPlan(i))
	}
	if _, err := s.Write(ctx, changes); err != nil {
		t.Fatal(err)
	}
	q := store.Query{Types: []string{"CarePlan"}, Count: 100, Where: []store.Clause{{Any: []store.Cond{{Param: "status", Type: store.Token, Code: "draft"}}}}}
	before, err := s.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Versions) != 10 {
		t.Errorf("status=draft with deferred indexes: %d, want 10", len(before.Versions))
	}
	if err := restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := indexes(t, s); !slices.Equal(got, all) {
		t.Errorf("restored %v, want %v", got, all)
	}
	after, err := s.Search(ctx, q)
	if err != nil || len(after.Versions) != len(before.Versions) {
		t.Errorf("status=draft after restoring: %d %v, want %d", len(after.Versions), err, len(before.Versions))
	}

	// A load that never restores: the next Open does.
	if _, err := s.DeferIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path)
	defer s.Close()
	if got := indexes(t, s); !slices.Equal(got, all) {
		t.Errorf("after reopening %v, want %v", got, all)
	}
}
