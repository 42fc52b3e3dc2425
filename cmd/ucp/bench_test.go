package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"ucp/loadgen"
)

// TestCeilingShares checks how the report relates each run to the
// static-bytes ceiling: capacities as shares at the same concurrency, and
// paced p99s beside the ceiling's paced at the same fraction.
func TestCeilingShares(t *testing.T) {
	ms := time.Millisecond
	run := func(name string, clients int, rps, rate float64, p99 time.Duration) loadgen.Result {
		return loadgen.Result{Scenario: name, Clients: clients, RPS: rps, Rate: rate, P99: p99}
	}
	tests := []struct {
		name    string
		results []loadgen.Result
		want    []ceilingShare
	}{
		{"no ceiling run: nothing to relate to", []loadgen.Result{run("read", 8, 100, 0, ms)}, nil},
		{"shares at the same concurrency only", []loadgen.Result{
			run(ceilingScenario, 1, 1000, 0, ms),
			run(ceilingScenario, 8, 4000, 0, ms),
			run("read", 1, 100, 0, 2*ms),
			run("read", 8, 1000, 0, 3*ms),
			run("read", 32, 1000, 0, 3*ms),
		}, []ceilingShare{
			{Scenario: "read", Clients: 1, Share: 0.1},
			{Scenario: "read", Clients: 8, Share: 0.25},
		}},
		{"paced p99s beside the ceiling's at the same fraction", []loadgen.Result{
			run(ceilingScenario, 8, 4000, 0, ms),
			run(ceilingScenario, 8, 1000, 1000, ms/4),
			run(ceilingScenario, 8, 2000, 2000, ms/2),
			run("read", 8, 400, 0, 9*ms),
			run("read", 8, 100, 100, 4*ms),
			run("read", 8, 200, 200, 5*ms),
			run("search", 8, 100, 0, 9*ms),
			run("search", 8, 33, 33, 7*ms), // a fraction the ceiling was not paced at
		}, []ceilingShare{
			{Scenario: "read", Clients: 8, Share: 0.1, Paced: []pacedP99s{
				{Fraction: 0.25, P99: 4 * ms, CeilingP99: ms / 4},
				{Fraction: 0.5, P99: 5 * ms, CeilingP99: ms / 2},
			}},
			{Scenario: "search", Clients: 8, Share: 0.025, Paced: []pacedP99s{{Fraction: 0.33, P99: 7 * ms}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ceilingShares(tt.results)); diff != "" {
				t.Errorf("ceilingShares (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBenchViewRole runs the read scenarios with an urgent-care (view)
// token, whose reads pass the consent and sharing checks a clinician's
// skip, and checks that every request was answered and the report names
// the role. A role that does not exist is a usage error.
func TestBenchViewRole(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--role", "view", "--scenario", " by ", "--patients", "15", "--duration", "10m",
		"--warmup", "0", "--requests", "10", "--clients", "1", "--paced", "", "--nrl-approvals", "0", "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	files, _ := filepath.Glob(filepath.Join(out, "bench-15-*.json"))
	if len(files) != 1 {
		t.Fatalf("reports: %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Role != "view" {
		t.Errorf("report role %q, want view", rep.Role)
	}
	var got []string
	for _, r := range rep.Results {
		got = append(got, r.Scenario)
		if r.Errors > 0 || r.Requests == 0 {
			t.Errorf("%s × %d: %d requests, %d errors (%s)", r.Scenario, r.Clients, r.Requests, r.Errors, r.FirstError)
		}
	}
	want := []string{ceilingScenario, "read a plan by id", "urgent query by NHS number", "Patient by NHS number"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scenarios run (-want +got):\n%s", diff)
	}

	stderr.Reset()
	if code := run(context.Background(), []string{"bench", "--role", "nurse", "--out", out}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--role") {
		t.Errorf("--role nurse: exit %d, %q; want 2 naming --role", code, stderr.String())
	}
}
