package bulk_test

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkImport imports 200 synthetic patients (about 4,000 resources)
// into a fresh SQLite store per iteration; it reports resources/s.
func BenchmarkImport(b *testing.B) {
	data := synthNDJSON(b, 200)
	n := bytes.Count(data, []byte("\n"))
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		im, _ := newImporter(b)
		im.Batch = 2000
		b.StartTimer()
		st, err := im.ImportNDJSON(context.Background(), bytes.NewReader(data), "synth.ndjson")
		if err != nil || st.Rejected != 0 {
			b.Fatal(err, st)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "resources/s")
}
