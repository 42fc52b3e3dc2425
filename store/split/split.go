// Package split is a store.Store that keeps some resource types in a store
// of their own. ucp keeps AuditEvents in a second SQLite file beside the
// main one, with its own writer, group commit and fsync, indexed only by the
// parameters audit searches read: recording a read then writes nothing into
// the B-trees the clinical readers use, nor queues behind clinical writes.
//
// Each call goes to the store that holds its type. What spans both:
//
//   - A Write of both kinds of change (a write and its AuditEvent) commits
//     the side store's changes first, then the main store's. A crash
//     between the two leaves an AuditEvent of a write that did not happen
//     (naming a version the main store does not hold), never a write
//     without its AuditEvent: an audit that over-reports an attempt loses
//     nothing, an unaudited change to a record would. When the main write
//     fails (a lost race, which the service retries with a new AuditEvent,
//     or a refusal), the side changes are retracted by a deletion version
//     each, so audit searches do not show a write that did not happen.
//   - System history merges both stores' histories, newest first.
//   - A search of types on both sides (a system search) returns the main
//     store's matches, then the side store's; it cannot be sorted (its
//     sort would have to merge two stores' orders) and is refused so.
//   - _include follows references between the stores (store.Referrer);
//     _revinclude is a search of the referring type, answered where it is.
//   - A chain or _has from one store's type to the other's is answered in
//     two steps, as no one SQL statement can join the two files: the
//     chained (or referring) resources are searched in their store first,
//     and the condition becomes references to them (or the ids they refer
//     to), within bounds (maxResolved, maxReferring). Under :not or
//     :missing either is refused (Unsupported).
//   - A search of a side type by a parameter the side store does not index
//     is refused (Unsupported) rather than answered wrongly; a search of
//     every type (Query.Types empty) by one is answered by the main store.
package split

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"ucp/store"
)

// Options says which types the side store keeps and how they are indexed.
type Options struct {
	// Types are the resource types kept in the side store.
	Types []string
	// Params are the search parameters of those types whose index entries
	// the side store keeps; the others are dropped on write and a search
	// by them is refused. Empty keeps every entry. _id and _lastUpdated are
	// always answered.
	Params []string
}

// Store routes each resource type to the main store or the side store.
type Store struct {
	main, side store.Store
	types      map[string]bool
	params     map[string]bool // nil: every parameter
	now        func() time.Time
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Includer  = (*Store)(nil)
	_ store.Reindexer = (*Store)(nil)
)

// New returns a Store over main and side. It owns both: Close closes them.
// Both must implement store.Includer and store.Referrer for _include to be
// answered from their indexes (every store in this module does); without
// them Included reports Unsupported.
func New(main, side store.Store, o Options) *Store {
	s := &Store{main: main, side: side, types: map[string]bool{}, now: time.Now}
	for _, t := range o.Types {
		s.types[t] = true
	}
	if len(o.Params) > 0 {
		s.params = map[string]bool{}
		for _, p := range o.Params {
			s.params[p] = true
		}
	}
	return s
}

// Main and Side are the two stores, for backups and sizes.
func (s *Store) Main() store.Store { return s.main }

// Side is the store of Options.Types.
func (s *Store) Side() store.Store { return s.side }

func (s *Store) of(typ string) store.Store {
	if s.types[typ] {
		return s.side
	}
	return s.main
}

// Read implements store.Store.
func (s *Store) Read(ctx context.Context, typ, id string) (*store.Version, error) {
	return s.of(typ).Read(ctx, typ, id)
}

// VRead implements store.Store.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (*store.Version, error) {
	return s.of(typ).VRead(ctx, typ, id, version)
}

// Close closes both stores.
func (s *Store) Close() error {
	return errors.Join(s.main.Close(), s.side.Close())
}

// Write implements store.Store; see the package comment for a write of
// both kinds.
func (s *Store) Write(ctx context.Context, changes []store.Change) ([]store.Version, error) {
	var mainIdx, sideIdx []int
	var mainCh, sideCh []store.Change
	for i, c := range changes {
		if c.IfNoneMatch != nil {
			if err := s.oneSide(c.IfNoneMatch.Types, s.types[c.Type]); err != nil {
				return nil, err
			}
		}
		if s.types[c.Type] {
			c.Entries = s.keep(c.Entries)
			sideIdx, sideCh = append(sideIdx, i), append(sideCh, c)
		} else {
			mainIdx, mainCh = append(mainIdx, i), append(mainCh, c)
		}
	}
	if len(sideCh) == 0 {
		return s.main.Write(ctx, changes)
	}
	if len(mainCh) == 0 {
		return s.side.Write(ctx, sideCh)
	}
	sv, err := s.side.Write(ctx, sideCh)
	if err != nil {
		return nil, err
	}
	mv, err := s.main.Write(ctx, mainCh)
	if err != nil {
		// The retraction must run even when the caller has gone: the
		// side changes are committed.
		if rerr := s.retract(context.WithoutCancel(ctx), sv); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		return nil, err
	}
	out := make([]store.Version, len(changes))
	for i, v := range sv {
		out[sideIdx[i]] = v
	}
	for i, v := range mv {
		out[mainIdx[i]] = v
	}
	return out, nil
}

// retract writes a deletion over each of vs, the side half of a write
// whose main half failed.
func (s *Store) retract(ctx context.Context, vs []store.Version) error {
	lu := s.now().UTC()
	del := make([]store.Change, len(vs))
	for i, v := range vs {
		if !lu.After(v.LastUpdated) {
			lu = v.LastUpdated.Add(time.Microsecond)
		}
		del[i] = store.Change{Type: v.Type, ID: v.ID, VersionID: v.VersionID + 1, PrevVersion: v.VersionID,
			LastUpdated: lu, Method: "DELETE", Deleted: true}
	}
	if _, err := s.side.Write(ctx, del); err != nil {
		return fmt.Errorf("split: retracting the side half of a failed write: %w", err)
	}
	return nil
}

// keep drops the entries the side store does not index.
func (s *Store) keep(entries []store.Entry) []store.Entry {
	if s.params == nil {
		return entries
	}
	out := make([]store.Entry, 0, len(entries))
	for _, e := range entries {
		code, _, _ := strings.Cut(e.Param, "$") // a composite's component: its composite's
		if s.params[code] {
			out = append(out, e)
		}
	}
	return out
}

// oneSide refuses a query of types (empty: every type) that are not all
// in the side store when side is set, or all in the main store when not.
func (s *Store) oneSide(types []string, side bool) error {
	if len(types) == 0 {
		return store.Errorf(store.Unsupported, "a condition over every type cannot be checked in one write here")
	}
	for _, t := range types {
		if s.types[t] != side {
			return store.Errorf(store.Unsupported, "%s is kept in another store than the resource written: the condition cannot be checked in its write", t)
		}
	}
	return nil
}

// Reindex implements store.Reindexer. The updates of each store are
// applied in that store's transaction.
func (s *Store) Reindex(ctx context.Context, updates []store.IndexUpdate) (int, error) {
	var mainU, sideU []store.IndexUpdate
	for _, u := range updates {
		if s.types[u.Type] {
			u.Entries = s.keep(u.Entries)
			sideU = append(sideU, u)
		} else {
			mainU = append(mainU, u)
		}
	}
	n := 0
	for _, part := range []struct {
		st store.Store
		u  []store.IndexUpdate
	}{{s.main, mainU}, {s.side, sideU}} {
		if len(part.u) == 0 {
			continue
		}
		rx, ok := part.st.(store.Reindexer)
		if !ok {
			return n, store.Errorf(store.Unsupported, "$reindex is not supported by this store")
		}
		got, err := rx.Reindex(ctx, part.u)
		n += got
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// cursor is a cursor of a query that spans both stores: each store's own
// cursor, and whether that store is done (History) or which store the
// page is in (Search).
type cursor struct {
	M    string `json:"m,omitempty"`
	S    string `json:"s,omitempty"`
	MEnd bool   `json:"me,omitempty"`
	SEnd bool   `json:"se,omitempty"`
	Side bool   `json:"side,omitempty"`
}

const cursorPrefix = "split."

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return c, store.Errorf(store.Invalid, "invalid cursor")
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return c, store.Errorf(store.Invalid, "invalid cursor")
	}
	return c, nil
}

// History implements store.Store. System history merges both stores'.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) (*store.HistoryPage, error) {
	if q.Type != "" {
		return s.of(q.Type).History(ctx, q)
	}
	if q.Count <= 0 {
		return nil, store.Errorf(store.Invalid, "history: the page size must be positive")
	}
	var c cursor
	if q.Cursor != "" {
		var err error
		if c, err = decodeCursor(q.Cursor); err != nil {
			return nil, err
		}
	}
	page := func(st store.Store, cur string, end bool) (*store.HistoryPage, error) {
		qq := q
		qq.Cursor = cur
		if end {
			// Only the total: the first page's, of one version.
			qq.Cursor, qq.Count = "", 1
			p, err := st.History(ctx, qq)
			if err != nil {
				return nil, err
			}
			return &store.HistoryPage{Total: p.Total}, nil
		}
		return st.History(ctx, qq)
	}
	mp, err := page(s.main, c.M, c.MEnd)
	if err != nil {
		return nil, err
	}
	sp, err := page(s.side, c.S, c.SEnd)
	if err != nil {
		return nil, err
	}
	out := &store.HistoryPage{Total: mp.Total + sp.Total}
	i, j := 0, 0
	for len(out.Versions) < q.Count && (i < len(mp.Versions) || j < len(sp.Versions)) {
		// Newest first; on a tie the main store's version first.
		if j >= len(sp.Versions) || (i < len(mp.Versions) && !sp.Versions[j].LastUpdated.After(mp.Versions[i].LastUpdated)) {
			out.Versions = append(out.Versions, mp.Versions[i])
			i++
		} else {
			out.Versions = append(out.Versions, sp.Versions[j])
			j++
		}
	}
	next := c
	if next.M, next.MEnd, err = s.advance(ctx, s.main, q, c.M, c.MEnd, mp, i); err != nil {
		return nil, err
	}
	if next.S, next.SEnd, err = s.advance(ctx, s.side, q, c.S, c.SEnd, sp, j); err != nil {
		return nil, err
	}
	if !next.MEnd || !next.SEnd {
		out.Next = next.encode()
	}
	return out, nil
}

// advance is one store's cursor after taking used of the versions of its
// page p read from cur: its own next cursor when the page was used up, else
// the cursor after the first used versions, read again.
func (s *Store) advance(ctx context.Context, st store.Store, q store.HistoryQuery, cur string, end bool, p *store.HistoryPage, used int) (string, bool, error) {
	switch {
	case end:
		return "", true, nil
	case used == len(p.Versions):
		return p.Next, p.Next == "", nil
	case used == 0:
		return cur, false, nil
	}
	q.Cursor, q.Count = cur, used
	again, err := st.History(ctx, q)
	if err != nil {
		return "", false, err
	}
	if again.Next == "" {
		return "", false, store.Errorf(store.Internal, "split: history changed under its cursor")
	}
	return again.Next, false, nil
}

// Search implements store.Store; see the package comment for what spans
// both stores.
func (s *Store) Search(ctx context.Context, q store.Query) (*store.Result, error) {
	var mainT, sideT []string
	for _, t := range q.Types {
		if s.types[t] {
			sideT = append(sideT, t)
		} else {
			mainT = append(mainT, t)
		}
	}
	if len(q.Types) > 0 && (len(sideT) == 0 || len(mainT) == 0) {
		where, none, err := s.resolve(ctx, q.Where, q.Types, len(mainT) == 0)
		if err != nil {
			return nil, err
		}
		if none {
			r := &store.Result{}
			if q.Total == store.TotalNone {
				r.Total = -1
			}
			return r, nil
		}
		q.Where = where
	}
	switch {
	case len(q.Types) > 0 && len(sideT) == 0:
		if err := s.check(q, false); err != nil {
			return nil, err
		}
		return s.main.Search(ctx, q)
	case len(q.Types) > 0 && len(mainT) == 0:
		if err := s.check(q, true); err != nil {
			return nil, err
		}
		return s.side.Search(ctx, q)
	}
	if len(q.Sort) > 0 {
		return nil, store.Errorf(store.Unsupported, "a search of %s with other types cannot be sorted: search them on their own", s.typeNames())
	}
	if err := s.check(q, false); err != nil {
		return nil, err
	}
	mq, sq := q, q
	mq.Types, sq.Types = mainT, sideT
	if len(q.Types) == 0 {
		// Every type, as store-level callers ask (the service names the
		// types): the main store's are every type but the side's, which
		// it does not hold. A parameter the side store does not index
		// leaves the side types out rather than refusing the search.
		mq.Types = nil
		if s.check(q, true) != nil {
			return s.main.Search(ctx, mq)
		}
		sq.Types = slices.Sorted(maps.Keys(s.types))
	} else if err := s.check(q, true); err != nil {
		return nil, err
	}
	return s.searchBoth(ctx, q, mq, sq)
}

func (s *Store) typeNames() string {
	return strings.Join(slices.Sorted(maps.Keys(s.types)), ", ")
}

// searchBoth pages through the main store's matches, then the side
// store's.
func (s *Store) searchBoth(ctx context.Context, q, mq, sq store.Query) (*store.Result, error) {
	var c cursor
	if q.Cursor != "" {
		var err error
		if c, err = decodeCursor(q.Cursor); err != nil {
			return nil, err
		}
	}
	out := &store.Result{Total: -1}
	total := func(st store.Store, qq store.Query) (int, error) {
		qq.Cursor, qq.Count = "", 0
		r, err := st.Search(ctx, qq)
		if err != nil {
			return 0, err
		}
		return r.Total, nil
	}
	if q.Total != store.TotalNone {
		m, err := total(s.main, mq)
		if err != nil {
			return nil, err
		}
		n, err := total(s.side, sq)
		if err != nil {
			return nil, err
		}
		out.Total = m + n
		if m < 0 || n < 0 {
			out.Total = -1
		}
	}
	if q.Count <= 0 {
		return out, nil
	}
	if !c.Side {
		mq.Cursor, mq.Total = c.M, store.TotalNone
		r, err := s.main.Search(ctx, mq)
		if err != nil {
			return nil, err
		}
		out.Versions = r.Versions
		if r.Prev != "" {
			out.Prev = cursor{M: r.Prev}.encode()
		}
		if r.Next != "" {
			out.Next = cursor{M: r.Next}.encode()
			return out, nil
		}
		c = cursor{Side: true}
	}
	// The side store's matches, from c.S; on the page that ends the main
	// store's, as many as there is room for. (The first page of side
	// matches has no previous cursor: where the main store's last page
	// began is not known here.)
	room := q.Count - len(out.Versions)
	sq.Cursor, sq.Total, sq.Count = c.S, store.TotalNone, max(room, 1)
	r, err := s.side.Search(ctx, sq)
	if err != nil {
		return nil, err
	}
	if room == 0 {
		// The main store filled the page: a next page only if the side
		// store has a match.
		if len(r.Versions) > 0 {
			out.Next = cursor{Side: true}.encode()
		}
		return out, nil
	}
	out.Versions = append(out.Versions, r.Versions...)
	if r.Prev != "" && len(out.Versions) == len(r.Versions) {
		out.Prev = cursor{Side: true, S: r.Prev}.encode()
	}
	if r.Next != "" {
		out.Next = cursor{Side: true, S: r.Next}.encode()
	}
	return out, nil
}

// maxResolved bounds the resources a chain into the other store may
// match: each becomes a reference condition of the query.
const maxResolved = 1000

// resolve replaces each chain (at the top level of where) into the other
// store than the one searched (the side store's when side) by the
// references to the resources it matches there, searched first: a chain
// is "the parameter refers to a resource that matches", and those
// resources are few in every chain ucp answers (an agent's or a patient's
// identifier). A chain matching more than maxResolved resources is
// refused. Likewise each _has of the other store's type becomes the ids
// of the resources of types that its matches refer to (see referred). A
// chain or _has under :not or :missing is left for check to refuse. none
// reports a clause left with no condition, which no resource can match.
func (s *Store) resolve(ctx context.Context, where []store.Clause, types []string, side bool) (_ []store.Clause, none bool, err error) {
	out := where
	copied := false
	for i, cl := range where {
		var conds []store.Cond
		changed := false
		for j, c := range cl.Any {
			chain := c.Chain != nil && s.types[c.Chain.Type] != side
			has := c.Has != nil && s.types[c.Has.Type] != side
			if (!chain && !has) || c.Not || c.Missing != nil {
				if changed {
					conds = append(conds, c)
				}
				continue
			}
			if !changed {
				changed = true
				conds = append([]store.Cond(nil), cl.Any[:j]...)
			}
			if chain {
				res, err := s.Search(ctx, store.Query{Types: []string{c.Chain.Type}, Where: c.Chain.Where, Count: maxResolved + 1, Total: store.TotalNone})
				if err != nil {
					return nil, false, err
				}
				if len(res.Versions) > maxResolved {
					return nil, false, store.Errorf(store.Unsupported, "%s.%s matches more than %d resources kept in another store: narrow it", c.Param, c.Chain.Type, maxResolved)
				}
				for _, v := range res.Versions {
					conds = append(conds, store.Cond{Param: c.Param, Type: store.Reference, RefType: v.Type, RefID: v.ID})
				}
				continue
			}
			ids, err := s.referred(ctx, c.Has, types)
			if err != nil {
				return nil, false, err
			}
			for _, id := range ids {
				conds = append(conds, store.Cond{Param: "_id", Type: store.Token, Code: id})
			}
		}
		if !changed {
			continue
		}
		if len(conds) == 0 {
			return nil, true, nil
		}
		if !copied {
			out = append([]store.Clause(nil), where...)
			copied = true
		}
		out[i] = store.Clause{Any: conds}
	}
	return out, false, nil
}

// maxReferring bounds the resources of the other store a _has may match:
// each is read to find what it refers to.
const maxReferring = 10000

// referred is the ids of the resources of types (one type) that the
// resources matching has refer to through has.Param: _has answered in two
// steps, as resolve does a chain.
func (s *Store) referred(ctx context.Context, has *store.Has, types []string) ([]string, error) {
	if len(types) != 1 {
		return nil, store.Errorf(store.Unsupported, "_has:%s is kept in a separate store: it is searched for one type at a time", has.Type)
	}
	rf, ok := s.of(has.Type).(store.Referrer)
	if !ok {
		return nil, store.Errorf(store.Unsupported, "_has:%s cannot be searched here: %s is kept in a separate store", has.Type, has.Type)
	}
	path := []store.IncludePath{{SourceType: has.Type, Param: has.Param, TargetType: types[0]}}
	q := store.Query{Types: []string{has.Type}, Where: has.Where, Count: 1000, Total: store.TotalNone}
	seen := map[string]bool{}
	var ids []string
	for n := 0; ; {
		res, err := s.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		if n += len(res.Versions); n > maxReferring {
			return nil, store.Errorf(store.Unsupported, "_has:%s matches more than %d resources kept in a separate store: narrow it", has.Type, maxReferring)
		}
		from := make([]store.Ref, len(res.Versions))
		for i, v := range res.Versions {
			from[i] = store.Ref{Type: v.Type, ID: v.ID}
		}
		links, err := rf.References(ctx, from, path)
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			if !seen[l.To.ID] {
				seen[l.To.ID] = true
				ids = append(ids, l.To.ID)
			}
		}
		if res.Next == "" {
			return ids, nil
		}
		q.Cursor = res.Next
	}
}

// check refuses what a query of one store cannot answer: a chain or _has
// reaching the other store's types and, in the side store, a parameter it
// does not index.
func (s *Store) check(q store.Query, side bool) error {
	if side {
		for _, k := range q.Sort {
			if err := s.indexed(k.Param); err != nil {
				return err
			}
		}
	}
	return s.checkWhere(q.Where, side)
}

func (s *Store) checkWhere(where []store.Clause, side bool) error {
	for _, cl := range where {
		for i := range cl.Any {
			c := &cl.Any[i]
			if side {
				if err := s.indexed(c.Param); err != nil {
					return err
				}
			}
			if c.Chain != nil {
				if s.types[c.Chain.Type] != side {
					// resolve has replaced every chain it could.
					return store.Errorf(store.Unsupported, "%s cannot be chained to %s here: they are kept in separate stores", c.Param, c.Chain.Type)
				}
				if err := s.checkWhere(c.Chain.Where, side); err != nil {
					return err
				}
			}
			if c.Has != nil {
				if s.types[c.Has.Type] != side {
					return store.Errorf(store.Unsupported, "_has:%s cannot be searched here: %s is kept in a separate store", c.Has.Type, c.Has.Type)
				}
				if err := s.checkWhere(c.Has.Where, side); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (s *Store) indexed(param string) error {
	if s.params == nil || param == "_id" || param == "_lastUpdated" || s.params[param] {
		return nil
	}
	return store.Errorf(store.Unsupported, "%s cannot be searched by %s: the parameters indexed are %s, _id and _lastUpdated",
		s.typeNames(), param, strings.Join(slices.Sorted(maps.Keys(s.params)), ", "))
}

// Included implements store.Includer: each store follows its sources'
// references to its own resources, and lists those to the other store's,
// which are read there.
func (s *Store) Included(ctx context.Context, from []store.Ref, paths []store.IncludePath) ([]store.Inclusion, error) {
	if len(from) == 0 || len(paths) == 0 {
		return nil, nil
	}
	pos := map[store.Ref]int{}
	var mainFrom, sideFrom []store.Ref
	for i, r := range from {
		if r.Type == "" || r.ID == "" {
			return nil, store.Errorf(store.Invalid, "include: a source needs a type and an id")
		}
		if _, ok := pos[r]; !ok {
			pos[r] = i
		}
		if s.types[r.Type] {
			sideFrom = append(sideFrom, r)
		} else {
			mainFrom = append(mainFrom, r)
		}
	}
	var out []store.Inclusion
	for _, part := range []struct {
		st, other store.Store
		from      []store.Ref
		side      bool
	}{{s.main, s.side, mainFrom, false}, {s.side, s.main, sideFrom, true}} {
		if len(part.from) == 0 {
			continue
		}
		in, ok := part.st.(store.Includer)
		rf, ok2 := part.st.(store.Referrer)
		if !ok || !ok2 {
			return nil, store.Errorf(store.Unsupported, "include: this store cannot follow references")
		}
		got, err := in.Included(ctx, part.from, paths)
		if err != nil {
			return nil, err
		}
		// The store's own Included found only what it holds.
		for _, g := range got {
			if s.types[g.Version.Type] == part.side {
				out = append(out, g)
			}
		}
		cross, idx := s.crossPaths(paths, part.side)
		if len(cross) == 0 {
			continue
		}
		links, err := rf.References(ctx, part.from, cross)
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			if s.types[l.To.Type] == part.side {
				continue
			}
			v, err := part.other.Read(ctx, l.To.Type, l.To.ID)
			switch k := store.KindOf(err); {
			case k == store.NotFound || k == store.Gone:
				continue
			case err != nil:
				return nil, err
			}
			out = append(out, store.Inclusion{Path: idx[l.Path], From: l.From, Version: *v})
		}
	}
	// Included's order: by path, then by source (within a source, the
	// references to each store stay in their order, the main store's first).
	sort.SliceStable(out, func(a, b int) bool {
		return cmp.Or(cmp.Compare(out[a].Path, out[b].Path), cmp.Compare(pos[out[a].From], pos[out[b].From])) < 0
	})
	return out, nil
}

// crossPaths are the paths that may lead from one store's sources (the
// side store's when side) to the other's resources, with the index of the
// path each came from. From the main store, a path to any type becomes a
// path to each side type, so the look-up reads only those references.
func (s *Store) crossPaths(paths []store.IncludePath, side bool) ([]store.IncludePath, []int) {
	var out []store.IncludePath
	var idx []int
	for i, p := range paths {
		switch {
		case p.TargetType != "":
			if s.types[p.TargetType] != side {
				out, idx = append(out, p), append(idx, i)
			}
		case side:
			out, idx = append(out, p), append(idx, i)
		default:
			for _, t := range slices.Sorted(maps.Keys(s.types)) {
				q := p
				q.TargetType = t
				out, idx = append(out, q), append(idx, i)
			}
		}
	}
	return out, idx
}

// Size is the bytes of both stores, for monitoring (each that can say).
func (s *Store) Size(ctx context.Context) (int64, error) {
	type sizer interface {
		Size(ctx context.Context) (int64, error)
	}
	var n int64
	for _, st := range []store.Store{s.main, s.side} {
		if sz, ok := st.(sizer); ok {
			m, err := sz.Size(ctx)
			if err != nil {
				return 0, err
			}
			n += m
		}
	}
	return n, nil
}

// DeferIndexes sets the main store's search-only indexes aside for a bulk
// load when it can (store/sqlite); the side store's stay, as a load brings
// few AuditEvents.
func (s *Store) DeferIndexes(ctx context.Context) (restore func(context.Context) error, err error) {
	d, ok := s.main.(interface {
		DeferIndexes(ctx context.Context) (func(context.Context) error, error)
	})
	if !ok {
		return func(context.Context) error { return nil }, nil
	}
	return d.DeferIndexes(ctx)
}
