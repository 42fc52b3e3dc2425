package sqlite

import "context"

// ObjectSpace is the space one table or index takes in the file.
type ObjectSpace struct {
	Name  string // the table's or index's name
	Bytes int64  // its pages
	Rows  int64  // cells on its leaf pages: a table's rows, an index's entries
}

// Space is the file's space by table and index, largest first, from
// SQLite's dbstat table: where a database's bytes go, for ucp bench.
func (s *Store) Space(ctx context.Context) ([]ObjectSpace, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, sum(pgsize), sum(CASE WHEN pagetype = 'leaf' THEN ncell ELSE 0 END)
		FROM dbstat GROUP BY name ORDER BY 2 DESC, 1`)
	if err != nil {
		return nil, storeErr(err, "sqlite: space")
	}
	defer rows.Close()
	var out []ObjectSpace
	for rows.Next() {
		var o ObjectSpace
		if err := rows.Scan(&o.Name, &o.Bytes, &o.Rows); err != nil {
			return nil, storeErr(err, "sqlite: space")
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(err, "sqlite: space")
	}
	return out, nil
}
