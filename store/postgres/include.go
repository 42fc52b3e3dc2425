package postgres

import (
	"context"

	"ucp/store"
)

var _ store.Includer = (*Store)(nil)

// includeSQL answers Included in one statement for the whole page and all
// its _include paths. The paths and the sources arrive as arrays unnested
// WITH ORDINALITY (their position), so the statement text is the same for
// every page. Each source is found through resource_type_id, its reference
// rows through idx_reference's primary key (rid, n), and each target
// through resource_type_id again.
const includeSQL = `WITH
	p(k, src, param, target) AS (SELECT k - 1, src, param, target FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(src, param, target, k)),
	j(k, typ, id) AS (SELECT k - 1, typ, id FROM unnest($4::text[], $5::text[]) WITH ORDINALITY AS u(typ, id, k))
	SELECT p.k, j.k, t.rid, t.type, t.id, t.version, t.last_updated, v.method, v.json
	FROM p
	CROSS JOIN j
	JOIN resource f ON f.type = j.typ AND f.id = j.id
	JOIN idx_reference x ON x.rid = f.rid
	JOIN resource t ON t.type = x.ref_type AND t.id = x.ref_id
	JOIN version v ON v.seq = t.cur_seq
	WHERE NOT f.deleted AND NOT t.deleted AND x.ref_type <> '' AND x.ref_id <> ''
		AND (p.src = '' OR f.type = p.src)
		AND (p.param = '*' OR x.param = p.param)
		AND (p.target = '' OR x.ref_type = p.target)
	ORDER BY p.k, j.k, x.n`

// Included implements store.Includer.
func (s *Store) Included(ctx context.Context, from []store.Ref, paths []store.IncludePath) ([]store.Inclusion, error) {
	if len(from) == 0 || len(paths) == 0 {
		return nil, nil
	}
	types, ids := make([]string, len(from)), make([]string, len(from))
	for i, r := range from {
		if r.Type == "" || r.ID == "" {
			return nil, store.Errorf(store.Invalid, "include: a source needs a type and an id")
		}
		types[i], ids[i] = r.Type, r.ID
	}
	srcs, params, targets := make([]string, len(paths)), make([]string, len(paths)), make([]string, len(paths))
	for i, p := range paths {
		if p.Param == "" {
			return nil, store.Errorf(store.Invalid, "include: a path needs a parameter")
		}
		srcs[i], params[i], targets[i] = p.SourceType, p.Param, p.TargetType
	}
	rows, err := s.pool.Query(ctx, includeSQL, srcs, params, targets, types, ids)
	if err != nil {
		return nil, storeErr(err, "postgres: include")
	}
	defer rows.Close()
	var out []store.Inclusion
	type link struct{ path, src, rid int64 }
	var seen map[link]bool
	for rows.Next() {
		var path, src, rid, lu int64
		var v store.Version
		if err := rows.Scan(&path, &src, &rid, &v.Type, &v.ID, &v.VersionID, &lu, &v.Method, &v.JSON); err != nil {
			return nil, storeErr(err, "postgres: include")
		}
		if path < 0 || path >= int64(len(paths)) || src < 0 || src >= int64(len(from)) {
			continue // cannot happen: the ordinalities are the arrays' positions
		}
		// One source naming one target twice (two codings, a repeated
		// reference) yields it once per path.
		l := link{path, src, rid}
		if seen[l] {
			continue
		}
		if seen == nil {
			seen = map[link]bool{}
		}
		seen[l] = true
		v.LastUpdated = fromMicros(lu)
		out = append(out, store.Inclusion{Path: int(path), From: from[src], Version: v})
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(err, "postgres: include")
	}
	return out, nil
}
