package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ucp/auth/audit"
	"ucp/fhir/resource"
	"ucp/fhir/service"
	"ucp/store"
)

// countingStore counts the store writes the drainer makes.
type countingStore struct {
	store.Store
	writes atomic.Int64
}

func (c *countingStore) Write(ctx context.Context, changes []store.Change) ([]store.Version, error) {
	c.writes.Add(1)
	return c.Store.Write(ctx, changes)
}

// The background drainer stores every journaled event without a Close, and
// gathers concurrent requests' events into shared store transactions.
func TestDrainerBatchesConcurrentEvents(t *testing.T) {
	st, reg := mustSetup(t)
	cs := &countingStore{Store: st}
	s, err := audit.Open(t.TempDir(), cs, reg, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				s.Record(reqCtx(clinician()), service.AuditRecord{Access: service.Access{Interaction: "read", Type: "Patient", ID: "p1"},
					Status: 200, Time: time.Now()})
			}
		}()
	}
	wg.Wait()
	// No Close: the drainer alone must get there (the deadline only stops
	// a broken drainer from hanging the test).
	for deadline := time.Now().Add(30 * time.Second); s.Pending() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("drainer left %d events in the journal", s.Pending())
		}
	}
	if got := mustSearch(t, st, reg, "AuditEvent", "patient=Patient/p1"); len(got) != workers*each {
		t.Fatalf("AuditEvent?patient=Patient/p1: got %d, want %d", len(got), workers*each)
	}
	if w := cs.writes.Load(); w >= workers*each {
		t.Errorf("%d store writes for %d events: the drainer does not batch", w, workers*each)
	}
}

// AuditEvent ids grow with time, so that the events of a drain append to
// the id indexes instead of landing on a random page each.
func TestEventIDsAreTimeOrdered(t *testing.T) {
	prev := ""
	for i := range 1000 {
		id := audit.Build(&audit.Event{Interaction: "read", Type: "Patient", ID: "p1", Time: time.Now()}).ID
		if !resource.ValidID(id) {
			t.Fatalf("invalid id %q", id)
		}
		if id <= prev {
			t.Fatalf("event %d: id %s does not follow %s", i, id, prev)
		}
		prev = id
	}
}

// The drained offset is not fsynced, so a power cut may leave its file
// empty or garbled: Open then replays the whole journal, and every event
// is still stored exactly once.
func TestUnreadableOffsetReplaysEverything(t *testing.T) {
	for _, tc := range []struct{ name, offset string }{
		{"empty", ""},
		{"garbled", "12\x00\x00"},
		{"negative", "-5\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, reg := mustSetup(t)
			dir := t.TempDir()
			s, err := audit.Open(dir, st, reg, audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for range 7 {
				s.Record(reqCtx(clinician()), service.AuditRecord{Access: service.Access{Interaction: "read", Type: "Patient", ID: "p1"}, Status: 200, Time: time.Now()})
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "audit.offset"), []byte(tc.offset), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err = audit.Open(dir, st, reg, audit.Options{})
			if err != nil {
				t.Fatalf("Open with an unreadable offset: %v", err)
			}
			s.Record(reqCtx(clinician()), service.AuditRecord{Access: service.Access{Interaction: "read", Type: "Patient", ID: "p1"}, Status: 200, Time: time.Now()})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got := mustSearch(t, st, reg, "AuditEvent", "patient=Patient/p1")
			ids := map[string]bool{}
			for _, ev := range got {
				ids[resource.ID(ev)] = true
			}
			if len(got) != 8 || len(ids) != 8 {
				t.Errorf("got %d AuditEvents (%d distinct), want 8", len(got), len(ids))
			}
		})
	}
}
