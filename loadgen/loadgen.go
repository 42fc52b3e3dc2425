// Package loadgen drives an HTTP server with concurrent clients for a fixed
// time and reports throughput and latency percentiles. It is ucp's own load
// generator for `ucp bench`: Go, so the scenarios can do what FHIR clients
// do (read ids from earlier answers, send If-Match), and loopback only.
//
// By default each client sends its next request as soon as the last is
// answered (a closed loop), which finds the most the server can do; the
// latency is then mostly queueing. With Config.Rate the clients instead
// send on a fixed schedule, as independent callers do (an ambulance crew
// does not wait for another crew's answer), which shows the latency at a
// given load. A paced request held up by its client's previous one is timed
// from when it was due, not from when it could be sent, so a stall counts
// against every request it delayed (no coordinated omission).
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
	// Rate, when positive, paces the run: the clients together send Rate
	// requests a second, client w its k-th at start + (k·Clients + w)/Rate,
	// each timed from that instant when its client's previous request held
	// it up. At most Clients are in flight.
	Rate float64
}

// Result is what a run measured.
type Result struct {
	Scenario string        `json:"scenario"`
	Clients  int           `json:"clients"`
	Rate     float64       `json:"offered_req_per_s,omitempty"` // Config.Rate of a paced run
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
	load := "back to back"
	if r.Rate > 0 {
		load = fmt.Sprintf("paced %6.0f/s", r.Rate)
	}
	return fmt.Sprintf("%-28s %3d clients %-14s %7.0f req/s  p50 %8s  p95 %8s  p99 %8s  max %8s  errors %d",
		r.Scenario, r.Clients, load, r.RPS, round(r.P50), round(r.P95), round(r.P99), round(r.Max), r.Errors)
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
	if cfg.Clients <= 0 || cfg.Duration <= 0 || cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) {
		return Result{}, errors.New("loadgen: Clients and Duration must be positive, and Rate finite and not negative")
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
			var interval, phase time.Duration
			var prevDone time.Time
			if cfg.Rate > 0 {
				interval = time.Duration(float64(cfg.Clients) / cfg.Rate * float64(time.Second))
				phase = time.Duration(float64(w) / cfg.Rate * float64(time.Second))
			}
			for n := 0; ; n++ {
				now := time.Now()
				if cfg.Rate > 0 {
					due := start.Add(phase + time.Duration(n)*interval)
					if !due.Before(stop) {
						return
					}
					if wait := due.Sub(now); wait > 0 {
						select {
						case <-time.After(wait):
						case <-runCtx.Done():
							return
						}
						now = time.Now()
					}
					// Held up by its client's previous request: that wait
					// is the server's and counts. A client that was idle
					// and merely woke late (timer slack) is timed from
					// the send: that delay is the generator's.
					if prevDone.After(due) {
						now = due
					}
				}
				if !now.Before(stop) || runCtx.Err() != nil {
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
				prevDone = time.Now()
				d := prevDone.Sub(now)
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
	r := Result{Scenario: s.Name, Clients: cfg.Clients, Rate: cfg.Rate, Elapsed: elapsed}
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
