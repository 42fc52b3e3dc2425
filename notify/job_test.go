package notify

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/resource"
	"ucp/outbox"
	"ucp/store"
)

// TestStoredJobShape: a job Task as stored by earlier releases is read
// whole, and written back to the letter, so that jobs queued before an
// upgrade are still sent.
func TestStoredJobShape(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, stored string
		want         *Job
	}{
		{name: "retrying",
			stored: `{"resourceType":"Task","id":"t1","status":"in-progress","intent":"order",
				"code":{"coding":[{"system":"` + JobSystem + `","code":"plan-approved"}]},
				"for":{"reference":"Patient/p1"},"authoredOn":"2026-12-05T09:00:00Z",
				"input":[{"type":{"text":"to"},"valueString":"mailto:a@b.example"}],"focus":{"reference":"CarePlan/cp1"},
				"extension":[{"url":"` + extAttempts + `","valueInteger":2},{"url":"` + extNext + `","valueInstant":"2026-12-05T10:00:00Z"},
					{"url":"` + extLease + `","valueInstant":"2026-12-05T09:30:00.250000Z"}],
				"businessStatus":{"text":"retrying: connection refused"}}`,
			want: &Job{ID: "t1", Version: 4, Kind: KindPlanApproved, Patient: "p1", To: "mailto:a@b.example", Focus: "CarePlan/cp1",
				State: outbox.State{Status: outbox.InProgress, Authored: t0, Attempts: 2, Next: t0.Add(time.Hour),
					Lease: t0.Add(30*time.Minute + 250*time.Millisecond), Error: "connection refused"}}},
		{name: "failed",
			stored: `{"resourceType":"Task","id":"t1","status":"failed","intent":"order",
				"code":{"coding":[{"system":"` + JobSystem + `","code":"plan-requested"}]},
				"for":{"reference":"Patient/p1"},"authoredOn":"2026-12-05T09:00:00Z",
				"input":[{"type":{"text":"to"},"valueString":"Organization/F84012"}],
				"statusReason":{"text":"the practice Organization/F84012 is not on record"}}`,
			want: &Job{ID: "t1", Version: 4, Kind: KindPlanRequested, Patient: "p1", To: "Organization/F84012",
				State: outbox.State{Status: outbox.Failed, Authored: t0, Error: "the practice Organization/F84012 is not on record"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored, err := resource.Parse([]byte(tc.stored))
			if err != nil {
				t.Fatal(err)
			}
			got, err := JobOf(&store.Version{Type: "Task", ID: "t1", VersionID: 4, JSON: resource.Marshal(stored)})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("JobOf (-want +got):\n%s", d)
			}
			back, err := resource.Parse(resource.Marshal(got.Task()))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(stored, back); d != "" {
				t.Errorf("Task written back (-stored +written):\n%s", d)
			}
		})
	}
}
