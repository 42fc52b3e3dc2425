package nrl

import (
	"encoding/json"
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
	ptr := Build(PointerConfig{ODS: "X26", PracticeSetting: DefaultPracticeSetting, BaseURL: "https://ucp.example/fhir"},
		PlanVersion{PlanID: "cp1", Version: 2, NHSNumber: "9000000009", Type: "736373009", Composition: "c1"})
	req, err := json.Marshal(ptr)
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(string(req)) // the request as a JSON string
	for _, tc := range []struct {
		name, stored string
		want         *Job
	}{
		{name: "removal retrying",
			stored: `{"resourceType":"Task","id":"t1","status":"requested","intent":"order",
				"code":{"coding":[{"system":"` + JobSystem + `","code":"remove"}]},
				"for":{"reference":"Patient/p1"},"authoredOn":"2026-12-05T09:00:00Z",
				"focus":{"reference":"CarePlan/cp1/_history/3"},
				"input":[{"type":{"text":"nhs-number"},"valueString":"9000000009"},{"type":{"text":"reason"},"valueString":"revoked"}],
				"extension":[{"url":"` + extAttempts + `","valueInteger":2},{"url":"` + extNext + `","valueInstant":"2026-12-05T10:00:00Z"}],
				"businessStatus":{"text":"retrying: NRL answered 503"}}`,
			want: &Job{ID: "t1", Version: 4, Kind: KindRemove, Patient: "p1", NHSNumber: "9000000009", PlanID: "cp1", PlanVersion: 3, Reason: "revoked",
				State: outbox.State{Status: outbox.Requested, Authored: t0, Attempts: 2, Next: t0.Add(time.Hour), Error: "NRL answered 503"}}},
		{name: "publish claimed",
			stored: `{"resourceType":"Task","id":"t1","status":"in-progress","intent":"order",
				"code":{"coding":[{"system":"` + JobSystem + `","code":"publish"}]},
				"for":{"reference":"Patient/p1"},"authoredOn":"2026-12-05T09:00:00Z",
				"focus":{"reference":"CarePlan/cp1/_history/2"},
				"input":[{"type":{"text":"nhs-number"},"valueString":"9000000009"},{"type":{"text":"request"},"valueString":` + string(quoted) + `}],
				"extension":[{"url":"` + extLease + `","valueInstant":"2026-12-05T09:02:00.500000Z"}]}`,
			want: &Job{ID: "t1", Version: 4, Kind: KindPublish, Patient: "p1", NHSNumber: "9000000009", PlanID: "cp1", PlanVersion: 2,
				Pointer: ptr,
				State:   outbox.State{Status: outbox.InProgress, Authored: t0, Lease: t0.Add(2*time.Minute + 500*time.Millisecond)}}},
		{name: "publish done",
			stored: `{"resourceType":"Task","id":"t1","status":"completed","intent":"order",
				"code":{"coding":[{"system":"` + JobSystem + `","code":"publish"}]},
				"for":{"reference":"Patient/p1"},"authoredOn":"2026-12-05T09:00:00Z",
				"focus":{"reference":"CarePlan/cp1/_history/2"},
				"input":[{"type":{"text":"nhs-number"},"valueString":"9000000009"}],
				"output":[{"type":{"text":"pointer"},"valueString":"X26-1"}],"note":[{"text":"not sent: CarePlan/cp1 is now version 3 (active)"}]}`,
			want: &Job{ID: "t1", Version: 4, Kind: KindPublish, Patient: "p1", NHSNumber: "9000000009", PlanID: "cp1", PlanVersion: 2,
				PointerID: "X26-1", Note: "not sent: CarePlan/cp1 is now version 3 (active)",
				State: outbox.State{Status: outbox.Completed, Authored: t0}}},
		{name: "failed",
			stored: `{"resourceType":"Task","id":"t1","status":"failed","intent":"order",
				"code":{"coding":[{"system":"` + JobSystem + `","code":"remove-patient"}]},
				"for":{"reference":"Patient/p1"},"authoredOn":"2026-12-05T09:00:00Z",
				"input":[{"type":{"text":"nhs-number"},"valueString":"9000000009"},{"type":{"text":"reason"},"valueString":"patient deceased"}],
				"extension":[{"url":"` + extAttempts + `","valueInteger":40}],
				"statusReason":{"text":"gave up after 40 attempts over 72h0m0s: NRL answered 503"}}`,
			want: &Job{ID: "t1", Version: 4, Kind: KindRemovePatient, Patient: "p1", NHSNumber: "9000000009", Reason: "patient deceased",
				State: outbox.State{Status: outbox.Failed, Authored: t0, Attempts: 40, Error: "gave up after 40 attempts over 72h0m0s: NRL answered 503"}}},
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
