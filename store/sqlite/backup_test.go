package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ucp/store"
	"ucp/store/sqlite"
)

// TestBackupWhileWriting copies the database while writes go on, then
// checks the copy is a consistent store: every version of every resource
// readable, each resource's latest version present, nothing written before
// the backup began missing.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ucp.db")
	s := mustOpen(t, path)
	defer s.Close()
	ctx := context.Background()

	const resources = 8
	var mu sync.Mutex
	written := map[string]int64{} // id → last version committed
	write := func(id string, v int64) {
		body := fmt.Sprintf(`{"resourceType":"Patient","id":%q,"meta":{"versionId":"%d"},"name":[{"text":"v%d"}]}`, id, v, v)
		if _, err := s.Write(ctx, []store.Change{{Type: "Patient", ID: id, VersionID: v, PrevVersion: v - 1, LastUpdated: time.Now(), Method: "PUT", JSON: []byte(body),
			Entries: []store.Entry{{Param: "name", Type: store.String, Norm: fmt.Sprintf("v%d", v), Exact: fmt.Sprintf("v%d", v)}}}}); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		written[id] = v
		mu.Unlock()
	}
	for i := range resources {
		write(fmt.Sprintf("p%d", i), 1)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range resources {
		wg.Go(func() {
			id := fmt.Sprintf("p%d", i)
			for v := int64(2); ; v++ {
				select {
				case <-stop:
					return
				default:
				}
				write(id, v)
			}
		})
	}
	// Let the writers get going, then note what is committed before the
	// backup starts: the copy must hold at least that.
	for {
		mu.Lock()
		n := written["p0"]
		mu.Unlock()
		if n >= 5 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	before := map[string]int64{}
	for id, v := range written {
		before[id] = v
	}
	mu.Unlock()
	copyPath := filepath.Join(dir, "backup.db")
	err := sqlite.Backup(ctx, path, copyPath)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}

	c := mustOpen(t, copyPath)
	defer c.Close()
	for i := range resources {
		id := fmt.Sprintf("p%d", i)
		cur, err := c.Read(ctx, "Patient", id)
		if err != nil {
			t.Fatalf("copy: read %s: %v", id, err)
		}
		if cur.VersionID < before[id] || cur.VersionID > written[id] {
			t.Errorf("copy: %s at version %d, want between %d (before the backup) and %d", id, cur.VersionID, before[id], written[id])
		}
		for v := int64(1); v <= cur.VersionID; v++ {
			ver, err := c.VRead(ctx, "Patient", id, v)
			if err != nil {
				t.Fatalf("copy: vread %s/%d: %v", id, v, err)
			}
			var res struct{ Meta struct{ VersionID string } }
			if err := json.Unmarshal(ver.JSON, &res); err != nil || res.Meta.VersionID != fmt.Sprint(v) {
				t.Errorf("copy: %s/%d holds %s (%v)", id, v, ver.JSON, err)
			}
		}
		if _, err := c.VRead(ctx, "Patient", id, cur.VersionID+1); store.KindOf(err) != store.NotFound {
			t.Errorf("copy: %s has a version after its current one %d: %v", id, cur.VersionID, err)
		}
		// The index matches the current version.
		res, err := c.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10,
			Where: []store.Clause{{Any: []store.Cond{{Param: "name", Type: store.String, Value: fmt.Sprintf("v%d", cur.VersionID)}}}}})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, v := range res.Versions {
			found = found || v.ID == id
		}
		if !found {
			t.Errorf("copy: search for %s's current name v%d misses it", id, cur.VersionID)
		}
	}
}

func TestBackupRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ucp.db")
	s := mustOpen(t, path)
	defer s.Close()
	existing := filepath.Join(dir, "old-backup.db")
	if err := os.WriteFile(existing, []byte("an older backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{existing, path} {
		err := sqlite.Backup(context.Background(), path, to)
		if store.KindOf(err) != store.Conflict {
			t.Errorf("Backup to existing %s: %v, want a Conflict", to, err)
		}
	}
	if b, _ := os.ReadFile(existing); string(b) != "an older backup" {
		t.Errorf("the existing file was changed: %q", b)
	}
	if _, err := s.Read(context.Background(), "Patient", "x"); store.KindOf(err) != store.NotFound {
		t.Errorf("the database no longer reads after a refused backup onto it: %v", err)
	}
}
