package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"ucp/store"
)

// Write applies changes atomically in one transaction (see the package doc
// for how concurrent writers meet).
func (s *Store) Write(ctx context.Context, changes []store.Change) ([]store.Version, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	seen := make(map[store.Ref]struct{}, len(changes))
	conditional := false
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
		conditional = conditional || c.IfNoneMatch != nil
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, storeErr(err, "postgres: write")
	}
	defer tx.Rollback(ctx)
	w := writer{ctx: ctx, tx: tx}
	if err := w.lock(conditional); err != nil {
		return nil, err
	}
	refs := make([]store.Ref, len(changes))
	for i := range changes {
		refs[i] = store.Ref{Type: changes[i].Type, ID: changes[i].ID}
	}
	current, err := w.current(refs)
	if err != nil {
		return nil, err
	}
	if err := w.number(len(changes)); err != nil {
		return nil, err
	}
	out := make([]store.Version, len(changes))
	for i := range changes {
		v, err := w.apply(&changes[i], current)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	if err := w.flush(); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, storeErr(err, "postgres: commit")
	}
	return out, nil
}

// writer holds one write transaction and the rows it has yet to store.
// Rows are queued per table and stored at flush by one INSERT … SELECT FROM
// unnest(arrays) per table, all sent in one pgx.Batch: a write of thousands
// of resources costs one round trip, not one per row.
type writer struct {
	ctx  context.Context
	tx   pgx.Tx
	rids []int64 // fresh resource numbers, from resource_rid
	seqs []int64 // fresh version numbers, from version_seq
	// unindexed are resources whose index rows go before new ones are
	// inserted; updated are resource rows to update.
	unindexed []int64
	updated   [][]any
	queues    [len(tables)][][]any
}

// row is the state of a stored resource.
type row struct {
	rid, version int64
	deleted      bool
}

// lock takes the write lock (see the package doc): exclusive for a write
// with a conditional create, else shared.
func (w *writer) lock(exclusive bool) error {
	q := `SELECT pg_advisory_xact_lock_shared($1)`
	if exclusive {
		q = `SELECT pg_advisory_xact_lock($1)`
	}
	_, err := w.tx.Exec(w.ctx, q, int64(lockWrite))
	return storeErr(err, "postgres: write lock")
}

// current reads and locks, in rid order (so that two writers never wait on
// each other in a cycle), the stored rows of refs.
func (w *writer) current(refs []store.Ref) (map[store.Ref]row, error) {
	types, ids := make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		types[i], ids[i] = r.Type, r.ID
	}
	rows, err := w.tx.Query(w.ctx, `SELECT r.type, r.id, r.rid, r.version, r.deleted FROM resource r
		JOIN unnest($1::text[], $2::text[]) AS u(t, i) ON r.type = u.t AND r.id = u.i
		ORDER BY r.rid FOR UPDATE OF r`, types, ids)
	if err != nil {
		return nil, storeErr(err, "postgres: write")
	}
	defer rows.Close()
	out := make(map[store.Ref]row, len(refs))
	for rows.Next() {
		var ref store.Ref
		var r row
		if err := rows.Scan(&ref.Type, &ref.ID, &r.rid, &r.version, &r.deleted); err != nil {
			return nil, storeErr(err, "postgres: write")
		}
		out[ref] = r
	}
	return out, storeErr(rows.Err(), "postgres: write")
}

// number draws n resource and n version numbers.
func (w *writer) number(n int) error {
	rows, err := w.tx.Query(w.ctx, `SELECT nextval('resource_rid'), nextval('version_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return storeErr(err, "postgres: write")
	}
	defer rows.Close()
	for rows.Next() {
		var rid, seq int64
		if err := rows.Scan(&rid, &seq); err != nil {
			return storeErr(err, "postgres: write")
		}
		w.rids = append(w.rids, rid)
		w.seqs = append(w.seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return storeErr(err, "postgres: write")
	}
	// In drawing order, so versions of one write keep the changes' order.
	slices.Sort(w.rids)
	slices.Sort(w.seqs)
	return nil
}

func (w *writer) apply(c *store.Change, current map[store.Ref]row) (store.Version, error) {
	ref := store.Ref{Type: c.Type, ID: c.ID}
	cur, exists := current[ref]
	switch {
	case c.PrevVersion == 0 && exists:
		return store.Version{}, &store.Error{Kind: store.Conflict, Message: ref.String() + " already exists (version " + itoa(cur.version) + ")"}
	case c.PrevVersion != 0 && !exists:
		return store.Version{}, &store.Error{Kind: store.Conflict, Message: ref.String() + " does not exist; expected version " + itoa(c.PrevVersion)}
	case c.PrevVersion != 0 && cur.version != c.PrevVersion:
		return store.Version{}, &store.Error{Kind: store.Conflict, Message: ref.String() + " is at version " + itoa(cur.version) + ", not " + itoa(c.PrevVersion)}
	}
	if c.IfNoneMatch != nil {
		// This transaction holds the write lock exclusively: no other
		// writer is between its check and its commit. The rows queued so
		// far are stored first, so earlier changes of this write count.
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
	var body []byte
	if !c.Deleted {
		body = c.JSON
	}
	seq := w.seqs[0]
	w.seqs = w.seqs[1:]
	rid := cur.rid
	if exists {
		w.updated = append(w.updated, []any{rid, c.VersionID, lu.UnixMicro(), c.Deleted, seq})
		w.unindexed = append(w.unindexed, rid)
	} else {
		rid = w.rids[0]
		w.rids = w.rids[1:]
		w.queue(tResource, rid, c.Type, c.ID, c.VersionID, lu.UnixMicro(), c.Deleted, seq)
	}
	w.queue(tVersion, seq, rid, c.Type, c.ID, c.VersionID, lu.UnixMicro(), c.Deleted, c.Method, body)
	if !c.Deleted {
		if err := w.index(rid, c.Type, c.ID, c.Entries, c.Patients); err != nil {
			return store.Version{}, err
		}
	}
	return store.Version{Type: c.Type, ID: c.ID, VersionID: c.VersionID, LastUpdated: lu, Deleted: c.Deleted, Method: c.Method, JSON: body}, nil
}

// queued is a table rows are queued for: its name and its columns' names
// and types.
type queued struct {
	name  string
	cols  []string
	types []string // bigint, integer, text, float8, boolean, bytea; "words" is text stored as a tsvector
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
	tText
	tCompartment
)

func tab(name string, spec ...string) queued {
	t := queued{name: name}
	for _, s := range spec {
		col, typ, _ := strings.Cut(s, " ")
		t.cols = append(t.cols, col)
		t.types = append(t.types, typ)
	}
	return t
}

var tables = [...]queued{
	tResource:    tab("resource", "rid bigint", "type text", "id text", "version bigint", "last_updated bigint", "deleted boolean", "cur_seq bigint"),
	tVersion:     tab("version", "seq bigint", "rid bigint", "type text", "id text", "version bigint", "last_updated bigint", "deleted boolean", "method text", "json bytea"),
	tToken:       tab("idx_token", "rid bigint", "n integer", "param text", "system text", "code text", "text text", "grp integer"),
	tString:      tab("idx_string", "rid bigint", "n integer", "param text", "norm text", "exact text", "grp integer"),
	tDate:        tab("idx_date", "rid bigint", "n integer", "param text", "lo bigint", "hi bigint", "grp integer"),
	tReference:   tab("idx_reference", "rid bigint", "n integer", "param text", "ref_type text", "ref_id text", "url text", "system text", "code text", "grp integer", "src_type text"),
	tNumber:      tab("idx_number", "rid bigint", "n integer", "param text", "num float8", "lo float8", "hi float8", "grp integer"),
	tQuantity:    tab("idx_quantity", "rid bigint", "n integer", "param text", "num float8", "lo float8", "hi float8", "system text", "code text", "canon_code text", "canon_num float8", "canon_lo float8", "canon_hi float8", "grp integer"),
	tURI:         tab("idx_uri", "rid bigint", "n integer", "param text", "uri text", "grp integer"),
	tText:        tab("idx_text", "rid bigint", "text words", "content words"),
	tCompartment: tab("compartment", "patient text", "rid bigint"),
}

// insertSQLs holds each table's INSERT … SELECT FROM unnest($1::type[], …),
// built once.
var insertSQLs = func() (out [len(tables)]string) {
	for t, tb := range tables {
		var sel, args []string
		for i, typ := range tb.types {
			at := typ
			expr := "u." + tb.cols[i]
			if typ == "words" {
				// Words joined by spaces (they hold none) become lexemes
				// as they are.
				at = "text"
				expr = "array_to_tsvector(string_to_array(" + expr + ", ' '))"
			}
			args = append(args, fmt.Sprintf("$%d::%s[]", i+1, at))
			sel = append(sel, expr)
		}
		out[t] = "INSERT INTO " + tb.name + "(" + strings.Join(tb.cols, ", ") + ") SELECT " + strings.Join(sel, ", ") +
			" FROM unnest(" + strings.Join(args, ", ") + ") AS u(" + strings.Join(tb.cols, ", ") + ")"
	}
	return out
}()

// indexTables are the tables holding a current version's index.
var indexTables = [...]string{"idx_token", "idx_string", "idx_date", "idx_reference", "idx_number", "idx_quantity", "idx_uri", "idx_text", "compartment"}

const updateSQL = `UPDATE resource r SET version = u.version, last_updated = u.lu, deleted = u.deleted, cur_seq = u.seq
	FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::boolean[], $5::bigint[]) AS u(rid, version, lu, deleted, seq)
	WHERE r.rid = u.rid`

func (w *writer) queue(t int, row ...any) { w.queues[t] = append(w.queues[t], row) }

// flush stores everything queued: the old index rows of updated resources
// go first, then the resource updates, then every new row.
func (w *writer) flush() error {
	var b pgx.Batch
	if len(w.unindexed) > 0 {
		for _, t := range indexTables {
			b.Queue(`DELETE FROM `+t+` WHERE rid = ANY($1)`, w.unindexed)
		}
	}
	if len(w.updated) > 0 {
		b.Queue(updateSQL, columns(w.updated, []string{"bigint", "bigint", "bigint", "boolean", "bigint"})...)
	}
	for t := range tables {
		if len(w.queues[t]) > 0 {
			b.Queue(insertSQLs[t], columns(w.queues[t], tables[t].types)...)
		}
	}
	if b.Len() == 0 {
		return nil
	}
	w.unindexed, w.updated = w.unindexed[:0], w.updated[:0]
	for t := range w.queues {
		w.queues[t] = w.queues[t][:0]
	}
	return storeErr(w.tx.SendBatch(w.ctx, &b).Close(), "postgres: write")
}

// columns turns rows into one typed slice per column, for unnest.
func columns(rows [][]any, types []string) []any {
	out := make([]any, len(types))
	for i, typ := range types {
		switch typ {
		case "bigint":
			col := make([]int64, len(rows))
			for j, r := range rows {
				col[j] = r[i].(int64)
			}
			out[i] = col
		case "integer":
			col := make([]int32, len(rows))
			for j, r := range rows {
				col[j] = int32(r[i].(int))
			}
			out[i] = col
		case "text", "words":
			col := make([]string, len(rows))
			for j, r := range rows {
				col[j] = r[i].(string)
			}
			out[i] = col
		case "float8":
			col := make([]float64, len(rows))
			for j, r := range rows {
				col[j] = r[i].(float64)
			}
			out[i] = col
		case "boolean":
			col := make([]bool, len(rows))
			for j, r := range rows {
				col[j] = r[i].(bool)
			}
			out[i] = col
		case "bytea":
			col := make([][]byte, len(rows))
			for j, r := range rows {
				col[j] = r[i].([]byte)
			}
			out[i] = col
		}
	}
	return out
}

// index queues the index rows and compartment of resource rid of type typ
// (typ/id also name it in messages).
func (w *writer) index(rid int64, typ, id string, entries []store.Entry, patients []string) error {
	var text, content []string
	for i := range entries {
		e := &entries[i]
		n := i
		switch e.Type {
		case store.Token:
			w.queue(tToken, rid, n, e.Param, e.System, e.Code, strings.ToLower(e.Text), e.Group)
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
			// Collected into the one idx_text row written below; several
			// entries of one parameter are joined rather than refused.
			switch e.Param {
			case store.TextParam:
				text = append(text, words(e.Norm)...)
			case store.ContentParam:
				content = append(content, words(e.Norm)...)
			default:
				return store.Errorf(store.Unsupported, "%s/%s: special index entry %q is not supported", typ, id, e.Param)
			}
		default:
			return store.Errorf(store.Unsupported, "%s/%s: index entry %q has unsupported type %q", typ, id, e.Param, e.Type)
		}
	}
	if len(text) > 0 || len(content) > 0 {
		w.queue(tText, rid, strings.Join(text, " "), strings.Join(content, " "))
	}
	// A resource may name the same patient twice.
	seen := make(map[string]bool, len(patients))
	for _, p := range patients {
		if !seen[p] {
			seen[p] = true
			w.queue(tCompartment, p, rid)
		}
	}
	return nil
}
