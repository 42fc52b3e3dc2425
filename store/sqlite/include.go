package sqlite

import (
	"context"
	"encoding/json"

	"ucp/store"
)

var _ store.Includer = (*Store)(nil)

// Included implements store.Includer: one statement for the whole page. The
// sources arrive as a JSON array of [type, id] pairs walked by json_each
// (whose key is the position in from), so the statement text is the same
// for every page size and stays in the prepared-statement cache; each source
// is found through resource_type_id, its reference rows through
// idx_reference's primary key (rid, n), and each target through
// resource_type_id again. The unary + on the reference rows' other columns
// keeps SQLite from driving the join from idx_reference_id (every row of
// the parameter, for each source) instead of the primary key.
func (s *Store) Included(ctx context.Context, from []store.Ref, param, targetType string) ([]store.Inclusion, error) {
	if len(from) == 0 {
		return nil, nil
	}
	pairs := make([][2]string, len(from))
	for i, r := range from {
		if r.Type == "" || r.ID == "" {
			return nil, store.Errorf(store.Invalid, "include: a source needs a type and an id")
		}
		pairs[i] = [2]string{r.Type, r.ID}
	}
	list, err := json.Marshal(pairs)
	if err != nil {
		return nil, storeErr(err, "sqlite: include")
	}
	var b sqlb
	b.w(`SELECT j.key, t.rid, t.type, t.id, t.version, t.last_updated, v.method, v.json
		FROM json_each(`)
	b.a(string(list))
	b.w(`) j
		CROSS JOIN resource f ON f.type = json_extract(j.value, '$[0]') AND f.id = json_extract(j.value, '$[1]')
		CROSS JOIN idx_reference x ON x.rid = f.rid
		CROSS JOIN resource t ON t.type = x.ref_type AND t.id = x.ref_id
		CROSS JOIN version v ON v.seq = t.cur_seq
		WHERE f.deleted = 0 AND t.deleted = 0 AND +x.ref_type <> '' AND +x.ref_id <> ''`)
	if param != "*" {
		b.w(" AND +x.param = ")
		b.a(param)
	}
	if targetType != "" {
		b.w(" AND +x.ref_type = ")
		b.a(targetType)
	}
	b.w(" ORDER BY j.key, x.n")
	st, cached, err := s.stmt(ctx, b.b.String())
	if err != nil {
		return nil, err
	}
	if !cached {
		defer st.Close()
	}
	rows, err := st.QueryContext(ctx, b.args...)
	if err != nil {
		return nil, storeErr(err, "sqlite: include")
	}
	defer rows.Close()
	var out []store.Inclusion
	type pair struct{ key, rid int64 }
	var seen map[pair]bool
	for rows.Next() {
		var key, rid, lu int64
		var v store.Version
		if err := rows.Scan(&key, &rid, &v.Type, &v.ID, &v.VersionID, &lu, &v.Method, &v.JSON); err != nil {
			return nil, storeErr(err, "sqlite: include")
		}
		if key < 0 || key >= int64(len(from)) {
			continue // cannot happen: json_each keys are the array's indexes
		}
		// One source naming one target twice (two codings, a repeated
		// reference) yields it once.
		p := pair{key, rid}
		if seen[p] {
			continue
		}
		if seen == nil {
			seen = map[pair]bool{}
		}
		seen[p] = true
		v.LastUpdated = fromMicros(lu)
		out = append(out, store.Inclusion{From: from[key], Version: v})
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(err, "sqlite: include")
	}
	return out, nil
}
