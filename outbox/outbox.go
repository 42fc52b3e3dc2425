// Package outbox is the delivery loop that ucp's durable outboxes share
// (NRL pointers, email): a job is a resource written in the same store write
// as the change that asks for it; a worker claims a due job by writing a new
// version of it over the version it read (If-Match), with a lease, so that of
// two workers on one store only one sends it; a failed attempt is retried
// with a jittered exponential backoff until a horizon, then the job fails
// for good. Pass runs that over every open job of an outbox, keeping the
// order of the jobs of one key (an NRL patient's), and a job stored as a
// FHIR Task keeps its state with State.Encode and Decode. What a job asks,
// how it is sent, which errors are permanent and its ordering key belong to
// the outbox (the Outbox interface it implements).
package outbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"ucp/fhir/outcome"
)

// Job statuses (a Task's status).
const (
	Requested  = "requested"
	InProgress = "in-progress"
	Completed  = "completed"
	Failed     = "failed"
)

// State is what the loop keeps of a job between attempts.
type State struct {
	Status   string    // Requested, InProgress, Completed or Failed
	Authored time.Time // when the job was written: the horizon runs from it
	Attempts int       // failed attempts so far
	Next     time.Time // no attempt before then
	Lease    time.Time // claimed by a worker until then
	Error    string    // what went wrong last ("" once sent)
}

// Config configures a Loop. All durations must be positive.
type Config struct {
	// Horizon is how long a job is retried before it fails.
	Horizon time.Duration
	// BaseDelay and MaxDelay bound the backoff between attempts: BaseDelay
	// doubled per attempt, capped at MaxDelay, with jitter.
	BaseDelay, MaxDelay time.Duration
	// Lease is how long a claim keeps other workers off a job.
	Lease time.Duration
	Now   func() time.Time // default time.Now
}

// Loop runs attempts of jobs.
type Loop struct {
	cfg Config
	mu  sync.Mutex
	rnd *rand.Rand // the jitter's source, seeded from the clock
	// the open jobs at the last Pass, for the metrics.
	depth  int
	oldest time.Time
}

// New returns a Loop for cfg.
func New(cfg Config) *Loop {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	seed := uint64(time.Now().UnixNano())
	return &Loop{cfg: cfg, rnd: rand.New(rand.NewPCG(seed, seed>>1))}
}

// Attempt is one job's attempt: its state and what the outbox does with it.
type Attempt struct {
	State *State
	// Save writes the job, with State as it is now, over the version read
	// last, and remembers the version written. A PreconditionFailed or
	// Conflict error means another worker has it.
	Save func(ctx context.Context) error
	// Send does what the job asks. It must be safe to repeat: an attempt
	// whose answer was lost is made again.
	Send func(ctx context.Context) error
	// Permanent reports whether a send error will never go away (the job
	// fails at once, without retries).
	Permanent func(error) bool
}

// Try claims the job and sends it if it is due, then saves the outcome. It
// reports whether the job is finished (sent, or failed for good) and the
// send's error (for the outbox's log and audit); err is an error of the
// store or the context, after which the job is left to its lease.
func (l *Loop) Try(ctx context.Context, a Attempt) (finished bool, sendErr, err error) {
	st := a.State
	now := l.cfg.Now()
	if now.Before(st.Next) || (st.Status == InProgress && now.Before(st.Lease)) {
		return false, nil, nil
	}
	// The claim: a new version written only over the version read, so that
	// of two workers (two nodes on one store) one wins and the other leaves
	// the job alone.
	st.Status, st.Lease = InProgress, now.Add(l.cfg.Lease)
	if err := a.Save(ctx); err != nil {
		if k := outcome.KindOf(err); k == outcome.PreconditionFailed || k == outcome.Conflict {
			return false, nil, nil
		}
		return false, nil, err
	}
	sendErr = a.Send(ctx)
	st.Lease = time.Time{}
	switch {
	case sendErr == nil:
		st.Status, st.Error, st.Next = Completed, "", time.Time{}
	case ctx.Err() != nil:
		// Shutting down: the lease runs out and the job is tried again.
		return false, sendErr, ctx.Err()
	case a.Permanent != nil && a.Permanent(sendErr):
		st.Status, st.Error = Failed, sendErr.Error()
	default:
		st.Attempts++
		st.Error = sendErr.Error()
		if now.Sub(st.Authored) >= l.cfg.Horizon {
			st.Status = Failed
			st.Error = fmt.Sprintf("gave up after %d attempts over %s: %s", st.Attempts, l.cfg.Horizon, st.Error)
		} else {
			st.Status, st.Next = Requested, now.Add(l.Backoff(st.Attempts))
		}
	}
	if err := a.Save(ctx); err != nil {
		return false, sendErr, err
	}
	return st.Status == Completed || st.Status == Failed, sendErr, nil
}

// Backoff is the delay before attempt n+1: BaseDelay·2ⁿ⁻¹ capped at
// MaxDelay, with jitter (between half of it and all of it), so that many
// jobs failing together do not all retry at once.
func (l *Loop) Backoff(n int) time.Duration {
	d := l.cfg.BaseDelay
	for i := 1; i < n && d < l.cfg.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, l.cfg.MaxDelay)
	l.mu.Lock()
	defer l.mu.Unlock()
	return d/2 + time.Duration(l.rnd.Int64N(int64(d/2)+1))
}
