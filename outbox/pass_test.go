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

// memJob is a job of memOutbox.
type memJob struct {
	name, key string
	fail      error // what sending it answers
	state     outbox.State
}

// memOutbox holds its jobs in memory, to watch what Pass does with them.
type memOutbox struct {
	jobs    []*memJob
	sent    []string // names, in the order sent
	failed  []string // names, in the order Failed was told
	saveErr error
}

func (o *memOutbox) Open(context.Context) ([]*memJob, error) { return o.jobs, nil }
func (*memOutbox) State(j *memJob) *outbox.State             { return &j.state }
func (*memOutbox) Key(j *memJob) string                      { return j.key }
func (o *memOutbox) Save(context.Context, *memJob) error     { return o.saveErr }
func (o *memOutbox) Send(_ context.Context, j *memJob) error {
	o.sent = append(o.sent, j.name)
	return j.fail
}
func (*memOutbox) Permanent(err error) bool { return errors.Is(err, errBounced) }
func (o *memOutbox) Failed(_ context.Context, j *memJob, _ error) error {
	o.failed = append(o.failed, j.name+" "+j.state.Status)
	return nil
}

var errBounced = errors.New("550 no such mailbox")

func TestPass(t *testing.T) {
	down := errors.New("connection refused")
	job := func(name, key string, fail error, authored time.Duration) *memJob {
		return &memJob{name: name, key: key, fail: fail, state: outbox.State{Status: outbox.Requested, Authored: t0.Add(-authored)}}
	}
	for _, tc := range []struct {
		name       string
		jobs       []*memJob
		wantSent   []string
		wantFailed []string
		wantDone   int
	}{
		{name: "nothing open", wantSent: nil},
		// p1's second job waits for its first, which is retried; p2's goes.
		{name: "a key's jobs in order",
			jobs:       []*memJob{job("a", "p1", down, 3), job("b", "p1", nil, 2), job("c", "p2", nil, 1)},
			wantSent:   []string{"a", "c"},
			wantFailed: []string{"a requested"},
			wantDone:   1},
		// A job failed for good is finished: the next of its key goes.
		{name: "after a permanent failure the key goes on",
			jobs:       []*memJob{job("a", "p1", errBounced, 2), job("b", "p1", nil, 1)},
			wantSent:   []string{"a", "b"},
			wantFailed: []string{"a failed"},
			wantDone:   2},
		{name: "no key orders nothing",
			jobs:       []*memJob{job("a", "", down, 3), job("b", "", nil, 2), job("c", "", down, 1)},
			wantSent:   []string{"a", "b", "c"},
			wantFailed: []string{"a requested", "c requested"},
			wantDone:   1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := outbox.New(outbox.Config{Horizon: time.Hour, BaseDelay: time.Minute, MaxDelay: time.Hour, Lease: time.Minute,
				Now: func() time.Time { return t0 }})
			o := &memOutbox{jobs: tc.jobs}
			done, err := outbox.Pass(context.Background(), l, o)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.wantSent, o.sent); d != "" {
				t.Errorf("sent (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantFailed, o.failed); d != "" {
				t.Errorf("failed (-want +got):\n%s", d)
			}
			if done != tc.wantDone {
				t.Errorf("done = %d, want %d", done, tc.wantDone)
			}
			wantAge := time.Duration(0)
			if len(tc.jobs) > 0 {
				wantAge = t0.Sub(tc.jobs[0].state.Authored)
			}
			if l.Depth() != len(tc.jobs) || l.OldestAge() != wantAge {
				t.Errorf("Depth, OldestAge = %d, %s; want %d, %s", l.Depth(), l.OldestAge(), len(tc.jobs), wantAge)
			}
		})
	}
}

// TestPassLostClaim: a job another worker claimed first is left to it, and
// the pass goes on; an error of the store ends the pass.
func TestPassLostClaim(t *testing.T) {
	l := outbox.New(outbox.Config{Horizon: time.Hour, BaseDelay: time.Minute, MaxDelay: time.Hour, Lease: time.Minute,
		Now: func() time.Time { return t0 }})
	o := &memOutbox{jobs: []*memJob{{name: "a", key: "p1", state: outbox.State{Status: outbox.Requested, Authored: t0}}},
		saveErr: outcome.Errorf(outcome.PreconditionFailed, "version 2 is not the current version")}
	if done, err := outbox.Pass(context.Background(), l, o); done != 0 || err != nil || len(o.sent) != 0 {
		t.Errorf("lost claim: done %d, err %v, sent %q; want nothing sent and no error", done, err, o.sent)
	}
	o.jobs[0].state = outbox.State{Status: outbox.Requested, Authored: t0} // as read afresh
	o.saveErr = errors.New("disk I/O error")
	if _, err := outbox.Pass(context.Background(), l, o); err == nil || len(o.sent) != 0 {
		t.Errorf("store error: err %v, sent %q; want the error and nothing sent", err, o.sent)
	}
}
