package audit

import "ucp/store"

// OpenManual opens a Sink without the background drainer.
func OpenManual(dir string, st store.Store, reg Extractor) (*Sink, error) {
	return open(dir, st, reg, Options{}, true)
}

// Abandon stops the sink as a crash would: nothing drained.
func (s *Sink) Abandon() { s.abandon() }
