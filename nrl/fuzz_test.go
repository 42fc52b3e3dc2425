package nrl

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/resource"
	"ucp/outbox"
	"ucp/store"
)

// FuzzJobOf reads any stored Task as a job without panicking, and a job read
// is written back (Task) and read again unchanged: the publisher's state
// survives its own round trip.
func FuzzJobOf(f *testing.F) {
	j := &Job{Kind: KindPublish, Patient: "p1", NHSNumber: "9000000009", PlanID: "plan", PlanVersion: 3,
		Pointer: Build(PointerConfig{ODS: "X26", PracticeSetting: DefaultPracticeSetting, BaseURL: "https://ucp.example/fhir"}, PlanVersion{PlanID: "plan", Version: 3, NHSNumber: "9000000009", Type: "736373009", Composition: "c1"}),
		State:   outbox.State{Status: outbox.Requested, Authored: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC), Attempts: 2, Next: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), Error: "NRL answered 503"}}
	f.Add(mustJSON(f, j.Task()))
	f.Add([]byte(`{"resourceType":"Task","input":[{"type":{"text":"request"},"valueString":"{"}]}`))
	f.Add([]byte(`{"resourceType":"Task","extension":[{"url":"` + extAttempts + `","valueInteger":1e400}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := JobOf(&store.Version{Type: "Task", ID: "t1", VersionID: 1, JSON: b})
		if err != nil {
			return
		}
		again, err := JobOf(&store.Version{Type: "Task", ID: "t1", VersionID: 1, JSON: mustJSON(t, got.Task())})
		if err != nil {
			t.Fatalf("a job's own Task does not read back: %v", err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Errorf("round trip mismatch (-want +got):\n%s", diff)
		}
	})
}

// FuzzAnswerError reads any answer NRL may give as an error without
// panicking, keeping the status that decides retries.
func FuzzAnswerError(f *testing.F) {
	f.Add(400, []byte(`{"resourceType":"OperationOutcome","issue":[{"code":"invalid","details":{"coding":[{"code":"INVALID_NHS_NUMBER"}]},"diagnostics":"bad"}]}`))
	f.Add(503, []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		if e := answerError(status, b); e.Status != status {
			t.Errorf("status %d became %d", status, e.Status)
		}
	})
}

func TestBackoff(t *testing.T) {
	p, err := NewPublisher(PublisherConfig{Service: nopService{}, NRL: &Client{}, BaseURL: "x", BaseDelay: time.Second, MaxDelay: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{5, 5 * time.Second, 10 * time.Second}, // capped
		{40, 5 * time.Second, 10 * time.Second},
	} {
		for range 50 {
			if d := p.backoff(tc.attempt); d < tc.min || d > tc.max {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}

// nopService stands where backoff needs no service at all.
type nopService struct{ Service }

func mustJSON(tb testing.TB, m map[string]any) []byte {
	tb.Helper()
	return resource.Marshal(m)
}
