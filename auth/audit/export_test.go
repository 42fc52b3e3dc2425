package audit

import (
	"time"

	"ucp/store"
)

// OpenManual opens a Sink without the background drainer.
func OpenManual(dir string, st store.Store, reg Extractor) (*Sink, error) {
	return open(dir, st, reg, Options{}, true)
}

// Abandon stops the sink as a crash would: nothing drained.
func (s *Sink) Abandon() { s.abandon() }

// NewRefusedLoginsAt is NewRefusedLogins on a given clock, without the
// ticker: the test calls FlushEnded.
func NewRefusedLoginsAt(s *Sink, window time.Duration, now func() time.Time) *RefusedLogins {
	rl, err := newRefusedLogins(s, window, now, false)
	if err != nil {
		panic(err)
	}
	return rl
}

// FlushEnded records the counts of the windows that have ended, as the
// ticker does.
func (rl *RefusedLogins) FlushEnded() { rl.flush(false) }
