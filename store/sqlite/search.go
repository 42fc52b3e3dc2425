package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"

	"ucp/store"
)

// How a store.Query becomes SQL.
//
// A query selects rows of resource (alias r0, r1… per nesting level). Of its
// clauses, the one most likely to be selective (see rank) becomes the driver:
// a DISTINCT subquery over one index table's covering index, CROSS JOINed to
// resource by rid, so SQLite starts from that index and never scans the
// resource table. Every other clause is a correlated EXISTS probe on the
// index table's primary key (rid, n): a short range of one resource's rows.
// A query with no drivable clause walks resource_type_live for its types.
//
// Conditions map to index ranges:
//
//	token       idx_token_param_code (param, code); a system is checked on the row, and
//	            system| alone walks the param's range
//	:text       LIKE '% word%' over the param's rows (lower-cased text)
//	string      prefix: norm >= v AND norm < v||0xFF on (param, norm); exact on (param, exact);
//	            contains: LIKE over the param's rows
//	date/number/quantity
//	            the Prefix formulas of store.Prefix over (param, lo, hi) / (param, hi, lo)
//	reference   (param, ref_id, ref_type, src_type) for the searched types; (param, url)
//	            and :identifier (param, code, system), partial indexes of the rows
//	            that have one, which the query names by a literal "url <> ''" …
//	quantity    Canonical: the Prefix formulas over (param, canon_code, canon_lo, canon_hi)
//	uri         exact and :below on (param, uri); :above as uri IN (every prefix of the value)
//	composite   the first component's rows, then an EXISTS per other component on
//	            the same resource's rows (primary key) with the same grp
//	_id         resource_type_id / resource_id; _lastUpdated resource_type_lu / resource_lu
//	chain       param rows whose (ref_type, ref_id) is a resource matching the chained query
//	_has        resources referenced by param rows of resources matching the inner query
//	:missing    [NOT] EXISTS a row of the param
//	:not        NOT EXISTS a matching row
//
// Results are ordered by the sort keys (each a correlated min/max over the
// resource's rows, NULLS LAST) and then by rid, and paged by keyset on those
// values; the page is cut (LIMIT) before version rows and their JSON are
// joined in.
//
// An unsorted search (the default order is rid) whose driver is an equality
// on every column of its index before the implicit (rid, n) — a token code,
// system|code, a local reference, an exact string or uri, or the
// compartment — walks that index in rid order and stops after the page (see
// pageByRID), so a page of one common value (status=draft: 25,000 of
// 100,000 plans) costs the page, not the matches. Other unsorted drivers
// (ranges, ORs, chains) and every _sort collect and sort their matches
// before the LIMIT. _total=accurate counts every match (about 1 µs each);
// _total=estimate counts exactly up to 1,000 and beyond that counts the
// driver's index range alone (see estimate).

// sqlb accumulates SQL text and its arguments in the same order.
type sqlb struct {
	b    strings.Builder
	args []any
	n    int // alias counter
}

func (q *sqlb) w(parts ...string) {
	for _, p := range parts {
		q.b.WriteString(p)
	}
}

// a writes a placeholder bound to v.
func (q *sqlb) a(v any) {
	q.b.WriteByte('?')
	q.args = append(q.args, v)
}

func (q *sqlb) alias(prefix string) string {
	q.n++
	return prefix + strconv.Itoa(q.n)
}

// table returns the index table of a parameter type.
func table(t store.ParamType) (string, bool) {
	switch t {
	case store.Token:
		return "idx_token", true
	case store.String:
		return "idx_string", true
	case store.Date:
		return "idx_date", true
	case store.Reference:
		return "idx_reference", true
	case store.Number:
		return "idx_number", true
	case store.Quantity:
		return "idx_quantity", true
	case store.URI:
		return "idx_uri", true
	}
	return "", false
}

// condTable returns the index table of c: a composite's rows start in the
// table of its first component.
func condTable(c *store.Cond) (string, bool) {
	if c.Type == store.Composite {
		if len(c.Components) == 0 {
			return "", false
		}
		return table(c.Components[0].Type)
	}
	return table(c.Type)
}

// rowParam is the param column value of c's rows (a composite's first
// component's).
func rowParam(c *store.Cond) string {
	if c.Type == store.Composite && len(c.Components) > 0 {
		return c.Components[0].Param
	}
	return c.Param
}

func unsupported(c *store.Cond) error {
	return store.Errorf(store.Unsupported, "search parameter %q of type %q is not supported by this store", c.Param, c.Type)
}

// rank orders conditions by how selective their index lookup usually is;
// lower drives. ok is false for conditions that cannot drive (negations).
func rank(c *store.Cond) (int, bool) {
	switch {
	case c.Missing != nil:
		// :missing=false drives from the param's rows; _id and
		// _lastUpdated are never missing, so there is nothing to drive.
		return 9, !*c.Missing && c.Param != "_id" && c.Param != "_lastUpdated"
	case c.Not:
		return 0, false
	case c.Param == "_id":
		return 0, true
	case c.Param == "_lastUpdated":
		return 7, true
	case c.Has != nil:
		return 4, true
	case c.Chain != nil:
		// As selective as the chained query's own driver (a chain on a
		// Patient's NHS number finds one Patient), and never better than a
		// direct reference.
		best := 3
		for i := range c.Chain.Where {
			worst, ok := 0, true
			for j := range c.Chain.Where[i].Any {
				r, drivable := rank(&c.Chain.Where[i].Any[j])
				ok = ok && drivable
				worst = max(worst, r)
			}
			if ok {
				best = min(best, worst)
			}
		}
		return max(best, 2), true
	case c.Type == store.Composite:
		return 2, len(c.Components) > 0
	case isText(c):
		return 5, true
	}
	switch c.Type {
	case store.Reference:
		return 1, true
	case store.Token:
		switch {
		case c.TextMatch != "":
			return 8, true
		case c.Code != "" && c.SystemSet:
			return 2, true // system|code: usually an identifier
		case c.Code != "":
			return 3, true // a bare code: often a common status
		}
		return 6, true
	case store.String:
		switch c.StringMatch {
		case store.StringExact:
			return 3, true
		case store.StringPrefix:
			return 4, true
		}
		return 8, true
	case store.URI:
		if c.URIMatch == store.URIBelow {
			return 5, true
		}
		return 3, true
	case store.Date, store.Number, store.Quantity:
		switch c.Prefix {
		case store.Ge, store.Le:
			return 6, true
		}
		return 5, true
	}
	return 0, false
}

// filter describes a set of resources: the FROM and WHERE of a query over
// resource alias a.
type filter struct {
	types   []string
	patient string
	where   []store.Clause
}

// driver picks the clause that drives a query over f: its index in
// f.where, -2 for the patient compartment, -1 for none (a type scan).
func driver(f filter) (int, error) {
	best, bestRank := -1, 100
	if f.patient != "" {
		best, bestRank = -2, 1 // the compartment: a patient's resources are few
	}
	for i := range f.where {
		cl := &f.where[i]
		if len(cl.Any) == 0 {
			return 0, store.Errorf(store.Invalid, "empty search clause")
		}
		worst, ok := 0, true
		for j := range cl.Any {
			r, drivable := rank(&cl.Any[j])
			ok = ok && drivable
			worst = max(worst, r)
		}
		if ok && worst < bestRank {
			best, bestRank = i, worst
		}
	}
	return best, nil
}

// from writes "FROM … WHERE …" selecting live resources (alias a) matching f.
func (q *sqlb) from(a string, f filter) error {
	best, err := driver(f)
	if err != nil {
		return err
	}
	switch {
	case best == -2:
		d := q.alias("d")
		q.w("FROM compartment ", d, " CROSS JOIN resource ", a, " ON ", a, ".rid = ", d, ".rid WHERE ", d, ".patient = ")
		q.a(f.patient)
		q.w(" AND ")
	case best >= 0:
		d := q.alias("d")
		q.w("FROM (")
		if err := q.driverSet(&f.where[best], f.types); err != nil {
			return err
		}
		q.w(") ", d, " CROSS JOIN resource ", a, " ON ", a, ".rid = ", d, ".rid WHERE ")
	default:
		q.w("FROM resource ", a, " WHERE ")
	}
	return q.rest(a, f, best)
}

// rest writes the conditions on resource a other than the driver's: live,
// of the types, in the compartment, and a probe per other clause.
func (q *sqlb) rest(a string, f filter, best int) error {
	q.w(a, ".deleted = 0")
	if len(f.types) > 0 {
		q.w(" AND ")
		q.typeIn(a+".type", f.types)
	}
	if f.patient != "" && best != -2 {
		q.w(" AND EXISTS (SELECT 1 FROM compartment c WHERE c.patient = ")
		q.a(f.patient)
		q.w(" AND c.rid = ", a, ".rid)")
	}
	for i := range f.where {
		if i == best {
			continue
		}
		ids, others := splitIDs(f.where[i].Any)
		var terms []func() error
		if len(ids) > 0 {
			terms = append(terms, func() error {
				q.w(a, ".id IN (")
				q.list(ids)
				q.w(")")
				return nil
			})
		}
		for _, c := range others {
			terms = append(terms, func() error { return q.probe(a, c, f.types) })
		}
		q.w(" AND (")
		if err := q.or(terms); err != nil {
			return err
		}
		q.w(")")
	}
	return nil
}

// or writes the terms ORed as a balanced tree: SQLite parses a flat
// "a OR b OR …" into a tree as deep as the list is long, and refuses one
// deeper than 1,000 ("Expression tree is too large").
func (q *sqlb) or(terms []func() error) error {
	if len(terms) == 1 {
		return terms[0]()
	}
	half := len(terms) / 2
	q.w("(")
	if err := q.or(terms[:half]); err != nil {
		return err
	}
	q.w(") OR (")
	if err := q.or(terms[half:]); err != nil {
		return err
	}
	q.w(")")
	return nil
}

// list writes placeholders for vs, comma-separated.
func (q *sqlb) list(vs []any) {
	for i, v := range vs {
		if i > 0 {
			q.w(", ")
		}
		q.a(v)
	}
}

// splitIDs separates the plain _id equalities of an OR list, written as one
// IN list (a batch of a few hundred plans by id is one index lookup each,
// not a UNION or OR per id), from the other conditions.
func splitIDs(conds []store.Cond) (ids []any, others []*store.Cond) {
	for i := range conds {
		c := &conds[i]
		if c.Param == "_id" && c.Missing == nil && !c.Not {
			ids = append(ids, c.Code)
			continue
		}
		others = append(others, c)
	}
	return ids, others
}

func (q *sqlb) typeIn(col string, types []string) {
	if len(types) == 1 {
		q.w(col, " = ")
		q.a(types[0])
		return
	}
	q.w(col, " IN (")
	for i, t := range types {
		if i > 0 {
			q.w(", ")
		}
		q.a(t)
	}
	q.w(")")
}

// maxCompound is the most SELECTs driverSet UNIONs in one compound
// SELECT: SQLite refuses more than 500 ("too many terms in compound
// SELECT"); beyond it the UNIONs are nested in subqueries.
const maxCompound = 400

// driverSet writes a SELECT of the distinct rids matching any of the clause's
// conditions.
func (q *sqlb) driverSet(cl *store.Clause, types []string) error {
	ids, others := splitIDs(cl.Any)
	var terms []func() error
	if len(ids) > 0 {
		terms = append(terms, func() error {
			x := q.alias("x")
			q.w("SELECT ", x, ".rid FROM resource ", x, " WHERE ")
			if len(types) > 0 {
				q.typeIn(x+".type", types)
				q.w(" AND ")
			}
			q.w(x, ".id IN (")
			q.list(ids)
			q.w(")")
			return nil
		})
	}
	for _, c := range others {
		terms = append(terms, func() error { return q.set(c, types, len(ids) == 0 && len(others) == 1) })
	}
	return q.union(terms)
}

// union writes the SELECTs of terms UNIONed, nested in chunks of at most
// maxCompound.
func (q *sqlb) union(terms []func() error) error {
	if len(terms) > maxCompound {
		var chunks []func() error
		for len(terms) > 0 {
			part := terms[:min(len(terms), maxCompound)]
			terms = terms[len(part):]
			chunks = append(chunks, func() error {
				u := q.alias("u")
				q.w("SELECT ", u, ".rid FROM (")
				if err := q.union(part); err != nil {
					return err
				}
				q.w(") ", u)
				return nil
			})
		}
		return q.union(chunks)
	}
	for j, term := range terms {
		if j > 0 {
			q.w(" UNION ")
		}
		if err := term(); err != nil {
			return err
		}
	}
	return nil
}

// set writes a SELECT of rids of resources that have an entry satisfying c
// (ignoring c.Not), or that have the param at all for :missing=false.
func (q *sqlb) set(c *store.Cond, types []string, distinct bool) error {
	dist := ""
	if distinct {
		dist = "DISTINCT "
	}
	switch {
	case c.Param == "_id" || c.Param == "_lastUpdated":
		x := q.alias("x")
		q.w("SELECT ", x, ".rid FROM resource ", x, " WHERE ")
		if len(types) > 0 {
			q.typeIn(x+".type", types)
			q.w(" AND ")
		}
		return q.resourcePred(x, c)
	case c.Has != nil:
		return q.hasSet(c, dist)
	case isText(c):
		return q.textSet(c)
	}
	tab, ok := condTable(c)
	if !ok {
		return unsupported(c)
	}
	x := q.alias("x")
	q.w("SELECT ", dist, x, ".rid FROM ", tab, " ", x, " WHERE ")
	if c.Missing != nil {
		q.w(x, ".param = ")
		q.a(rowParam(c))
		return nil
	}
	if err := q.entryPred(x, c); err != nil {
		return err
	}
	q.srcType(x, c, types)
	return nil
}

// srcType narrows the reference rows x of c to those of resources of the
// searched types, which idx_reference_id keys on after the reference: the
// rows of one patient's AuditEvents, say, are then not walked to find the
// patient's Consents.
func (q *sqlb) srcType(x string, c *store.Cond, types []string) {
	if c.Type != store.Reference || c.Identifier || c.URL != "" || len(types) == 0 {
		return
	}
	q.w(" AND ")
	q.typeIn(x+".src_type", types)
}

// hasSet writes the rids of resources referenced (through c.Has.Param) by
// resources of c.Has.Type that match c.Has.Where.
func (q *sqlb) hasSet(c *store.Cond, dist string) error {
	h := c.Has
	if h.Type == "" || h.Param == "" {
		return store.Errorf(store.Invalid, "_has needs a type and a parameter")
	}
	x, t, s, hs := q.alias("x"), q.alias("t"), q.alias("s"), q.alias("h")
	// Start from the inner resources (index-driven), then their reference
	// rows by primary key, then the referenced resources by (type, id).
	q.w("SELECT ", dist, t, ".rid FROM (SELECT ", s, ".rid AS rid ")
	if err := q.from(s, filter{types: []string{h.Type}, where: h.Where}); err != nil {
		return err
	}
	q.w(") ", hs, " CROSS JOIN idx_reference ", x, " ON ", x, ".rid = ", hs, ".rid CROSS JOIN resource ", t,
		" ON ", t, ".type = ", x, ".ref_type AND ", t, ".id = ", x, ".ref_id WHERE ", x, ".param = ")
	q.a(h.Param)
	return nil
}

// probe writes a boolean expression: resource a satisfies c.
func (q *sqlb) probe(a string, c *store.Cond, types []string) error {
	switch {
	case c.Param == "_id" || c.Param == "_lastUpdated":
		if c.Missing != nil {
			// Every resource has an id and a lastUpdated.
			if *c.Missing {
				q.w("0")
			} else {
				q.w("1")
			}
			return nil
		}
		if c.Not {
			q.w("NOT ")
		}
		q.w("(")
		if err := q.resourcePred(a, c); err != nil {
			return err
		}
		q.w(")")
		return nil
	case c.Has != nil:
		if c.Not {
			q.w("NOT ")
		}
		q.w(a, ".rid IN (")
		if err := q.hasSet(c, ""); err != nil {
			return err
		}
		q.w(")")
		return nil
	case isText(c):
		if c.Not {
			q.w("NOT ")
		}
		// Not correlated: SQLite runs the FTS query once and probes the
		// resulting rid set, which an FTS5 MATCH per resource could not do.
		q.w(a, ".rid IN (")
		if err := q.textSet(c); err != nil {
			return err
		}
		q.w(")")
		return nil
	}
	tab, ok := condTable(c)
	if !ok {
		return unsupported(c)
	}
	if c.Not || c.Missing != nil && *c.Missing {
		q.w("NOT ")
	}
	x := q.alias("x")
	// The other columns are written +x.col, which SQLite cannot match to an
	// index: the probe must use the clustered primary key (rid, n), one
	// resource's few rows. Left alone, the planner turns the EXISTS into an
	// IN over the param index and walks every row of a common value.
	q.w("EXISTS (SELECT 1 FROM ", tab, " ", x, " WHERE ", x, ".rid = ", a, ".rid AND ")
	if c.Missing != nil {
		q.w("+", x, ".param = ")
		q.a(rowParam(c))
	} else if err := q.entryPred("+"+x, c); err != nil {
		return err
	}
	q.w(")")
	return nil
}

// resourcePred writes the condition of _id or _lastUpdated on resource x.
func (q *sqlb) resourcePred(x string, c *store.Cond) error {
	if c.Param == "_id" {
		q.w(x, ".id = ")
		q.a(c.Code)
		return nil
	}
	// _lastUpdated is the instant [lu, lu+1µs); the Prefix formulas
	// simplify to conditions on lu alone, so resource_*_lu serves them.
	lu := x + ".last_updated"
	lo, hi := micros(c.Low), micros(c.High)
	switch c.Prefix {
	case store.Eq, store.Ap:
		q.w(lu, " >= ")
		q.a(lo)
		q.w(" AND ", lu, " < ")
		q.a(hi)
	case store.Ne:
		q.w(lu, " < ")
		q.a(lo)
		q.w(" OR ", lu, " >= ")
		q.a(hi)
	case store.Gt, store.Sa:
		q.w(lu, " >= ")
		q.a(hi)
	case store.Lt, store.Eb:
		q.w(lu, " < ")
		q.a(lo)
	case store.Ge:
		q.w(lu, " >= ")
		q.a(lo)
	case store.Le:
		q.w(lu, " < ")
		q.a(hi)
	default:
		return store.Errorf(store.Invalid, "unknown prefix %d", c.Prefix)
	}
	return nil
}

// entryPred writes the condition on index row x for c (not negated).
func (q *sqlb) entryPred(x string, c *store.Cond) error {
	if c.Type == store.Composite {
		return q.compositePred(x, c)
	}
	q.w(x, ".param = ")
	q.a(c.Param)
	if c.Chain != nil {
		return q.chainPred(x, c)
	}
	switch c.Type {
	case store.Token:
		switch {
		case c.TextMatch != "":
			q.w(" AND (' ' || ", x, ".text) LIKE ")
			q.a("% " + likeEscape(foldText(c.TextMatch)) + "%")
			q.w(` ESCAPE '\'`)
		case c.Code != "":
			q.w(" AND ", x, ".code = ")
			q.a(c.Code)
			if c.SystemSet {
				q.w(" AND ", x, ".system = ")
				q.a(c.System)
			}
		case c.SystemSet:
			q.w(" AND ", x, ".system = ")
			q.a(c.System)
		}
	case store.String:
		switch c.StringMatch {
		case store.StringPrefix:
			q.w(" AND ", x, ".norm >= ")
			q.a(c.Value)
			q.w(" AND ", x, ".norm < ")
			q.a(c.Value + "\xff") // above every UTF-8 continuation of the prefix
		case store.StringExact:
			q.w(" AND ", x, ".exact = ")
			q.a(c.Value)
		case store.StringContains:
			q.w(" AND ", x, ".norm LIKE ")
			q.a("%" + likeEscape(c.Value) + "%")
			q.w(` ESCAPE '\'`)
		default:
			return store.Errorf(store.Invalid, "unknown string match %d", c.StringMatch)
		}
	case store.Date:
		return q.rangePred(x, c.Prefix, micros(c.Low), micros(c.High))
	case store.Number:
		return q.rangePred(x, c.Prefix, c.NumLow, c.NumHigh)
	case store.Quantity:
		if c.Canonical {
			q.w(" AND ", x, ".canon_code = ")
			q.a(c.Code)
			return q.rangeCols(x+".canon_lo", x+".canon_hi", c.Prefix, c.NumLow, c.NumHigh)
		}
		if c.Code != "" {
			q.w(" AND ", x, ".code = ")
			q.a(c.Code)
		}
		if c.System != "" {
			q.w(" AND ", x, ".system = ")
			q.a(c.System)
		}
		return q.rangePred(x, c.Prefix, c.NumLow, c.NumHigh)
	case store.Reference:
		switch {
		case c.Identifier:
			// The literal "<> ''" terms imply the partial index's
			// condition (code <> '' OR system <> ''), which a bound
			// value cannot.
			if c.Code != "" {
				q.w(" AND ", x, ".code = ")
				q.a(c.Code)
				q.w(" AND ", x, ".code <> ''")
			}
			if c.SystemSet {
				q.w(" AND ", x, ".system = ")
				q.a(c.System)
				if c.Code == "" {
					q.w(" AND ", x, ".system <> ''")
				}
			}
			if c.Code == "" && !c.SystemSet {
				return store.Errorf(store.Invalid, "%s:identifier needs a value", c.Param)
			}
		case c.URL != "":
			q.w(" AND ", x, ".url = ")
			q.a(c.URL)
			q.w(" AND ", x, ".url <> ''")
		case c.RefID != "":
			q.w(" AND ", x, ".ref_id = ")
			q.a(c.RefID)
			if c.RefType != "" {
				q.w(" AND ", x, ".ref_type = ")
				q.a(c.RefType)
			}
		default:
			return store.Errorf(store.Invalid, "reference search on %s needs a reference", c.Param)
		}
	case store.URI:
		switch c.URIMatch {
		case store.URIExact:
			q.w(" AND ", x, ".uri = ")
			q.a(c.Value)
		case store.URIBelow:
			q.w(" AND ", x, ".uri >= ")
			q.a(c.Value)
			q.w(" AND ", x, ".uri < ")
			q.a(c.Value + "\xff")
		case store.URIAbove:
			// Every prefix of the value: an index lookup per prefix
			// instead of a scan comparing each stored uri.
			q.w(" AND ", x, ".uri IN (")
			for i := 1; i <= len(c.Value); i++ {
				if i > 1 {
					q.w(", ")
				}
				q.a(c.Value[:i])
			}
			q.w(")")
		default:
			return store.Errorf(store.Invalid, "unknown uri match %d", c.URIMatch)
		}
	default:
		return unsupported(c)
	}
	return nil
}

// compositePred writes the condition on row x (of the first component) for
// a composite: x satisfies the first component, and rows of the same
// resource and group satisfy the others.
func (q *sqlb) compositePred(x string, c *store.Cond) error {
	if len(c.Components) == 0 {
		return store.Errorf(store.Invalid, "composite search on %s needs components", c.Param)
	}
	if err := q.entryPred(x, &c.Components[0]); err != nil {
		return err
	}
	bare := strings.TrimPrefix(x, "+")
	for i := 1; i < len(c.Components); i++ {
		ci := &c.Components[i]
		tab, ok := table(ci.Type)
		if !ok || ci.Chain != nil || ci.Type == store.Composite {
			return unsupported(ci)
		}
		y := q.alias("y")
		// By primary key (rid): the few rows of this one resource.
		q.w(" AND EXISTS (SELECT 1 FROM ", tab, " ", y, " WHERE ", y, ".rid = ", bare, ".rid AND +", y, ".grp = +", bare, ".grp AND ")
		if err := q.entryPred("+"+y, ci); err != nil {
			return err
		}
		q.w(")")
	}
	return nil
}

// chainPred restricts reference rows x to those pointing at a live resource
// of c.Chain.Type matching c.Chain.Where.
func (q *sqlb) chainPred(x string, c *store.Cond) error {
	ch := c.Chain
	if ch.Type == "" {
		return store.Errorf(store.Invalid, "chained search on %s needs a target type", c.Param)
	}
	t := q.alias("t")
	q.w(" AND ", x, ".ref_type = ")
	q.a(ch.Type)
	q.w(" AND ", x, ".ref_id IN (SELECT ", t, ".id ")
	if err := q.from(t, filter{types: []string{ch.Type}, where: ch.Where}); err != nil {
		return err
	}
	q.w(")")
	return nil
}

// rangePred writes the Prefix formula of store.Prefix for stored [lo,hi)
// against the searched [L,H) (int64 for dates, float64 for numbers).
func (q *sqlb) rangePred(x string, p store.Prefix, L, H any) error {
	return q.rangeCols(x+".lo", x+".hi", p, L, H)
}

// rangeCols is rangePred over the named columns.
func (q *sqlb) rangeCols(lo, hi string, p store.Prefix, L, H any) error {
	eq := func() {
		q.w("(", lo, " >= ")
		q.a(L)
		q.w(" AND ", hi, " <= ")
		q.a(H)
		q.w(")")
	}
	q.w(" AND (")
	switch p {
	case store.Eq:
		eq()
	case store.Ne:
		q.w(lo, " < ")
		q.a(L)
		q.w(" OR ", hi, " > ")
		q.a(H)
	case store.Gt:
		q.w(hi, " > ")
		q.a(H)
	case store.Lt:
		q.w(lo, " < ")
		q.a(L)
	case store.Ge:
		q.w(hi, " > ")
		q.a(H)
		q.w(" OR ")
		eq()
	case store.Le:
		q.w(lo, " < ")
		q.a(L)
		q.w(" OR ")
		eq()
	case store.Sa:
		q.w(lo, " >= ")
		q.a(H)
	case store.Eb:
		q.w(hi, " <= ")
		q.a(L)
	case store.Ap:
		q.w(lo, " < ")
		q.a(H)
		q.w(" AND ", hi, " > ")
		q.a(L)
	default:
		return store.Errorf(store.Invalid, "unknown prefix %d", p)
	}
	q.w(")")
	return nil
}

func likeEscape(s string) string {
	if !strings.ContainsAny(s, `%_\`) {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// sortExpr writes the value resource a sorts by for key k: the smallest of
// its values ascending, the largest descending (dates: Low ascending, High
// descending); NULL when it has none.
func (q *sqlb) sortExpr(a string, k store.SortKey) error {
	switch k.Param {
	case "_id":
		q.w(a, ".id")
		return nil
	case "_lastUpdated":
		q.w(a, ".last_updated")
		return nil
	}
	agg := "min"
	if k.Desc {
		agg = "max"
	}
	var tab, col string
	switch k.Type {
	case store.String:
		tab, col = "idx_string", "norm"
	case store.Token:
		tab, col = "idx_token", "code"
	case store.Date:
		tab, col = "idx_date", "lo"
		if k.Desc {
			col = "hi"
		}
	case store.Number:
		tab, col = "idx_number", "num"
	case store.Quantity:
		tab, col = "idx_quantity", "num"
	case store.URI:
		tab, col = "idx_uri", "uri"
	case store.Reference:
		tab, col = "idx_reference", "CASE WHEN url <> '' THEN url ELSE ref_type || '/' || ref_id END"
	default:
		return store.Errorf(store.Unsupported, "sorting by %q of type %q is not supported", k.Param, k.Type)
	}
	q.w("(SELECT ", agg, "(", col, ") FROM ", tab, " WHERE rid = ", a, ".rid AND +param = ")
	q.a(k.Param)
	q.w(")")
	return nil
}

// queryer is what both a read transaction and the write transaction offer.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// matchRefs returns the current resources matching q, for IfNoneMatch.
func matchRefs(ctx context.Context, tx queryer, q store.Query) ([]store.Ref, error) {
	var b sqlb
	a := b.alias("r")
	b.w("SELECT ", a, ".type, ", a, ".id ")
	if err := b.from(a, filter{types: q.Types, patient: q.Patient, where: q.Where}); err != nil {
		return nil, err
	}
	b.w(" LIMIT 100")
	rows, err := tx.QueryContext(ctx, b.b.String(), b.args...)
	if err != nil {
		return nil, storeErr(err, "sqlite: conditional create")
	}
	defer rows.Close()
	var refs []store.Ref
	for rows.Next() {
		var r store.Ref
		if err := rows.Scan(&r.Type, &r.ID); err != nil {
			return nil, storeErr(err, "sqlite: conditional create")
		}
		refs = append(refs, r)
	}
	return refs, storeErr(rows.Err(), "sqlite: conditional create")
}

// Search answers q from the index tables.
func (s *Store) Search(ctx context.Context, q store.Query) (*store.Result, error) {
	if q.Count < 0 {
		return nil, store.Errorf(store.Invalid, "count must not be negative")
	}
	sig := sortSignature(q.Sort)
	var cur *searchCursor
	if q.Cursor != "" {
		cur = &searchCursor{}
		if err := decodeCursor(q.Cursor, cur); err != nil {
			return nil, err
		}
		if cur.Sort != sig || len(cur.Keys) != len(q.Sort) {
			return nil, store.Errorf(store.Invalid, "the paging cursor belongs to a differently sorted search")
		}
	}
	f := filter{types: q.Types, patient: q.Patient, where: q.Where}

	// No read transaction around page and count: the page is one statement
	// (one snapshot), and Total is a count, which the contract lets drift
	// with concurrent writes; a BEGIN/ROLLBACK pair would double the cost
	// of the hot query.
	res := &store.Result{Total: -1}
	var err error
	if q.Count == 0 {
		switch q.Total {
		case store.TotalEstimate:
			res.Total, err = s.estimate(ctx, f)
		case store.TotalAccurate:
			res.Total, err = s.count(ctx, f)
		}
		if err != nil {
			return nil, err
		}
		return res, nil
	}

	var b sqlb
	// A page query's text is about a kilobyte: sized once, the builder
	// and the arguments skip their growth steps (BenchmarkUrgentQuery: 387
	// -> 373 allocs/op).
	b.b.Grow(2048)
	b.args = make([]any, 0, 16)
	back := cur != nil && cur.Back
	if err := b.page(f, q.Sort, cur, back, q.Count+1); err != nil {
		return nil, err
	}
	st, cached, err := s.stmt(ctx, b.b.String())
	if err != nil {
		return nil, err
	}
	if !cached {
		defer st.Close()
	}
	rows, err := st.QueryContext(ctx, b.args...)
	if err != nil {
		return nil, storeErr(err, "sqlite: search")
	}
	type pos struct {
		keys []cval
		rid  int64
	}
	// Small to start: most pages are a handful of rows (an urgent-care
	// search finds one plan), and a capacity from Count (up to 1,000 for
	// _revinclude) was most of the garbage a search made.
	positions := make([]pos, 0, min(q.Count+1, 8))
	vals := make([]any, len(q.Sort))
	dest := make([]any, 0, len(q.Sort)+6)
	for rows.Next() {
		var v store.Version
		var rid, lu int64
		dest = append(dest[:0], &rid)
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		dest = append(dest, &v.Type, &v.ID, &v.VersionID, &lu, &v.Method, &v.JSON)
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, storeErr(err, "sqlite: search")
		}
		if v.JSON, err = s.codec.unpack(v.JSON); err != nil {
			rows.Close()
			return nil, err
		}
		v.LastUpdated = fromMicros(lu)
		p := pos{rid: rid}
		if len(vals) > 0 {
			p.keys = make([]cval, len(vals))
			for i, x := range vals {
				if p.keys[i], err = toCval(x); err != nil {
					rows.Close()
					return nil, storeErr(err, "sqlite: search")
				}
			}
		}
		positions = append(positions, p)
		res.Versions = append(res.Versions, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, storeErr(err, "sqlite: search")
	}

	more := len(res.Versions) > q.Count
	if more {
		res.Versions = res.Versions[:q.Count]
		positions = positions[:q.Count]
	}
	if back {
		slices.Reverse(res.Versions)
		slices.Reverse(positions)
	}
	after := func(p pos) string { return encodeCursor(searchCursor{Sort: sig, Keys: p.keys, RID: p.rid}) }
	before := func(p pos) string { return encodeCursor(searchCursor{Back: true, Sort: sig, Keys: p.keys, RID: p.rid}) }
	n := len(positions)
	switch {
	case !back:
		if more {
			res.Next = after(positions[n-1])
		}
		if cur != nil {
			if n > 0 {
				res.Prev = before(positions[0])
			} else {
				// An empty page past the end: the previous page ends with
				// the cursor's own row, so include it (rid+1).
				res.Prev = before(pos{keys: cur.Keys, rid: cur.RID + 1})
			}
		}
	default:
		if more {
			res.Prev = before(positions[0])
		}
		if n > 0 {
			res.Next = after(positions[n-1])
		} else {
			res.Next = after(pos{keys: cur.Keys, rid: cur.RID - 1})
		}
	}

	switch {
	case q.Total == store.TotalNone:
	case cur == nil && !more:
		res.Total = n // the first page holds every match
	case q.Total == store.TotalEstimate:
		if res.Total, err = s.estimate(ctx, f); err != nil {
			return nil, err
		}
	default:
		// Accurate: an exact count, which visits every match (its index
		// rows, a resource lookup and the probes of the other clauses):
		// about 1 µs a match, so 25 ms for 25,000.
		if res.Total, err = s.count(ctx, f); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// estimateExact is the driver row count up to which _total=estimate
// counts exactly: that count visits at most this many matches.
const estimateExact = 1000

// estimate is _total=estimate: the number of rows of the driving clause's
// index ranges, which ignores the other clauses, deletions, other types
// sharing the parameter and a resource's second matching row (an upper
// bound, usually close for the one-common-value searches that get here) and
// costs a covering-index range count, no resource lookups (about 0.15 µs a
// row: 1.7 ms for 12,000). At most estimateExact rows: the exact count,
// which is then as cheap.
// estimateTerms is the longest OR list estimate sums term by term.
const estimateTerms = 100

func (s *Store) estimate(ctx context.Context, f filter) (int, error) {
	best, err := driver(f)
	if err != nil {
		return 0, err
	}
	var b sqlb
	switch {
	case best >= 0 && len(f.where[best].Any) > estimateTerms:
		// A long OR list (a batch of ids) would make a sum too deep for
		// SQLite's expression limit; its exact count is cheap.
		return s.count(ctx, f)
	case best >= 0:
		// The sum of each alternative's row count, without DISTINCT (no
		// temporary B-tree).
		b.w("SELECT ")
		for j := range f.where[best].Any {
			if j > 0 {
				b.w(" + ")
			}
			b.w("(SELECT count(*) FROM (")
			if err := b.set(&f.where[best].Any[j], f.types, false); err != nil {
				return 0, err
			}
			b.w("))")
		}
	case best == -2:
		b.w("SELECT count(*) FROM compartment WHERE patient = ")
		b.a(f.patient)
	default:
		b.w("SELECT count(*) FROM resource WHERE deleted = 0")
		if len(f.types) > 0 {
			b.w(" AND ")
			b.typeIn("type", f.types)
		}
	}
	n, err := s.scalar(ctx, &b)
	if err != nil || n > estimateExact {
		return n, err
	}
	return s.count(ctx, f)
}

// scalar runs a one-integer query.
func (s *Store) scalar(ctx context.Context, b *sqlb) (int, error) {
	st, cached, err := s.stmt(ctx, b.b.String())
	if err != nil {
		return 0, err
	}
	if !cached {
		defer st.Close()
	}
	var n int
	if err := st.QueryRowContext(ctx, b.args...).Scan(&n); err != nil {
		return 0, storeErr(err, "sqlite: count")
	}
	return n, nil
}

func (s *Store) count(ctx context.Context, f filter) (int, error) {
	var b sqlb
	a := b.alias("r")
	b.w("SELECT count(*) ")
	if err := b.from(a, f); err != nil {
		return 0, err
	}
	return s.scalar(ctx, &b)
}

// page writes the page query: the matching rows' keys, cut by the keyset and
// LIMIT, and only then joined to their version rows.
//
//	SELECT p.rid, p.k0…, v.… FROM (
//	  SELECT rid, seq, k0… FROM (SELECT r.rid, r.cur_seq AS seq, <sort exprs> FROM … WHERE …)
//	  WHERE <keyset> ORDER BY k0…, rid LIMIT n
//	) p CROSS JOIN version v ON v.seq = p.seq ORDER BY p.k0…, p.rid
func (b *sqlb) page(f filter, keys []store.SortKey, cur *searchCursor, back bool, limit int) error {
	if len(keys) == 0 {
		if done, err := b.pageByRID(f, cur, back, limit); done || err != nil {
			return err
		}
	}
	a := b.alias("r")
	b.w("SELECT p.rid")
	for i := range keys {
		b.w(", p.k", strconv.Itoa(i))
	}
	b.w(", v.type, v.id, v.version, v.last_updated, v.method, v.json FROM (SELECT rid, seq")
	for i := range keys {
		b.w(", k", strconv.Itoa(i))
	}
	b.w(" FROM (SELECT ", a, ".rid AS rid, ", a, ".cur_seq AS seq")
	for i, k := range keys {
		b.w(", ")
		if err := b.sortExpr(a, k); err != nil {
			return err
		}
		b.w(" AS k", strconv.Itoa(i))
	}
	b.w(" ")
	if err := b.from(a, f); err != nil {
		return err
	}
	b.w(")")
	if cur != nil {
		b.w(" WHERE ")
		b.keyset(keys, cur, 0)
	}
	b.w(" ORDER BY ")
	b.orderBy("", keys, back)
	b.w(" LIMIT ")
	b.a(limit)
	b.w(") p CROSS JOIN version v ON v.seq = p.seq ORDER BY ")
	b.orderBy("p.", keys, back)
	return nil
}

// ridOrdered reports whether the index range of c, searched over types, is
// an equality on every column before the implicit (rid, n), so that walking
// it yields rids in order: then a page in the default order (rid) can stop
// at LIMIT instead of collecting and sorting every match.
func ridOrdered(c *store.Cond, types []string) bool {
	if c.Missing != nil || c.Not || c.Chain != nil || c.Has != nil || c.Param == "_id" || c.Param == "_lastUpdated" {
		return false
	}
	switch c.Type {
	case store.Token:
		// (param, code); a system is checked on each row of the code.
		return c.TextMatch == "" && c.Code != ""
	case store.Reference:
		switch {
		case c.Identifier:
			return c.Code != "" && c.SystemSet // (param, code, system)
		case c.URL != "":
			return true // (param, url)
		}
		// (param, ref_id, ref_type, src_type)
		return c.RefID != "" && c.RefType != "" && len(types) == 1
	case store.String:
		return c.StringMatch == store.StringExact // (param, exact)
	case store.URI:
		return c.URIMatch == store.URIExact // (param, uri)
	}
	return false
}

// pageByRID writes the page query of an unsorted search whose driver can be
// walked in rid order (the compartment, or one condition for which
// ridOrdered holds): the driving index rows are joined to resource one by
// one, probed for the other clauses, and the walk stops after limit
// resources. The keyset cursor is a seek in the same index. GROUP BY rid
// drops a resource's second matching row (two codings with one code) and
// costs nothing, as the rows come grouped. done is false when the query has
// no such driver; nothing is written then.
//
//	SELECT p.rid, v.… FROM (SELECT r.rid, r.cur_seq AS seq FROM idx_token d
//	  CROSS JOIN resource r ON r.rid = d.rid WHERE d.param = ? AND d.code = ?
//	  AND d.rid > ? AND <rest> GROUP BY d.rid ORDER BY d.rid LIMIT n
//	) p CROSS JOIN version v ON v.seq = p.seq ORDER BY p.rid
func (b *sqlb) pageByRID(f filter, cur *searchCursor, back bool, limit int) (done bool, err error) {
	best, err := driver(f)
	if err != nil {
		return true, err
	}
	var c *store.Cond
	switch {
	case best >= 0:
		cl := &f.where[best]
		if len(cl.Any) != 1 || !ridOrdered(&cl.Any[0], f.types) {
			return false, nil
		}
		c = &cl.Any[0]
	case best == -1:
		return false, nil // a type scan: resource_type_live is already in rid order
	}
	dir := ""
	if back {
		dir = " DESC"
	}
	a, d := b.alias("r"), b.alias("d")
	b.w("SELECT p.rid, v.type, v.id, v.version, v.last_updated, v.method, v.json FROM (SELECT ",
		a, ".rid AS rid, ", a, ".cur_seq AS seq FROM ")
	if c == nil {
		b.w("compartment ", d, " CROSS JOIN resource ", a, " ON ", a, ".rid = ", d, ".rid WHERE ", d, ".patient = ")
		b.a(f.patient)
	} else {
		tab, _ := condTable(c)
		b.w(tab, " ", d, " CROSS JOIN resource ", a, " ON ", a, ".rid = ", d, ".rid WHERE ")
		if err := b.entryPred(d, c); err != nil {
			return true, err
		}
		b.srcType(d, c, f.types)
	}
	if cur != nil {
		if cur.Back {
			b.w(" AND ", d, ".rid < ")
		} else {
			b.w(" AND ", d, ".rid > ")
		}
		b.a(cur.RID)
	}
	b.w(" AND ")
	if err := b.rest(a, f, best); err != nil {
		return true, err
	}
	b.w(" GROUP BY ", d, ".rid ORDER BY ", d, ".rid", dir, " LIMIT ")
	b.a(limit)
	b.w(") p CROSS JOIN version v ON v.seq = p.seq ORDER BY p.rid", dir)
	return true, nil
}

func (b *sqlb) orderBy(prefix string, keys []store.SortKey, back bool) {
	for i, k := range keys {
		desc := k.Desc != back
		b.w(prefix, "k", strconv.Itoa(i))
		// Resources without a value sort last in the page order, so first
		// when walking it backwards.
		switch {
		case desc && !back:
			b.w(" DESC NULLS LAST, ")
		case desc && back:
			b.w(" DESC NULLS FIRST, ")
		case !desc && !back:
			b.w(" ASC NULLS LAST, ")
		default:
			b.w(" ASC NULLS FIRST, ")
		}
	}
	b.w(prefix, "rid")
	if back {
		b.w(" DESC")
	}
}

// keyset writes "the row comes after (or, walking back, before) the cursor
// position" for keys[i:], expanded lexicographically:
// k_i beyond c_i OR (k_i = c_i AND (…rest…)), with NULLs last.
func (b *sqlb) keyset(keys []store.SortKey, cur *searchCursor, i int) {
	if i == len(keys) {
		if cur.Back {
			b.w("rid < ")
		} else {
			b.w("rid > ")
		}
		b.a(cur.RID)
		return
	}
	k := "k" + strconv.Itoa(i)
	c := cur.Keys[i].Value()
	desc := keys[i].Desc
	b.w("(")
	if c == nil {
		if cur.Back {
			// Before a NULL: every non-NULL value.
			b.w(k, " IS NOT NULL OR (", k, " IS NULL AND ")
		} else {
			// Nothing comes after NULL in this key.
			b.w("(", k, " IS NULL AND ")
		}
	} else {
		beyond := " > "
		if desc != cur.Back {
			beyond = " < "
		}
		if !cur.Back {
			b.w(k, " IS NULL OR ")
		}
		b.w(k, beyond)
		b.a(c)
		b.w(" OR (", k, " = ")
		b.a(c)
		b.w(" AND ")
	}
	b.keyset(keys, cur, i+1)
	b.w("))")
}
