package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"ucp/auth/audit"
	"ucp/store"
	"ucp/store/sqlite"
)

var pruneT0 = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// pruneStore holds AuditEvents a0…a9, written a day apart from pruneT0,
// and a Patient as old as the oldest.
func pruneStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.OpenWith(filepath.Join(t.TempDir(), "ucp-audit.db"), sqlite.Options{CompressJSON: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for i := range 10 {
		id := fmt.Sprintf("a%d", i)
		at := pruneT0.Add(time.Duration(i) * 24 * time.Hour)
		body := fmt.Sprintf(`{"resourceType":"AuditEvent","id":%q,"meta":{"versionId":"1"},"recorded":%q}`, id, at.Format(time.RFC3339))
		if _, err := st.Write(ctx, []store.Change{{Type: "AuditEvent", ID: id, VersionID: 1, LastUpdated: at, Method: "POST", JSON: []byte(body),
			Entries: []store.Entry{{Param: "date", Type: store.Date, Low: at, High: at.Add(time.Second)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Write(ctx, []store.Change{{Type: "Patient", ID: "p", VersionID: 1, LastUpdated: pruneT0, Method: "POST",
		JSON: []byte(`{"resourceType":"Patient","id":"p"}`)}}); err != nil {
		t.Fatal(err)
	}
	return st
}

// archived is the ids of the AuditEvents in an archive, in order.
func archived(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".zst") {
		d, err := zstd.NewReader(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if data, err = d.DecodeAll(data, nil); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for line := range bytes.Lines(data) {
		var ev struct{ ResourceType, ID string }
		if err := json.Unmarshal(line, &ev); err != nil || ev.ResourceType != "AuditEvent" {
			t.Fatalf("archive line %q: %v", line, err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// left is the ids of the AuditEvents still stored.
func left(t *testing.T, st store.Store) []string {
	t.Helper()
	res, err := st.Search(context.Background(), store.Query{Types: []string{"AuditEvent"}, Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range res.Versions {
		ids = append(ids, v.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestPruneBefore(t *testing.T) {
	ctx := context.Background()
	before := pruneT0.Add(6 * 24 * time.Hour) // a0…a5 go
	for _, name := range []string{"archive.ndjson", "archive.ndjson.zst", ""} {
		t.Run("archive="+name, func(t *testing.T) {
			st := pruneStore(t)
			p := audit.Prune{Before: before, Batch: 4}
			if name != "" {
				p.Archive = filepath.Join(t.TempDir(), name)
			}
			done, err := audit.PruneBefore(ctx, st, p)
			if err != nil {
				t.Fatal(err)
			}
			want := audit.Pruned{Archived: 6, Removed: 6}
			if name == "" {
				want.Archived = 0
			}
			if diff := cmp.Diff(want, done); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"a6", "a7", "a8", "a9"}, left(t, st)); diff != "" {
				t.Errorf("left in the store (-want +got):\n%s", diff)
			}
			if _, err := st.Read(ctx, "AuditEvent", "a0"); store.KindOf(err) != store.NotFound {
				t.Errorf("a0 after the prune: %v, want NotFound (every version gone)", err)
			}
			if _, err := st.Read(ctx, "Patient", "p"); err != nil {
				t.Errorf("the prune removed another type: %v", err)
			}
			if name != "" {
				if diff := cmp.Diff([]string{"a0", "a1", "a2", "a3", "a4", "a5"}, archived(t, p.Archive)); diff != "" {
					t.Errorf("archive (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestPruneResumes: a run interrupted after archiving a batch, in the
// middle of writing it (a torn line), before removing it, is run again:
// every AuditEvent ends in the archive exactly once and leaves the store.
func TestPruneResumes(t *testing.T) {
	ctx := context.Background()
	st := pruneStore(t)
	path := filepath.Join(t.TempDir(), "archive.ndjson")
	var prefix bytes.Buffer
	for _, id := range []string{"a0", "a1"} {
		v, err := st.Read(ctx, "AuditEvent", id)
		if err != nil {
			t.Fatal(err)
		}
		prefix.Write(v.JSON)
		prefix.WriteByte('\n')
	}
	prefix.WriteString(`{"resourceType":"AuditEvent","id":"a2","me`) // torn
	if err := os.WriteFile(path, prefix.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	done, err := audit.PruneBefore(ctx, st, audit.Prune{Before: pruneT0.Add(5 * 24 * time.Hour), Archive: path, Batch: 3})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(audit.Pruned{Archived: 3, Removed: 5}, done); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a0", "a1", "a2", "a3", "a4"}, archived(t, path)); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a5", "a6", "a7", "a8", "a9"}, left(t, st)); diff != "" {
		t.Errorf("left in the store (-want +got):\n%s", diff)
	}
}

func TestPruneRefusesWhatIsNotAnArchive(t *testing.T) {
	st := pruneStore(t)
	path := filepath.Join(t.TempDir(), "notes.ndjson")
	if err := os.WriteFile(path, []byte("{\"resourceType\":\"Patient\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := audit.PruneBefore(context.Background(), st, audit.Prune{Before: pruneT0.Add(48 * time.Hour), Archive: path})
	if err == nil || !strings.Contains(err.Error(), "is it an archive") {
		t.Errorf("PruneBefore into a file that is not an archive: %v", err)
	}
	if diff := cmp.Diff(10, len(left(t, st))); diff != "" {
		t.Errorf("AuditEvents left (-want +got):\n%s", diff)
	}
}
