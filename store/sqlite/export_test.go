package sqlite

import (
	"context"
	"fmt"
	"strings"

	"ucp/store"
)

// ExplainSearch returns SQLite's EXPLAIN QUERY PLAN of the first page of q,
// as an indented tree, for tests.
func (s *Store) ExplainSearch(ctx context.Context, q store.Query) (string, error) {
	var b sqlb
	if err := b.page(filter{types: q.Types, patient: q.Patient, where: q.Where}, q.Sort, nil, false, q.Count+1); err != nil {
		return "", err
	}
	rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+b.b.String(), b.args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	depth := map[int]int{}
	var out strings.Builder
	fmt.Fprintf(&out, "%s\n", b.b.String())
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", err
		}
		depth[id] = depth[parent] + 1
		fmt.Fprintf(&out, "%s|-- %s\n", strings.Repeat("   ", depth[id]-1), detail)
	}
	return out.String(), rows.Err()
}

// IndexNames lists the database's indexes (SQLite's own excepted), sorted.
func IndexNames(s *Store) ([]string, error) {
	rows, err := s.r.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// HoldWriter takes the writer as a committing write does, so that the
// writes that follow queue; they are committed as one group after release.
func (s *Store) HoldWriter() (release func()) {
	s.gc.turn <- struct{}{}
	return func() { <-s.gc.turn }
}

// Queued is the number of writes waiting for the writer.
func (s *Store) Queued() int {
	s.gc.mu.Lock()
	defer s.gc.mu.Unlock()
	return len(s.gc.pending)
}
