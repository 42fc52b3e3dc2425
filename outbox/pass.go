package outbox

import (
	"context"
	"time"
)

// Outbox is what a pass needs of one outbox: what differs between an
// email job and an NRL job. Pass and Run are the rest.
type Outbox[J any] interface {
	// Open returns the open jobs (requested or in progress), oldest first.
	Open(ctx context.Context) ([]J, error)
	// State is the job's State, which the pass changes in place.
	State(j J) *State
	// Key is the job's ordering key: of the jobs with one non-empty key a
	// later one waits until the earlier is finished. "" orders nothing.
	Key(j J) string
	// Save writes the job over the version read last (If-Match) and
	// remembers the version written; see Attempt.Save.
	Save(ctx context.Context, j J) error
	// Send does what the job asks; it must be safe to repeat.
	Send(ctx context.Context, j J) error
	// Permanent reports whether a send error will never go away.
	Permanent(err error) bool
	// Failed records a failed attempt (log, AuditEvent), after its outcome
	// is saved: State says whether the job is to be retried.
	Failed(ctx context.Context, j J, sendErr error) error
}

// Pass tries every due job of o once, keeping the order of each key, and
// returns how many jobs it finished (sent, or failed for good). It records
// the open jobs' count and oldest for Depth and OldestAge.
func Pass[J any](ctx context.Context, l *Loop, o Outbox[J]) (int, error) {
	open, err := o.Open(ctx)
	if err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.depth, l.oldest = len(open), time.Time{}
	if len(open) > 0 {
		l.oldest = o.State(open[0]).Authored
	}
	l.mu.Unlock()
	// Jobs in groups of one key, each group where its first job stands.
	var groups [][]J
	at := map[string]int{}
	for _, j := range open {
		k := o.Key(j)
		if i, ok := at[k]; ok && k != "" {
			groups[i] = append(groups[i], j)
			continue
		}
		at[k] = len(groups)
		groups = append(groups, []J{j})
	}
	done := 0
	for _, g := range groups {
		for _, j := range g {
			finished, sendErr, err := l.Try(ctx, Attempt{
				State:     o.State(j),
				Save:      func(ctx context.Context) error { return o.Save(ctx, j) },
				Send:      func(ctx context.Context) error { return o.Send(ctx, j) },
				Permanent: o.Permanent,
			})
			if err != nil {
				return done, err
			}
			if sendErr != nil {
				if err := o.Failed(ctx, j, sendErr); err != nil {
					return done, err
				}
			}
			if !finished {
				break // a later job of this key waits for this one
			}
			done++
		}
	}
	return done, nil
}

// Run calls pass every poll until ctx ends, handing its errors (not those
// of ctx ending) to warn.
func Run(ctx context.Context, poll time.Duration, pass func(context.Context) (int, error), warn func(error)) {
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := pass(ctx); err != nil && ctx.Err() == nil {
			warn(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Depth is the number of open jobs at the last pass.
func (l *Loop) Depth() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.depth
}

// OldestAge is the age of the oldest open job at the last pass, 0 when
// there is none.
func (l *Loop) OldestAge() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.oldest.IsZero() {
		return 0
	}
	return l.cfg.Now().Sub(l.oldest)
}
