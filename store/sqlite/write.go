package sqlite

import (
	"context"
	"database/sql"
	"math"
	"strings"
	"sync"
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

// Write applies changes atomically, all or none. Concurrent writes are
// committed together (group commit): while one transaction commits, the
// writes that arrive queue, and the next of them to take the writer applies
// every queued write in one BEGIN IMMEDIATE transaction, each inside a
// savepoint of its own, and commits them with one fsync. A write that fails
// is rolled back to its savepoint alone; none is answered before the commit
// that holds it is durable (synchronous=FULL).
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
	req := &commitReq{ctx: ctx, changes: changes, done: make(chan struct{})}
	s.gc.mu.Lock()
	s.gc.pending = append(s.gc.pending, req)
	s.gc.mu.Unlock()
	select {
	case <-req.done: // committed (or refused) in another write's group
	case s.gc.turn <- struct{}{}:
		// The writer is ours: commit everything queued, ours too unless
		// the group before took it.
		s.gc.mu.Lock()
		group := s.gc.pending
		s.gc.pending = nil
		s.gc.mu.Unlock()
		if len(group) > 0 {
			s.commitGroup(ctx, group)
		}
		<-s.gc.turn
		<-req.done
	}
	return req.out, req.err
}

// groupCommit queues writes for the writer (see Store.Write).
type groupCommit struct {
	turn    chan struct{} // capacity 1: held by the write committing a group
	mu      sync.Mutex
	pending []*commitReq
}

// commitReq is one Write waiting for its group's commit.
type commitReq struct {
	ctx     context.Context
	changes []store.Change
	out     []store.Version
	err     error
	done    chan struct{}
}

// commitGroup applies each write of group in a savepoint of one
// transaction, commits it, and answers each. The transaction and its
// statements run under a context no caller can cancel: cancelling a
// statement interrupts SQLite, which would roll back the whole group. A
// write whose own context has ended is refused before it is applied.
func (s *Store) commitGroup(ctx context.Context, group []*commitReq) {
	ctx = context.WithoutCancel(ctx)
	fail := func(reqs []*commitReq, err error) {
		for _, r := range reqs {
			if r.err == nil {
				r.err, r.out = err, nil
			}
		}
	}
	defer func() {
		for _, r := range group {
			close(r.done)
		}
	}()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		fail(group, storeErr(err, "sqlite: write"))
		return
	}
	defer tx.Rollback()
	if len(group) == 1 {
		// Alone in its group, a write needs no savepoint: its failure
		// rolls back the transaction.
		r := group[0]
		if r.err = r.ctx.Err(); r.err != nil {
			r.err = storeErr(r.err, "sqlite: write")
			return
		}
		if r.out, r.err = s.apply(ctx, tx, r.changes); r.err != nil {
			r.out = nil
			return
		}
		if err := tx.Commit(); err != nil {
			fail(group, storeErr(err, "sqlite: commit"))
		}
		return
	}
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = storeErr(err, "sqlite: write")
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			fail(group, storeErr(err, "sqlite: write"))
			return
		}
		r.out, r.err = s.apply(ctx, tx, r.changes)
		var err error
		if r.err != nil {
			r.out = nil
			_, err = tx.ExecContext(ctx, "ROLLBACK TO w")
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, "RELEASE w")
		}
		if err != nil {
			// An error SQLite answers by rolling back the whole
			// transaction (an I/O error, a full disk) ends the group.
			fail(group, storeErr(err, "sqlite: write"))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		fail(group, storeErr(err, "sqlite: commit"))
	}
}

// apply writes one Write's changes inside the group's transaction.
func (s *Store) apply(ctx context.Context, tx *sql.Tx, changes []store.Change) ([]store.Version, error) {
	w := writer{s: s, ctx: ctx, tx: tx}
	out := make([]store.Version, len(changes))
	for i := range changes {
		v, err := w.apply(&changes[i])
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	if err := w.flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// writer holds one write transaction and its statements, prepared on first
// use: a batch of many changes reuses them. New rows are queued and stored
// by multi-row INSERTs at flush: a batch of thousands of resources then
// costs a few hundred statements instead of twenty per resource, which
// matters because each statement's overhead in the driver costs as much as
// the B-tree work it does.
type writer struct {
	s     *Store
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	// nextRID and nextSeq are the next resource and version row numbers,
	// read once per Write (after the savepoints before it in its group):
	// the rows are numbered here rather than by SQLite so that they can be
	// queued. Nothing else writes inside the IMMEDIATE transaction.
	nextRID, nextSeq int64
	queues           [len(queuedTables)][]any
}

// queuedTable is a table rows are queued for, with its columns.
type queuedTable struct {
	insert string // "INSERT INTO t(cols)" or "INSERT OR IGNORE …"
	cols   int
}

// The queued tables, in the order a flush inserts them.
const (
	tResource = iota
	tVersion
	tToken
	tString
	tDate
	tReference
	tNumber
	tQuantity
	tURI
	tFTS
	tCompartment
)

var queuedTables = [...]queuedTable{
	tResource:  {"INSERT INTO resource(rid, type, id, version, last_updated, deleted, cur_seq)", 7},
	tVersion:   {"INSERT INTO version(seq, rid, type, id, version, last_updated, deleted, method, json)", 9},
	tToken:     {"INSERT INTO idx_token(rid, n, param, system, code, text, grp)", 7},
	tString:    {"INSERT INTO idx_string(rid, n, param, norm, exact, grp)", 6},
	tDate:      {"INSERT INTO idx_date(rid, n, param, lo, hi, grp)", 6},
	tReference: {"INSERT INTO idx_reference(rid, n, param, ref_type, ref_id, url, system, code, grp, src_type)", 10},
	tNumber:    {"INSERT INTO idx_number(rid, n, param, num, lo, hi, grp)", 7},
	tQuantity:  {"INSERT INTO idx_quantity(rid, n, param, num, lo, hi, system, code, canon_code, canon_num, canon_lo, canon_hi, grp)", 13},
	tURI:       {"INSERT INTO idx_uri(rid, n, param, uri, grp)", 5},
	// The FTS5 table keys on its rowid, which is the rid.
	tFTS: {"INSERT INTO idx_fts(rowid, text, content)", 3},
	// OR IGNORE: a resource may name the same patient twice.
	tCompartment: {"INSERT OR IGNORE INTO compartment(patient, rid)", 2},
}

// insertSizes are the row counts of the multi-row INSERTs, largest first: a
// flush inserts as many of 64 rows as it can, then of 8, then single rows,
// so that a few statements per table, prepared once, serve every write. 64
// rows of the widest table bind 832 values, well under SQLite's limit of
// 32,766.
var insertSizes = []int{64, 8, 1}

func (w *writer) stmt(query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if prepared, ok := w.s.wstmts[query]; ok {
		st = w.tx.StmtContext(w.ctx, prepared)
	} else {
		var err error
		if st, err = w.tx.PrepareContext(w.ctx, query); err != nil {
			return nil, storeErr(err, "sqlite: prepare")
		}
	}
	if w.stmts == nil {
		w.stmts = map[string]*sql.Stmt{}
	}
	w.stmts[query] = st
	return st, nil
}

// Queries of the write path, prepared once (see Store.wstmts).
const (
	qNumber = `SELECT (SELECT coalesce(max(rid), 0) FROM resource), (SELECT coalesce(max(seq), 0) FROM version)`
	qFind   = `SELECT rid, version, deleted FROM resource WHERE type = ? AND id = ?`
	qUpdate = `UPDATE resource SET version = ?, last_updated = ?, deleted = ?, cur_seq = ? WHERE rid = ?`
	qFTSDel = `DELETE FROM idx_fts WHERE rowid = ?`
)

func unindexSQL(table string) string { return `DELETE FROM ` + table + ` WHERE rid = ?` }

// writeQueries lists every statement text the write path runs.
func writeQueries() []string {
	qs := []string{qNumber, qFind, qUpdate, qFTSDel}
	for _, t := range indexTables {
		qs = append(qs, unindexSQL(t))
	}
	for t := range queuedTables {
		qs = append(qs, insertSQLs[t]...)
	}
	return qs
}

func (w *writer) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(w.ctx, args...)
	return res, storeErr(err, "sqlite: write")
}

// queue adds a row to table t's queue.
func (w *writer) queue(t int, row ...any) {
	w.queues[t] = append(w.queues[t], row...)
}

// flush inserts every queued row.
func (w *writer) flush() error {
	for t := range queuedTables {
		args := w.queues[t]
		cols := queuedTables[t].cols
		for i, n := range insertSizes {
			for len(args) >= n*cols {
				if _, err := w.exec(insertSQLs[t][i], args[:n*cols]...); err != nil {
					return err
				}
				args = args[n*cols:]
			}
		}
		clear(w.queues[t])
		w.queues[t] = w.queues[t][:0]
	}
	return nil
}

// insertSQLs holds the multi-row INSERT of each table (index into
// queuedTables) and row count (index into insertSizes), built once: the set
// is fixed, so the write path never assembles SQL.
var insertSQLs = func() (out [len(queuedTables)][]string) {
	for t, qt := range queuedTables {
		row := "(" + strings.Repeat("?, ", qt.cols-1) + "?)"
		for _, rows := range insertSizes {
			var b strings.Builder
			b.WriteString(qt.insert)
			b.WriteString(" VALUES ")
			for i := range rows {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(row)
			}
			out[t] = append(out[t], b.String())
		}
	}
	return out
}()

// number reads the next free rid and seq, once per transaction.
func (w *writer) number() error {
	if w.nextRID != 0 {
		return nil
	}
	st, err := w.stmt(qNumber)
	if err != nil {
		return err
	}
	if err := st.QueryRowContext(w.ctx).Scan(&w.nextRID, &w.nextSeq); err != nil {
		return storeErr(err, "sqlite: write")
	}
	w.nextRID++
	w.nextSeq++
	return nil
}

var indexTables = [...]string{"idx_token", "idx_string", "idx_date", "idx_reference", "idx_number", "idx_quantity", "idx_uri", "compartment"}

func (w *writer) apply(c *store.Change) (store.Version, error) {
	ref := store.Ref{Type: c.Type, ID: c.ID}
	if err := w.number(); err != nil {
		return store.Version{}, err
	}
	var rid, cur int64
	var deleted bool
	find, err := w.stmt(qFind)
	if err != nil {
		return store.Version{}, err
	}
	err = find.QueryRowContext(w.ctx, c.Type, c.ID).Scan(&rid, &cur, &deleted)
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
		// The query runs inside this IMMEDIATE transaction, after the rows
		// queued so far are stored: no other writer, and no earlier change
		// of this write, can create a match between the check and the
		// commit unseen.
		if err := w.flush(); err != nil {
			return store.Version{}, err
		}
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
	seq := w.nextSeq
	w.nextSeq++
	if exists {
		if _, err := w.exec(qUpdate,
			c.VersionID, lu.UnixMicro(), c.Deleted, seq, rid); err != nil {
			return store.Version{}, err
		}
		if err := w.unindex(rid); err != nil {
			return store.Version{}, err
		}
	} else {
		rid = w.nextRID
		w.nextRID++
		w.queue(tResource, rid, c.Type, c.ID, c.VersionID, lu.UnixMicro(), c.Deleted, seq)
	}
	w.queue(tVersion, seq, rid, c.Type, c.ID, c.VersionID, lu.UnixMicro(), c.Deleted, method, w.s.codec.pack(body))
	if !c.Deleted {
		if err := w.index(rid, c.Type, c.ID, c.Entries, c.Patients); err != nil {
			return store.Version{}, err
		}
	}
	return store.Version{Type: c.Type, ID: c.ID, VersionID: c.VersionID, LastUpdated: lu, Deleted: c.Deleted, Method: method, JSON: body}, nil
}

// unindex deletes every index row and the compartment of resource rid. Its
// new rows are queued after this runs, so they are not deleted.
func (w *writer) unindex(rid int64) error {
	for _, t := range indexTables {
		if _, err := w.exec(unindexSQL(t), rid); err != nil {
			return err
		}
	}
	_, err := w.exec(qFTSDel, rid)
	return err
}

// index queues the index rows and compartment of resource rid of type typ
// (typ/id also name it in messages).
func (w *writer) index(rid int64, typ, id string, entries []store.Entry, patients []string) error {
	var text, content string
	for i := range entries {
		e := &entries[i]
		n := int64(i)
		switch e.Type {
		case store.Token:
			w.queue(tToken, rid, n, e.Param, e.System, e.Code, foldText(e.Text), e.Group)
		case store.String:
			w.queue(tString, rid, n, e.Param, e.Norm, e.Exact, e.Group)
		case store.Date:
			w.queue(tDate, rid, n, e.Param, micros(e.Low), micros(e.High), e.Group)
		case store.Reference:
			w.queue(tReference, rid, n, e.Param, e.RefType, e.RefID, e.URL, e.System, e.Code, e.Group, typ)
		case store.Number:
			w.queue(tNumber, rid, n, e.Param, e.Num, e.NumLow, e.NumHigh, e.Group)
		case store.Quantity:
			w.queue(tQuantity, rid, n, e.Param, e.Num, e.NumLow, e.NumHigh, e.System, e.Code, e.CanonCode, e.CanonNum, e.CanonLow, e.CanonHigh, e.Group)
		case store.URI:
			w.queue(tURI, rid, n, e.Param, e.Exact, e.Group)
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
	}
	if text != "" || content != "" {
		w.queue(tFTS, rid, text, content)
	}
	for _, p := range patients {
		w.queue(tCompartment, p, rid)
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
