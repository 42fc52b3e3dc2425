package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/store"
)

// TestSpace checks that Space accounts for every page of the file, once,
// and counts a table's rows and an index's entries.
func TestSpace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ucp.db")
	s := mustOpen(t, path)
	defer s.Close()
	lu := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 30 {
		id := fmt.Sprintf("p%d", i)
		if _, err := s.Write(ctx, []store.Change{{Type: "Patient", ID: id, VersionID: 1, LastUpdated: lu, Method: "POST",
			JSON:    []byte(`{"resourceType":"Patient","id":"` + id + `"}`),
			Entries: []store.Entry{{Param: "gender", Type: store.Token, Code: "female"}, {Param: "active", Type: store.Token, Code: "true"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pages, size int64
	if err := db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	var sum int64
	rows := map[string]int64{}
	for i, o := range got {
		sum += o.Bytes
		rows[o.Name] = o.Rows
		if i > 0 && got[i-1].Bytes < o.Bytes {
			t.Errorf("%s (%d bytes) after %s (%d bytes): want largest first", o.Name, o.Bytes, got[i-1].Name, got[i-1].Bytes)
		}
	}
	// dbstat lists the pages in use; the rest of the file is the free list.
	var free int64
	if err := db.QueryRow(`PRAGMA freelist_count`).Scan(&free); err != nil {
		t.Fatal(err)
	}
	if want := (pages - free) * size; sum != want {
		t.Errorf("Space sums to %d bytes, the file's pages in use are %d", sum, want)
	}
	want := map[string]int64{"resource": 30, "version": 30, "idx_token": 60, "idx_token_param_code": 60}
	for name := range want {
		if diff := cmp.Diff(want[name], rows[name]); diff != "" {
			t.Errorf("%s rows (-want +got):\n%s", name, diff)
		}
	}
}
