package report_test

import (
	"os"
	"strconv"
	"testing"

	"ucp/synth"
)

// BenchmarkEvaluate times one evaluation of each Measure over HTTP, as the
// report role, on UCP_BENCH_PATIENTS generated patients (default 1000).
func BenchmarkEvaluate(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("UCP_BENCH_PATIENTS")); err == nil && v > 0 {
		n = v
	}
	s, err := load(b, synth.Options{Patients: n, Seed: 21})
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []string{"ucp-uptake", "ucp-quality", "ucp-outcomes"} {
		b.Run(m, func(b *testing.B) {
			for b.Loop() {
				resp := s.hs.Do(b, "GET", "/Measure/"+m+"/$evaluate-measure?periodStart=2025-11-01&periodEnd=2026-10-31", "", "X-Test-Role: report")
				if resp.Status != 200 {
					b.Fatalf("%d %s", resp.Status, resp.Body)
				}
			}
		})
	}
}
