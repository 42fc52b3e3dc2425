package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ucp/fhir/outcome"
)

// DefaultSearchTimeout is the default of Config.SearchTimeout: far beyond
// what any search a client needs takes (milliseconds), short enough that a
// few pathological ones cannot hold the store for everyone else.
const DefaultSearchTimeout = 10 * time.Second

// Bounded runs a search's work (a search, $everything) under
// Config.SearchTimeout. Past the deadline the work's store calls fail; that
// failure is answered TooCostly, not as whatever the store made of it (an
// internal error). A caller that went away is not told anything.
func (s *Service) Bounded(ctx context.Context, work func(ctx context.Context) error) error {
	bctx, cancel := context.WithTimeout(ctx, s.cfg.SearchTimeout)
	defer cancel()
	err := work(bctx)
	if err != nil && ctx.Err() == nil && errors.Is(bctx.Err(), context.DeadlineExceeded) {
		return &outcome.Error{Kind: outcome.TooCostly,
			Message: fmt.Sprintf("the search did not finish within %s and was stopped; narrow it (fewer values, _include/_revinclude or :iterate, a smaller _count)", s.cfg.SearchTimeout)}
	}
	return err
}

// SearchTimeout is Config.SearchTimeout as in force.
func (s *Service) SearchTimeout() time.Duration { return s.cfg.SearchTimeout }
