package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"ucp/store"
)

// TestLongORLists: an OR list longer than SQLite's limits on one compound
// SELECT (500 terms) and on expression depth (1,000) runs, as the driver and
// as a probe, and finds what it should.
func TestLongORLists(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "ucp.db"))
	ctx := context.Background()
	lu := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		id := fmt.Sprintf("p%d", i)
		if _, err := s.Write(ctx, []store.Change{{Type: "Patient", ID: id, VersionID: 1, LastUpdated: lu, Method: "PUT",
			JSON:    []byte(`{"resourceType":"Patient","id":"` + id + `","meta":{"versionId":"1"}}`),
			Entries: []store.Entry{{Param: "code", Type: store.Token, Code: fmt.Sprintf("c%d", i)}, {Param: "flag", Type: store.Token, Code: "y"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	long := func(param string, n int, f func(i int) store.Cond) store.Clause {
		var cl store.Clause
		for i := range n {
			c := f(i)
			c.Param = param
			cl.Any = append(cl.Any, c)
		}
		return cl
	}
	codes := long("code", 1200, func(i int) store.Cond { return store.Cond{Type: store.Token, Code: fmt.Sprintf("c%d", i+1)} })
	ids := long("_id", 1500, func(i int) store.Cond { return store.Cond{Type: store.Token, Code: fmt.Sprintf("p%d", i+2)} })
	notFlag := store.Clause{Any: []store.Cond{{Param: "flag", Type: store.Token, Code: "n", Not: true}}}
	for _, tc := range []struct {
		name  string
		where []store.Clause
		total store.TotalMode
		want  int
	}{
		{"codes drive", []store.Clause{codes}, store.TotalAccurate, 2},
		{"codes probed", []store.Clause{{Any: []store.Cond{{Param: "_id", Type: store.Token, Code: "p1"}}}, codes}, store.TotalAccurate, 1},
		{"ids drive", []store.Clause{ids}, store.TotalAccurate, 1},
		{"ids estimated", []store.Clause{ids}, store.TotalEstimate, 1},
		{"ids probed", []store.Clause{notFlag, codes, ids}, store.TotalAccurate, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Search(ctx, store.Query{Types: []string{"Patient"}, Count: 10, Total: tc.total, Where: tc.where})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Versions) != tc.want || res.Total != tc.want {
				t.Errorf("%d matches, total %d; want %d", len(res.Versions), res.Total, tc.want)
			}
		})
	}
}
