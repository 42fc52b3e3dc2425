package sqlite

import (
	"context"
	"encoding/json"

	"ucp/store"
)

var _ store.Includer = (*Store)(nil)

// includeSQL answers Included in one statement for the whole page and all
// its _include paths. The paths and the sources arrive as JSON arrays
// walked by json_each (whose key is the position in the array), so the
// statement text is the same for every page and stays in the prepared
// statement cache. Each source is found through resource_type_id, its
// reference rows through idx_reference's primary key (rid, n), and each
// target through resource_type_id again. The unary + on the reference rows'
// other columns keeps SQLite from driving the join from idx_reference_id
// (every row of the parameter, for each source) instead of the primary key.
const includeSQL = `WITH
	p(k, src, param, target) AS MATERIALIZED (
		SELECT key, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)),
	j(k, typ, id) AS MATERIALIZED (
		SELECT key, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))
	SELECT p.k, j.k, t.rid, t.type, t.id, t.version, t.last_updated, v.method, v.json
	FROM p
	CROSS JOIN j
	CROSS JOIN resource f ON f.type = j.typ AND f.id = j.id
	CROSS JOIN idx_reference x ON x.rid = f.rid
	CROSS JOIN resource t ON t.type = x.ref_type AND t.id = x.ref_id
	CROSS JOIN version v ON v.seq = t.cur_seq
	WHERE f.deleted = 0 AND t.deleted = 0 AND +x.ref_type <> '' AND +x.ref_id <> ''
		AND (p.src = '' OR f.type = p.src)
		AND (p.param = '*' OR +x.param = p.param)
		AND (p.target = '' OR +x.ref_type = p.target)
	ORDER BY p.k, j.k, x.n`

// referencesSQL is includeSQL without the targets: each source's
// reference rows of each path, whether or not what they name exists.
const referencesSQL = `WITH
	p(k, src, param, target) AS MATERIALIZED (
		SELECT key, json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)),
	j(k, typ, id) AS MATERIALIZED (
		SELECT key, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))
	SELECT p.k, j.k, x.ref_type, x.ref_id
	FROM p
	CROSS JOIN j
	CROSS JOIN resource f ON f.type = j.typ AND f.id = j.id
	CROSS JOIN idx_reference x ON x.rid = f.rid
	WHERE f.deleted = 0 AND +x.ref_type <> '' AND +x.ref_id <> ''
		AND (p.src = '' OR f.type = p.src)
		AND (p.param = '*' OR +x.param = p.param)
		AND (p.target = '' OR +x.ref_type = p.target)
	ORDER BY p.k, j.k, x.n`

var _ store.Referrer = (*Store)(nil)

// References implements store.Referrer.
func (s *Store) References(ctx context.Context, from []store.Ref, paths []store.IncludePath) ([]store.Link, error) {
	if len(from) == 0 || len(paths) == 0 {
		return nil, nil
	}
	sj, pj, err := includeArgs(from, paths)
	if err != nil {
		return nil, err
	}
	st, cached, err := s.stmt(ctx, referencesSQL)
	if err != nil {
		return nil, err
	}
	if !cached {
		defer st.Close()
	}
	rows, err := st.QueryContext(ctx, string(pj), string(sj))
	if err != nil {
		return nil, storeErr(err, "sqlite: references")
	}
	defer rows.Close()
	var out []store.Link
	seen := map[store.Link]bool{}
	for rows.Next() {
		var path, src int64
		var to store.Ref
		if err := rows.Scan(&path, &src, &to.Type, &to.ID); err != nil {
			return nil, storeErr(err, "sqlite: references")
		}
		if path < 0 || path >= int64(len(paths)) || src < 0 || src >= int64(len(from)) {
			continue // cannot happen: json_each keys are the arrays' indexes
		}
		r := store.Link{Path: int(path), From: from[src], To: to}
		if seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(err, "sqlite: references")
	}
	return out, nil
}

// includeArgs are the JSON arrays of sources and paths includeSQL and
// referencesSQL walk.
func includeArgs(from []store.Ref, paths []store.IncludePath) (sources, specs []byte, err error) {
	src := make([][2]string, len(from))
	for i, r := range from {
		if r.Type == "" || r.ID == "" {
			return nil, nil, store.Errorf(store.Invalid, "include: a source needs a type and an id")
		}
		src[i] = [2]string{r.Type, r.ID}
	}
	sp := make([][3]string, len(paths))
	for i, p := range paths {
		if p.Param == "" {
			return nil, nil, store.Errorf(store.Invalid, "include: a path needs a parameter")
		}
		sp[i] = [3]string{p.SourceType, p.Param, p.TargetType}
	}
	if sources, err = json.Marshal(src); err != nil {
		return nil, nil, storeErr(err, "sqlite: include")
	}
	if specs, err = json.Marshal(sp); err != nil {
		return nil, nil, storeErr(err, "sqlite: include")
	}
	return sources, specs, nil
}

// Included implements store.Includer.
func (s *Store) Included(ctx context.Context, from []store.Ref, paths []store.IncludePath) ([]store.Inclusion, error) {
	if len(from) == 0 || len(paths) == 0 {
		return nil, nil
	}
	sj, pj, err := includeArgs(from, paths)
	if err != nil {
		return nil, err
	}
	st, cached, err := s.stmt(ctx, includeSQL)
	if err != nil {
		return nil, err
	}
	if !cached {
		defer st.Close()
	}
	rows, err := st.QueryContext(ctx, string(pj), string(sj))
	if err != nil {
		return nil, storeErr(err, "sqlite: include")
	}
	defer rows.Close()
	var out []store.Inclusion
	type link struct{ path, src, rid int64 }
	var seen map[link]bool
	for rows.Next() {
		var path, src, rid, lu int64
		var v store.Version
		if err := rows.Scan(&path, &src, &rid, &v.Type, &v.ID, &v.VersionID, &lu, &v.Method, &v.JSON); err != nil {
			return nil, storeErr(err, "sqlite: include")
		}
		if path < 0 || path >= int64(len(paths)) || src < 0 || src >= int64(len(from)) {
			continue // cannot happen: json_each keys are the arrays' indexes
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
		if v.JSON, err = s.codec.unpack(v.JSON); err != nil {
			return nil, err
		}
		out = append(out, store.Inclusion{Path: int(path), From: from[src], Version: v})
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(err, "sqlite: include")
	}
	return out, nil
}
