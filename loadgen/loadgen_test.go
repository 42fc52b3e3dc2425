package loadgen_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"ucp/loadgen"
)

// getScenario GETs url; an answer other than 200 is a failure.
func getScenario(url string) loadgen.Scenario {
	return loadgen.Scenario{Name: "get", Do: func(ctx context.Context, c *http.Client, _, _ int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}}
}

func TestRunCountsAndFails(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n%10 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	get := getScenario(srv.URL)
	r, err := loadgen.Run(context.Background(), get, loadgen.Config{Clients: 4, Duration: time.Second, MaxRequests: 200})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Requests + r.Errors; got != 200 {
		t.Errorf("requests + errors = %d, want 200 (MaxRequests)", got)
	}
	if r.Errors != 20 || r.FirstError != "status 500" {
		t.Errorf("errors = %d (%q), want 20 failures of status 500", r.Errors, r.FirstError)
	}
	if !(r.P50 > 0 && r.P50 <= r.P95 && r.P95 <= r.P99 && r.P99 <= r.Max) {
		t.Errorf("percentiles out of order: %v", r)
	}
	if _, err := loadgen.Run(context.Background(), get, loadgen.Config{}); err == nil {
		t.Error("a run with no clients and no duration was accepted")
	}
}

// A paced run sends what its schedule says, and times each request from
// when it was due: a stall delays the requests queued behind it, and their
// latency must show that wait. (A generator that timed from the actual
// send would report them as fast: coordinated omission.) Only lower bounds
// are checked, which a slow machine cannot break.
func TestPacedRunTimesFromTheSchedule(t *testing.T) {
	var hits atomic.Int64
	const stall = 500 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			time.Sleep(stall)
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	get := getScenario(srv.URL)
	// One client at 100/s for a second: due at 0, 10, … 990 ms. The first
	// takes the stall and those due in it wait for it, so the six due at
	// 0–50 ms take at least stall-50ms, and p95 (the 95th of 100, nearest
	// rank) is one of them.
	r, err := loadgen.Run(context.Background(), get, loadgen.Config{Clients: 1, Duration: time.Second, Rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests+r.Errors != 100 || r.Errors != 0 {
		t.Errorf("%d requests and %d errors, want the schedule's 100 and none", r.Requests, r.Errors)
	}
	if r.Rate != 100 {
		t.Errorf("Rate %v, want 100 reported", r.Rate)
	}
	if min := stall - 50*time.Millisecond; r.P95 < min {
		t.Errorf("p95 %v: the requests held up behind the stall were timed from their sending, not from when they were due (want at least %v)", r.P95, min)
	}
	if _, err := loadgen.Run(context.Background(), get, loadgen.Config{Clients: 1, Duration: time.Second, Rate: -1}); err == nil {
		t.Error("a negative rate was accepted")
	}
}
