package export_test

import (
	"testing"

	"ucp/bulk/export"
)

// BenchmarkExport exports 200 synthetic patients (about 4,000 resources
// of every type) through the real HTTP API, SQLite store and care-plan
// read rules: kick-off, poll, manifest. It reports resources/s; the files
// are not downloaded.
func BenchmarkExport(b *testing.B) {
	for _, level := range []struct{ name, path string }{
		{"system", "/$export"},
		{"patient", "/Patient/$export"},
	} {
		b.Run(level.name, func(b *testing.B) {
			e := newEnv(b, 200, func(c *export.Config) { c.PageSize = export.DefaultPageSize })
			n := 0
			for b.Loop() {
				m := e.complete(b, e.kickoff(b, "GET", level.path, "system", ""), "system")
				n = 0
				for _, f := range m.Output {
					n += f.Count
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}
