package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/fhir/outcome"
	"ucp/outbox"
)

var t0 = time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)

func TestTry(t *testing.T) {
	cfg := outbox.Config{Horizon: time.Hour, BaseDelay: time.Minute, MaxDelay: 10 * time.Minute, Lease: 2 * time.Minute,
		Now: func() time.Time { return t0 }}
	errDown := errors.New("connection refused")
	errBad := errors.New("550 no such mailbox")
	for _, tc := range []struct {
		name      string
		state     outbox.State
		claimErr  error
		sendErr   error
		cancel    bool
		want      outbox.State // Next is checked apart (jitter)
		wantSaves []string     // the statuses saved, in order
		wantSent  bool
		finished  bool
		wantErr   bool
	}{
		{name: "sent", state: outbox.State{Status: "requested", Authored: t0.Add(-time.Minute)},
			want:      outbox.State{Status: "completed", Authored: t0.Add(-time.Minute)},
			wantSaves: []string{"in-progress", "completed"}, wantSent: true, finished: true},
		{name: "not due yet", state: outbox.State{Status: "requested", Authored: t0, Next: t0.Add(time.Second)},
			want: outbox.State{Status: "requested", Authored: t0, Next: t0.Add(time.Second)}},
		{name: "leased by another worker", state: outbox.State{Status: "in-progress", Authored: t0, Lease: t0.Add(time.Second)},
			want: outbox.State{Status: "in-progress", Authored: t0, Lease: t0.Add(time.Second)}},
		{name: "lease run out: taken over", state: outbox.State{Status: "in-progress", Authored: t0, Lease: t0.Add(-time.Second)},
			want:      outbox.State{Status: "completed", Authored: t0},
			wantSaves: []string{"in-progress", "completed"}, wantSent: true, finished: true},
		{name: "claim lost", state: outbox.State{Status: "requested", Authored: t0},
			claimErr:  outcome.Errorf(outcome.PreconditionFailed, "version moved"),
			want:      outbox.State{Status: "in-progress", Authored: t0, Lease: t0.Add(2 * time.Minute)},
			wantSaves: []string{"in-progress"}},
		{name: "store down at claim", state: outbox.State{Status: "requested", Authored: t0},
			claimErr:  errors.New("disk I/O error"),
			want:      outbox.State{Status: "in-progress", Authored: t0, Lease: t0.Add(2 * time.Minute)},
			wantSaves: []string{"in-progress"}, wantErr: true},
		{name: "retried", state: outbox.State{Status: "requested", Authored: t0.Add(-time.Minute)}, sendErr: errDown,
			want:      outbox.State{Status: "requested", Authored: t0.Add(-time.Minute), Attempts: 1, Error: "connection refused"},
			wantSaves: []string{"in-progress", "requested"}, wantSent: true},
		{name: "past the horizon", state: outbox.State{Status: "requested", Authored: t0.Add(-time.Hour), Attempts: 4}, sendErr: errDown,
			want:      outbox.State{Status: "failed", Authored: t0.Add(-time.Hour), Attempts: 5, Error: "gave up after 5 attempts over 1h0m0s: connection refused"},
			wantSaves: []string{"in-progress", "failed"}, wantSent: true, finished: true},
		{name: "permanent", state: outbox.State{Status: "requested", Authored: t0}, sendErr: errBad,
			want:      outbox.State{Status: "failed", Authored: t0, Error: "550 no such mailbox"},
			wantSaves: []string{"in-progress", "failed"}, wantSent: true, finished: true},
		{name: "shutting down", state: outbox.State{Status: "requested", Authored: t0}, sendErr: context.Canceled, cancel: true,
			want:      outbox.State{Status: "in-progress", Authored: t0},
			wantSaves: []string{"in-progress"}, wantSent: true, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st := tc.state
			var saves []string
			sent := false
			finished, sendErr, err := outbox.New(cfg).Try(ctx, outbox.Attempt{
				State: &st,
				Save: func(context.Context) error {
					saves = append(saves, st.Status)
					if len(saves) == 1 {
						return tc.claimErr
					}
					return nil
				},
				Send: func(context.Context) error {
					sent = true
					if tc.cancel {
						cancel()
					}
					return tc.sendErr
				},
				Permanent: func(err error) bool { return err == errBad },
			})
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, want an error: %v", err, tc.wantErr)
			}
			if sendErr != tc.sendErr && tc.wantSent {
				t.Errorf("sendErr = %v, want %v", sendErr, tc.sendErr)
			}
			if finished != tc.finished || sent != tc.wantSent {
				t.Errorf("finished %v sent %v, want %v %v", finished, sent, tc.finished, tc.wantSent)
			}
			if tc.want.Status == "requested" && tc.want.Attempts > 0 {
				// The retry is due between half the delay and all of it.
				if st.Next.Before(t0.Add(30*time.Second)) || st.Next.After(t0.Add(time.Minute)) {
					t.Errorf("next attempt at %s, want within [30s, 1m] of now", st.Next.Sub(t0))
				}
				st.Next = time.Time{}
			}
			if d := cmp.Diff(tc.want, st); d != "" {
				t.Errorf("state (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantSaves, saves); d != "" {
				t.Errorf("saves (-want +got):\n%s", d)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	l := outbox.New(outbox.Config{BaseDelay: time.Second, MaxDelay: time.Minute})
	for _, tc := range []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{20, 30 * time.Second, time.Minute},
	} {
		for range 50 {
			if d := l.Backoff(tc.attempt); d < tc.min || d > tc.max {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", tc.attempt, d, tc.min, tc.max)
			}
		}
	}
}
