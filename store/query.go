package store

import "time"

// Query selects current resources by their index entries. It is built by
// fhir/search from a FHIR search request; a backend translates it into its
// own query language and must use an index for every condition.
type Query struct {
	// Types restricts the resource types; empty means every type (system search).
	Types []string
	// Patient restricts to resources in this Patient's compartment (ids
	// recorded in Change.Patients); empty means no restriction.
	Patient string
	// Where holds clauses that must all hold (the & of a search).
	Where []Clause
	// Sort keys, in order. With none, results are in a stable order of the
	// backend's choosing (e.g. write order).
	Sort []SortKey
	// Count is the page size. 0 returns no resources (for _summary=count).
	Count int
	// Cursor continues from a Result's Next or Prev; empty for the first page.
	Cursor string
	// Total says how to compute Result.Total.
	Total TotalMode
}

// TotalMode is _total.
type TotalMode int

// The _total modes.
const (
	TotalAccurate TotalMode = iota // count every match
	TotalNone                      // do not count (Result.Total = -1)
	TotalEstimate                  // any cheap estimate, or accurate
)

// Clause holds when any of its conditions holds (a comma-separated value).
type Clause struct {
	Any []Cond
}

// Cond is one condition on one search parameter.
type Cond struct {
	Param string    // the search parameter code; "_id" and "_lastUpdated" are answered from the resource itself; "_text" and "_content" (Type Special, Value the words) see TextParam
	Type  ParamType // the parameter's type

	// Missing, when set, is :missing=true|false: whether the resource has no
	// entry for Param at all. Nothing else is used.
	Missing *bool

	// Not negates the condition: a resource matches if it has no entry that
	// satisfies the rest (token :not; the R4 "ne" semantics are Prefix Ne).
	Not bool

	// Token (and _id, with Code = id): Code must equal; System, when
	// SystemSet, must equal too ("system|code"; "|code" sets SystemSet with
	// System ""). Code "" with SystemSet matches any code in System.
	// TextMatch, for :text, matches Text (prefix of a word, normalised) instead.
	System    string
	SystemSet bool
	Code      string
	TextMatch string

	// String: Value is normalised for StringMatch Prefix and Contains and
	// compared with Norm; for Exact it is compared with Exact.
	Value       string
	StringMatch StringMatch

	// Date (and _lastUpdated), Number, Quantity: the searched range [Low,High)
	// or [NumLow,NumHigh) and the prefix. For Quantity, System and Code (when
	// set) must match the unit.
	Prefix  Prefix
	Low     time.Time
	High    time.Time
	Num     float64
	NumLow  float64
	NumHigh float64
	// Canonical, for Quantity: the searched unit is UCUM with a canonical
	// form, Code is that canonical unit and Num, NumLow, NumHigh are in it;
	// the store compares Entry.CanonCode, CanonLow and CanonHigh instead of
	// the unit as written (System is ignored).
	Canonical bool

	// Reference: RefType/RefID for a local reference ("Patient/1"; RefType
	// may be empty when the parameter has one target type... the parser fills
	// it in when known), URL for an absolute one. With Identifier set
	// (:identifier), System/SystemSet/Code match Reference.identifier.
	RefType    string
	RefID      string
	URL        string
	Identifier bool

	// URI: Value compared with the stored uri by URIMatch.
	URIMatch URIMatch

	// Chain, for a reference parameter: the referenced resource (of
	// Chain.Type) must match Chain.Where (subject:Patient.identifier=…).
	Chain *Chain
	// Has, for _has: some resource of Has.Type whose reference parameter
	// Has.Param points at this resource matches Has.Where.
	Has *Has

	// Components, for Type Composite (Param the composite's code): every
	// component condition must hold on entries of one Group (see
	// Entry.Group); each component's Param is store.CompositeParam(Param, i)
	// and its Type the component's type. Not and Missing apply to the whole.
	Components []Cond
}

// Chain is a chained search condition.
type Chain struct {
	Type  string
	Where []Clause
	// OwnIdentifier marks the chain a reference :identifier search adds to
	// match the referenced resource's own identifier (subject:identifier=…
	// on a plan whose subject is a bare Patient/123), not one the client
	// wrote. Stores answer it as any chain; an authorizer may treat it as
	// the :identifier match it stands for.
	OwnIdentifier bool
}

// Has is a reverse chain (_has).
type Has struct {
	Type  string
	Param string
	Where []Clause
}

// StringMatch is how a string parameter compares.
type StringMatch int

// The string matches.
const (
	StringPrefix   StringMatch = iota // default: starts with, normalised
	StringExact                       // :exact
	StringContains                    // :contains, normalised
)

// URIMatch is how a uri parameter compares.
type URIMatch int

// The uri matches.
const (
	URIExact URIMatch = iota
	URIAbove          // :above: the stored uri is a prefix of Value
	URIBelow          // :below: Value is a prefix of the stored uri
)

// Prefix is a search prefix on ordered values (R4 search.html#prefix). The
// stored value's range [lo,hi) is compared with the searched range [Low,High):
//
//	Eq: the searched range fully contains the stored range
//	Ne: it does not
//	Gt: the stored range reaches above the searched range (hi > High)
//	Lt: the stored range reaches below (lo < Low)
//	Ge: Gt or Eq
//	Le: Lt or Eq
//	Sa: the stored range starts after the searched range (lo >= High)
//	Eb: the stored range ends before it (hi <= Low)
//	Ap: the ranges overlap (the parser widens the searched range first)
type Prefix int

// The prefixes.
const (
	Eq Prefix = iota
	Ne
	Gt
	Lt
	Ge
	Le
	Sa
	Eb
	Ap
)

// SortKey is one _sort key.
type SortKey struct {
	Param string // a parameter code, or "_id" or "_lastUpdated"
	Type  ParamType
	Desc  bool
}

// Result is one page of search results.
type Result struct {
	Versions []Version // current versions, in order
	Total    int       // -1 when not counted
	Next     string    // cursor of the next page, empty on the last
	Prev     string    // cursor of the previous page, empty on the first
}
