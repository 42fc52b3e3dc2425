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
	get := loadgen.Scenario{Name: "get", Do: func(ctx context.Context, c *http.Client, _, _ int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
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
