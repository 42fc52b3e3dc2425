package sqlite

import (
	"context"
	"database/sql"
	"math"
	"strings"
	"time"

	"ucp/store"
)

// micros maps a time to the integer the date columns hold: microseconds
// since 1970 UTC, with MinTime and MaxTime (and anything beyond) mapped to
// the int64 extremes so that open ends compare as unbounded.
func micros(t time.Time) int64 {
	if !t.After(store.MinTime) {
		return math.MinInt64
	}
	if !t.Before(store.MaxTime) {
		return math.MaxInt64
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros for lastUpdated values.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// Write applies changes atomically in one BEGIN IMMEDIATE transaction on the
// single writer connection.
func (s *Store) Write(ctx context.Context, changes []store.Change) ([]store.Version, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	seen := make(map[store.Ref]struct{}, len(changes))
	for i := range changes {
		c := &changes[i]
		if c.Type == "" || c.ID == "" {
			return nil, store.Errorf(store.Invalid, "change %d: type and id are required", i)
		}
		if c.VersionID <= 0 {
			return nil, store.Errorf(store.Invalid, "change %d (%s/%s): version id must be positive", i, c.Type, c.ID)
		}
		if !c.Deleted && len(c.JSON) == 0 {
			return nil, store.Errorf(store.Invalid, "change %d (%s/%s): JSON is required", i, c.Type, c.ID)
		}
		ref := store.Ref{Type: c.Type, ID: c.ID}
		if _, dup := seen[ref]; dup {
			return nil, store.Errorf(store.Invalid, "%s appears more than once in one write", ref)
		}
		seen[ref] = struct{}{}
	}

	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, storeErr(err, "sqlite: write")
	}
	defer tx.Rollback()
	w := writer{ctx: ctx, tx: tx}
	out := make([]store.Version, len(changes))
	for i := range changes {
		v, err := w.apply(&changes[i])
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	if err := tx.Commit(); err != nil {
		return nil, storeErr(err, "sqlite: commit")
	}
	return out, nil
}

// writer holds one write transaction and its statements, prepared on first
// use: a batch of many changes reuses them.
type writer struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (w *writer) exec(query string, args ...any) (sql.Result, error) {
	st, ok := w.stmts[query]
	if !ok {
		var err error
		st, err = w.tx.PrepareContext(w.ctx, query)
		if err != nil {
			return nil, storeErr(err, "sqlite: prepare")
		}
		if w.stmts == nil {
			w.stmts = map[string]*sql.Stmt{}
		}
		w.stmts[query] = st
	}
	res, err := st.ExecContext(w.ctx, args...)
	return res, storeErr(err, "sqlite: write")
}

var indexTables = [...]string{"idx_token", "idx_string", "idx_date", "idx_reference", "idx_number", "idx_quantity", "idx_uri", "compartment"}

func (w *writer) apply(c *store.Change) (store.Version, error) {
	ref := store.Ref{Type: c.Type, ID: c.ID}
	var rid, cur int64
	var deleted bool
	err := w.tx.QueryRowContext(w.ctx, `SELECT rid, version, deleted FROM resource WHERE type = ? AND id = ?`, c.Type, c.ID).Scan(&rid, &cur, &deleted)
	exists := err == nil
	if err != nil && err != sql.ErrNoRows {
		return store.Version{}, storeErr(err, "sqlite: write")
	}
	switch {
	case c.PrevVersion == 0 && exists:
		return store.Version{}, &store.Error{Kind: store.Conflict, Message: ref.String() + " already exists (version " + itoa(cur) + ")"}
	case c.PrevVersion != 0 && !exists:
		return store.Version{}, &store.Error{Kind: store.Conflict, Message: ref.String() + " does not exist; expected version " + itoa(c.PrevVersion)}
	case c.PrevVersion != 0 && cur != c.PrevVersion:
		return store.Version{}, &store.Error{Kind: store.Conflict, Message: ref.String() + " is at version " + itoa(cur) + ", not " + itoa(c.PrevVersion)}
	}
	if c.IfNoneMatch != nil {
		// The query runs inside this IMMEDIATE transaction: no other writer
		// can create a match between the check and the commit.
		matches, err := matchRefs(w.ctx, w.tx, *c.IfNoneMatch)
		if err != nil {
			return store.Version{}, err
		}
		if len(matches) > 0 {
			return store.Version{}, &store.Error{Kind: store.Conflict, Message: "a current resource matches the condition", Matches: matches}
		}
	}

	lu := c.LastUpdated.UTC().Truncate(time.Microsecond)
	method := c.Method
	var body []byte
	if !c.Deleted {
		body = c.JSON
	}
	if !exists {
		// Take the rid first so the version row can carry it.
		res, err := w.exec(`INSERT INTO resource(type, id, version, last_updated, deleted, cur_seq) VALUES (?, ?, ?, ?, ?, 0)`,
			c.Type, c.ID, c.VersionID, lu.UnixMicro(), c.Deleted)
		if err != nil {
			return store.Version{}, err
		}
		rid, _ = res.LastInsertId()
	}
	res, err := w.exec(`INSERT INTO version(rid, type, id, version, last_updated, deleted, method, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		rid, c.Type, c.ID, c.VersionID, lu.UnixMicro(), c.Deleted, method, body)
	if err != nil {
		return store.Version{}, err
	}
	seq, _ := res.LastInsertId()
	if _, err := w.exec(`UPDATE resource SET version = ?, last_updated = ?, deleted = ?, cur_seq = ? WHERE rid = ?`,
		c.VersionID, lu.UnixMicro(), c.Deleted, seq, rid); err != nil {
		return store.Version{}, err
	}
	if exists {
		if err := w.unindex(rid); err != nil {
			return store.Version{}, err
		}
	}
	if !c.Deleted {
		if err := w.index(rid, c.Type, c.ID, c.Entries, c.Patients); err != nil {
			return store.Version{}, err
		}
	}
	return store.Version{Type: c.Type, ID: c.ID, VersionID: c.VersionID, LastUpdated: lu, Deleted: c.Deleted, Method: method, JSON: body}, nil
}

// unindex deletes every index row and the compartment of resource rid.
func (w *writer) unindex(rid int64) error {
	for _, t := range indexTables {
		if _, err := w.exec(`DELETE FROM `+t+` WHERE rid = ?`, rid); err != nil {
			return err
		}
	}
	// The FTS5 table keys on its rowid, which is the rid.
	_, err := w.exec(`DELETE FROM idx_fts WHERE rowid = ?`, rid)
	return err
}

// index writes the index rows and compartment of resource rid (typ/id, for
// messages).
func (w *writer) index(rid int64, typ, id string, entries []store.Entry, patients []string) error {
	var text, content string
	for i := range entries {
		e := &entries[i]
		n := int64(i)
		var err error
		switch e.Type {
		case store.Token:
			_, err = w.exec(`INSERT INTO idx_token(rid, n, param, system, code, text, grp) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				rid, n, e.Param, e.System, e.Code, foldText(e.Text), e.Group)
		case store.String:
			_, err = w.exec(`INSERT INTO idx_string(rid, n, param, norm, exact, grp) VALUES (?, ?, ?, ?, ?, ?)`,
				rid, n, e.Param, e.Norm, e.Exact, e.Group)
		case store.Date:
			_, err = w.exec(`INSERT INTO idx_date(rid, n, param, lo, hi, grp) VALUES (?, ?, ?, ?, ?, ?)`,
				rid, n, e.Param, micros(e.Low), micros(e.High), e.Group)
		case store.Reference:
			_, err = w.exec(`INSERT INTO idx_reference(rid, n, param, ref_type, ref_id, url, system, code, grp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				rid, n, e.Param, e.RefType, e.RefID, e.URL, e.System, e.Code, e.Group)
		case store.Number:
			_, err = w.exec(`INSERT INTO idx_number(rid, n, param, num, lo, hi, grp) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				rid, n, e.Param, e.Num, e.NumLow, e.NumHigh, e.Group)
		case store.Quantity:
			_, err = w.exec(`INSERT INTO idx_quantity(rid, n, param, num, lo, hi, system, code, canon_code, canon_num, canon_lo, canon_hi, grp)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				rid, n, e.Param, e.Num, e.NumLow, e.NumHigh, e.System, e.Code, e.CanonCode, e.CanonNum, e.CanonLow, e.CanonHigh, e.Group)
		case store.URI:
			_, err = w.exec(`INSERT INTO idx_uri(rid, n, param, uri, grp) VALUES (?, ?, ?, ?, ?)`, rid, n, e.Param, e.Exact, e.Group)
		case store.Special:
			// Collected into the one FTS row written below; several entries
			// of one parameter are joined rather than refused.
			switch e.Param {
			case store.TextParam:
				text = joinText(text, e.Norm)
			case store.ContentParam:
				content = joinText(content, e.Norm)
			default:
				return store.Errorf(store.Unsupported, "%s/%s: special index entry %q is not supported", typ, id, e.Param)
			}
		default:
			return store.Errorf(store.Unsupported, "%s/%s: index entry %q has unsupported type %q", typ, id, e.Param, e.Type)
		}
		if err != nil {
			return err
		}
	}
	if text != "" || content != "" {
		if _, err := w.exec(`INSERT INTO idx_fts(rowid, text, content) VALUES (?, ?, ?)`, rid, text, content); err != nil {
			return err
		}
	}
	for _, p := range patients {
		// OR IGNORE: a resource may name the same patient twice.
		if _, err := w.exec(`INSERT OR IGNORE INTO compartment(patient, rid) VALUES (?, ?)`, p, rid); err != nil {
			return err
		}
	}
	return nil
}

func joinText(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

// foldText lower-cases a token's text for :text, which matches the prefix
// of a word case-insensitively; the query side folds the same way.
func foldText(s string) string { return strings.ToLower(s) }

func itoa(n int64) string { return formatInt(n) }
