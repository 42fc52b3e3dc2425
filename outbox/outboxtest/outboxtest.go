// Package outboxtest is the conformance suite of outbox.Outbox: what an
// outbox must do for outbox.Pass to send each of its jobs once, in order,
// across restarts and nodes. Each outbox (email, NRL) runs it from its own
// tests against a real store.
package outboxtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/outcome"
	"ucp/outbox"
)

// Harness is one outbox under test, on an empty store.
type Harness[J any] struct {
	Outbox outbox.Outbox[J]
	// Add stores a new job about patient, written at authored, as the
	// outbox's own rules would.
	Add func(ctx context.Context, patient string, authored time.Time) error
	// Ordered says whether the outbox sends one patient's jobs in order
	// (Key is the patient), else none waits for another (Key is "").
	Ordered bool
}

// Run runs the suite; ctx carries the outbox's principal. newHarness is
// called once a subtest, so that each starts from an empty store.
func Run[J any](t *testing.T, ctx context.Context, newHarness func(t *testing.T) Harness[J]) {
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	open := func(t *testing.T, o outbox.Outbox[J]) []J {
		t.Helper()
		js, err := o.Open(ctx)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return js
	}
	authored := func(o outbox.Outbox[J], js []J) []time.Time {
		var out []time.Time
		for _, j := range js {
			out = append(out, o.State(j).Authored)
		}
		return out
	}

	t.Run("open jobs oldest first", func(t *testing.T) {
		h := newHarness(t)
		for _, d := range []time.Duration{2, 0, 1} {
			if err := h.Add(ctx, "p1", t0.Add(d*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		want := []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}
		js := open(t, h.Outbox)
		if d := cmp.Diff(want, authored(h.Outbox, js)); d != "" {
			t.Errorf("Open: authored (-want +got):\n%s", d)
		}
		for _, j := range js {
			if s := h.Outbox.State(j).Status; s != outbox.Requested {
				t.Errorf("a new job's status is %q, want %q", s, outbox.Requested)
			}
		}
	})

	// What the loop writes is what the next pass (this node's after a
	// restart, or another node's) reads.
	t.Run("state survives save", func(t *testing.T) {
		h := newHarness(t)
		if err := h.Add(ctx, "p1", t0); err != nil {
			t.Fatal(err)
		}
		for _, want := range []outbox.State{
			{Status: outbox.InProgress, Authored: t0, Lease: t0.Add(2 * time.Minute)},
			{Status: outbox.Requested, Authored: t0, Attempts: 3, Next: t0.Add(90 * time.Second), Error: "connection refused"},
			{Status: outbox.Requested, Authored: t0, Attempts: 3, Next: t0.Add(time.Hour)},
		} {
			js := open(t, h.Outbox)
			if len(js) != 1 {
				t.Fatalf("Open: %d jobs, want 1", len(js))
			}
			*h.Outbox.State(js[0]) = want
			if err := h.Outbox.Save(ctx, js[0]); err != nil {
				t.Fatalf("Save: %v", err)
			}
			js = open(t, h.Outbox)
			if len(js) != 1 {
				t.Fatalf("Open after Save: %d jobs, want 1", len(js))
			}
			if d := cmp.Diff(want, *h.Outbox.State(js[0])); d != "" {
				t.Errorf("state read back (-want +got):\n%s", d)
			}
		}
		// A finished job is no longer open.
		for _, s := range []string{outbox.Failed, outbox.Completed} {
			if err := h.Add(ctx, "p2", t0); err != nil {
				t.Fatal(err)
			}
			js := open(t, h.Outbox)
			*h.Outbox.State(js[0]) = outbox.State{Status: s, Authored: t0, Error: "550 no such mailbox"}
			if err := h.Outbox.Save(ctx, js[0]); err != nil {
				t.Fatalf("Save: %v", err)
			}
			if js := open(t, h.Outbox); len(js) != 1 {
				t.Errorf("after one job is %s, %d jobs are open, want 1", s, len(js))
			}
		}
	})

	// The claim: of two workers holding the same version, only the first
	// to save has the job.
	t.Run("save over a stale version is refused", func(t *testing.T) {
		h := newHarness(t)
		if err := h.Add(ctx, "p1", t0); err != nil {
			t.Fatal(err)
		}
		a, b := open(t, h.Outbox), open(t, h.Outbox)
		h.Outbox.State(a[0]).Status = outbox.InProgress
		if err := h.Outbox.Save(ctx, a[0]); err != nil {
			t.Fatalf("first Save: %v", err)
		}
		h.Outbox.State(b[0]).Status = outbox.InProgress
		err := h.Outbox.Save(ctx, b[0])
		if k := outcome.KindOf(err); k != outcome.PreconditionFailed && k != outcome.Conflict {
			t.Errorf("second Save over the version both read: %v, want PreconditionFailed or Conflict", err)
		}
		// The winner goes on saving over the version it wrote.
		h.Outbox.State(a[0]).Status = outbox.Completed
		if err := h.Outbox.Save(ctx, a[0]); err != nil {
			t.Errorf("the winner's second Save: %v", err)
		}
	})

	t.Run("key", func(t *testing.T) {
		h := newHarness(t)
		for _, p := range []string{"p1", "p1", "p2"} {
			if err := h.Add(ctx, p, t0); err != nil {
				t.Fatal(err)
			}
		}
		var keys []string
		for _, j := range open(t, h.Outbox) {
			keys = append(keys, h.Outbox.Key(j))
		}
		if len(keys) != 3 {
			t.Fatalf("Open: %d jobs, want 3", len(keys))
		}
		n := map[string]int{}
		for _, k := range keys {
			n[k]++
		}
		if !h.Ordered {
			if d := cmp.Diff(map[string]int{"": 3}, n); d != "" {
				t.Errorf("an unordered outbox's keys (-want +got):\n%s", d)
			}
			return
		}
		// p1's two jobs under one key, p2's under another.
		var sizes []int
		for k, c := range n {
			if k == "" {
				t.Error("an ordered outbox's job has no key")
			}
			sizes = append(sizes, c)
		}
		slices.Sort(sizes)
		if d := cmp.Diff([]int{1, 2}, sizes); d != "" {
			t.Errorf("keys %q: jobs a key (-want +got):\n%s", keys, d)
		}
	})

	// An error that says nothing of the job (a network's) is retried.
	t.Run("plain errors are not permanent", func(t *testing.T) {
		h := newHarness(t)
		for _, err := range []error{errors.New("connection refused"), context.DeadlineExceeded} {
			if h.Outbox.Permanent(err) {
				t.Errorf("Permanent(%v) = true: the job would fail without a retry", err)
			}
		}
	})
}
