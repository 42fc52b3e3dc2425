package outbox_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/resource"
	"ucp/outbox"
)

var ext = outbox.Ext{Attempts: "https://ucp.example/a", Next: "https://ucp.example/n", Lease: "https://ucp.example/l"}

func TestEncodeDecode(t *testing.T) {
	for _, s := range []outbox.State{
		{Status: outbox.Requested, Authored: t0},
		{Status: outbox.InProgress, Authored: t0, Attempts: 1, Lease: t0.Add(time.Minute + time.Microsecond)},
		{Status: outbox.Requested, Authored: t0, Attempts: 2, Next: t0.Add(time.Hour), Error: "connection refused"},
		{Status: outbox.Failed, Authored: t0, Attempts: 9, Error: "gave up: 503"},
		{Status: outbox.Completed, Authored: t0, Attempts: 9},
	} {
		task := map[string]any{"resourceType": "Task", "extension": []any{"left from an earlier version"}, "statusReason": "stale"}
		s.Encode(task, ext)
		parsed, err := resource.Parse(resource.Marshal(task))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(s, outbox.Decode(parsed, ext)); d != "" {
			t.Errorf("Decode(Encode(%+v)) (-want +got):\n%s", s, d)
		}
	}
}

// FuzzDecode reads any stored Task's state without panicking, and a state
// read is written back and read again unchanged.
func FuzzDecode(f *testing.F) {
	s := outbox.State{Status: outbox.Requested, Authored: t0, Attempts: 2, Next: t0.Add(time.Hour), Error: "NRL answered 503"}
	task := map[string]any{"resourceType": "Task"}
	s.Encode(task, ext)
	f.Add(resource.Marshal(task))
	f.Add([]byte(`{"resourceType":"Task","extension":[{"url":"https://ucp.example/a","valueInteger":1e400}]}`))
	f.Add([]byte(`{"resourceType":"Task","extension":[{"url":"https://ucp.example/a","valueInteger":-3}]}`))
	f.Add([]byte(`{"resourceType":"Task","authoredOn":"yesterday","businessStatus":{"text":"retrying: "}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		task, err := resource.Parse(b)
		if err != nil {
			return
		}
		got := outbox.Decode(task, ext)
		again := map[string]any{}
		got.Encode(again, ext)
		parsed, err := resource.Parse(resource.Marshal(again))
		if err != nil {
			t.Fatal(err)
		}
		// What Encode writes is what FHIR instants hold: microseconds, UTC.
		want := got
		for _, tm := range []*time.Time{&want.Authored, &want.Next, &want.Lease} {
			if tm.IsZero() {
				continue
			}
			*tm = tm.UTC().Truncate(time.Microsecond)
		}
		if d := cmp.Diff(want, outbox.Decode(parsed, ext)); d != "" {
			t.Fatalf("state not kept through its own round trip (-want +got):\n%s", d)
		}
	})
}
