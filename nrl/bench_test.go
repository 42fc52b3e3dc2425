package nrl_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"ucp/auth"
	"ucp/nrl"
)

// BenchmarkApprovalToPointer times an approval (the plan write with its job)
// until the local NRL has accepted its pointer, and reports the p50 and p99.
func BenchmarkApprovalToPointer(b *testing.B) {
	w := newWorld(b)
	plan := w.seed("pat", "9000000009")
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		w.put(with(plan, "description", fmt.Sprintf("Review %d", i)))
		if n, err := w.pub.RunOnce(context.Background()); err != nil || n != 1 {
			b.Fatalf("pass: %d jobs, %v", n, err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRenderPDF times rendering one approved plan's PDF.
func BenchmarkRenderPDF(b *testing.B) {
	w := newWorld(b)
	w.put(w.seed("pat", "9000000009"))
	if _, err := w.pub.RunOnce(context.Background()); err != nil {
		b.Fatal(err)
	}
	d, err := nrl.Documents{Reader: w.svc}.Load(auth.NewContext(context.Background(), clinician), compositionOf(b, w.sandbox.Pointers("9000000009")[0]))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := nrl.RenderPDF(d); err != nil {
			b.Fatal(err)
		}
	}
}
