// Package loadgen drives an HTTP server with concurrent clients for a fixed
// time and reports throughput and latency percentiles. It is ucp's own load
// generator for `ucp bench`: Go, so the scenarios can do what FHIR clients
// do (read ids from earlier answers, send If-Match), and loopback only.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Scenario is one kind of request. Do sends one request (worker is the
// client's number, n its request count) and returns an error when the
// answer is not what a correct server gives.
type Scenario struct {
	Name string
	Do   func(ctx context.Context, c *http.Client, worker, n int) error
}

// Config is one run.
type Config struct {
	Clients  int           // concurrent clients
	Duration time.Duration // how long to run (after Warmup)
	Warmup   time.Duration // requests in this time are not counted
	// MaxRequests bounds the run whatever the duration (0: no bound).
	MaxRequests int
}

// Result is what a run measured.
type Result struct {
	Scenario string        `json:"scenario"`
	Clients  int           `json:"clients"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	RPS      float64       `json:"req_per_s"`
	P50      time.Duration `json:"p50_ns"`
	P95      time.Duration `json:"p95_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
	// FirstError is the first failure, for the report.
	FirstError string `json:"first_error,omitempty"`
}

func (r Result) String() string {
	return fmt.Sprintf("%-28s %3d clients %9.0f req/s  p50 %8s  p95 %8s  p99 %8s  max %8s  errors %d",
		r.Scenario, r.Clients, r.RPS, round(r.P50), round(r.P95), round(r.P99), round(r.Max), r.Errors)
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// NewClient is an HTTP client for loopback load: enough idle connections
// for every worker, so the run measures the server, not connection setup.
func NewClient(clients int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = clients * 2
	t.MaxIdleConnsPerHost = clients * 2
	t.MaxConnsPerHost = 0
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// Run drives s with cfg.Clients workers and returns the measurements.
func Run(ctx context.Context, s Scenario, cfg Config) (Result, error) {
	if cfg.Clients <= 0 || cfg.Duration <= 0 {
		return Result{}, errors.New("loadgen: Clients and Duration must be positive")
	}
	client := NewClient(cfg.Clients)
	defer client.CloseIdleConnections()
	start := time.Now()
	countFrom := start.Add(cfg.Warmup)
	stop := countFrom.Add(cfg.Duration)
	runCtx, cancel := context.WithDeadline(ctx, stop.Add(30*time.Second))
	defer cancel()

	type sample struct {
		lat []time.Duration
		err int
		msg string
	}
	samples := make([]sample, cfg.Clients)
	var total sync.WaitGroup
	var mu sync.Mutex
	issued := 0
	for w := 0; w < cfg.Clients; w++ {
		total.Add(1)
		go func(w int) {
			defer total.Done()
			sm := &samples[w]
			for n := 0; ; n++ {
				now := time.Now()
				if now.After(stop) || runCtx.Err() != nil {
					return
				}
				if cfg.MaxRequests > 0 {
					mu.Lock()
					if issued >= cfg.MaxRequests {
						mu.Unlock()
						return
					}
					issued++
					mu.Unlock()
				}
				err := s.Do(runCtx, client, w, n)
				d := time.Since(now)
				if now.Before(countFrom) {
					continue
				}
				if err != nil {
					sm.err++
					if sm.msg == "" {
						sm.msg = err.Error()
					}
					continue
				}
				sm.lat = append(sm.lat, d)
			}
		}(w)
	}
	total.Wait()
	elapsed := time.Since(countFrom)
	if cfg.MaxRequests > 0 && elapsed > cfg.Duration {
		elapsed = cfg.Duration
	}
	var all []time.Duration
	r := Result{Scenario: s.Name, Clients: cfg.Clients, Elapsed: elapsed}
	for _, sm := range samples {
		all = append(all, sm.lat...)
		r.Errors += sm.err
		if r.FirstError == "" {
			r.FirstError = sm.msg
		}
	}
	slices.Sort(all)
	r.Requests = len(all)
	if elapsed > 0 {
		r.RPS = float64(r.Requests) / elapsed.Seconds()
	}
	r.P50, r.P95, r.P99 = quantile(all, 0.50), quantile(all, 0.95), quantile(all, 0.99)
	if len(all) > 0 {
		r.Max = all[len(all)-1]
	}
	return r, nil
}

// quantile returns the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
